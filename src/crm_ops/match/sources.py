"""Links from a source's records to the CRMs' records: billing customers to accounts, product users to
contacts and leads, written like the Salesforce-HubSpot links.

Billing customers (a Subscription frame's ``customer_id``s, one row each from their subscriptions) link
to each CRM's accounts, one CRM at a time:

1. by ids: the CRM account id billing stores (``account_external_id``), or the customer id the CRM
   stores in the column ``custom_<source>_id`` (mapped in the profile: ``[maps.salesforce.Account]
   custom_billing_id = "Stripe_Customer_Id__c"``); several customers may share an account this way;
2. then the match rules (``SOURCE_ACCOUNT``: the company's domain and name, through the comparators and
   blocking of ``crm_ops.match.engine``) on what is left, one-to-one, the older account preferred
   between equals (a later copy is the duplicate).

Product users link to contacts, then to leads, by their e-mail address normalised as matching
normalises it (junk addresses never link). ``source_links(frames)`` gives every link of every source
frame; a rule run is given them by its caller (``crm_ops.rules.crosssource.CACHE_KEY``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import polars as pl

from crm_ops.match.config import FieldRule, MatchConfig
from crm_ops.match.engine import link_records, normalise, one_to_one
from crm_ops.schema.entities import live
from crm_ops.values.wordlists import WordLists

CRMS = ("salesforce", "hubspot")
SOURCE_LINK_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "source_entity": pl.String(),
    "source_id": pl.String(),  # a customer id (Subscription) or a user id (ProductUser)
    "system": pl.String(),
    "entity": pl.String(),
    "crm_id": pl.String(),
    "method": pl.String(),  # id, match, email
    "score": pl.Float64(),
    "reasons": pl.String(),
}
SOURCE_ACCOUNT = MatchConfig(
    "Billing customer to account",
    fields=(
        FieldRule("website", "normalised", 0.55, "domain"),
        FieldRule("name", "fuzzy", 0.45, "company", scorer="token_sort_ratio"),
    ),
    blocking=(("website",), ("name",)),
    threshold=0.9,
    min_fields=1,  # a company's domain alone names it; a name alone only when (nearly) the same
)


def id_column(source: str) -> str:
    """The CRM column that holds a source's customer id (``custom_billing_id`` for source billing)."""
    return f"custom_{source.replace('-', '_')}_id"


Frame = TypeVar("Frame")  # a polars frame, or the Spark engine's DataFrame


def source_frames(frames: Mapping[str, Mapping[str, Frame]], entity: str) -> dict[str, Frame]:
    """Each source's frame of ``entity`` (the systems that are not the two CRMs)."""
    return {s: f[entity] for s, f in frames.items() if s not in CRMS and entity in f}


def link_counts(links: pl.DataFrame) -> dict[str, Any]:
    """Matching's stats of the sources' links: ``<source>.<system>.links``, how many of each."""
    counts = links.group_by("source", "system").len().sort("source", "system")
    return {f"{source}.{system}.links": n for source, system, n in counts.iter_rows()}


def customers(subscriptions: pl.DataFrame) -> pl.DataFrame:
    """One row per billing customer: its id, the company's name and domain and the CRM id billing keeps
    (each the newest subscription's that has one), and since when it is a customer."""
    subs = live(subscriptions).filter(pl.col("customer_id").is_not_null())
    newest = subs.sort("updated_at", "start_date", "id", nulls_last=False, descending=True)
    return (
        newest.group_by("customer_id", maintain_order=True)
        .agg(
            pl.col("account_name").drop_nulls().first().alias("name"),
            pl.col("account_domain").drop_nulls().first().alias("website"),
            pl.col("account_external_id").drop_nulls().first().alias("external_id"),
            pl.col("start_date").min().alias("since"),
        )
        .rename({"customer_id": "id"})
    )


def _accounts(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """A CRM's live accounts as the matcher sees them: the bare domain in ``website``."""
    accounts = live(frame)
    domain = pl.coalesce(
        *(pl.col(c) for c in ("domain", "website") if c in accounts.columns), pl.lit(None, pl.String)
    )
    stored = id_column(source)
    return accounts.select(
        pl.col("id"),
        pl.col("name"),
        domain.alias("website"),
        pl.col("created_at"),
        (pl.col(stored) if stored in accounts.columns else pl.lit(None, pl.String))
        .cast(pl.String)
        .alias("stored"),
    )


def link_customers(
    source: str,
    subscriptions: pl.DataFrame,
    system: str,
    accounts: pl.DataFrame,
    lists: WordLists | None = None,
) -> pl.DataFrame:
    """Billing customers of ``source`` linked to ``system``'s accounts (``SOURCE_LINK_SCHEMA``)."""
    people = customers(subscriptions)
    crm = _accounts(accounts, source)
    if people.is_empty() or crm.is_empty():
        return pl.DataFrame(schema=SOURCE_LINK_SCHEMA)
    by_external = (
        people.filter(pl.col("external_id").is_not_null())
        .join(crm.select(pl.col("id").alias("external_id"), pl.col("id").alias("crm_id")), on="external_id")
        .select(pl.col("id").alias("source_id"), "crm_id", pl.lit("account_external_id").alias("reasons"))
    )
    by_stored = (
        crm.filter(pl.col("stored").is_not_null())
        .join(people.select(pl.col("id").alias("stored")), on="stored")
        .select(
            pl.col("stored").alias("source_id"),
            pl.col("id").alias("crm_id"),
            pl.lit(id_column(source)).alias("reasons"),
        )
    )
    # one link per customer: its stored external id first, then the account storing its id (the
    # smallest id of several), whatever order the snapshots' rows come in
    by_id = pl.concat(
        [by_external.sort("source_id", "crm_id"), by_stored.sort("source_id", "crm_id")]
    ).unique("source_id", keep="first", maintain_order=True)
    rest = people.join(by_id.select(pl.col("source_id").alias("id")), on="id", how="anti")
    scored = link_records(crm, rest, SOURCE_ACCOUNT, lists=lists)
    age = crm.select(
        pl.col("id").alias("left_id"), (-pl.col("created_at").cast(pl.Int64).fill_null(0)).alias("__age")
    )
    matched = one_to_one(scored.join(age, on="left_id", how="left"), order=("score", "__age"))
    out = pl.concat(
        [
            by_id.with_columns(pl.lit("id").alias("method"), pl.lit(1.0).alias("score")),
            matched.select(
                pl.col("right_id").alias("source_id"),
                pl.col("left_id").alias("crm_id"),
                pl.col("reasons"),
                pl.lit("match").alias("method"),
                pl.col("score"),
            ),
        ],
        how="diagonal_relaxed",
    )
    return out.select(
        pl.lit(source).alias("source"),
        pl.lit("Subscription").alias("source_entity"),
        pl.col("source_id"),
        pl.lit(system).alias("system"),
        pl.lit("Account").alias("entity"),
        "crm_id",
        "method",
        "score",
        "reasons",
    )


def link_users(
    source: str,
    users: pl.DataFrame,
    system: str,
    people: Mapping[str, pl.DataFrame],
    lists: WordLists | None = None,
) -> pl.DataFrame:
    """Product users of ``source`` linked to ``system``'s contacts, else its leads, by e-mail."""
    left = live(users).select("id", normalise(pl.col("email"), "email", lists).alias("__email"))
    left = left.filter(pl.col("__email").is_not_null())
    out = []
    for entity in ("Contact", "Lead"):
        frame = people.get(entity)
        if frame is None or left.is_empty():
            continue
        records = live(frame)
        if entity == "Lead" and "is_converted" in records.columns:
            records = records.filter(~pl.col("is_converted").fill_null(False))
        right = records.select(
            pl.col("id").alias("crm_id"),
            normalise(pl.col("email"), "email", lists).alias("__email"),
            "created_at",
        ).filter(pl.col("__email").is_not_null())
        # the oldest record of an address (a later copy is the duplicate)
        # (ties by id: the same record whatever order the snapshot's rows come in)
        right = right.sort("created_at", "crm_id", nulls_last=True).unique("__email", keep="first")
        hits = left.join(right, on="__email").select(pl.col("id").alias("source_id"), "crm_id")
        out.append(hits.with_columns(pl.lit(entity).alias("entity")))
        left = left.join(hits.select(pl.col("source_id").alias("id")), on="id", how="anti")
    if not out:
        return pl.DataFrame(schema=SOURCE_LINK_SCHEMA)
    return pl.concat(out).select(
        pl.lit(source).alias("source"),
        pl.lit("ProductUser").alias("source_entity"),
        "source_id",
        pl.lit(system).alias("system"),
        "entity",
        "crm_id",
        pl.lit("email").alias("method"),
        pl.lit(1.0).alias("score"),
        pl.lit("email").alias("reasons"),
    )


def source_links(
    frames: Mapping[str, Mapping[str, pl.DataFrame]], lists: WordLists | None = None
) -> pl.DataFrame:
    """Every source's records linked to each CRM's (``SOURCE_LINK_SCHEMA``)."""
    out = [pl.DataFrame(schema=SOURCE_LINK_SCHEMA)]
    for system in (s for s in CRMS if s in frames):
        crm = frames[system]
        for source, subs in source_frames(frames, "Subscription").items():
            if "Account" in crm:
                out.append(link_customers(source, subs, system, crm["Account"], lists))
        for source, users in source_frames(frames, "ProductUser").items():
            out.append(link_users(source, users, system, crm, lists))
    return pl.concat(out, how="diagonal_relaxed").select(list(SOURCE_LINK_SCHEMA))


__all__ = ["SOURCE_LINK_SCHEMA", "customers", "id_column", "source_links"]
