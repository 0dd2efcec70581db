"""A merge's cluster side by side: every field of every record in it as the snapshot holds it, which
fields differ, the survivor's end state per field and the rule (or the reviewer's pick) that chose it,
owners and dates, and the children each record has that the merge moves to the survivor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from crm_ops.layered import Snapshot
from crm_ops.plan.format import DECIDED_BY_PERSON, Action, Plan
from crm_ops.plan.journaled import same, text
from crm_ops.plan.picks import NOT_PICKABLE, PICKED
from crm_ops.schema.relations import CORE_PARENTS

SHOWN_FIRST = ("id", "owner_id", "created_at", "updated_at")


@dataclass(frozen=True)
class FieldRow:
    """One field across the cluster: each record's value, whether they differ, the survivor's end value,
    what chose it, and the record picked (if a reviewer did)."""

    field: str
    values: list[str | None]
    differs: bool
    end: str | None
    chosen_by: str
    picked: str | None
    pickable: bool


@dataclass(frozen=True)
class Cluster:
    """The records of one survivor's cluster (the survivor first) and the plan's actions merging them."""

    system: str
    entity: str
    survivor: str
    ids: list[str]
    actions: list[Action]
    fields: list[FieldRow]
    children: dict[str, dict[str, int]]  # child entity -> record id -> how many
    missing: list[str]  # ids the snapshot no longer holds


def merges_of(plan: Plan, action_id: str) -> list[Action]:
    """Every merge (or conversion) of the plan into the survivor of ``action_id``'s, in the plan's order."""
    target = next((a for a in plan.actions if a.action_id == action_id), None)
    if target is None or target.kind not in DECIDED_BY_PERSON:
        return []
    return [
        a
        for a in plan.actions
        if a.kind == target.kind
        and a.system == target.system
        and a.entity == target.entity
        and a.proposed_value == target.proposed_value
    ]


Snapshots = Mapping[tuple[str, str], Snapshot]  # (system, entity) -> its current snapshot


def cluster_of(
    state: Snapshots,
    actions: list[Action],
    picks: Mapping[str, Mapping[str, Any]],
    reviewers: Mapping[str, str],
) -> Cluster:
    """The side-by-side view of ``actions`` (``merges_of``): records read from the current snapshot;
    ``picks`` and ``reviewers`` by action id, from the review state."""
    first = actions[0]
    survivor = first.proposed_value or ""
    ids = [survivor, *[a.record_id for a in actions]]
    records = _records(state, first.system, first.entity, ids)
    missing = [i for i in ids if i not in records]
    columns = _columns(records)
    planned = {str(v.get("field")): v for v in (first.detail or {}).get("values") or []}
    chosen: dict[str, tuple[str, str]] = {}  # field -> (record, by whom)
    for a in actions:
        for column, pick in (picks.get(a.action_id) or {}).items():
            chosen[column] = (str(pick["from"]), reviewers.get(a.action_id, ""))
    owners = _owners(state, first.system, [records.get(i, {}).get("owner_id") for i in ids])
    fields = []
    for column in columns:
        values = [text(records.get(i, {}).get(column)) for i in ids]
        differs = any(not same(v, values[0]) for v in values[1:])
        if column == "owner_id":  # who owns each record, by name
            values = [f"{owners[v]} ({v})" if v in owners else v for v in values]
        if column in chosen:
            source, who = chosen[column]
            end = text(records.get(source, {}).get(column))
            how = f"{PICKED} by {who}" if who else PICKED
            fields.append(FieldRow(column, values, differs, end, f"{how} (from {source})", source, True))
            continue
        if column in planned:
            v = planned[column]
            sources = ", ".join(map(str, v.get("from") or []))
            fields.append(
                FieldRow(column, values, differs, text(v.get("value")), f"{v.get('rule')} (from {sources})",
                         None, column not in NOT_PICKABLE)
            )  # fmt: skip
            continue
        fields.append(
            FieldRow(
                column, values, differs, values[0], "the survivor's own", None, column not in NOT_PICKABLE
            )
        )
    # the ids, owners and dates first, then the fields that differ, then those all records agree on
    fields.sort(key=lambda f: (f.field not in SHOWN_FIRST, not f.differs))
    children = _children(state, first.system, first.entity, ids)
    return Cluster(first.system, first.entity, survivor, ids, actions, fields, children, missing)


def _records(state: Snapshots, system: str, entity: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    current = state.get((system, entity))
    if current is None:
        return {}
    frame = current.scan().filter(pl.col("id").is_in(ids)).collect()
    return {str(r["id"]): r for r in frame.to_dicts()}


def _owners(state: Snapshots, system: str, ids: list[Any]) -> dict[str, str]:
    """The owners' names (and e-mails) by id, from the Owner snapshot."""
    current = state.get((system, "Owner"))
    wanted = sorted({str(i) for i in ids if i is not None})
    if current is None or not wanted:
        return {}
    frame = current.scan().filter(pl.col("id").is_in(wanted)).collect()
    out = {}
    for r in frame.to_dicts():
        name = " ".join(str(r[c]) for c in ("first_name", "last_name") if r.get(c))
        out[str(r["id"])] = f"{name} <{r['email']}>" if r.get("email") else name or str(r["id"])
    return out


def _columns(records: Mapping[str, Mapping[str, Any]]) -> list[str]:
    names: list[str] = []
    for r in records.values():
        names += [c for c in r if c not in names]
    return [c for c in SHOWN_FIRST if c in names] + sorted(c for c in names if c not in SHOWN_FIRST)


def _children(state: Snapshots, system: str, entity: str, ids: list[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for child, parents in CORE_PARENTS.items():
        for column, parent in parents.items():
            current = state.get((system, child)) if parent == entity else None
            if current is None:
                continue
            counted = current.scan().filter(pl.col(column).is_in(ids)).group_by(column).len().collect()
            found = {str(r[0]): int(r[1]) for r in counted.iter_rows()}
            if found:
                out[f"{child} ({column})"] = found
    return out
