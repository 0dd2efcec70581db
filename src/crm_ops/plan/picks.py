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

Held to what the records are: a pick of a field outside the entity's schema or in ``NOT_PICKABLE``
(ids, links, flags and moments the CRM keeps) is refused wherever it is read (``parse_picks``: the app
and the review file alike). At apply (``checked_picks``) a pick's ``value`` must be the source record's
value as the snapshot holds it, and the value written is taken from the snapshot, never from the cell;
picked values pass the rules on that field as an edited value does (``crm_ops.plan.edits``): any
refusal refuses the apply, naming the file, line and field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from crm_ops.layered import Snapshot
from crm_ops.plan.edits import Edit, check_value
from crm_ops.plan.format import DECIDED_BY_PERSON, Action, Plan
from crm_ops.plan.journaled import jsonable
from crm_ops.rules.model import Rule
from crm_ops.schema.entities import columns, is_entity

PICKED = "picked"  # the rule a picked survivor value carries
# what the CRM keeps itself: never taken from another record
NOT_PICKABLE = ("id", "source_system", "is_deleted", "created_at", "updated_at", "linked_id")


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
    schema = columns(action.entity) if is_entity(action.entity) else None
    problems = []
    picks: dict[str, Any] = {}
    for column, pick in data.items():
        if column in NOT_PICKABLE:
            problems.append(f"pick of {column!r}: the CRM keeps {column} itself; it cannot be picked")
            continue
        if schema is not None and column not in schema:
            problems.append(f"pick of {column!r}: {action.entity} has no field {column!r}")
            continue
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


Frames = Mapping[str, Mapping[str, pl.DataFrame]]
Large = Mapping[str, Mapping[str, Snapshot]]


def record_values(
    system: str, entity: str, ids: Iterable[str], column: str, frames: Frames, large: Large
) -> dict[str, Any]:
    """``column`` of the records ``ids`` as the snapshots hold them (JSON-ready), by id; a
    ``ValueError`` when the entity has no such column."""
    wanted = list(ids)
    held = frames.get(system, {}).get(entity)
    if held is None:
        path = large.get(system, {}).get(entity)
        if path is None:
            return {}
        lazy = path.scan(ordered=False)
        if column not in lazy.collect_schema().names():
            raise ValueError(f"{entity} has no field {column!r}")
        held = lazy.filter(pl.col("id").is_in(wanted)).select("id", column).collect()
    elif column not in held.columns:
        raise ValueError(f"{entity} has no field {column!r}")
    found = held.filter(pl.col("id").is_in(wanted)).select("id", column)
    return {str(r["id"]): jsonable(r[column]) for r in found.to_dicts()}


def checked_picks(
    plan: Plan,
    picks: Mapping[str, Mapping[str, Any]],
    places: Mapping[str, str],
    rules: Sequence[Rule],
    frames: Frames,
    large: Large,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """``picks`` (by action id) with each value taken from its source record's snapshot, and what is
    refused (see the module): a value that is not the record's now, a record not in the snapshot, a
    value the field's rules fail. ``places``: where each action's picks cell is (file, line, column)."""
    actions = {a.action_id: a for a in plan.actions}
    out: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for action_id, mine in picks.items():
        action = actions[action_id]
        survivor = action.proposed_value or ""
        where = places.get(action_id, f"action {action_id}")
        kept: dict[str, Any] = {}
        for column, pick in sorted(mine.items()):
            source = str(pick["from"])
            here = f"{where}: pick of {column!r} from {source}"
            try:
                values = record_values(action.system, action.entity, [source], column, frames, large)
            except ValueError as exc:
                problems.append(f"{here}: {exc}")
                continue
            if source not in values:
                problems.append(f"{here}: {action.entity} {source} is not in the pulled snapshot")
                continue
            if values[source] != pick.get("value"):
                problems.append(
                    f"{here}: the record holds {values[source]!r}, not {pick.get('value')!r} "
                    "(changed since it was picked, or the cell was edited); pick again"
                )
                continue
            kept[column] = {**pick, "value": values[source]}
            if source == survivor:
                continue  # the survivor keeps its own value: nothing written
            # judged as an edited value of that field on the survivor would be
            target = Action(action.kind, action.system, action.entity, survivor, column,
                            _text(pick.get("before")), _text(values[source]), PICKED, action.severity,
                            None, "picked")  # fmt: skip
            edit = Edit(action_id, f"{here}", None, _text(values[source]))
            problems += check_value(edit, target, rules, frames, large)
        out[action_id] = kept
    return out, problems


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
