"""Applying lead conversions and what their undo can do (a mixin of ``Applier``).

A ``convert`` action turns a Salesforce lead (``record_id``) into the existing contact it duplicates
(``proposed_value``), on the contact's account (``detail["account_id"]``), through ``convertLead``:

1. The lead and the contact are re-read: a lead gone, changed since the plan or already converted, a
   contact gone or moved to another account, is a ``conflict``.
2. The contact's values from the merge rules (an opted-out lead leaves the contact opted out) are those
   the contact still holds as planned.
3. The lead and the contact's values before are journaled ``pending``; the lead is converted (Salesforce
   fills the contact's empty fields from it), then the values are written on the contact.
4. The contact is read again and its values after journaled with the ``done`` conversion.

A ``pending`` conversion whose lead is converted into its contact on the next run had landed: its values
are written again (idempotent) and it is ``done``.

Salesforce cannot unconvert a lead: undoing a conversion (``unconvert``) puts the contact's values back
(each still as the conversion left it) and ends ``irreversible``, the lead still converted. The plan
says so before anyone approves a conversion (its review reason), and a conversion never starts approved.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crm_ops.connectors.base import Change, Connector, Conversion
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
from crm_ops.plan.merging import STAMPS
from crm_ops.state import NOT_APPLIED, NOT_SENT, State

if TYPE_CHECKING:
    from crm_ops.plan.outcomes import ApplyReport

CONVERT_CHUNK = 200  # leads converted together (one convertLead call)
# the contact columns convertLead fills from the lead when empty (the standard lead field mapping)
FILLED_BY_CONVERT = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "phone",
        "mobile_phone",
        "title",
        "street",
        "city",
        "state",
        "postal_code",
        "country",
        "email_opt_out",
        "do_not_call",
    }
)
STAYS_CONVERTED = "the lead stays converted: Salesforce cannot unconvert a lead"


class ConvertSteps:
    """Converting leads, for ``Applier``."""

    state: State
    connector: Callable[[str], Connector]
    converted_status: str
    settling: bool

    if TYPE_CHECKING:

        def _record(
            self, plan_id: str, report: ApplyReport, entries: list[dict[str, Any]], dry_run: bool
        ) -> None: ...

    def _converts(
        self,
        plan_id: str,
        actions: list[Action],
        journal: dict[str, dict[str, Any]],
        report: ApplyReport,
        dry_run: bool,
    ) -> None:
        """Convert leads into their contacts, conflict-checked and journaled (see the module)."""
        conn = self.connector("salesforce")
        for start in range(0, len(actions), CONVERT_CHUNK):
            chunk = actions[start : start + CONVERT_CHUNK]
            leads = rows_by_id(conn.read("Lead", sorted({a.record_id for a in chunk})))
            contacts = rows_by_id(conn.read("Contact", sorted({a.proposed_value or "" for a in chunk})))
            finished: list[dict[str, Any]] = []
            todo: list[tuple[Action, str]] = []
            landed: list[tuple[Action, str]] = []
            for a in chunk:
                lead, contact = leads.get(a.record_id), contacts.get(a.proposed_value or "")
                account = str((a.detail or {}).get("account_id") or "")
                pending = journal.get(a.action_id)
                if pending and pending["status"] == "pending" and lead is not None:
                    if lead.get("is_converted") and lead.get("converted_contact_id") == a.proposed_value:
                        landed.append((a, pending["before"] or "{}"))
                        continue
                    if not lead.get("is_converted") and self.settling:
                        finished.append(entry(a, NOT_APPLIED, before=pending["before"], error=NOT_SENT))
                        continue
                    if not lead.get("is_converted"):
                        todo.append((a, pending["before"] or "{}"))
                        continue
                if lead is None or lead.get("is_deleted"):
                    finished.append(entry(a, "conflict", error="the lead is gone"))
                elif lead.get("is_converted"):
                    error = f"already converted (into {lead.get('converted_contact_id')})"
                    finished.append(entry(a, "conflict", error=error))
                elif a.seen_value and not same_moment(lead.get("updated_at"), a.seen_value):
                    error = f"changed since the plan: updated at {stamp(lead.get('updated_at'))}"
                    finished.append(entry(a, "conflict", error=error))
                elif contact is None or contact.get("is_deleted"):
                    finished.append(entry(a, "conflict", error=f"the contact {a.proposed_value} is gone"))
                elif not account or contact.get("account_id") != account:
                    error = f"the contact is on account {contact.get('account_id')!r}, not {account!r}"
                    finished.append(entry(a, "conflict", error=error))
                else:
                    values, left = survivor_values(a.detail, [a.record_id], contact)
                    payload = {
                        "lead": record_json(lead),
                        "contact": {"id": a.proposed_value, "record": record_json(contact), "set": values,
                                    "left": left},
                        "account_id": account,
                    }  # fmt: skip
                    todo.append((a, json.dumps(payload, sort_keys=True)))
            self._record(plan_id, report, finished, dry_run)
            if dry_run:
                for a, _ in todo:
                    report.add(entry(a, "would convert"))
                continue
            if todo:
                self.state.record_actions(plan_id, [entry(a, "pending", before=b) for a, b in todo])
                conversions = [
                    Conversion(a.record_id, a.proposed_value or "", json.loads(b)["account_id"],
                               self.converted_status)
                    for a, b in todo
                ]  # fmt: skip
                for (a, before), result in zip(todo, conn.convert(conversions), strict=True):
                    if result.ok:
                        landed.append((a, before))
                    else:
                        self._record(plan_id, report, [entry(a, "failed", before=before, error=result.error)],
                                     dry_run)  # fmt: skip
            self._finish_converts(plan_id, conn, landed, report)

    def _finish_converts(
        self, plan_id: str, conn: Connector, landed: list[tuple[Action, str]], report: ApplyReport
    ) -> None:
        """Write the contacts' values after their leads converted, and journal each ``done`` with the
        contact's values after."""
        if not landed:
            return
        payloads = [json.loads(b) for _, b in landed]
        writes = [(a, Change(a.proposed_value or "", p["contact"].get("set") or {})) for (a, _), p in
                  zip(landed, payloads, strict=True)]  # fmt: skip
        writes = [(a, c) for a, c in writes if c.values]
        problems: dict[str, str] = {}
        if writes:
            for (a, _), result in zip(writes, conn.push("Contact", [c for _, c in writes]), strict=True):
                if not result.ok:
                    problems[a.action_id] = f"the contact's values not written: {result.error}"
        after = rows_by_id(conn.read("Contact", sorted({a.proposed_value or "" for a, _ in landed})))
        entries = []
        for (a, _), payload in zip(landed, payloads, strict=True):
            if a.proposed_value in after:
                payload["contact"]["after"] = record_json(after[a.proposed_value or ""])
            entries.append(
                entry(a, "done", before=json.dumps(payload, sort_keys=True), error=problems.get(a.action_id))
            )
        self._record(plan_id, report, entries, False)

    def _unconverts(
        self,
        plan_id: str,
        actions: list[Action],
        journal: dict[str, dict[str, Any]],
        report: ApplyReport,
        dry_run: bool,
    ) -> None:
        """Undo conversions: the contacts' values put back where they are as the conversion left them;
        each ends ``irreversible`` (the lead stays converted)."""
        conn = self.connector("salesforce")
        payloads = {a.action_id: json.loads(a.proposed_value or "{}") for a in actions}
        contacts = rows_by_id(conn.read("Contact", sorted({a.seen_value or "" for a in actions})))
        changes: list[tuple[Action, Change]] = []
        outcome: dict[str, list[str]] = {}
        for a in actions:
            kept = payloads[a.action_id].get("contact") or {}
            before, after = kept.get("record") or {}, kept.get("after") or {}
            current = contacts.get(a.seen_value or "")
            if current is None:
                outcome[a.action_id] = [f"the contact {a.seen_value} is gone"]
                continue
            values, moved = {}, []
            for column in sorted(set(kept.get("set") or {}) | FILLED_BY_CONVERT):
                if column in STAMPS or same(text(before.get(column)), text(after.get(column))):
                    continue
                held = text(current.get(column))
                if same(held, text(after.get(column))):
                    values[column] = before.get(column)
                elif not same(held, text(before.get(column))):
                    moved.append(column)
            outcome[a.action_id] = (
                [f"the contact's {', '.join(moved)} changed since: left as is"] if moved else []
            )
            if values:
                changes.append((a, Change(a.seen_value or "", values)))
        if dry_run:
            for a in actions:
                report.add(entry(a, "would put back the contact", error=STAYS_CONVERTED))
            return
        if changes:
            for (a, _), result in zip(changes, conn.push("Contact", [c for _, c in changes]), strict=True):
                if not result.ok:
                    outcome[a.action_id].append(f"the contact's values: {result.error}")
        entries = [
            entry(a, "irreversible", error="; ".join([*outcome.get(a.action_id, []), STAYS_CONVERTED]))
            for a in actions
        ]
        self._record(plan_id, report, entries, dry_run)
