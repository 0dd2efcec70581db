"""Applying a plan: conflict-checked, journaled, resumable writes, and the undo of what was written.

For each batch of update actions (per system and entity):

1. Re-read the records from the CRM. An action whose field no longer holds the value seen at plan time
   (or whose record is gone) is a ``conflict`` and is not written.
2. Journal the batch as ``pending`` with each field's value before the write (one transaction).
3. Push the batch; journal each outcome, ``done`` or ``failed`` with the CRM's error (one transaction).

A kill between 2 and 3 leaves ``pending`` actions: the next run re-reads them and marks ``done`` those
the CRM already holds (the write landed), writes again those still at their seen value, and reports the
rest as conflicts. A reply lost after the CRM wrote is the same case within a run: an update is safe to
send again (the connector does), and one whose reply never came (its retries spent) stays ``pending``
for the next run to find landed. A value holding a lone UTF-16 surrogate (text no CRM stores) is
``failed`` before anything is sent, its record alone.

One apply or undo of a plan writes at a time: ``Applier.apply`` holds the plan's lock
(``crm_ops.locks.plan_lock``), and a journal entry only moves forward (``crm_ops.state.may_replace``).
What a killed apply of an earlier plan left ``pending`` is looked up before a new plan is built or an undo
runs (``crm_ops.plan.settle``): landed, ``done``; else ``not applied``.

A plan whose actions are all journaled changes nothing when applied again. Undo builds the reverse
actions (seen value = what was written, proposed = the value before) and applies them the same way,
journaled under ``undo-<plan id>``.

``associate`` actions are field writes too (the connector writes an association where the CRM keeps one).

Merges (and their undo) run after the field writes, the survivor's values with them
(``crm_ops.plan.merging``); lead conversions after the merges (``crm_ops.plan.converting``: Salesforce
cannot unconvert a lead, so their undo puts back the contact's values and ends ``irreversible``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog

from crm_ops.connectors.base import Change, Connector, invalid_text
from crm_ops.locks import plan_lock
from crm_ops.plan.converting import ConvertSteps
from crm_ops.plan.format import Action, Header, Plan
from crm_ops.plan.journaled import entry as _entry
from crm_ops.plan.journaled import rows_by_id, same
from crm_ops.plan.journaled import text as _text
from crm_ops.plan.merging import MergeSteps
from crm_ops.plan.outcomes import ApplyReport
from crm_ops.progress import Steps
from crm_ops.state import NOT_APPLIED, NOT_SENT, OUTCOMES, State
from crm_ops.suppression import Suppression

log = structlog.get_logger("crm_ops.apply")
TERMINAL = tuple(sorted(OUTCOMES))  # journaled outcomes: an action that has one is never sent again
WRITES = ("update", "associate")
CONVERTED_STATUS = "Closed - Converted"  # Salesforce's default converted lead status


class Applier(MergeSteps, ConvertSteps):
    """Applies plans through the connectors' ``read`` and ``push``, journaling in the state file.

    ``converted_status`` is the lead status a converted lead takes (the profile's
    ``[match.merge] converted_status``)."""

    def __init__(
        self,
        state: State,
        connector: Callable[[str], Connector],
        *,
        batch_size: int | None = None,
        steps: Steps | None = None,
        converted_status: str = CONVERTED_STATUS,
        edited: Mapping[str, str | None] | None = None,
        reviewers: Mapping[str, tuple[str, str]] | None = None,
        settling: bool = False,
    ) -> None:
        # settling (``crm_ops.plan.settle``): pending actions are looked up, not sent: landed, ``done``;
        # else ``not applied``
        self.settling = settling
        self.edited = dict(edited or {})  # action id -> the plan's value a person replaced (review file)
        self.reviewers = dict(reviewers or {})  # action id -> (who approved it, when): the review file
        self.state = state
        self.connector = connector
        self.batch_size = batch_size
        self.steps = steps
        self.converted_status = converted_status
        self.suppression = Suppression.of(state)  # erased people (crm-ops erase): never written back

    def apply(self, plan_id: str, actions: Iterable[Action], *, dry_run: bool = True) -> ApplyReport:
        """Apply (or, by default, only check) ``actions`` of plan ``plan_id``. Writing, it holds the plan's
        lock (``crm_ops.locks.plan_lock``: its apply and its undo, one process at a time), or raises
        ``LockedError`` naming the process that does."""
        if dry_run:
            return self._apply(plan_id, list(actions), dry_run=True)
        with plan_lock(self.state.path.parent, plan_id):
            return self._apply(plan_id, list(actions), dry_run=False)

    def _apply(self, plan_id: str, actions: list[Action], *, dry_run: bool) -> ApplyReport:
        report = ApplyReport(plan_id, dry_run)
        if self.steps is not None:
            steps, label = self.steps, f"{'checking' if dry_run else 'applying'} {plan_id}"
            steps(label, 0, len(actions))
            report.on_outcome = lambda entry: steps(label, 1)
        journal = self.state.journal(plan_id)
        todo: dict[tuple[str, str], list[Action]] = {}
        merges: dict[tuple[str, str, str], list[Action]] = {}
        unmerges: list[Action] = []
        converts: list[Action] = []
        unconverts: list[Action] = []
        for action in actions:
            done = journal.get(action.action_id)
            if done and done["status"] in TERMINAL:
                report.add({**done, "status": f"already {done['status']}"})
                continue
            if action.kind == "flag":
                report.add(_entry(action, "flagged"))
                continue
            erased = erased_write(self.suppression, action) if self.suppression else None
            if erased:  # an erased person is never brought back: not an undo, a sync or a merge's values
                entry = _entry(action, "failed", error=f"not sent: {erased}")
                if not dry_run and not self.settling:
                    self.state.record_actions(plan_id, [entry])
                report.add(entry)
                continue
            if action.kind in WRITES and action.field:
                todo.setdefault((action.system, action.entity), []).append(action)
            elif action.kind == "merge" and action.proposed_value:
                merges.setdefault((action.system, action.entity, action.proposed_value), []).append(action)
            elif action.kind == "unmerge" and action.seen_value and action.proposed_value:
                unmerges.append(action)
            elif action.kind == "convert" and action.proposed_value and action.system == "salesforce":
                converts.append(action)
            elif action.kind == "unconvert" and action.seen_value and action.proposed_value:
                unconverts.append(action)
            else:
                entry = _entry(action, "skipped", error=f"a {action.kind} action without its field or target")
                if not dry_run:
                    self.state.record_actions(plan_id, [entry])
                report.add(entry)
        for (system, entity), group in todo.items():
            # records of one account side by side: Salesforce locks the parent of each record it saves,
            # and a Bulk job's parallel chunks that share parents wait on each other
            group.sort(key=lambda a: (a.account or "", a.record_id))
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
        if converts:
            self._converts(plan_id, converts, journal, report, dry_run)
        if unconverts:
            self._unconverts(plan_id, unconverts, journal, report, dry_run)
        log.info("apply.done", plan_id=plan_id, dry_run=dry_run, **report.counts)
        return report

    def _marked(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Entries of actions a person edited carry the plan's value they replaced (``edited_from``), and
        of actions a person approved, who and when (``reviewed_by``, ``reviewed_at``)."""
        if not self.edited and not self.reviewers:
            return entries
        out = []
        for e in entries:
            key = e["action_id"]
            marked = dict(e)
            if key in self.edited:
                marked["edited_from"] = self.edited[key]
            if key in self.reviewers:
                marked["reviewed_by"], at = self.reviewers[key]
                marked["reviewed_at"] = at or None
            out.append(marked)
        return out

    def _record(
        self, plan_id: str, report: ApplyReport, entries: list[dict[str, Any]], dry_run: bool
    ) -> None:
        entries = self._marked(entries)
        if not dry_run and entries:
            self.state.record_actions(plan_id, entries)
        for entry in entries:
            report.add(entry)

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
        rows = rows_by_id(conn.read(entity, sorted({a.record_id for a in batch})))
        to_write: list[tuple[Action, str | None]] = []
        finished: list[dict[str, Any]] = []
        for action in batch:
            row = rows.get(action.record_id)
            bad = invalid_text({action.field or "": action.proposed_value})
            if bad:  # refused before sending, alone: in a composite or batch request it fails them all
                now = _text(row.get(action.field or "")) if row else None
                finished.append(_entry(action, "failed", before=now, error=bad))
                continue
            if row is None or row.get("is_deleted") or action.field not in row:
                finished.append(_entry(action, "conflict", error="the record is gone or has no such field"))
                continue
            now = _text(row[action.field])
            pending = journal.get(action.action_id)
            if pending and pending["status"] == "pending" and same(now, action.proposed_value):
                # the write landed before the last run stopped
                finished.append(_entry(action, "done", before=pending["before"]))
                continue
            if self.settling:  # pending, and not landed: settled, not sent
                finished.append(_entry(action, NOT_APPLIED, before=now, error=NOT_SENT))
                continue
            if not pending and same(now, action.proposed_value) and not same(now, action.seen_value):
                # written since the plan was made (by a person, or a run whose write a lagging search hid)
                error = "already holds the proposed value: nothing to write"
                finished.append(_entry(action, "skipped", before=now, error=error))
                continue
            if not same(now, action.seen_value):
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
        # within the batch by the parent's id itself (what the CRM locks), as the records say now
        to_write.sort(
            key=lambda pair: (str(rows[pair[0].record_id].get("account_id") or ""), pair[0].record_id)
        )
        self.state.record_actions(
            plan_id, self._marked([_entry(a, "pending", before=now) for a, now in to_write])
        )
        results = conn.push(
            entity, [Change(a.record_id, {a.field or "": a.proposed_value}) for a, _ in to_write]
        )
        outcomes = [
            _entry(action, "done" if result.ok else "failed", before=now, error=result.error)
            for (action, now), result in zip(to_write, results, strict=True)
        ]
        self._record(plan_id, report, outcomes, dry_run)


def erased_write(suppression: Suppression, action: Action) -> str | None:
    """Why ``action`` must not be sent because it would write an erased person back (``crm-ops erase``):
    its record, the other record it involves (a merge's survivor, a sync's twin, on either CRM) or its
    values (a survivor's values, an undone merge's record, a synced e-mail) are on the suppression list.
    Only its id is named, never the person's values."""
    systems = ("salesforce", "hubspot", action.system)
    ids = [action.record_id, action.other_id]
    if action.kind in ("merge", "convert", "associate"):
        ids.append(action.proposed_value)  # the survivor, the contact, the linked record
    for record in filter(None, ids):
        for system in dict.fromkeys(systems):
            digest = suppression.record(system, record)
            if digest in suppression.digests:
                return f"record {record} belongs to a person erased {suppression.when(digest)}"
    return suppression.erased_in([action.proposed_value, action.detail])


def undo_plan(state: State, plan: Plan) -> Plan:
    """The plan that restores what applying ``plan`` wrote: its done field writes back to their values
    before (the written value as seen), its done merges as ``unmerge`` actions and its done conversions
    as ``unconvert`` actions (the survivor or contact as seen, the journaled records, links and values as
    the proposal)."""
    journal = state.journal(plan.header.plan_id)
    erased = {e["action_id"] for e in state.erased(plan.header.plan_id)}  # values gone: erased_refusals
    reverse = []
    undone = {"merge": "unmerge", "convert": "unconvert"}
    for action in plan.actions:
        entry = journal.get(action.action_id)
        if not entry or entry["status"] != "done" or action.kind not in (*WRITES, *undone):
            continue
        if action.action_id in erased:
            continue
        whole = action.kind in undone
        reason = {
            "merge": f": bring back {action.record_id}",
            "convert": f": put back contact {action.proposed_value} (the lead stays converted)",
        }.get(action.kind, "")
        reverse.append(
            Action(
                kind=undone.get(action.kind, action.kind),
                system=action.system,
                entity=action.entity,
                record_id=action.record_id,
                field=None if whole else action.field,
                # a merge's survivor as the journal has it (HubSpot's merges give it a new id); else what
                # was written: the plan's value, or the one a person edited in the review file
                seen_value=(entry.get("after") or action.proposed_value)
                if action.kind == "merge"
                else action.proposed_value
                if whole
                else entry.get("after", action.proposed_value),
                proposed_value=entry["before"],
                rule=f"undo:{action.rule}",
                severity=action.severity,
                confidence=1.0,
                reason=f"undo of {plan.header.plan_id}{reason}",
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


ERASED = "ERASED"  # the error code of an undo refused because the record's values were erased


def erased_refusals(state: State, plan_id: str) -> list[dict[str, Any]]:
    """The done writes of plan ``plan_id`` an undo cannot put back because a person's erasure took their
    journaled values (``State.erase``; ``undo_plan`` leaves them out), as ``failed`` outcomes saying so
    and when: an undo lists them and exits 7, as for the values a CRM refuses to take back."""
    return [
        {
            **{k: e[k] for k in ("action_id", "system", "entity", "record_id", "field")},
            "status": "failed",
            "error": (
                f"{ERASED}: the record's journaled values were erased on {e['erased_at']:%Y-%m-%d} "
                "(crm-ops erase), so this write cannot be undone"
            ),
        }
        for e in state.erased(plan_id)
        if e["status"] == "done"
    ]
