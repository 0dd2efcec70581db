"""What an apply or undo run did (``ApplyReport``, filled by ``crm_ops.plan.apply.Applier`` and its merge and
conversion steps) and what it tells a person: the records the CRM refused, grouped by the CRM's error,
each with its label (what the record is) and the CRM's message."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crm_ops.plan.format import Action

SHOWN_PER_GROUP = 20
_CODE = re.compile(r"^([A-Z][A-Z0-9_]{2,})\b")


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

    def refusals(self) -> list[dict[str, Any]]:
        """The actions the CRM refused (``failed``), grouped by what it said (``refusal_groups``)."""
        return refusal_groups(self.outcomes)


def refusal_groups(outcomes: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failed outcomes grouped by the CRM's message (its code and message, without what is particular
    to one record: ids, matched records), largest group first: ``{"reason", "system", "entity", "count",
    "records": [{"record_id", "field", "error"}]}``."""
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for o in outcomes:
        if o.get("status") != "failed":
            continue
        error = str(o.get("error") or "refused")
        reason = refusal_reason(error)
        group = groups.setdefault(
            (o["system"], o["entity"], reason),
            {"reason": reason, "system": o["system"], "entity": o["entity"], "count": 0, "records": []},
        )
        group["count"] += 1
        group["records"].append({"record_id": o["record_id"], "field": o.get("field"), "error": error})
    return sorted(groups.values(), key=lambda g: (-g["count"], g["system"], g["entity"], g["reason"]))


def refusal_reason(error: str) -> str:
    """What a refusal says of every record it hits: the text before the record's particulars (matched
    ids in parentheses, a locked record's id after the colon)."""
    head = error.split(" (", 1)[0].split("; ", 1)[0].strip()
    if head.startswith("UNABLE_TO_LOCK_ROW"):
        return "UNABLE_TO_LOCK_ROW: unable to obtain exclusive access to the record"
    return head or error


@dataclass
class FailureGroup:
    """Failed records sharing one CRM error (its code, or its message when it has none)."""

    error: str
    records: list[dict[str, Any]] = field(default_factory=list)


def error_key(message: str | None) -> str:
    """The CRM's error code a message starts with (``INVALID_EMAIL_ADDRESS: ...``), else the message."""
    text = (message or "no error given").strip()
    found = _CODE.match(text)
    return found.group(1) if found else text[:120]


def failures(outcomes: Iterable[Mapping[str, Any]], actions: Iterable[Action]) -> list[FailureGroup]:
    """The ``failed`` outcomes (this run's, and those an earlier run journaled: ``already failed``) by CRM
    error, largest group first, each record with its plan label."""
    labels = {a.action_id: a for a in actions}
    groups: dict[str, FailureGroup] = {}
    for entry in outcomes:
        if entry.get("status") not in ("failed", "already failed"):
            continue
        action = labels.get(str(entry.get("action_id")))
        record = {
            **entry,
            "label": (action.label if action else None) or entry.get("record_id"),
            "kind": action.kind if action else None,
        }
        key = error_key(entry.get("error"))
        groups.setdefault(key, FailureGroup(key)).records.append(record)
    return sorted(groups.values(), key=lambda g: (-len(g.records), g.error))


def failure_lines(groups: list[FailureGroup], *, shown: int = SHOWN_PER_GROUP) -> list[str]:
    """The groups as text lines: the error and its count, then each record (label, where, message)."""
    lines = []
    for group in groups:
        lines.append(f"failed: {group.error} ({len(group.records):,} record(s))")
        for r in group.records[:shown]:
            place = " ".join(str(x) for x in (r.get("system"), r.get("entity"), r.get("record_id")) if x)
            column = f" {r['field']}" if r.get("field") else ""
            lines.append(f"  - {r['label']} ({place}{column}): {r.get('error') or 'no error given'}")
        if len(group.records) > shown:
            lines.append(f"  ... and {len(group.records) - shown:,} more (all in the run's report file)")
    return lines
