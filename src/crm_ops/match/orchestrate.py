"""Matching's steps, in their order, once for every engine: ``orchestrate(engine, frames, ...)``.

The order: duplicates within each CRM (contacts, accounts, open leads, cases when pulled, then every
other entity a rule set is given for: ``configs`` keyed by entity, such as a custom object's or an
opportunity's), leads that duplicate contacts, the two CRMs linked record to record (each entity; then
leads to the HubSpot contacts no Salesforce contact took), records on one side only, drift on the
linked pairs, the sources' links, then the merge proposals of each CRM's clusters (survivorship, with
each member's twin in the other CRM when a merge rule asks for it), with the pairs a person rejected
left out while their records are unchanged.

An engine (``MatchEngine``) does the work on its own frames: polars (``crm_ops.match.run.PolarsEngine``)
or Spark (``crm_ops.spark.match.SparkEngine``). The pairs it finds (a small share of the records) come
back as polars frames, and the rejections, clusters and proposals are made here, by the polars code,
over the records of those pairs only (``MatchEngine.records``), so both engines give the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

import polars as pl

from crm_ops.match.calibration import calibration, with_decisions
from crm_ops.match.config import DEFAULTS, LEAD_CONTACT, MatchConfig
from crm_ops.match.decisions import active, drop_rejected
from crm_ops.match.engine import clusters, one_to_one
from crm_ops.match.links import with_explain
from crm_ops.match.merges import MATCH_FINDINGS_SCHEMA, conversions, survivorship
from crm_ops.match.sources import CRMS, SOURCE_LINK_SCHEMA, link_counts
from crm_ops.match.survivor import MergeRules

LINK_SCHEMA = {
    "entity": pl.String,
    "sf_entity": pl.String,
    "sf_id": pl.String,
    "hs_id": pl.String,
    "method": pl.String,
    "score": pl.Float64,
    "reasons": pl.String,
    "explain": pl.String,  # why the records match (``crm_ops.explain``); null for a link by id
}
PAIRS_SCHEMA = {
    "system": pl.String,
    "entity": pl.String,
    "left_id": pl.String,
    "right_id": pl.String,
    "score": pl.Float64,
    "reasons": pl.String,
    "explain": pl.String,
    "cluster_id": pl.String,
}
UNMATCHED_SCHEMA = {"system": pl.String, "entity": pl.String, "id": pl.String}
# the entities deduplicated within each CRM (with every other entity ``configs`` has a rule set for), and
# those linked across the two (with their settings' key)
DEDUPED = ("Contact", "Account", "Lead")
CROSS_ENTITIES = (
    ("Contact", "cross.Contact"),
    ("Account", "cross.Account"),
    ("Opportunity", "cross.Opportunity"),
)

Frame = TypeVar("Frame")  # an engine's frame: a polars DataFrame, a Spark DataFrame


@dataclass
class MatchResult:
    """Pairs found, clusters, the CRM-to-CRM links, records on one side only, and findings."""

    duplicates: pl.DataFrame  # system, entity, left_id, right_id, score, reasons, cluster_id
    links: pl.DataFrame  # entity, sf_entity, sf_id, hs_id, method, score, reasons
    unmatched: pl.DataFrame  # system, entity, id
    findings: pl.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)
    # what blocking could not compare, one line per rule set that met a key value held by more than its
    # max_block records ("salesforce.Contact: 3 blocks over max_block 50 (1,234 records): 12,345 pairs
    # not compared"; the counts are in ``stats``)
    notices: list[str] = field(default_factory=list)
    # sources' records (billing customers, product users) linked to the CRMs' (``match.sources``)
    source_links: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SOURCE_LINK_SCHEMA))


class MatchEngine(Protocol[Frame]):
    """What the orchestration needs of an engine, over its frames (``Frame``). Pairs and findings come
    back as polars frames; records and links stay the engine's until ``collect``ed."""

    def live(self, frame: Frame) -> Frame:
        """The records not deleted."""
        ...

    def open_leads(self, leads: Frame) -> Frame:
        """The live leads not yet converted."""
        ...

    def with_account_names(self, contacts: Frame, accounts: Frame | None) -> Frame:
        """Contacts with their account's name as ``account_name`` (null without accounts)."""
        ...

    def duplicates(self, frame: Frame, config: MatchConfig, stats: dict[str, int]) -> pl.DataFrame:
        """``crm_ops.match.find_duplicates`` on the engine (``PAIR_SCHEMA``, collected)."""
        ...

    def pairs(self, left: Frame, right: Frame, config: MatchConfig, stats: dict[str, int]) -> pl.DataFrame:
        """``crm_ops.match.link_records`` on the engine (``PAIR_SCHEMA``, collected)."""
        ...

    def link(
        self, sf: Frame, hs: Frame, config: MatchConfig, sf_link: str, hs_link: str, stats: dict[str, int]
    ) -> Frame:
        """One-to-one links as ``crm_ops.match.links.link``: by the ids each keeps of the other, then by
        the rules (left_id, right_id, method, score, reasons)."""
        ...

    def unlinked(self, frame: Frame, links: Frame, column: str) -> Frame:
        """The records of ``frame`` whose id is not in ``links``' ``column``."""
        ...

    def cross_links(self, entity: str, links: Mapping[str, Frame]) -> Frame:
        """``link``'s frames by Salesforce entity, stacked as ``LINK_SCHEMA`` for ``entity``."""
        ...

    def collect(self, frame: Frame, schema: Mapping[str, Any]) -> pl.DataFrame:
        """``frame`` as a polars frame of ``schema``'s columns."""
        ...

    def records(self, frame: Frame, ids: pl.Series) -> pl.DataFrame:
        """The records of ``frame`` whose id is in ``ids`` (few: pair members), as a polars frame."""
        ...

    def drift(
        self, entity: str, sf: Frame, hs: Frame, links: Frame, truth: Mapping[str, str]
    ) -> pl.DataFrame:
        """``crm_ops.match.links.drift`` on the linked pairs ``links`` (``LINK_SCHEMA``), gated."""
        ...

    def proposals(self, make: Callable[..., pl.DataFrame]) -> pl.DataFrame:
        """``make(gate=...)``, polars code making proposals, with the engine's gate (the run's rules)."""
        ...

    def source_links(self, frames: Mapping[str, Mapping[str, Frame]]) -> pl.DataFrame:
        """The sources' records linked to the CRMs' (``SOURCE_LINK_SCHEMA``)."""
        ...

    def close(self) -> None:
        """Release what the engine kept for the run (Spark's persisted frames)."""
        ...


def matched_fields(config: MatchConfig) -> list[str]:
    """The fields a rule set matches on (its fields and the secondary ones they are compared with)."""
    out: list[str] = []
    for rule in config.fields:
        for name in (rule.field, *rule.also):
            if name not in out:
                out.append(name)
    return out


def twins(
    system: str, entity: str, others: pl.DataFrame | None, links: pl.DataFrame
) -> dict[str, dict[str, Any]]:
    """Each ``system`` record's linked record in the other CRM (its records ``others``), for
    ``from:<system>`` merge rules."""
    if others is None or links.is_empty():
        return {}
    here, there = ("sf_id", "hs_id") if system == "salesforce" else ("hs_id", "sf_id")
    pairs = links.filter((pl.col("entity") == entity) & (pl.col("sf_entity") == entity)).select(here, there)
    rows = {str(r["id"]): r for r in others.join(pairs, left_on="id", right_on=there, how="semi").to_dicts()}
    return {str(a): rows[str(b)] for a, b in pairs.iter_rows() if str(b) in rows}


CAPPED = ("blocks_capped", "records_in_capped_blocks", "pairs_not_compared")  # ``engine._candidates``


def capped(
    prefix: str, counts: Mapping[str, int], config: MatchConfig, stats: dict[str, Any], notices: list[str]
) -> None:
    """What blocking could not compare for one rule set (``counts``, an engine's stats), into ``stats``
    under ``prefix`` (``salesforce.Contact``) and as a line in ``notices``; nothing when no block was
    capped."""
    if not counts.get("blocks_capped"):
        return
    for name in CAPPED:
        stats[f"{prefix}.{name}"] = counts.get(name, 0)
    notices.append(
        f"{prefix}: {counts['blocks_capped']:,} blocks over max_block {config.max_block} "
        f"({counts.get('records_in_capped_blocks', 0):,} records): "
        f"{counts.get('pairs_not_compared', 0):,} pairs not compared"
    )


def _rejected_ids(rejected: Sequence[Mapping[str, Any]], system: str, entity: str) -> pl.Series:
    """The records the rejections of ``system``'s ``entity`` name (their fingerprints are compared)."""
    mine = [r for r in rejected if r["system"] == system and r["entity"] == entity]
    return pl.Series("id", [str(r[k]) for r in mine for k in ("record_id", "other_id")], dtype=pl.String)


def _tagged(pairs: pl.DataFrame, system: str, entity: str) -> pl.DataFrame:
    if "left_id" in pairs.columns:  # pairs: why they match, null where they do not say
        pairs = with_explain(pairs)
    return pairs.with_columns(pl.lit(system).alias("system"), pl.lit(entity).alias("entity"))


def orchestrate(
    engine: MatchEngine[Frame],
    frames: Mapping[str, Mapping[str, Frame]],
    *,
    configs: Mapping[str, MatchConfig] | None = None,
    source_of_truth: Mapping[str, str] | None = None,
    merge_rules: MergeRules | None = None,
    rejected: Sequence[Mapping[str, Any]] = (),
    linked_sources: pl.DataFrame | None = None,
    verdicts: Sequence[Mapping[str, Any]] = (),
    learn_from_decisions: bool = False,
) -> MatchResult:
    """Matching over ``frames`` ({system: {entity: frame}}, the engine's frames) on ``engine``, in the
    module's order; the arguments as ``crm_ops.match.run_matching``'s."""
    cfg = {**DEFAULTS, **(configs or {})}
    merging = merge_rules or MergeRules()
    truth = dict(source_of_truth or {})
    dups: list[pl.DataFrame] = []
    findings: list[pl.DataFrame] = []
    links: list[pl.DataFrame] = []
    unmatched: list[pl.DataFrame] = []
    stats: dict[str, Any] = {}
    notices: list[str] = []
    found: list[tuple[str, str, Frame, pl.DataFrame]] = []
    deduped = (*DEDUPED, *(k for k in cfg if k not in DEFAULTS))
    try:
        for system, entities in frames.items():
            if system not in CRMS:
                continue  # a source's records are not merged (it is read-only): its links are below
            for entity in deduped:
                frame = entities.get(entity)
                if frame is None:
                    continue
                # a converted lead is read-only: only open ones are merged
                records = engine.open_leads(frame) if entity == "Lead" else engine.live(frame)
                counts: dict[str, int] = {}
                config = cfg[entity]
                if learn_from_decisions:  # m learned from the pairs people confirmed too
                    config = with_decisions(config, verdicts, system, entity)
                pairs = engine.duplicates(records, config, counts)
                ids = _rejected_ids(rejected, system, entity)
                fields = matched_fields(cfg[entity])
                skip = (
                    active(rejected, system, entity, engine.records(records, ids), None, fields)
                    if ids.len()
                    else []
                )
                kept = drop_rejected(pairs, skip)
                stats[f"{system}.{entity}.candidates"] = counts.get("candidates", 0)
                capped(f"{system}.{entity}", counts, cfg[entity], stats, notices)
                stats[f"{system}.{entity}.duplicate_pairs"] = kept.height
                if pairs.height != kept.height:
                    stats[f"{system}.{entity}.rejected_pairs_left_out"] = pairs.height - kept.height
                if kept.height:
                    found.append((system, entity, records, kept))
        sf = frames.get("salesforce", {})
        # leads not yet converted: checked against contacts here, and against HubSpot contacts below
        leads = engine.open_leads(sf["Lead"]) if "Lead" in sf else None
        if leads is not None and "Contact" in sf:
            contacts = engine.with_account_names(engine.live(sf["Contact"]), sf.get("Account"))
            lc = cfg["Lead-Contact"]
            if learn_from_decisions:
                lc = with_decisions(lc, verdicts, "salesforce", "Lead-Contact")
            findings += _lead_contact(
                engine, leads, contacts, {**cfg, "Lead-Contact": lc}, merging, rejected, stats, dups, notices
            )
        hs = frames.get("hubspot", {})
        if sf and hs:
            for entity, key in CROSS_ENTITIES:
                if entity not in sf or entity not in hs:
                    continue
                left, right = engine.live(sf[entity]), engine.live(hs[entity])
                counts = {}
                linked = engine.link(left, right, cfg[key], "linked_id", "linked_id", counts)
                by_entity = {entity: linked}
                if entity == "Contact" and leads is not None:
                    rest = engine.unlinked(right, linked, "right_id")
                    by_entity["Lead"] = engine.link(
                        leads, rest, cfg[key], "linked_id", "linked_lead_id", counts
                    )
                every = engine.cross_links(entity, by_entity)
                collected = engine.collect(every, LINK_SCHEMA)
                links.append(collected)
                stats[f"cross.{entity}.links"] = collected.height
                stats[f"cross.{entity}.candidates"] = counts.get("candidates", 0)
                capped(f"cross.{entity}", counts, cfg[key], stats, notices)
                for side, rows, column in (("salesforce", left, "sf_id"), ("hubspot", right, "hs_id")):
                    only = engine.collect(engine.unlinked(rows, every, column), {"id": pl.String})
                    unmatched.append(_tagged(only, side, entity))
                own = engine.cross_links(entity, {entity: linked})
                findings.append(engine.drift(entity, left, right, own, truth))
        all_links = pl.concat(links) if links else pl.DataFrame(schema=LINK_SCHEMA)
        for system, entity, records, pairs in found:
            members = clusters(pairs)
            dups.append(_tagged(pairs.join(members, left_on="left_id", right_on="id"), system, entity))
            member_records = engine.records(records, members["id"])
            paired = None
            if any(merging.rule_for(entity, c).startswith("from:") for c in member_records.columns):
                other = "hubspot" if system == "salesforce" else "salesforce"
                twin_frame = frames.get(other, {}).get(entity)
                if twin_frame is not None:
                    here, there = ("sf_id", "hs_id") if system == "salesforce" else ("hs_id", "sf_id")
                    twin_ids = all_links.filter(pl.col(here).is_in(members["id"].implode()))[there]
                    paired = twins(system, entity, engine.records(twin_frame, twin_ids), all_links)
            matched = matched_fields(cfg[entity])
            merge = partial(
                survivorship, member_records, pairs, system, entity, merging, matched=matched, twins=paired,
                members=members,
            )  # fmt: skip
            findings.append(engine.proposals(merge))
        sourced = engine.source_links(frames) if linked_sources is None else linked_sources
    finally:
        engine.close()
    for held in calibration(verdicts):  # the model's expected precision against people's decisions
        stats.update(held.stats())
        if held.over_confident:
            notices.append(held.notice())
    stats.update(link_counts(sourced))
    return MatchResult(
        duplicates=pl.concat([d.select(*PAIRS_SCHEMA) for d in dups])
        if dups
        else pl.DataFrame(schema=PAIRS_SCHEMA),
        links=all_links,
        unmatched=pl.concat([u.select(*UNMATCHED_SCHEMA) for u in unmatched])
        if unmatched
        else pl.DataFrame(schema=UNMATCHED_SCHEMA),
        findings=pl.concat(findings) if findings else pl.DataFrame(schema=MATCH_FINDINGS_SCHEMA),
        stats=stats,
        notices=notices,
        source_links=sourced,
    )


def _lead_contact(
    engine: MatchEngine[Frame],
    leads: Frame,
    contacts: Frame,
    cfg: Mapping[str, MatchConfig],
    merging: MergeRules,
    rejected: Sequence[Mapping[str, Any]],
    stats: dict[str, Any],
    dups: list[pl.DataFrame],
    notices: list[str],
) -> list[pl.DataFrame]:
    """Open leads that duplicate contacts, one-to-one: their pairs added to ``dups`` and the
    conversion proposals returned (what blocking could not compare in ``stats`` and ``notices``)."""
    lead_cfg = cfg.get("Lead-Contact", LEAD_CONTACT)
    matched = [r.field for r in lead_cfg.fields]
    counts: dict[str, int] = {}
    pairs = engine.pairs(leads, contacts, lead_cfg, counts)
    capped("salesforce.Lead-Contact", counts, lead_cfg, stats, notices)
    ids = _rejected_ids(rejected, "salesforce", "Lead-Contact")
    skip = []
    if ids.len():
        skip = active(
            rejected,
            "salesforce",
            "Lead-Contact",
            engine.records(leads, ids),
            engine.records(contacts, ids),
            matched,
        )
    pairs = one_to_one(drop_rejected(pairs, skip, cluster=False))
    stats["salesforce.Lead-Contact.pairs"] = pairs.height
    if not pairs.height:
        return []
    dups.append(
        _tagged(pairs.with_columns(pl.col("left_id").alias("cluster_id")), "salesforce", "Lead-Contact")
    )
    lead_records = engine.records(leads, pairs["left_id"])
    contact_records = engine.records(contacts, pairs["right_id"])
    convert = partial(conversions, lead_records, contact_records, pairs, merging, matched=matched)
    return [engine.proposals(convert)]
