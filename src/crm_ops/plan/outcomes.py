"""What an apply or undo run tells a person: the records the CRM refused, grouped by the CRM's error, each
with its label (what the record is) and the CRM's message."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crm_ops.plan.format import Action

SHOWN_PER_GROUP = 20
_CODE = re.compile(r"^([A-Z][A-Z0-9_]{2,})\b")


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
