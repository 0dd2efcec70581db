"""Links between the two CRMs and the drift on linked pairs.

``link(sf, hs, config, ...)`` pairs Salesforce and HubSpot records one-to-one: first by the ids each keeps
of the other (either direction), then by the match rules on what is left, the older record preferred
between equals. ``drift(entity, sf, hs, links, truth)`` compares linked pairs field by field after
normalisation and proposes each difference's sync as a ``match.drift.<field>`` finding.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from crm_ops.match.config import MatchConfig
from crm_ops.match.engine import link_records, normalise, one_to_one
from crm_ops.match.merges import empty, finding

DRIFT_FIELDS = {
    "Contact": {
        "email": "email",
        "phone": "phone",
        "first_name": "name",
        "last_name": "name",
        "title": "text",
        "city": "text",
        "country": "country",
    },
    "Account": {"name": "company", "phone": "phone", "city": "text", "country": "country"},
    "Opportunity": {"name": "text", "amount": "number", "close_date": "date"},
}


def _id_links(sf: pl.DataFrame, hs: pl.DataFrame, sf_link: str, hs_link: str) -> pl.DataFrame:
    """Pairs by the ids each CRM keeps of the other (either direction), both records existing."""
    sf_ids, hs_ids = sf.select("id"), hs.select("id")
    a = sf.filter(pl.col(sf_link).is_not_null()).select(
        pl.col("id").alias("left_id"), pl.col(sf_link).alias("right_id")
    )
    b = hs.filter(pl.col(hs_link).is_not_null()).select(
        pl.col(hs_link).alias("left_id"), pl.col("id").alias("right_id")
    )
    pairs = pl.concat([a, b]).unique()
    pairs = pairs.join(sf_ids, left_on="left_id", right_on="id", how="semi").join(
        hs_ids, left_on="right_id", right_on="id", how="semi"
    )
    return pairs.with_columns(pl.lit(1.0).alias("score"), pl.lit("linked id").alias("reasons"))


def link(
    sf: pl.DataFrame,
    hs: pl.DataFrame,
    config: MatchConfig,
    sf_link: str,
    hs_link: str,
    stats: dict[str, int] | None = None,
) -> pl.DataFrame:
    """One-to-one links: ids first, then the match rules on what is left."""
    by_id = one_to_one(_id_links(sf, hs, sf_link, hs_link)).with_columns(pl.lit("id").alias("method"))
    rest_sf = sf.join(by_id.select(pl.col("left_id").alias("id")), on="id", how="anti")
    rest_hs = hs.join(by_id.select(pl.col("right_id").alias("id")), on="id", how="anti")
    scored = link_records(rest_sf, rest_hs, config, stats=stats)
    # prefer the older record of two equal candidates (a later copy is the duplicate)
    created = rest_sf.select(pl.col("id").alias("left_id"), pl.col("created_at").alias("__created"))
    scored = scored.join(created, on="left_id", how="left").with_columns(
        (-pl.col("__created").cast(pl.Int64).fill_null(0)).alias("__age")
    )
    by_rule = (
        one_to_one(scored, order=("score", "__age"))
        .drop("__created", "__age")
        .with_columns(pl.lit("match").alias("method"))
    )
    return pl.concat(
        [
            by_id.select("left_id", "right_id", "method", "score", "reasons"),
            by_rule.select("left_id", "right_id", "method", "score", "reasons"),
        ]
    )


def drift(
    entity: str, sf: pl.DataFrame, hs: pl.DataFrame, links: pl.DataFrame, truth: Mapping[str, str]
) -> pl.DataFrame:
    """Fields that differ on linked pairs after normalisation, and the sync to propose for each."""
    fields = {f: k for f, k in DRIFT_FIELDS.get(entity, {}).items() if f in sf.columns and f in hs.columns}
    if links.is_empty() or not fields:
        return empty()
    pairs = (
        links.select(pl.col("sf_id").alias("id"), "hs_id")
        .join(sf, on="id")
        .join(hs, left_on="hs_id", right_on="id", suffix=":hs")
    )
    out = []
    for column, kind in fields.items():
        left, right = pl.col(column), pl.col(f"{column}:hs")
        if kind in ("number", "date"):
            differs = left.ne_missing(right) & left.is_not_null() & right.is_not_null()
        else:
            a, b = normalise(left, kind), normalise(right, kind)
            differs = a.is_not_null() & b.is_not_null() & (a != b)
        rows = pairs.filter(differs)
        if rows.is_empty():
            continue
        source = truth.get(column, truth.get("*", "latest"))
        hs_wins = (
            pl.lit(source == "hubspot")
            if source in ("salesforce", "hubspot")
            else pl.col("updated_at:hs").cast(pl.Int64).fill_null(0)
            > pl.col("updated_at").cast(pl.Int64).fill_null(0)
        )
        out.append(
            rows.select(
                pl.lit(f"match.drift.{column}").alias("rule"),
                pl.lit(entity).alias("entity"),
                pl.when(hs_wins).then(pl.lit("salesforce")).otherwise(pl.lit("hubspot")).alias("system"),
                pl.when(hs_wins).then(pl.col("id")).otherwise(pl.col("hs_id")).alias("record_id"),
                pl.lit(column).alias("field"),
                pl.when(hs_wins).then(left).otherwise(right).cast(pl.String).alias("current_value"),
                pl.lit("warning").alias("severity"),
                pl.format(
                    "{} differs between Salesforce {} and HubSpot {}", pl.lit(column), "id", "hs_id"
                ).alias("message"),
                pl.when(hs_wins).then(right).otherwise(left).cast(pl.String).alias("proposed_value"),
                pl.lit(0.7).alias("confidence"),
            )
        )
    return pl.concat([finding(o) for o in out]) if out else empty()
