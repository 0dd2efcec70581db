"""Applying merges and their undo, the survivor's values included (a mixin of ``Applier``).

Merges run after the field writes, grouped by survivor, ``MERGE_CHUNK`` survivors at a time:

1. The survivor and each record merged into it are re-read: a record whose ``updated_at`` moved since
   the plan, or that is gone, is a ``conflict``.
2. The survivor's values (the merge's ``detail``) are those whose source is merged now (a value from a
   record left out is not taken; an opt-out holds when any record that has it is merged), and that the
   survivor still holds as planned (a value a person changed since is left alone, and said so).
3. Each record's values, the records linked to it and to the survivor, the survivor's values before
   and the values to set are journaled ``pending`` with the merge; then the CRM's merge runs
   (Salesforce sets the values on the master in the same call; HubSpot writes them just after).
4. The survivors are read again and their values after the merge journaled with each ``done`` merge:
   what undo compares with.

A ``pending`` merge (a killed run's) is looked up on the next run (``Connector.merged_into``: on
Salesforce the record in the recycle bin with ``MasterRecordId`` = the survivor, on HubSpot its id among
the survivor's merged ids): landed, its values are written again (idempotent) and it is ``done``; still
there, it is merged; gone but not into the survivor, a ``conflict``. A merge whose answer was lost is
looked up the same way by the connector before it is sent again.

Undoing a merge (``unmerge``) first puts the survivor's values back (each field still as the merge left
it; one a person changed since is left alone and reported), then brings the record back (Salesforce:
undelete, same id; HubSpot: created again from its journaled values, a new id; journaled ``restored``
before anything else is done) and points the records that were linked to it back at it, each only where
it still points at the survivor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from crm_ops.connectors.base import Change, Connector, Link, PushResult, Relink
from crm_ops.plan.format import Action
from crm_ops.plan.journaled import (
    entry,
    record_json,
    rows_by_id,
    same,
    same_moment,
    stamp,
    survivor_values,
    text,
)
from crm_ops.state import NOT_APPLIED, NOT_SENT, State

if TYPE_CHECKING:
    from crm_ops.plan.outcomes import ApplyReport

MERGE_CHUNK = 100  # survivors re-read and looked up together
STAMPS = frozenset({"id", "updated_at", "created_at", "is_deleted", "source_system"})
# columns the CRM keeps as associations (a ticket's contact too): a merge's undo moves them back by
# relinking, not by writing
ASSOCIATED = {"hubspot": frozenset({"account_id", "contact_id"})}


class MergeSteps:
    """Merging and unmerging, for ``Applier``."""

    state: State
    connector: Callable[[str], Connector]
    settling: bool

    if TYPE_CHECKING:

        def _record(
            self, plan_id: str, report: ApplyReport, entries: list[dict[str, Any]], dry_run: bool
        ) -> None: ...

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
        """Merge each group's records into its survivor, conflict-checked and journaled (see the module)."""
        conn = self.connector(system)
        for start in range(0, len(groups), MERGE_CHUNK):
            chunk = groups[start : start + MERGE_CHUNK]
            ids = sorted({x for survivor, group in chunk for x in (survivor, *(a.record_id for a in group))})
            rows = rows_by_id(conn.read(entity, ids))
            moved = conn.moved_ids(entity)  # HubSpot: a merged id answers the new record it became
            finished: list[dict[str, Any]] = []
            resumed: list[tuple[str, Action, str]] = []
            plans: list[tuple[str, list[tuple[Action, str | None]]]] = []
            for planned, group in chunk:
                survivor = moved.get(planned, planned)  # merged before (an earlier run): chained on its id
                alive = rows.get(survivor)
                to_merge: list[tuple[Action, str | None]] = []
                gone = [
                    a.record_id
                    for a in group
                    if (p := journal.get(a.action_id))
                    and p["status"] == "pending"
                    and (a.record_id in moved or _gone(rows.get(a.record_id)))
                ]
                landed = conn.merged_into(entity, survivor, gone) if gone and alive is not None else set()
                for action in group:
                    # a record answered under another id was merged away
                    row = None if action.record_id in moved else rows.get(action.record_id)
                    pending = journal.get(action.action_id)
                    if pending and pending["status"] == "pending":
                        if action.record_id in landed:  # the merge landed before the last run stopped
                            resumed.append((survivor, action, pending["before"] or "{}"))
                        elif row is None or row.get("is_deleted"):
                            error = f"the record is gone, but not merged into {survivor}"
                            finished.append(entry(action, "conflict", before=pending["before"], error=error))
                        elif self.settling:  # not landed: settled, not sent
                            unsent = entry(action, NOT_APPLIED, before=pending["before"], error=NOT_SENT)
                            finished.append(unsent)
                        else:
                            to_merge.append((action, pending["before"]))
                        continue
                    if alive is None or alive.get("is_deleted"):
                        finished.append(entry(action, "conflict", error=f"the survivor {planned} is gone"))
                    elif row is None or row.get("is_deleted"):
                        finished.append(entry(action, "conflict", error="the record is gone"))
                    elif action.seen_value and not same_moment(row.get("updated_at"), action.seen_value):
                        error = f"changed since the plan: updated at {stamp(row.get('updated_at'))}"
                        finished.append(entry(action, "conflict", error=error))
                    else:
                        to_merge.append((action, None))
                if to_merge:
                    plans.append((survivor, to_merge))
            self._record(plan_id, report, finished, dry_run)
            if dry_run:
                for survivor, to_merge in plans:
                    values, left = survivor_values(
                        _detail(a for a, _ in to_merge), [a.record_id for a, _ in to_merge], rows[survivor]
                    )
                    note = _note(values, left)
                    for action, _ in to_merge:
                        report.add(entry(action, "would merge", error=note))
                continue
            plans = self._journal_payloads(conn, entity, plans, rows)
            done: list[tuple[str, Action, str, str | None]] = []
            for survivor, to_merge in plans:
                self.state.record_actions(plan_id, [entry(a, "pending", before=b) for a, b in to_merge])
                values = json.loads(to_merge[0][1] or "{}").get("survivor", {}).get("set") or {}
                results = conn.merge(entity, survivor, [a.record_id for a, _ in to_merge], values or None)
                # the survivor's id after every merge of the group (HubSpot answers a new one)
                final = next(
                    (str(r.extra["id"]) for r in reversed(results) if r.ok and r.extra.get("id")), survivor
                )
                for (action, before), result in zip(to_merge, results, strict=True):
                    if result.ok:
                        done.append((final, action, before or "{}", _unwritten(result)))
                    else:
                        failed = entry(action, "failed", before=before, error=result.error)
                        self._record(plan_id, report, [failed], dry_run)
            for survivor, action, before in resumed:
                values = json.loads(before).get("survivor", {}).get("set") or {}
                problem = None
                if values:  # the values may not have been written when the last run stopped
                    (result,) = conn.push(entity, [Change(survivor, values)])
                    problem = None if result.ok else f"survivor values not written: {result.error}"
                done.append((survivor, action, before, problem))
            self._finish_merges(plan_id, conn, entity, done, report)

    def _journal_payloads(
        self,
        conn: Connector,
        entity: str,
        plans: list[tuple[str, list[tuple[Action, str | None]]]],
        rows: Mapping[str, dict[str, Any]],
    ) -> list[tuple[str, list[tuple[Action, str | None]]]]:
        """Each merge's journal payload (unless resuming one): the record, its links and the
        survivor's, the survivor's values before and the values to set."""
        fresh = {a.record_id for _, to_merge in plans for a, before in to_merge if before is None}
        if not fresh:
            return plans
        survivors = {s for s, to_merge in plans if any(b is None for _, b in to_merge)}
        by_target: dict[str, list[list[str]]] = {}
        for x in conn.links(entity, sorted(survivors | fresh)):
            by_target.setdefault(x.target_id, []).append([x.relation, x.record_id])
        merged_at = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        out = []
        for survivor, to_merge in plans:
            values, left = survivor_values(
                _detail(a for a, _ in to_merge), [a.record_id for a, _ in to_merge], rows[survivor]
            )
            kept = {"id": survivor, "record": record_json(rows[survivor]), "set": values, "left": left}
            payloads: list[tuple[Action, str | None]] = []
            for a, before in to_merge:
                payload = before or json.dumps(
                    {
                        "record": record_json(rows[a.record_id]),
                        "links": sorted(by_target.get(a.record_id, [])),
                        "survivor_links": sorted(by_target.get(survivor, [])),
                        "merged_at": merged_at,
                        "survivor": kept,
                    },
                    sort_keys=True,
                )
                payloads.append((a, payload))
            out.append((survivor, payloads))
        return out

    def _finish_merges(
        self,
        plan_id: str,
        conn: Connector,
        entity: str,
        done: list[tuple[str, Action, str, str | None]],
        report: ApplyReport,
    ) -> None:
        """Journal the landed merges ``done`` with each survivor's values after the merge."""
        if not done:
            return
        after = rows_by_id(conn.read(entity, sorted({s for s, _, _, _ in done})))
        entries = []
        for survivor, action, before, problem in done:
            payload = json.loads(before)
            kept = payload.setdefault("survivor", {"id": survivor})
            if survivor in after:
                kept["after"] = record_json(after[survivor])
            notes = [problem] if problem else []
            if survivor != action.proposed_value:
                notes.append(f"the survivor is {survivor} now (the CRM gave the merged record a new id)")
            if kept.get("left"):
                notes.append("kept as they were: " + "; ".join(f"{k} ({v})" for k, v in kept["left"].items()))
            before_text = json.dumps(payload, sort_keys=True)
            done_entry = entry(action, "done", before=before_text, error="; ".join(notes) or None)
            entries.append({**done_entry, "after": survivor})  # undo starts from the survivor's id now
        self._record(plan_id, report, entries, False)

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
        """Undo merges, ``MERGE_CHUNK`` at a time: the survivors' values put back, the merged-away records
        restored (journaled ``pending`` before, ``restored`` with their ids after), their links back."""
        conn = self.connector(system)
        for start in range(0, len(actions), MERGE_CHUNK):
            chunk = actions[start : start + MERGE_CHUNK]
            payloads = {a.action_id: json.loads(a.proposed_value or "{}") for a in chunk}
            restored: dict[str, str] = {}
            for a in chunk:
                journaled = journal.get(a.action_id)
                if journaled and journaled["status"] == "restored":
                    restored[a.action_id] = journaled["after"]
            todo = [a for a in chunk if a.action_id not in restored]
            rows = (
                rows_by_id(
                    conn.read(entity, sorted({x for a in todo for x in (a.seen_value or "", a.record_id)}))
                )
                if todo
                else {}
            )
            moved = conn.moved_ids(entity) if todo else {}
            finished: list[dict[str, Any]] = []
            to_restore: list[tuple[Action, bool]] = []
            for a in todo:
                alive = rows.get(moved.get(a.seen_value or "", a.seen_value or ""))
                loser = None if a.record_id in moved else rows.get(a.record_id)  # answered by another: merged
                journaled = journal.get(a.action_id)
                resuming = bool(journaled and journaled["status"] == "pending")
                if alive is None or alive.get("is_deleted"):
                    finished.append(entry(a, "conflict", error=f"the survivor {a.seen_value} is gone"))
                elif loser is not None and not loser.get("is_deleted"):
                    if resuming:
                        restored[a.action_id] = a.record_id  # the undelete landed before the last run stopped
                    else:
                        finished.append(entry(a, "conflict", error="the record is not merged away (live)"))
                else:
                    to_restore.append((a, resuming))
            self._record(plan_id, report, finished, dry_run)
            if dry_run:
                for a, _ in to_restore:
                    report.add(entry(a, "would restore"))
                for a in chunk:
                    if a.action_id in restored:
                        report.add(entry(a, "would relink"))
                continue
            problems: dict[str, list[str]] = {}
            if to_restore:
                self.state.record_actions(plan_id, [entry(a, "pending") for a, _ in to_restore])
                # the survivor first: HubSpot refuses a record whose address the survivor still holds
                for action_id, problem in self._put_back_survivors(
                    conn, system, entity, [(a, payloads[a.action_id]) for a, _ in to_restore]
                ).items():
                    problems.setdefault(action_id, []).append(problem)
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
                        failed.append(entry(a, "failed", error="; ".join([*problems.get(a.action_id, []),
                                                                           result.error or ""])))  # fmt: skip
                self._record(plan_id, report, failed, dry_run)
            back = [a for a in chunk if a.action_id in restored]
            self.state.record_actions(
                plan_id, [{**entry(a, "restored"), "after": restored[a.action_id]} for a in back]
            )
            moves: list[tuple[str, Relink]] = []
            for a in back:
                payload = payloads[a.action_id]
                keep = {tuple(k) for k in payload.get("survivor_links", [])}
                for relation, rid in payload.get("links", []):
                    link = Link(relation, rid, a.record_id)
                    kept = (relation, rid) in keep
                    moves.append((a.action_id, Relink(link, a.seen_value or "", restored[a.action_id], kept)))
            if moves:
                for (action_id, move), result in zip(moves, conn.relink([m for _, m in moves]), strict=True):
                    if not result.ok:
                        problems.setdefault(action_id, []).append(f"{move.link.record_id}: {result.error}")
            done = [
                {
                    **entry(a, "done", error="; ".join(problems.get(a.action_id, [])) or None),
                    "after": restored[a.action_id],
                }
                for a in back
            ]
            self._record(plan_id, report, done, dry_run)

    def _put_back_survivors(
        self,
        conn: Connector,
        system: str,
        entity: str,
        undoing: list[tuple[Action, Mapping[str, Any]]],
    ) -> dict[str, str]:
        """Put each survivor's values back as they were before the merge, where the survivor still holds
        what the merge left; the problems by action id (a field changed since, a value the CRM refuses)."""
        survivors: dict[str, tuple[str, Mapping[str, Any]]] = {}
        for a, payload in undoing:
            kept = payload.get("survivor") or {}
            if kept.get("record") and kept.get("after") and a.seen_value and a.seen_value not in survivors:
                survivors[a.seen_value] = (a.action_id, kept)
        if not survivors:
            return {}
        now = rows_by_id(conn.read(entity, sorted(survivors)))
        skip = STAMPS | ASSOCIATED.get(system, frozenset())
        changes: list[tuple[str, Change]] = []
        problems: dict[str, str] = {}
        for survivor, (action_id, kept) in survivors.items():
            before, after, current = kept["record"], kept["after"], now.get(survivor, {})
            values: dict[str, Any] = {}
            moved: list[str] = []
            # Salesforce changes on the master only what the merge call set; HubSpot's merge fills the
            # primary's empty properties and keeps the merged addresses too: every change is put back
            columns = set(kept.get("set") or {}) if system == "salesforce" else set(before) | set(after)
            for column in sorted(columns):
                if column in skip or same(text(before.get(column)), text(after.get(column))):
                    continue
                held = text(current.get(column))
                if same(held, text(before.get(column))):
                    continue  # put back already
                if same(held, text(after.get(column))):
                    values[column] = before.get(column)
                else:
                    moved.append(column)
            if moved:
                problems[action_id] = f"the survivor's {', '.join(moved)} changed since the merge: left as is"
            if values:
                changes.append((action_id, Change(survivor, values)))
        if changes:
            for (action_id, _), result in zip(
                changes, conn.push(entity, [c for _, c in changes]), strict=True
            ):
                if not result.ok:
                    problem = f"the survivor's values: {result.error}"
                    problems[action_id] = "; ".join(x for x in (problems.get(action_id), problem) if x)
        return problems


def _gone(row: Mapping[str, Any] | None) -> bool:
    return row is None or bool(row.get("is_deleted"))


def _detail(actions: Iterable[Action]) -> dict[str, Any] | None:
    return next((a.detail for a in actions if a.detail), None)


def _note(values: Mapping[str, Any], left: Mapping[str, str]) -> str | None:
    parts = [f"survivor takes {k} = {text(v)}" for k, v in values.items()]
    parts += [f"{k} kept ({v})" for k, v in left.items()]
    return "; ".join(parts) or None


def _unwritten(result: PushResult) -> str | None:
    unwritten = result.extra.get("unwritten") or {}
    if not unwritten:
        return None
    return "survivor values not written: " + "; ".join(f"{k} ({v})" for k, v in unwritten.items())
