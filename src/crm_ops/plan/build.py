"""From findings to a plan: the proposals become actions, one per record and field, best first, each
with its default approval (``crm_ops.plan.review``) and what a person needs to judge it
(``crm_ops.plan.context``)."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from crm_ops.plan.context import Context
from crm_ops.plan.format import Action, Header, Plan, new_plan_id
from crm_ops.plan.review import Review
from crm_ops.rules.model import FINDINGS_SCHEMA
from crm_ops.schema.relations import Relations, shipped_relations

OTHER_RECORD = ("match.lead_duplicates_contact", "match.duplicate")  # rules whose flags name another record
ASSOCIATIONS = frozenset({"account_id"})  # fields that link a record to another (HubSpot: an association)
WRITABLE = ("salesforce", "hubspot")  # the systems a plan writes into; sources are read-only


def _kind(
    f: Mapping[str, Any], has_proposal: bool, detail: dict[str, Any] | None, relations: Relations
) -> str | None:
    rule, field = f["rule"], f["field"]
    if rule == "match.duplicate":
        # merged where the CRM has a merge API for the object; else a person merges by hand
        return "merge" if relations.mergeable(f["system"], f["entity"]) else "flag"
    if rule == "match.lead_duplicates_contact":
        # converted into the contact on its account; a contact without an account cannot take a lead
        return "convert" if detail and detail.get("account_id") else "flag"
    if has_proposal and field in ASSOCIATIONS:
        return "associate"
    if has_proposal and field and field != "id":
        return "update"
    return None


def build_plan(
    findings: pl.DataFrame,
    *,
    profile: str,
    snapshots: Mapping[str, str] | None = None,
    rules: Mapping[str, str] | None = None,
    flag_errors: bool = True,
    now: datetime | None = None,
    context: Context | None = None,
    review: Review | None = None,
    converted: Collection[tuple[str, str]] | None = None,
    relations: Relations | None = None,
) -> Plan:
    """A plan from findings (rules' and matching's, same table).

    A finding with a proposal (a value, or a confidence for clearing one) becomes an ``update`` (an
    ``associate`` for a link to another record, such as an orphan's account); a duplicate becomes a
    ``merge`` into its survivor, carrying what the survivor ends with (``detail``); a lead duplicating a
    contact a ``convert`` into it (a ``flag`` when the contact has no account to convert onto); an
    error-level finding without a fix (when ``flag_errors``) a ``flag`` for a human. A converted lead
    gets no action at all: Salesforce refuses every edit of one (CANNOT_UPDATE_CONVERTED_LEAD); its
    contact carries the person now (the leads are known from ``context``'s snapshots, else
    ``converted``: (system, lead id) pairs). A duplicate of an object its CRM has no merge API for
    (``crm_ops.schema.relations.MERGE_APIS``: a custom object, a Salesforce opportunity) is a ``flag``
    naming its survivor, for a person to merge by hand or delete one. ``relations`` (the profile's maps:
    each entity's object and parent references; the shipped maps' when None) decide that, and give each
    merge the children it moves (``detail["moves"]``: live records by ``<entity>.<column>`` pointing at
    the merged-away record in ``context``'s snapshots). Where several
    findings propose values for the same field of the same record, the most confident wins and the
    others are named in its reason. A record that a merge folds into another (or a lead converted) gets
    no other action: its fixes are moot once it is merged, and writing them would make the merge a
    conflict (its ``updated_at`` would move).

    ``context`` (the snapshots the findings came from, matching's links, the CRMs' addresses) gives each
    action its labels and URLs; ``review`` (the profile's review settings and the rules' tags) its
    default approval. Without ``review`` nothing starts approved but what the default settings mark
    safe, and without the rules' tags no tag matches: pass ``Review.for_rules(rules, settings)``.
    """
    missing = set(FINDINGS_SCHEMA) - set(findings.columns)
    if missing:
        raise ValueError(f"not a findings table: missing {', '.join(sorted(missing))}")
    relations = relations or shipped_relations()
    frozen = set(converted or ()) | (converted_leads(context.frames) if context is not None else set())
    if frozen:
        keys = pl.DataFrame(
            {"system": [s for s, _ in frozen], "record_id": [r for _, r in frozen]},
            schema={"system": pl.String, "record_id": pl.String},
        ).with_columns(pl.lit("Lead").alias("entity"))
        findings = findings.join(keys, on=["system", "entity", "record_id"], how="anti")
    rows = findings.sort(["confidence", "rule"], descending=[True, False], nulls_last=True).to_dicts()
    details: dict[str, dict[str, Any]] = {}  # parsed once per distinct detail (a cluster shares one)
    chosen: dict[tuple[str, str, str, str, str], Action] = {}
    others: dict[tuple[str, str, str, str, str], list[str]] = {}
    for f in rows:
        has_proposal = f["confidence"] is not None
        raw = f.get("detail")
        if raw and raw not in details:
            details[raw] = json.loads(raw)
        detail = details.get(raw) if raw else None
        kind = _kind(f, has_proposal, detail, relations)
        if kind is not None and f["system"] not in WRITABLE:
            kind = "flag"  # a source (billing, product, files) is read-only: a person fixes it there
        if kind is None:
            if not (flag_errors and f["severity"] == "error"):
                continue
            kind = "flag"
        key = (kind, f["system"], f["entity"], f["record_id"], f["field"] or "")
        if key in chosen:
            others.setdefault(key, []).append(f["rule"])
            continue
        unmerged = kind == "flag" and f["rule"] == "match.duplicate"
        chosen[key] = Action(
            kind=kind,
            system=f["system"],
            entity=f["entity"],
            record_id=f["record_id"],
            field=f["field"],
            seen_value=f["current_value"],
            proposed_value=f["proposed_value"] if kind != "flag" else None,
            detail=detail if kind in ("merge", "convert") else None,
            rule=f["rule"],
            severity=f["severity"],
            confidence=f["confidence"],
            reason=f"{f['message']}: {relations.no_merge(f['system'], f['entity'])}"
            if unmerged
            else f["message"],
            # the contact a lead duplicates, a duplicate's survivor: a flag proposes nothing, but a person
            # wants to see the other record
            other_id=f["proposed_value"] if f["rule"] in OTHER_RECORD else None,
        )
    merged_away = {(k[1], k[2], k[3]) for k in chosen if k[0] in ("merge", "convert")}
    actions = []
    for slot, action in chosen.items():
        if slot[0] not in ("merge", "convert") and (slot[1], slot[2], slot[3]) in merged_away:
            continue
        also = others.get(slot)
        reason = f"{action.reason} (also proposed by: {', '.join(also)})" if also else action.reason
        actions.append(action.replace(reason=reason).with_id())
    actions.sort(key=lambda a: (a.system, a.entity, a.record_id, a.kind, a.field or "", a.rule))
    if context is not None:
        actions = context.annotate(actions)
        actions = context.with_moves(actions, relations)
    review = review or Review()
    actions = [review.annotate(a) for a in actions]
    header = Header(
        plan_id=new_plan_id(now),
        created_at=(now or datetime.now(UTC)).isoformat(),
        profile=profile,
        snapshots=dict(snapshots or {}),
        rules=dict(rules or {}),
        review={"approve": list(review.settings.approve), "min_confidence": review.settings.min_confidence},
    )
    return Plan(header, tuple(actions))


def converted_leads(frames: Mapping[str, Mapping[str, pl.DataFrame]]) -> set[tuple[str, str]]:
    """The (system, id) of every converted lead in ``frames`` (by system, then entity)."""
    out: set[tuple[str, str]] = set()
    for system, entities in frames.items():
        leads = entities.get("Lead")
        if leads is not None and "is_converted" in leads.columns:
            ids = leads.filter(pl.col("is_converted").fill_null(False))["id"].cast(pl.String)
            out |= {(system, str(i)) for i in ids.to_list()}
    return out


def latest_findings(state_dir: Path) -> list[Path]:
    """The newest rules findings and the newest matching findings under a state dir."""
    out = []
    checks = sorted((state_dir / "findings").glob("*.parquet"))
    if checks:
        out.append(checks[-1])
    matches = sorted((state_dir / "match").glob("*/findings.parquet"))
    if matches:
        out.append(matches[-1])
    return out


def links_beside(findings: list[Path]) -> pl.DataFrame | None:
    """Matching's cross-CRM links written beside findings files (``links.parquet``), if any: the twins
    drift syncs are between."""
    frames = []
    for path in findings:
        beside = path.parent / "links.parquet"
        if beside.is_file():
            try:
                frames.append(pl.read_parquet(beside))
            except (OSError, pl.exceptions.ComputeError):
                continue  # the plan is still worth having without them
    return pl.concat(frames, how="diagonal_relaxed") if frames else None
