"""Matching over the snapshots: duplicates in each CRM, leads that duplicate contacts, and the two CRMs
linked record to record, with drift on linked pairs and the merges and syncs to propose, as findings.

    from crm_ops.match import run_matching
    result = run_matching(frames)          # {system: {entity: frame}}, e.g. crm_ops.check.snapshot_frames
    result.duplicates, result.links, result.findings, result.unmatched
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import structlog

from crm_ops.errors import ConfigError
from crm_ops.match.config import CONTACT, DEFAULTS, LEAD_CONTACT, MatchConfig
from crm_ops.match.engine import clusters, find_duplicates, link_records, normalise, one_to_one
from crm_ops.rules.model import FINDINGS_SCHEMA
from crm_ops.schema.entities import live

log = structlog.get_logger("crm_ops.match")
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
LINK_SCHEMA = {
    "entity": pl.String,
    "sf_entity": pl.String,
    "sf_id": pl.String,
    "hs_id": pl.String,
    "method": pl.String,
    "score": pl.Float64,
    "reasons": pl.String,
}


@dataclass
class MatchResult:
    """Pairs found, clusters, the CRM-to-CRM links, records on one side only, and findings."""

    duplicates: pl.DataFrame  # system, entity, left_id, right_id, score, reasons, cluster_id
    links: pl.DataFrame  # entity, sf_entity, sf_id, hs_id, method, score, reasons
    unmatched: pl.DataFrame  # system, entity, id
    findings: pl.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)


def _finding(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select(
        [
            pl.col(c).cast(t) if c in rows.columns else pl.lit(None, t).alias(c)
            for c, t in FINDINGS_SCHEMA.items()
        ]
    )


def _completeness(frame: pl.DataFrame) -> pl.Expr:
    cols = [
        c for c in frame.columns if c not in ("id", "source_system", "is_deleted", "updated_at", "created_at")
    ]
    return pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int32) for c in cols])


def survivorship(
    frame: pl.DataFrame, pairs: pl.DataFrame, system: str, entity: str, rule: str = "most_complete"
) -> pl.DataFrame:
    """Merge proposals for duplicate clusters: who survives (``most_complete``, ``oldest`` or
    ``most_recent``), which records merge into it, and which of its empty fields the others can fill."""
    if pairs.is_empty():
        return pl.DataFrame(schema=FINDINGS_SCHEMA)
    members = clusters(pairs)
    scores = (
        pl.concat(
            [
                pairs.select(pl.col("left_id").alias("id"), "score", "reasons"),
                pairs.select(pl.col("right_id").alias("id"), "score", "reasons"),
            ]
        )
        .sort("score", descending=True)
        .unique("id", keep="first")
    )
    data = frame.join(members, on="id").join(scores, on="id", how="left")
    order = {
        "most_complete": (["__complete", "created_at", "id"], [True, False, False]),
        "oldest": (["created_at", "__complete", "id"], [False, True, False]),
        "most_recent": (["updated_at", "__complete", "id"], [True, True, False]),
    }[rule]
    ranked = data.with_columns(_completeness(frame).alias("__complete")).sort(
        ["cluster_id", *order[0]], descending=[False, *order[1]], nulls_last=True
    )
    survivors = ranked.unique("cluster_id", keep="first").select("cluster_id", pl.col("id").alias("survivor"))
    ranked = ranked.join(survivors, on="cluster_id")
    losers = ranked.filter(pl.col("id") != pl.col("survivor"))
    merges = losers.select(
        pl.lit("match.duplicate").alias("rule"),
        pl.lit(entity).alias("entity"),
        pl.lit(system).alias("system"),
        pl.col("id").alias("record_id"),
        pl.lit("merge_into").alias("field"),
        # the record as last seen: applying the merge is a conflict if it changed since
        pl.col("updated_at")
        .dt.convert_time_zone("UTC")
        .dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .alias("current_value"),
        pl.lit("warning").alias("severity"),
        pl.format("Duplicate of {} (agreeing: {})", "survivor", pl.col("reasons").fill_null("")).alias(
            "message"
        ),
        pl.col("survivor").alias("proposed_value"),
        pl.col("score").alias("confidence"),
    )
    fills = []
    skip = {
        "id",
        "source_system",
        "is_deleted",
        "updated_at",
        "created_at",
        "cluster_id",
        "score",
        "reasons",
        "__complete",
        "survivor",
    }
    by_id = ranked.sort("updated_at", descending=True, nulls_last=True)
    for column in [c for c in frame.columns if c not in skip]:
        donor = (
            by_id.filter((pl.col("id") != pl.col("survivor")) & pl.col(column).is_not_null())
            .unique("cluster_id", keep="first")
            .select("cluster_id", pl.col(column).cast(pl.String).alias("__value"))
        )
        empty = ranked.filter((pl.col("id") == pl.col("survivor")) & pl.col(column).is_null()).select(
            "id", "cluster_id"
        )
        filled = empty.join(donor, on="cluster_id")
        if filled.height:
            fills.append(
                filled.select(
                    pl.lit("match.survivorship").alias("rule"),
                    pl.lit(entity).alias("entity"),
                    pl.lit(system).alias("system"),
                    pl.col("id").alias("record_id"),
                    pl.lit(column).alias("field"),
                    pl.lit(None, pl.String).alias("current_value"),
                    pl.lit("info").alias("severity"),
                    pl.lit(f"Survivor of a merge takes {column} from a duplicate").alias("message"),
                    pl.col("__value").alias("proposed_value"),
                    pl.lit(0.8).alias("confidence"),
                )
            )
    return pl.concat([_finding(merges), *[_finding(f) for f in fills]])


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


def _link(
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


def _drift(
    entity: str, sf: pl.DataFrame, hs: pl.DataFrame, links: pl.DataFrame, truth: Mapping[str, str]
) -> pl.DataFrame:
    """Fields that differ on linked pairs after normalisation, and the sync to propose for each."""
    fields = {f: k for f, k in DRIFT_FIELDS.get(entity, {}).items() if f in sf.columns and f in hs.columns}
    if links.is_empty() or not fields:
        return pl.DataFrame(schema=FINDINGS_SCHEMA)
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
    return pl.concat([_finding(o) for o in out]) if out else pl.DataFrame(schema=FINDINGS_SCHEMA)


def run_matching(
    frames: Mapping[str, Mapping[str, pl.DataFrame]],
    *,
    configs: Mapping[str, MatchConfig] | None = None,
    source_of_truth: Mapping[str, str] | None = None,
    survivor_rule: str = "most_complete",
) -> MatchResult:
    """Duplicates, lead-vs-contact, cross-CRM links and drift over snapshot frames."""
    cfg = {**DEFAULTS, **(configs or {})}
    truth = dict(source_of_truth or {})
    dups, findings, links, unmatched = [], [], [], []
    stats: dict[str, Any] = {}
    for system, entities in frames.items():
        for entity, key in (("Contact", "Contact"), ("Account", "Account")):
            frame = entities.get(entity)
            if frame is None:
                continue
            records = live(frame)
            counts: dict[str, int] = {}
            pairs = find_duplicates(records, cfg[key], stats=counts)
            stats[f"{system}.{entity}.candidates"] = counts.get("candidates", 0)
            stats[f"{system}.{entity}.duplicate_pairs"] = pairs.height
            if pairs.height:
                dups.append(
                    pairs.join(clusters(pairs), left_on="left_id", right_on="id").with_columns(
                        pl.lit(system).alias("system"), pl.lit(entity).alias("entity")
                    )
                )
                findings.append(survivorship(records, pairs, system, entity, survivor_rule))
    sf = frames.get("salesforce", {})
    # leads not yet converted: checked against contacts here, and against HubSpot contacts below
    leads = live(sf["Lead"]).filter(~pl.col("is_converted").fill_null(False)) if "Lead" in sf else None
    if leads is not None and "Contact" in sf:
        contacts = live(sf["Contact"])
        if "Account" in sf:
            names = sf["Account"].select(
                pl.col("id").alias("account_id"), pl.col("name").alias("account_name")
            )
            contacts = contacts.join(names, on="account_id", how="left")
        pairs = link_records(leads, contacts, cfg.get("Lead-Contact", LEAD_CONTACT))
        pairs = one_to_one(pairs)
        stats["salesforce.Lead-Contact.pairs"] = pairs.height
        if pairs.height:
            dups.append(
                pairs.with_columns(
                    pl.col("left_id").alias("cluster_id"),
                    pl.lit("salesforce").alias("system"),
                    pl.lit("Lead-Contact").alias("entity"),
                )
            )
            findings.append(
                _finding(
                    pairs.select(
                        pl.lit("match.lead_duplicates_contact").alias("rule"),
                        pl.lit("Lead").alias("entity"),
                        pl.lit("salesforce").alias("system"),
                        pl.col("left_id").alias("record_id"),
                        pl.lit("converted_contact_id").alias("field"),
                        pl.lit("warning").alias("severity"),
                        pl.format(
                            "Lead duplicates contact {} (agreeing: {}): convert it onto the contact",
                            "right_id",
                            "reasons",
                        ).alias("message"),
                        pl.col("right_id").alias("proposed_value"),
                        pl.col("score").alias("confidence"),
                    )
                )
            )
    hs = frames.get("hubspot", {})
    if sf and hs:
        for entity, key in (
            ("Contact", "cross.Contact"),
            ("Account", "cross.Account"),
            ("Opportunity", "cross.Opportunity"),
        ):
            if entity not in sf or entity not in hs:
                continue
            left, right = live(sf[entity]), live(hs[entity])
            counts = {}
            linked = _link(left, right, cfg[key], "linked_id", "linked_id", counts).with_columns(
                pl.lit(entity).alias("sf_entity")
            )
            if entity == "Contact" and leads is not None:
                rest = right.join(linked.select(pl.col("right_id").alias("id")), on="id", how="anti")
                lead_links = _link(leads, rest, cfg[key], "linked_id", "linked_lead_id", counts).with_columns(
                    pl.lit("Lead").alias("sf_entity")
                )
                linked = pl.concat([linked, lead_links])
            linked = linked.select(
                pl.lit(entity).alias("entity"),
                "sf_entity",
                pl.col("left_id").alias("sf_id"),
                pl.col("right_id").alias("hs_id"),
                "method",
                "score",
                "reasons",
            )
            links.append(linked)
            stats[f"cross.{entity}.links"] = linked.height
            stats[f"cross.{entity}.candidates"] = counts.get("candidates", 0)
            only_sf = left.join(linked.select(pl.col("sf_id").alias("id")), on="id", how="anti").select("id")
            only_hs = right.join(linked.select(pl.col("hs_id").alias("id")), on="id", how="anti").select("id")
            unmatched.append(
                only_sf.with_columns(pl.lit("salesforce").alias("system"), pl.lit(entity).alias("entity"))
            )
            unmatched.append(
                only_hs.with_columns(pl.lit("hubspot").alias("system"), pl.lit(entity).alias("entity"))
            )
            findings.append(_drift(entity, left, right, linked.filter(pl.col("sf_entity") == entity), truth))
    empty_pairs = pl.DataFrame(
        schema={
            "left_id": pl.String,
            "right_id": pl.String,
            "score": pl.Float64,
            "reasons": pl.String,
            "id": pl.String,
            "cluster_id": pl.String,
            "system": pl.String,
            "entity": pl.String,
        }
    )
    return MatchResult(
        duplicates=pl.concat(
            [
                d.select("system", "entity", "left_id", "right_id", "score", "reasons", "cluster_id")
                for d in dups
            ]
        )
        if dups
        else empty_pairs.select("system", "entity", "left_id", "right_id", "score", "reasons", "cluster_id"),
        links=pl.concat(links) if links else pl.DataFrame(schema=LINK_SCHEMA),
        unmatched=pl.concat([u.select("system", "entity", "id") for u in unmatched])
        if unmatched
        else pl.DataFrame(schema={"system": pl.String, "entity": pl.String, "id": pl.String}),
        findings=pl.concat(findings) if findings else pl.DataFrame(schema=FINDINGS_SCHEMA),
        stats=stats,
    )


def settings_from_profile(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``run_matching`` keyword arguments from a profile's ``[profiles.P.match]`` table.

    Keys: ``survivor`` (most_complete | oldest | most_recent), ``source_of_truth`` (field -> salesforce |
    hubspot | latest, ``"*"`` for the rest) and, per match rule (Contact, Lead-Contact, Account,
    "cross.Contact", "cross.Account", "cross.Opportunity"), overrides of its threshold, fields, blocking.
    """
    problems = []
    survivor = raw.get("survivor", "most_complete")
    if survivor not in ("most_complete", "oldest", "most_recent"):
        problems.append(f"{where}.survivor: must be most_complete, oldest or most_recent, got {survivor!r}")
    truth = dict(raw.get("source_of_truth", {}))
    bad = {k: v for k, v in truth.items() if v not in ("salesforce", "hubspot", "latest")}
    if bad:
        problems.append(f"{where}.source_of_truth: values must be salesforce, hubspot or latest, got {bad}")
    configs = {}
    for key, value in raw.items():
        if key in ("survivor", "source_of_truth"):
            continue
        if key not in DEFAULTS or not isinstance(value, Mapping):
            problems.append(f"{where}.{key}: unknown setting; match rules are {', '.join(DEFAULTS)}")
            continue
        try:
            configs[key] = DEFAULTS[key].with_overrides(value, f"{where}.{key}")
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return {"configs": configs, "source_of_truth": truth, "survivor_rule": survivor}


__all__ = ["CONTACT", "MatchResult", "run_matching", "settings_from_profile", "survivorship"]
