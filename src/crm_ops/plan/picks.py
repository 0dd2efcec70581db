"""A person's per-field picks on a merge: which record of the cluster the survivor takes a field from,
overriding the survivor rule that chose it (``crm_ops.match.survivor``).

The review file's ``picks`` column holds them on a merge or conversion row, as JSON::

    {"email": {"from": "003B", "value": "ann@acme.com", "before": "ann@old.com"}}

``from`` is a record of the cluster (the survivor, or a record merged into it on a row of the plan),
``value`` that record's value as the reviewer saw it, ``before`` the survivor's value then. Applied, a
pick replaces the plan's survivor value of that field (rule ``picked``): from the survivor itself it
keeps the survivor's value (the plan's value for the field is dropped); from another record the
survivor takes that value, written only while the survivor still holds ``before`` and that record is
merged now (``crm_ops.plan.journaled.survivor_values``, as for every survivor value).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from crm_ops.plan.format import DECIDED_BY_PERSON, Action, Plan

PICKED = "picked"  # the rule a picked survivor value carries


def cluster_ids(plan: Plan) -> dict[str, set[str]]:
    """Each survivor's cluster: the survivor and every record a plan's merge or conversion puts into it."""
    out: dict[str, set[str]] = {}
    for a in plan.actions:
        if a.kind in DECIDED_BY_PERSON and a.proposed_value:
            out.setdefault(a.proposed_value, {a.proposed_value}).add(a.record_id)
    return out


def parse_picks(
    text: str, action: Action, clusters: Mapping[str, set[str]]
) -> tuple[dict[str, Any], list[str]]:
    """The picks of a ``picks`` cell of ``action``'s row, and what is wrong with it (each a sentence
    without its place: the caller names file, line and column)."""
    if not text.strip():
        return {}, []
    if action.kind not in DECIDED_BY_PERSON:
        return {}, [f"only a merge's or conversion's row takes picks, not a {action.kind} row"]
    try:
        data = json.loads(text)
    except ValueError as exc:
        return {}, [f"picks are not JSON ({exc})"]
    if not isinstance(data, dict):
        return {}, ['picks are a JSON object: {"field": {"from": "id", "value": ..., "before": ...}}']
    members = clusters.get(action.proposed_value or "", {action.record_id})
    problems = []
    picks: dict[str, Any] = {}
    for column, pick in data.items():
        if not isinstance(pick, dict) or not isinstance(pick.get("from"), str):
            problems.append(f"pick of {column!r}: expected an object with the record it is from (from)")
            continue
        if pick["from"] not in members:
            shown = ", ".join(sorted(members))
            problems.append(f"pick of {column!r}: {pick['from']!r} is not a record of this cluster ({shown})")
            continue
        picks[str(column)] = {"from": pick["from"], "value": pick.get("value"), "before": pick.get("before")}
    return picks, problems


def picks_text(picks: Mapping[str, Any]) -> str:
    """A ``picks`` cell (empty without picks), keys sorted so the same picks read the same."""
    return json.dumps(dict(picks), sort_keys=True, ensure_ascii=False) if picks else ""


def with_picks(actions: Iterable[Action], picks: Mapping[str, Mapping[str, Any]]) -> list[Action]:
    """``actions`` whose survivor values follow the picks of their rows (see the module): each picked
    field's planned value replaced. The detail is copied, never changed in place."""
    out = []
    for a in actions:
        mine = picks.get(a.action_id)
        if not mine or a.kind not in DECIDED_BY_PERSON:
            out.append(a)
            continue
        detail = dict(a.detail or {})
        values = [v for v in detail.get("values") or [] if v.get("field") not in mine]
        for column, pick in sorted(mine.items()):
            if pick["from"] == a.proposed_value:
                continue  # the survivor keeps its own value
            values.append(
                {"field": column, "value": pick.get("value"), "rule": PICKED, "from": [pick["from"]],
                 "before": pick.get("before")}
            )  # fmt: skip
        detail["values"] = values
        out.append(a.replace(detail=detail))
    return out
