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
same way, journaled under ``undo-<plan id>``.

``associate`` actions are field writes too (the connector writes an association where the CRM keeps one).

Merges run after the field writes, grouped by survivor: the survivor and each record merged into it are
re-read (a record whose ``updated_at`` moved since the plan, or that is gone, is a conflict); each
loser's values and the records linked to it (and to the survivor) are journaled as ``pending`` with the
merge; then the CRM's merge runs. A ``pending`` merge whose loser is gone on the next run had landed.
Undoing a merge (``unmerge``) brings the loser back (Salesforce: undelete, same id; HubSpot: created
again from its journaled values, a new id; journaled ``restored`` before anything else is done) and
points the records that were linked to it back at it, each only where it still points at the survivor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import structlog

from crm_ops.connectors.base import Change, Connector, Link, Relink
from crm_ops.plan.format import Action, Header, Plan
from crm_ops.progress import Steps
from crm_ops.state import State

log = structlog.get_logger("crm_ops.apply")
TERMINAL = ("done", "conflict", "failed", "skipped")
WRITES = ("update", "associate")
MERGE_CHUNK = 100  # survivors re-read and looked up together


@dataclass
class ApplyReport:
    """What an apply run did (or, dry, would do)."""

    plan_id: str
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    on_outcome: Callable[[dict[str, Any]], None] | None = None

    def add(self, entry: dict[str, Any]) -> None:
        """Count one action's outcome."""
        self.counts[entry["status"]] = self.counts.get(entry["status"], 0) + 1
        self.outcomes.append(entry)
        if self.on_outcome is not None:
            self.on_outcome(entry)


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
        batch_size: int | None = None,
        steps: Steps | None = None,
    ) -> None:
        self.state = state
        self.connector = connector
        self.batch_size = batch_size
        self.steps = steps

    def apply(self, plan_id: str, actions: Iterable[Action], *, dry_run: bool = True) -> ApplyReport:
        """Apply (or, by default, only check) ``actions`` of plan ``plan_id``."""
        actions = list(actions)
        report = ApplyReport(plan_id, dry_run)
        if self.steps is not None:
            steps, label = self.steps, f"{'checking' if dry_run else 'applying'} {plan_id}"
            steps(label, 0, len(actions))
            report.on_outcome = lambda entry: steps(label, 1)
        journal = self.state.journal(plan_id)
        todo: dict[tuple[str, str], list[Action]] = {}
        merges: dict[tuple[str, str, str], list[Action]] = {}
        unmerges: list[Action] = []
        for action in actions:
            done = journal.get(action.action_id)
            if done and done["status"] in TERMINAL:
                report.add({**done, "status": f"already {done['status']}"})
                continue
            if action.kind == "flag":
                report.add(_entry(action, "flagged"))
                continue
            if action.kind in WRITES and action.field:
                todo.setdefault((action.system, action.entity), []).append(action)
            elif action.kind == "merge" and action.proposed_value:
                merges.setdefault((action.system, action.entity, action.proposed_value), []).append(action)
            elif action.kind == "unmerge" and action.seen_value and action.proposed_value:
                unmerges.append(action)
            else:
                entry = _entry(action, "skipped", error=f"a {action.kind} action without its field or target")
                if not dry_run:
                    self.state.record_actions(plan_id, [entry])
                report.add(entry)
        for (system, entity), group in todo.items():
            preferred = self.connector(system).write_batch(entity, len(group))
            size = min(self.batch_size or preferred, preferred)
            for start in range(0, len(group), size):
                self._batch(plan_id, system, entity, group[start : start + size], journal, report, dry_run)
        by_entity: dict[tuple[str, str], list[tuple[str, list[Action]]]] = {}
        for (system, entity, survivor), group in merges.items():
            by_entity.setdefault((system, entity), []).append((survivor, group))
        for (system, entity), groups in by_entity.items():
            self._merges(plan_id, system, entity, groups, journal, report, dry_run)
        by_undo: dict[tuple[str, str], list[Action]] = {}
        for action in unmerges:
            by_undo.setdefault((action.system, action.entity), []).append(action)
        for (system, entity), group in by_undo.items():
            self._unmerges(plan_id, system, entity, group, journal, report, dry_run)
        log.info("apply.done", plan_id=plan_id, dry_run=dry_run, **report.counts)
        return report

    def _record(
        self, plan_id: str, report: ApplyReport, entries: list[dict[str, Any]], dry_run: bool
    ) -> None:
        if not dry_run and entries:
            self.state.record_actions(plan_id, entries)
        for entry in entries:
            report.add(entry)

    def _merges(
        self,
        plan_id: str,
        system: str,
        entity: str,
        groups: list[tuple[str, list[Action]]],
        journal: dict[str, dict[str, Any]],
        report: ApplyReport,
        dry_run: bool,
    ) -> None:
        """Merge each group's records into its survivor, conflict-checked and journaled (see the module).

        Survivors are taken ``MERGE_CHUNK`` at a time: one re-read and one look-up of links for the
        chunk, then one merge call (or a few) per survivor, each journaled ``pending`` first.
        """
        conn = self.connector(system)
        for start in range(0, len(groups), MERGE_CHUNK):
            chunk = groups[start : start + MERGE_CHUNK]
            ids = sorted({x for survivor, group in chunk for x in (survivor, *(a.record_id for a in group))})
            rows = _rows_by_id(conn.read(entity, ids))
            finished: list[dict[str, Any]] = []
            plans: list[tuple[str, list[tuple[Action, str | None]]]] = []
            for survivor, group in chunk:
                alive = rows.get(survivor)
                to_merge: list[tuple[Action, str | None]] = []
                for action in group:
                    row = rows.get(action.record_id)
                    pending = journal.get(action.action_id)
                    if pending and pending["status"] == "pending":
                        if row is None or row.get("is_deleted"):
                            finished.append(_entry(action, "done", before=pending["before"]))
                        else:
                            to_merge.append((action, pending["before"]))
                        continue
                    if alive is None or alive.get("is_deleted"):
                        finished.append(_entry(action, "conflict", error=f"the survivor {survivor} is gone"))
                    elif row is None or row.get("is_deleted"):
                        finished.append(_entry(action, "conflict", error="the record is gone"))
                    elif action.seen_value and not _same_moment(row.get("updated_at"), action.seen_value):
                        error = f"changed since the plan: updated at {_stamp(row.get('updated_at'))}"
                        finished.append(_entry(action, "conflict", error=error))
                    else:
                        to_merge.append((action, None))
                if to_merge:
                    plans.append((survivor, to_merge))
            self._record(plan_id, report, finished, dry_run)
            if dry_run:
                for _, to_merge in plans:
                    for action, _ in to_merge:
                        report.add(_entry(action, "would merge"))
                continue
            fresh = {a.record_id for _, to_merge in plans for a, before in to_merge if before is None}
            if fresh:
                survivors = {survivor for survivor, to_merge in plans if any(b is None for _, b in to_merge)}
                linked = conn.links(entity, sorted(survivors | fresh))
                by_target: dict[str, list[list[str]]] = {}
                for x in linked:
                    by_target.setdefault(x.target_id, []).append([x.relation, x.record_id])
                merged_at = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
                plans = [
                    (
                        survivor,
                        [
                            (
                                a,
                                before
                                or json.dumps(
                                    {
                                        "record": {k: _jsonable(v) for k, v in rows[a.record_id].items()},
                                        "links": sorted(by_target.get(a.record_id, [])),
                                        "survivor_links": sorted(by_target.get(survivor, [])),
                                        "merged_at": merged_at,
                                    },
                                    sort_keys=True,
                                ),
                            )
                            for a, before in to_merge
                        ],
                    )
                    for survivor, to_merge in plans
                ]
            for survivor, to_merge in plans:
                self.state.record_actions(plan_id, [_entry(a, "pending", before=b) for a, b in to_merge])
                results = conn.merge(entity, survivor, [a.record_id for a, _ in to_merge])
                outcomes = [
                    _entry(action, "done" if result.ok else "failed", before=before, error=result.error)
                    for (action, before), result in zip(to_merge, results, strict=True)
                ]
                self._record(plan_id, report, outcomes, dry_run)

    def _unmerges(
        self,
        plan_id: str,
        system: str,
        entity: str,
        actions: list[Action],
        journal: dict[str, dict[str, Any]],
        report: ApplyReport,
        dry_run: bool,
    ) -> None:
        """Undo merges, ``MERGE_CHUNK`` at a time: restore the merged-away records (journaled ``pending``
        before, ``restored`` with their ids after), then point their links back at them."""
        conn = self.connector(system)
        for start in range(0, len(actions), MERGE_CHUNK):
            chunk = actions[start : start + MERGE_CHUNK]
            payloads = {a.action_id: json.loads(a.proposed_value or "{}") for a in chunk}
            restored: dict[str, str] = {}
            for a in chunk:
                entry = journal.get(a.action_id)
                if entry and entry["status"] == "restored":
                    restored[a.action_id] = entry["after"]
            todo = [a for a in chunk if a.action_id not in restored]
            rows = (
                _rows_by_id(
                    conn.read(entity, sorted({x for a in todo for x in (a.seen_value or "", a.record_id)}))
                )
                if todo
                else {}
            )
            finished: list[dict[str, Any]] = []
            to_restore: list[tuple[Action, bool]] = []
            for a in todo:
                alive, loser = rows.get(a.seen_value or ""), rows.get(a.record_id)
                entry = journal.get(a.action_id)
                resuming = bool(entry and entry["status"] == "pending")
                if alive is None or alive.get("is_deleted"):
                    finished.append(_entry(a, "conflict", error=f"the survivor {a.seen_value} is gone"))
                elif loser is not None and not loser.get("is_deleted"):
                    if resuming:
                        restored[a.action_id] = a.record_id  # the undelete landed before the last run stopped
                    else:
                        finished.append(_entry(a, "conflict", error="the record is not merged away (live)"))
                else:
                    to_restore.append((a, resuming))
            self._record(plan_id, report, finished, dry_run)
            if dry_run:
                for a, _ in to_restore:
                    report.add(_entry(a, "would restore"))
                for a in chunk:
                    if a.action_id in restored:
                        report.add(_entry(a, "would relink"))
                continue
            if to_restore:
                self.state.record_actions(plan_id, [_entry(a, "pending") for a, _ in to_restore])
                # resuming, the CRM may hold the record already (restored before a kill): it is looked for
                records = [
                    {
                        **(payloads[a.action_id].get("record") or {}),
                        **({"__merged_at": payloads[a.action_id].get("merged_at")} if resuming else {}),
                    }
                    for a, resuming in to_restore
                ]
                failed = []
                for (a, _), result in zip(to_restore, conn.restore(entity, records), strict=True):
                    if result.ok:
                        restored[a.action_id] = str(result.extra["id"])
                    else:
                        failed.append(_entry(a, "failed", error=result.error))
                self._record(plan_id, report, failed, dry_run)
            back = [a for a in chunk if a.action_id in restored]
            self.state.record_actions(
                plan_id, [{**_entry(a, "restored"), "after": restored[a.action_id]} for a in back]
            )
            moves: list[tuple[str, Relink]] = []
            for a in back:
                payload = payloads[a.action_id]
                keep = {tuple(k) for k in payload.get("survivor_links", [])}
                for relation, rid in payload.get("links", []):
                    link = Link(relation, rid, a.record_id)
                    kept = (relation, rid) in keep
                    moves.append((a.action_id, Relink(link, a.seen_value or "", restored[a.action_id], kept)))
            problems: dict[str, list[str]] = {}
            if moves:
                for (action_id, move), result in zip(moves, conn.relink([m for _, m in moves]), strict=True):
                    if not result.ok:
                        problems.setdefault(action_id, []).append(f"{move.link.record_id}: {result.error}")
            done = [
                {
                    **_entry(a, "done", error="; ".join(problems.get(a.action_id, [])) or None),
                    "after": restored[a.action_id],
                }
                for a in back
            ]
            self._record(plan_id, report, done, dry_run)

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
        rows = _rows_by_id(conn.read(entity, sorted({a.record_id for a in batch})))
        to_write: list[tuple[Action, str | None]] = []
        finished: list[dict[str, Any]] = []
        for action in batch:
            row = rows.get(action.record_id)
            if row is None or row.get("is_deleted") or action.field not in row:
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
        self._record(plan_id, report, finished, dry_run)
        if dry_run:
            for action, now in to_write:
                report.add(_entry(action, "would write", before=now))
            return
        if not to_write:
            return
        self.state.record_actions(plan_id, [_entry(a, "pending", before=now) for a, now in to_write])
        results = conn.push(
            entity, [Change(a.record_id, {a.field or "": a.proposed_value}) for a, _ in to_write]
        )
        outcomes = [
            _entry(action, "done" if result.ok else "failed", before=now, error=result.error)
            for (action, now), result in zip(to_write, results, strict=True)
        ]
        self._record(plan_id, report, outcomes, dry_run)


def undo_plan(state: State, plan: Plan) -> Plan:
    """The plan that restores what applying ``plan`` wrote: its done field writes back to their values
    before (the written value as seen), its done merges as ``unmerge`` actions (the survivor as seen, the
    journaled record and links as the proposal)."""
    journal = state.journal(plan.header.plan_id)
    reverse = []
    for action in plan.actions:
        entry = journal.get(action.action_id)
        if not entry or entry["status"] != "done" or action.kind not in (*WRITES, "merge"):
            continue
        merge = action.kind == "merge"
        reverse.append(
            Action(
                kind="unmerge" if merge else action.kind,
                system=action.system,
                entity=action.entity,
                record_id=action.record_id,
                field=None if merge else action.field,
                seen_value=action.proposed_value,
                proposed_value=entry["before"],
                rule=f"undo:{action.rule}",
                severity=action.severity,
                confidence=1.0,
                reason=f"undo of {plan.header.plan_id}"
                + (f": bring back {action.record_id}" if merge else ""),
                label=action.label,
                account=action.account,
                url=action.url,
                approved=True,  # undoing is the decision
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


def _rows_by_id(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {str(r["id"]): r for r in frame.to_dicts()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _stamp(value: Any) -> str | None:
    """A moment as ISO 8601 in UTC to the millisecond (how merge actions record ``updated_at``)."""
    if value is None:
        return None
    moment = (
        value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _same_moment(value: Any, seen: str) -> bool:
    try:
        return _stamp(value) == _stamp(seen)
    except ValueError:
        return False
