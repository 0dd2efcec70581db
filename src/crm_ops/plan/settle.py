"""Settling what a killed apply left ``pending``: before a new plan is built (``crm-ops run``, ``crm-ops
plan``) and before an undo, so no write is in doubt when the next decision is made.

Each ``pending`` journal entry of an earlier plan (field writes, merges, lead conversions) is looked up in
the CRM, through the look-ups that serve lost replies: a field that holds the written value, a record
merged into its survivor (``Connector.merged_into``), a lead converted into its contact. Landed, it is
``done`` with what the journal kept (so undo can undo it: a merge's undo brings back the record it merged
away); not landed, it is ``not applied`` and never sent (a newer plan proposes it again if it is still
wanted). Settling never writes a new change: only a landed merge's or conversion's survivor values again
(idempotent), as a resumed apply does.

A plan whose lock another process holds (its apply or undo is running: its pending entries are in
flight, not left behind) is passed over. Undo plans' pending restores (``undo-<plan id>``) are resumed by
running that undo again, not here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import structlog

from crm_ops.connectors.base import Connector
from crm_ops.locks import LockedError
from crm_ops.plan.apply import Applier
from crm_ops.plan.format import Action
from crm_ops.state import State

log = structlog.get_logger("crm_ops.settle")
# the field a merge's or conversion's action names (``crm_ops.match.merges``) -> its kind and a key of the
# payload its pending entry journals
WHOLE = {"merge_into": ("merge", "record"), "converted_contact_id": ("convert", "lead")}


def settle_pending(
    state: State, connector: Callable[[str], Connector], plan_id: str | None = None
) -> dict[str, dict[str, int]]:
    """Settle the pending entries of every earlier plan (or of ``plan_id`` alone); the outcomes' counts
    by plan. Nothing is read from the CRM when nothing is pending."""
    by_plan: dict[str, list[dict[str, Any]]] = {}
    for e in state.pending():
        if e["plan_id"].startswith("undo-") or plan_id not in (None, e["plan_id"]):
            continue
        by_plan.setdefault(e["plan_id"], []).append(e)
    settled: dict[str, dict[str, int]] = {}
    for pid, entries in by_plan.items():
        applier = Applier(state, connector, settling=True)
        try:
            report = applier.apply(pid, [_action(e) for e in entries], dry_run=False)
        except LockedError as exc:
            log.info("settle.busy", plan_id=pid, holder=str(exc))  # its apply is running: in flight
            continue
        settled[pid] = report.counts
        log.info("settle.done", plan_id=pid, **report.counts)
    return settled


def _action(e: dict[str, Any]) -> Action:
    """The action a pending entry journaled, as far as settling needs it: a field write's value before
    (what it was planned from) and the value written; a merge's survivor; a conversion's contact."""
    kind, seen = "update", e["before"]
    if e["field"] in WHOLE:  # a merge's or conversion's journal holds the records as JSON
        try:
            payload = json.loads(e["before"] or "{}")
        except ValueError:
            payload = None
        if isinstance(payload, dict) and WHOLE[e["field"]][1] in payload:
            kind, seen = WHOLE[e["field"]][0], None
    return Action(
        kind=kind,
        system=e["system"],
        entity=e["entity"],
        record_id=e["record_id"],
        field=e["field"],
        seen_value=seen,
        proposed_value=e["after"],
        rule="settle",
        severity="info",
        confidence=None,
        reason=f"settle plan {e['plan_id']}'s pending action",
        action_id=e["action_id"],
    )
