"""What applying journals and compares: values as text, records as JSON, journal entries, moments, and
which of a merge's planned values the survivor takes now (``survivor_values``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from crm_ops.plan.format import Action

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def text(value: Any) -> str | None:
    """Values compared as the findings wrote them: strings, empty meaning absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    out = str(value)
    return out if out != "" else None


def same(a: str | None, b: str | None) -> bool:
    """Two values as text, equal (numbers by value)."""
    if a == b:
        return True
    if a is None or b is None:
        return False
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def jsonable(value: Any) -> Any:
    """A value JSON can hold (moments as ISO text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def record_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A record's values, JSON-ready."""
    return {k: jsonable(v) for k, v in row.items()}


def rows_by_id(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """A frame's rows by id."""
    return {str(r["id"]): r for r in frame.to_dicts()}


def storable(value: str | None) -> str | None:
    """``value`` as the journal can hold it: a lone UTF-16 surrogate (which a plan file's JSON can spell,
    and no CRM stores) written as its escape, ``\\ud800``."""
    if value is None or _LONE_SURROGATE.search(value) is None:
        return value
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", value)


def entry(
    action: Action, status: str, *, before: str | None = None, error: str | None = None
) -> dict[str, Any]:
    """One journal entry (and report row) for ``action``."""
    return {
        "action_id": action.action_id,
        "system": action.system,
        "entity": action.entity,
        "record_id": action.record_id,
        "field": action.field,
        "before": before,
        "after": storable(action.proposed_value),
        "status": status,
        "error": error,
    }


def stamp(value: Any) -> str | None:
    """A moment as ISO 8601 in UTC to the millisecond (how merge actions record ``updated_at``)."""
    if value is None:
        return None
    moment = (
        value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def same_moment(value: Any, seen: str) -> bool:
    """Whether a record's ``updated_at`` is still the one a plan saw."""
    try:
        return stamp(value) == stamp(seen)
    except ValueError:
        return False


def survivor_values(
    detail: Mapping[str, Any] | None, merged: Iterable[str], current: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The values to set on the survivor when ``merged`` records merge into it: those whose source is
    merged (``concat`` takes the items of the merged ones), and that the survivor still holds as the
    plan saw them; and the fields left as they are, with why."""
    merged = set(merged)
    out: dict[str, Any] = {}
    left: dict[str, str] = {}
    for v in (detail or {}).get("values") or []:
        column, sources = str(v["field"]), [str(x) for x in v.get("from") or []]
        value = v.get("value")
        twin = all(":" in s for s in sources)  # a value the other CRM holds: no record to wait for
        if v.get("rule") == "concat" and not twin:
            parts = v.get("parts") or {}
            items = [i for s in sources if s in merged for i in parts.get(s, [])]
            if not items:
                continue
            before = [p.strip() for p in str(v.get("before") or "").split(";") if p.strip()]
            value = ";".join([*before, *items])
        elif v.get("rule") == "any_true":
            if not any(s in merged for s in sources):
                continue
        elif not twin and not all(s in merged for s in sources):
            left[column] = f"its source {', '.join(sources)} is not merged"
            continue
        now = text(current.get(column))
        if same(now, text(value)):
            continue  # already so
        if not same(now, text(v.get("before"))):
            left[column] = f"changed since the plan (now {now!r}): left as it is"
            continue
        out[column] = value
    return out, left
