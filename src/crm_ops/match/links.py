"""Links between the two CRMs and the drift on linked pairs.

``link(sf, hs, config, ...)`` pairs Salesforce and HubSpot records one-to-one: first by the ids each keeps
of the other (either direction), then by the match rules on what is left, the older record preferred
between equals; each link with why its records match (``explain``, null for a link by id).
``drift(entity, sf, hs, links, truth)`` compares linked pairs field by field after normalisation and
proposes each difference's sync as a ``match.drift.<field>`` finding.

With a ``ProposalGate`` (the rules the run checks), both values of a difference are put through the
rules of the field in the CRM they would be written into: when the value the source of truth picks
fails one (a broken address, a placeholder title) and the other passes, the other is proposed the
other way; when both fail, the sync is withheld (the finding stays, without a proposal) and the
message names the rules each value fails.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from crm_ops.match.config import MatchConfig
from crm_ops.match.engine import link_records, normalise, one_to_one
from crm_ops.match.merges import empty, finding
from crm_ops.rules.engine import Gate
from crm_ops.values.wordlists import WordLists

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
    "Opportunity": {"name": "text", "amount": "number", "close_date": "date", "currency": "code"},
    "Account": {
        "name": "company",
        "phone": "phone",
        "city": "text",
        "country": "country",
        "currency": "code",
    },
}


def finding_rules() -> tuple[str, ...]:
    """The rule names matching's findings carry (``match.duplicate``, ``match.lead_duplicates_contact``,
    ``match.drift.<field>``): a profile may name them in ``auto_apply``, ``review.approve`` or
    ``rules.severity`` as it names a loaded rule."""
    drifts = sorted({f"match.drift.{f}" for fields in DRIFT_FIELDS.values() for f in fields})
    return ("match.duplicate", "match.lead_duplicates_contact", *drifts)


# a field only compared where both records agree on another (or one lacks it): amounts in one currency
COMPARED_IN = {"amount": "currency"}


def with_explain(pairs: pl.DataFrame) -> pl.DataFrame:
    """``pairs`` with an ``explain`` column (``crm_ops.explain``), null where they have none: pairs by
    the ids the CRMs keep of each other, pairs scored before every pair explained itself."""
    if "explain" in pairs.columns:
        return pairs
    return pairs.with_columns(pl.lit(None, pl.String).alias("explain"))


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
    return with_explain(pairs.with_columns(pl.lit(1.0).alias("score"), pl.lit("linked id").alias("reasons")))


def link(
    sf: pl.DataFrame,
    hs: pl.DataFrame,
    config: MatchConfig,
    sf_link: str,
    hs_link: str,
    stats: dict[str, int] | None = None,
    lists: WordLists | None = None,
) -> pl.DataFrame:
    """One-to-one links: ids first, then the match rules on what is left."""
    by_id = one_to_one(_id_links(sf, hs, sf_link, hs_link)).with_columns(pl.lit("id").alias("method"))
    # what is left to match, holding only what the rules read (a million wide records copied twice
    # would be gigabytes)
    read = {"id", "created_at", "is_deleted"}
    for rule in config.fields:
        read |= {rule.field, *(rule.also or ()), *([rule.same] if rule.same else [])}
    read_hs = read | {rule.other_field for rule in config.fields if rule.other_field}
    rest_sf = sf.select([c for c in sf.columns if c in read]).join(
        by_id.select(pl.col("left_id").alias("id")), on="id", how="anti"
    )
    rest_hs = hs.select([c for c in hs.columns if c in read_hs]).join(
        by_id.select(pl.col("right_id").alias("id")), on="id", how="anti"
    )
    scored = with_explain(link_records(rest_sf, rest_hs, config, stats=stats, lists=lists))
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
    columns = ("left_id", "right_id", "method", "score", "reasons", "explain")
    return pl.concat([by_id.select(columns), by_rule.select(columns)])


def _failed(failures: dict[tuple[str, str], list[str]], name: str) -> pl.DataFrame:
    """Gate failures as a frame to join on (record id, value as text)."""
    return pl.DataFrame(
        [(rid, value, ", ".join(ids)) for (rid, value), ids in failures.items()],
        schema={f"__{name}_id": pl.String, f"__{name}_value": pl.String, f"__{name}_fails": pl.String},
        orient="row",
    )


def _gated(rows: pl.DataFrame, entity: str, column: str, gate: Gate) -> pl.DataFrame:
    """``rows`` with ``__sf_fails`` (the rules HubSpot's value fails in Salesforce) and ``__hs_fails``
    (the rules Salesforce's value fails in HubSpot), null where the value passes."""
    left, right = pl.col(column).cast(pl.String), pl.col(f"{column}:hs").cast(pl.String)
    rows = rows.with_columns(left.alias("__sf_text"), right.alias("__hs_text"))
    into_sf = gate.failures(
        "salesforce",
        entity,
        column,
        rows.select(pl.col("id").alias("record_id"), pl.col("__hs_text").alias("proposed_value")),
    )
    into_hs = gate.failures(
        "hubspot",
        entity,
        column,
        rows.select(pl.col("hs_id").alias("record_id"), pl.col("__sf_text").alias("proposed_value")),
    )
    return (
        rows.join(
            _failed(into_sf, "sf"),
            left_on=["id", "__hs_text"],
            right_on=["__sf_id", "__sf_value"],
            how="left",
        )
        .join(
            _failed(into_hs, "hs"),
            left_on=["hs_id", "__sf_text"],
            right_on=["__hs_id", "__hs_value"],
            how="left",
        )
        .drop("__sf_text", "__hs_text")
    )


def drift(
    entity: str,
    sf: pl.DataFrame,
    hs: pl.DataFrame,
    links: pl.DataFrame,
    truth: Mapping[str, str],
    gate: Gate | None = None,
    lists: WordLists | None = None,
) -> pl.DataFrame:
    """Fields that differ on linked pairs after normalisation, and the sync to propose for each.

    ``gate``: the rules a value must pass in the CRM it is written into (see the module's doc)."""
    fields = {f: k for f, k in DRIFT_FIELDS.get(entity, {}).items() if f in sf.columns and f in hs.columns}
    if links.is_empty() or not fields:
        return empty()
    wanted = ["id", "updated_at", *fields]  # the pairs hold only what is compared (memory at 1M)
    pairs = (
        links.select(pl.col("sf_id").alias("id"), "hs_id")
        .join(sf.select([c for c in wanted if c in sf.columns]), on="id")
        .join(hs.select([c for c in wanted if c in hs.columns]), left_on="hs_id", right_on="id", suffix=":hs")
    )
    out = []
    for column, kind in fields.items():
        left, right = pl.col(column), pl.col(f"{column}:hs")
        if kind in ("number", "date"):
            differs = left.ne_missing(right) & left.is_not_null() & right.is_not_null()
        elif kind == "code":  # a currency: its own drift, the amounts not compared across it
            a, b = left.cast(pl.String).str.to_uppercase(), right.cast(pl.String).str.to_uppercase()
            differs = a.is_not_null() & b.is_not_null() & (a != b)
        else:
            a, b = normalise(left, kind, lists), normalise(right, kind, lists)
            differs = a.is_not_null() & b.is_not_null() & (a != b)
        guard = COMPARED_IN.get(column)
        if guard and guard in fields:
            g, gr = (
                pl.col(guard).cast(pl.String).str.to_uppercase(),
                pl.col(f"{guard}:hs").cast(pl.String).str.to_uppercase(),
            )
            differs = differs & (g.is_null() | gr.is_null() | (g == gr))
        # normalising is a function of the value: pairs whose raw values agree cannot differ once
        # normalised, so only the (few) pairs that differ as written are normalised and compared
        rows = pairs.filter(left.cast(pl.String).ne_missing(right.cast(pl.String))).filter(differs)
        if rows.is_empty():
            continue
        source = truth.get(column, truth.get("*", "latest"))
        preferred = (
            pl.lit(source == "hubspot")
            if source in ("salesforce", "hubspot")
            else pl.col("updated_at:hs").cast(pl.Int64).fill_null(0)
            > pl.col("updated_at").cast(pl.Int64).fill_null(0)
        )
        if gate is not None:
            rows = _gated(rows, entity, column, gate)
        else:
            rows = rows.with_columns(
                pl.lit(None, pl.String).alias("__sf_fails"), pl.lit(None, pl.String).alias("__hs_fails")
            )
        sf_ok, hs_ok = pl.col("__sf_fails").is_null(), pl.col("__hs_fails").is_null()
        # HubSpot's value is written into Salesforce when it is the preferred one and passes there, or
        # when Salesforce's fails in HubSpot and HubSpot's passes
        hs_wins = (preferred & sf_ok) | (~preferred & ~hs_ok & sf_ok)
        withheld = ~sf_ok & ~hs_ok
        into_sf = pl.when(withheld).then(preferred).otherwise(hs_wins)
        base = pl.format(
            "{} differs between Salesforce {} and HubSpot {}{}",
            pl.lit(column),
            "id",
            "hs_id",
            pl.lit(" (the amounts of the two records are in these currencies: not compared)")
            if column == "currency"
            else pl.lit(""),
        )
        message = (
            pl.when(withheld)
            .then(
                pl.format(
                    "{}; sync withheld: HubSpot's value fails {} in Salesforce, Salesforce's fails {} in "
                    "HubSpot",
                    base,
                    "__sf_fails",
                    "__hs_fails",
                )
            )
            .when(~sf_ok)
            .then(pl.format("{}; HubSpot's value fails {}, so Salesforce's is proposed", base, "__sf_fails"))
            .when(~hs_ok)
            .then(pl.format("{}; Salesforce's value fails {}, so HubSpot's is proposed", base, "__hs_fails"))
            .otherwise(base)
        )
        out.append(
            rows.select(
                pl.lit(f"match.drift.{column}").alias("rule"),
                pl.lit(entity).alias("entity"),
                pl.when(into_sf).then(pl.lit("salesforce")).otherwise(pl.lit("hubspot")).alias("system"),
                pl.when(into_sf).then(pl.col("id")).otherwise(pl.col("hs_id")).alias("record_id"),
                pl.lit(column).alias("field"),
                pl.when(into_sf).then(left).otherwise(right).cast(pl.String).alias("current_value"),
                pl.lit("warning").alias("severity"),
                message.alias("message"),
                # a currency is reported, never synced: the amount would have to be converted with it
                (
                    pl.lit(None, pl.String)
                    if column == "currency"
                    else pl.when(withheld).then(None).when(into_sf).then(right).otherwise(left)
                )
                .cast(pl.String)
                .alias("proposed_value"),
                (
                    pl.lit(None, pl.Float64)
                    if column == "currency"
                    else pl.when(withheld).then(None).otherwise(pl.lit(0.7))
                ).alias("confidence"),
            )
        )
    return pl.concat([finding(o) for o in out]) if out else empty()
