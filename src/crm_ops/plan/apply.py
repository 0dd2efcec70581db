"""Applying a plan: conflict-checked, journaled, resumable writes, and the undo of what was written.

For each batch of update actions (per system and entity):

1. Re-read the records from the CRM. An action whose field no longer holds the value seen at plan time
   (or whose record is gone) is a ``conflict`` and is not written.
2. Journal the batch as ``pending`` with each field's value before the write (one transaction).
3. Push the batch; journal each outcome, ``done`` or ``failed`` with the CRM's error (one transaction).

A kill between 2 and 3 leaves ``pending`` actions: the next run re-reads them and marks ``done`` those
the CRM already holds (the write landed), writes again those still at their seen value, and reports the
rest as conflicts. A plan whose actions are all journaled changes nothing when applied again. Undo builds
the reverse actions (seen value = what was written, proposed = the value before) and applies them the
same way, journaled under ``undo-<plan id>``. Merges are not applied yet (they are reported as skipped).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import structlog

from crm_ops.connectors.base import Change, Connector
from crm_ops.plan.format import Action, Header, Plan
from crm_ops.state import State

log = structlog.get_logger("crm_ops.apply")
BATCH = {"salesforce": 200, "hubspot": 100}
TERMINAL = ("done", "conflict", "failed", "skipped")


@dataclass
class ApplyReport:
    """What an apply run did (or, dry, would do)."""

    plan_id: str
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    def add(self, entry: dict[str, Any]) -> None:
        """Count one action's outcome."""
        self.counts[entry["status"]] = self.counts.get(entry["status"], 0) + 1
        self.outcomes.append(entry)


def _text(value: Any) -> str | None:
    """Values compared as the findings wrote them: strings, empty meaning absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text if text != "" else None


def _same(a: str | None, b: str | None) -> bool:
    if a == b:
        return True
    if a is None or b is None:
        return False
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def _entry(
    action: Action, status: str, *, before: str | None = None, error: str | None = None
) -> dict[str, Any]:
    return {
        "action_id": action.action_id,
        "system": action.system,
        "entity": action.entity,
        "record_id": action.record_id,
        "field": action.field,
        "before": before,
        "after": action.proposed_value,
        "status": status,
        "error": error,
    }


class Applier:
    """Applies plans through the connectors' ``read`` and ``push``, journaling in the state file."""

    def __init__(
        self,
        state: State,
        connector: Callable[[str], Connector],
        *,
        on_batch: Callable[[str, int], None] | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.state = state
        self.connector = connector
        self.on_batch = on_batch
        self.batch_size = batch_size

    def apply(self, plan_id: str, actions: Iterable[Action], *, dry_run: bool = True) -> ApplyReport:
        """Apply (or, by default, only check) ``actions`` of plan ``plan_id``."""
        report = ApplyReport(plan_id, dry_run)
        journal = self.state.journal(plan_id)
        todo: dict[tuple[str, str], list[Action]] = {}
        for action in actions:
            done = journal.get(action.action_id)
            if done and done["status"] in TERMINAL:
                report.add({**done, "status": f"already {done['status']}"})
                continue
            if action.kind == "flag":
                report.add(_entry(action, "flagged"))
                continue
            if action.kind != "update" or not action.field:
                entry = _entry(action, "skipped", error=f"{action.kind} actions are not applied yet")
                if not dry_run:
                    self.state.record_actions(plan_id, [entry])
                report.add(entry)
                continue
            todo.setdefault((action.system, action.entity), []).append(action)
        for (system, entity), group in todo.items():
            size = min(self.batch_size or BATCH.get(system, 100), BATCH.get(system, 100))
            for start in range(0, len(group), size):
                self._batch(plan_id, system, entity, group[start : start + size], journal, report, dry_run)
        log.info("apply.done", plan_id=plan_id, dry_run=dry_run, **report.counts)
        return report

    def _batch(
        self,
        plan_id: str,
        system: str,
        entity: str,
        batch: list[Action],
        journal: dict[str, dict[str, Any]],
        report: ApplyReport,
        dry_run: bool,
    ) -> None:
        conn = self.connector(system)
        ids = sorted({a.record_id for a in batch})
        current = conn.read(entity, ids)
        live = (
            current.filter(~pl.col("is_deleted").fill_null(False))
            if "is_deleted" in current.columns
            else current
        )
        rows = {r["id"]: r for r in live.to_dicts()}
        to_write: list[tuple[Action, str | None]] = []
        finished: list[dict[str, Any]] = []
        for action in batch:
            row = rows.get(action.record_id)
            if row is None or action.field not in row:
                finished.append(_entry(action, "conflict", error="the record is gone or has no such field"))
                continue
            now = _text(row[action.field])
            pending = journal.get(action.action_id)
            if pending and pending["status"] == "pending" and _same(now, action.proposed_value):
                # the write landed before the last run stopped
                finished.append(_entry(action, "done", before=pending["before"]))
                continue
            if not _same(now, action.seen_value):
                error = f"changed since the plan: now {now!r}, planned from {action.seen_value!r}"
                finished.append(_entry(action, "conflict", before=now, error=error))
                continue
            to_write.append((action, now))
        if dry_run:
            for entry in finished:
                report.add(entry)
            for action, now in to_write:
                report.add(_entry(action, "would write", before=now))
            return
        if finished:
            self.state.record_actions(plan_id, finished)
            for entry in finished:
                report.add(entry)
        if not to_write:
            return
        self.state.record_actions(plan_id, [_entry(a, "pending", before=now) for a, now in to_write])
        results = conn.push(
            entity, [Change(a.record_id, {a.field or "": a.proposed_value}) for a, _ in to_write]
        )
        outcomes = []
        for (action, now), result in zip(to_write, results, strict=True):
            status = "done" if result.ok else "failed"
            outcomes.append(_entry(action, status, before=now, error=result.error))
        self.state.record_actions(plan_id, outcomes)
        for entry in outcomes:
            report.add(entry)
        if self.on_batch is not None:
            self.on_batch(system, len(outcomes))


def undo_plan(state: State, plan: Plan) -> Plan:
    """The plan that restores what applying ``plan`` wrote (its done updates, newest value as seen)."""
    journal = state.journal(plan.header.plan_id)
    reverse = []
    for action in plan.actions:
        entry = journal.get(action.action_id)
        if not entry or entry["status"] != "done" or action.kind != "update":
            continue
        reverse.append(
            Action(
                kind="update",
                system=action.system,
                entity=action.entity,
                record_id=action.record_id,
                field=action.field,
                seen_value=action.proposed_value,
                proposed_value=entry["before"],
                rule=f"undo:{action.rule}",
                severity=action.severity,
                confidence=1.0,
                reason=f"undo of {plan.header.plan_id}",
            ).with_id()
        )
    header = Header(
        plan_id=f"undo-{plan.header.plan_id}",
        created_at=plan.header.created_at,
        profile=plan.header.profile,
        snapshots=plan.header.snapshots,
        rules=plan.header.rules,
    )
    return Plan(header, tuple(reverse))
