"""Matching over the snapshots: duplicates in each CRM, leads that duplicate contacts, and the two CRMs
linked record to record, with drift on linked pairs and the merges, conversions and syncs to propose,
as findings.

    from crm_ops.match import run_matching
    result = run_matching(frames)          # {system: {entity: frame}}, e.g. crm_ops.check.snapshot_frames
    result.duplicates, result.links, result.findings, result.unmatched

Merges carry what the survivor ends with (``crm_ops.match.survivor``, ``crm_ops.match.merges``); pairs
a person rejected are left out while their records are unchanged (``crm_ops.match.decisions``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import structlog

from crm_ops.errors import ConfigError
from crm_ops.match.config import CONTACT, DEFAULTS, LEAD_CONTACT, MatchConfig
from crm_ops.match.decisions import active, drop_rejected
from crm_ops.match.engine import clusters, find_duplicates, link_records, one_to_one
from crm_ops.match.links import DRIFT_FIELDS, drift, link
from crm_ops.match.merges import MATCH_FINDINGS_SCHEMA, conversions, survivorship
from crm_ops.match.sources import CRMS, SOURCE_LINK_SCHEMA, link_counts, source_links
from crm_ops.match.survivor import ORDERINGS, MergeRules
from crm_ops.rules.engine import ProposalGate
from crm_ops.rules.loader import load_rules
from crm_ops.rules.model import Rule
from crm_ops.schema.entities import live
from crm_ops.values.wordlists import PROFILE_KEYS, WordLists
from crm_ops.values.wordlists import shipped as shipped_lists

log = structlog.get_logger("crm_ops.match")
LINK_SCHEMA = {
    "entity": pl.String,
    "sf_entity": pl.String,
    "sf_id": pl.String,
    "hs_id": pl.String,
    "method": pl.String,
    "score": pl.Float64,
    "reasons": pl.String,
}
PAIRS_SCHEMA = {
    "system": pl.String,
    "entity": pl.String,
    "left_id": pl.String,
    "right_id": pl.String,
    "score": pl.Float64,
    "reasons": pl.String,
    "cluster_id": pl.String,
}


@dataclass
class MatchResult:
    """Pairs found, clusters, the CRM-to-CRM links, records on one side only, and findings."""

    duplicates: pl.DataFrame  # system, entity, left_id, right_id, score, reasons, cluster_id
    links: pl.DataFrame  # entity, sf_entity, sf_id, hs_id, method, score, reasons
    unmatched: pl.DataFrame  # system, entity, id
    findings: pl.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)
    # sources' records (billing customers, product users) linked to the CRMs' (``match.sources``)
    source_links: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SOURCE_LINK_SCHEMA))


# the entities linked across the two CRMs, each with its match settings' key
CROSS_ENTITIES = (
    ("Contact", "cross.Contact"),
    ("Account", "cross.Account"),
    ("Opportunity", "cross.Opportunity"),
)


def matched_fields(config: MatchConfig) -> list[str]:
    """The fields a rule set matches on (its fields and the secondary ones they are compared with)."""
    out: list[str] = []
    for rule in config.fields:
        for name in (rule.field, *rule.also):
            if name not in out:
                out.append(name)
    return out


def _twins(
    system: str,
    entity: str,
    frames: Mapping[str, Mapping[str, pl.DataFrame]],
    links: pl.DataFrame,
) -> dict[str, dict[str, Any]]:
    """Each record's linked record in the other CRM (for ``from:<system>`` merge rules)."""
    other = "hubspot" if system == "salesforce" else "salesforce"
    frame = frames.get(other, {}).get(entity)
    if frame is None or links.is_empty():
        return {}
    here, there = ("sf_id", "hs_id") if system == "salesforce" else ("hs_id", "sf_id")
    pairs = links.filter((pl.col("entity") == entity) & (pl.col("sf_entity") == entity)).select(here, there)
    rows = {str(r["id"]): r for r in frame.join(pairs, left_on="id", right_on=there, how="semi").to_dicts()}
    return {str(a): rows[str(b)] for a, b in pairs.iter_rows() if str(b) in rows}


def run_matching(
    frames: Mapping[str, Mapping[str, pl.DataFrame]],
    *,
    configs: Mapping[str, MatchConfig] | None = None,
    source_of_truth: Mapping[str, str] | None = None,
    merge_rules: MergeRules | None = None,
    rejected: Sequence[Mapping[str, Any]] = (),
    rules: Sequence[Rule] | None = None,
    lists: WordLists | None = None,
    linked_sources: pl.DataFrame | None = None,
) -> MatchResult:
    """Duplicates, lead-vs-contact, cross-CRM links and drift over snapshot frames.

    ``merge_rules`` decide each merge's master and the survivor's values; ``rejected`` are the remembered
    rejections (``State.rejections``): those pairs are left out while their records are unchanged.
    ``rules`` (the shipped rules when None; none checked when empty) are what every proposed value must
    pass in the CRM it is written into: drift syncs and the values a merge gives its survivor. ``lists``:
    the nickname, free-mail and placeholder lists (``crm_ops.values.wordlists``; the shipped ones).
    ``linked_sources``: the sources' links when the caller has them (``match.sources.source_links``)."""
    cfg = {**DEFAULTS, **(configs or {})}
    if rules is None:
        rules, _ = load_rules([])
    gate = ProposalGate(rules, frames) if rules else None
    merging = merge_rules or MergeRules()
    truth = dict(source_of_truth or {})
    dups, findings, links, unmatched = [], [], [], []
    stats: dict[str, Any] = {}
    found: list[tuple[str, str, pl.DataFrame, pl.DataFrame]] = []
    for system, entities in frames.items():
        if system not in CRMS:
            continue  # a source's records are not merged (it is read-only): its links are below
        for entity, key in (("Contact", "Contact"), ("Account", "Account")):
            frame = entities.get(entity)
            if frame is None:
                continue
            records = live(frame)
            counts: dict[str, int] = {}
            pairs = find_duplicates(records, cfg[key], stats=counts, lists=lists)
            skip = active(rejected, system, entity, records, None, matched_fields(cfg[key]))
            kept = drop_rejected(pairs, skip)
            stats[f"{system}.{entity}.candidates"] = counts.get("candidates", 0)
            stats[f"{system}.{entity}.duplicate_pairs"] = kept.height
            if pairs.height != kept.height:
                stats[f"{system}.{entity}.rejected_pairs_left_out"] = pairs.height - kept.height
            if kept.height:
                found.append((system, entity, records, kept))
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
        lead_cfg = cfg.get("Lead-Contact", LEAD_CONTACT)
        matched = [r.field for r in lead_cfg.fields]
        pairs = link_records(leads, contacts, lead_cfg, lists=lists)
        skip = active(rejected, "salesforce", "Lead-Contact", leads, contacts, matched)
        pairs = one_to_one(drop_rejected(pairs, skip, cluster=False))
        stats["salesforce.Lead-Contact.pairs"] = pairs.height
        if pairs.height:
            dups.append(
                pairs.with_columns(
                    pl.col("left_id").alias("cluster_id"),
                    pl.lit("salesforce").alias("system"),
                    pl.lit("Lead-Contact").alias("entity"),
                )
            )
            findings.append(conversions(leads, contacts, pairs, merging, matched=matched, gate=gate))
    hs = frames.get("hubspot", {})
    if sf and hs:
        for entity, key in CROSS_ENTITIES:
            if entity not in sf or entity not in hs:
                continue
            left, right = live(sf[entity]), live(hs[entity])
            counts = {}
            linked = link(left, right, cfg[key], "linked_id", "linked_id", counts, lists).with_columns(
                pl.lit(entity).alias("sf_entity")
            )
            if entity == "Contact" and leads is not None:
                rest = right.join(linked.select(pl.col("right_id").alias("id")), on="id", how="anti")
                lead_links = link(
                    leads, rest, cfg[key], "linked_id", "linked_lead_id", counts, lists
                ).with_columns(pl.lit("Lead").alias("sf_entity"))
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
            findings.append(
                drift(entity, left, right, linked.filter(pl.col("sf_entity") == entity), truth, gate, lists)
            )
    all_links = pl.concat(links) if links else pl.DataFrame(schema=LINK_SCHEMA)
    for system, entity, records, pairs in found:
        dups.append(
            pairs.join(clusters(pairs), left_on="left_id", right_on="id").with_columns(
                pl.lit(system).alias("system"), pl.lit(entity).alias("entity")
            )
        )
        wants_twins = any(merging.rule_for(entity, c).startswith("from:") for c in records.columns)
        twins = _twins(system, entity, frames, all_links) if wants_twins else None
        matched = matched_fields(cfg[entity])
        findings.append(
            survivorship(records, pairs, system, entity, merging, matched=matched, twins=twins, gate=gate)
        )
    sourced = source_links(frames, lists) if linked_sources is None else linked_sources
    stats.update(link_counts(sourced))
    return MatchResult(
        source_links=sourced,
        duplicates=pl.concat([d.select(*PAIRS_SCHEMA) for d in dups])
        if dups
        else pl.DataFrame(schema=PAIRS_SCHEMA),
        links=all_links,
        unmatched=pl.concat([u.select("system", "entity", "id") for u in unmatched])
        if unmatched
        else pl.DataFrame(schema={"system": pl.String, "entity": pl.String, "id": pl.String}),
        findings=pl.concat(findings) if findings else pl.DataFrame(schema=MATCH_FINDINGS_SCHEMA),
        stats=stats,
    )


LEGACY_SURVIVOR = {
    "most_complete": ("most_complete", "oldest"),
    "oldest": ("oldest", "most_complete"),
    "most_recent": ("most_recent", "most_complete"),
}


def with_survivor(rules: MergeRules, survivor: str) -> MergeRules:
    """``rules`` with the master chosen by one of the plain orderings (``--survivor``)."""
    if survivor not in ORDERINGS:
        raise ConfigError(f"survivor: must be {', '.join(ORDERINGS)}, got {survivor!r}")
    return MergeRules(LEGACY_SURVIVOR[survivor], rules.fields, {}, rules.entity_fields,
                      rules.secondary_systems, rules.converted_status)  # fmt: skip


def settings_from_profile(raw: Mapping[str, Any], where: str, base: Path | None = None) -> dict[str, Any]:
    """``run_matching`` keyword arguments from a profile's ``[profiles.P.match]`` table.

    Keys: ``merge`` (the merge rules: master ordering, per-field rules, see
    ``crm_ops.match.survivor.MergeRules.from_profile``), ``survivor`` (the older, plain choice of master:
    most_complete | oldest | most_recent), ``source_of_truth`` (field -> salesforce | hubspot | latest,
    ``"*"`` for the rest) and, per match rule (Contact, Lead-Contact, Account, "cross.Contact",
    "cross.Account", "cross.Opportunity"), overrides of its threshold, fields, blocking; and additions to
    the word lists (``crm_ops.values.wordlists.PROFILE_KEYS``: ``freemail_domains_extra``,
    ``nicknames_extra``, ``placeholder_*_extra``, ``wordlists_file`` read relative to ``base``, the
    config file's folder).
    """
    problems = []
    survivor = raw.get("survivor")
    if survivor is not None and survivor not in ORDERINGS:
        problems.append(f"{where}.survivor: must be most_complete, oldest or most_recent, got {survivor!r}")
    truth = dict(raw.get("source_of_truth", {}))
    bad = {k: v for k, v in truth.items() if v not in ("salesforce", "hubspot", "latest")}
    if bad:
        problems.append(f"{where}.source_of_truth: values must be salesforce, hubspot or latest, got {bad}")
    rules = MergeRules()
    merge = raw.get("merge", {})
    if not isinstance(merge, Mapping):
        problems.append(f"{where}.merge: a table (master, fields, Contact, Account)")
    else:
        try:
            rules = MergeRules.from_profile(merge, f"{where}.merge")
        except ConfigError as exc:
            problems += exc.problems
    configs = {}
    for key, value in raw.items():
        if key in ("survivor", "source_of_truth", "merge", *PROFILE_KEYS):
            continue
        if key not in DEFAULTS or not isinstance(value, Mapping):
            problems.append(f"{where}.{key}: unknown setting; match rules are {', '.join(DEFAULTS)}")
            continue
        try:
            configs[key] = DEFAULTS[key].with_overrides(value, f"{where}.{key}")
        except ConfigError as exc:
            problems += exc.problems
    lists = None
    if any(k in raw for k in PROFILE_KEYS):
        try:
            lists = shipped_lists().extended(raw, where, base)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    if survivor is not None and not (isinstance(merge, Mapping) and "master" in merge):
        rules = with_survivor(rules, survivor)
    return {"configs": configs, "source_of_truth": truth, "merge_rules": rules, "lists": lists}


__all__ = [
    "CONTACT",
    "DRIFT_FIELDS",
    "MatchResult",
    "matched_fields",
    "run_matching",
    "settings_from_profile",
    "survivorship",
    "with_survivor",
]
