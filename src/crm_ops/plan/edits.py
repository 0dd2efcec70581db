"""Values a person edited in the review file: a row approved ``yes`` whose ``proposed_value`` is not what
the plan wrote there is applied with the person's value, once the rules the proposal came from pass it.

- Only ``update`` rows can be edited (a merge's or a conversion's proposed cell shows the survivor's
  label; an association's is the record it links to): an edited one of another kind is refused.
- What counts as an edit: the cell differs from what the plan wrote there (``csvio.neutralise`` of the
  proposed value), numbers compared by value, so a spreadsheet that writes ``+12065550100`` back as
  ``12065550100`` has edited nothing. The quote ``csvio`` puts before a formula-like value is taken off.
- Validation: the action's own rule and every other rule on that field of that entity and CRM (a drift
  sync's field rules, for instance) run on the record as pulled with the edited value in its field; a
  value a rule fails, one that is not of the column's type, or a rule that raises, is refused naming the
  file, line and column. Nothing is applied while any edit is refused.
- The journal records each edited action's planned value (``edited_from``): applied as edited by a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from crm_ops import csvio
from crm_ops.layered import Snapshot
from crm_ops.plan.format import Action, Plan, csv_row
from crm_ops.plan.journaled import same
from crm_ops.rules.engine import as_expr
from crm_ops.rules.model import Rule, RuleContext, example_frame
from crm_ops.schema.entities import columns, is_entity

EDITABLE = ("update",)


@dataclass(frozen=True)
class Edit:
    """A proposed value a person changed: where (``file:line: column N (proposed_value)``), the plan's
    value and the person's."""

    action_id: str
    where: str
    planned: str | None
    value: str | None


def read_edits(
    review: Path | csvio.Table, plan: Plan, approved: Iterable[str]
) -> tuple[list[Edit], list[str]]:
    """The edited proposed values of the rows approved (``approved``: action ids), and the refusals of
    edits on rows that cannot be edited. ``review``: the file, or its table as read already
    (``plan.reviewfile``); a file without the ``proposed_value`` column edits nothing."""
    table = csvio.read_file(review, required=("approve", "action_id")) if isinstance(review, Path) else review
    if "proposed_value" not in table.positions:
        return [], []
    wanted = set(approved)
    actions = {a.action_id: a for a in plan.actions if a.action_id in wanted}
    edits: list[Edit] = []
    problems: list[str] = []
    for row in table:
        action = actions.get(row.get("action_id").strip())
        if action is None:
            continue
        cell = row.get("proposed_value")
        if not is_edited(action, cell):
            continue
        written = csvio.neutralise(csv_row(action)["proposed_value"])
        where = table.where(row, "proposed_value")
        if action.kind not in EDITABLE:
            problems.append(
                f"{where}: a {action.kind} row's proposed value cannot be edited (it was {written!r})"
            )
            continue
        value = csvio.unneutralise(cell)
        edits.append(Edit(action.action_id, where, action.proposed_value, value if value != "" else None))
    return edits, problems


def is_edited(action: Action, cell: str) -> bool:
    """Whether ``cell`` (a ``proposed_value`` cell as the file holds it) is an edit of ``action``'s
    proposed value (see the module): whoever wrote it, approved by default or not."""
    written = csvio.neutralise(csv_row(action)["proposed_value"])
    return not (cell == written or same(cell or None, written or None))


def check_edits(
    edits: Sequence[Edit],
    plan: Plan,
    rules: Sequence[Rule],
    frames: Mapping[str, Mapping[str, pl.DataFrame]],
    large: Mapping[str, Mapping[str, Snapshot]] | None = None,
) -> list[str]:
    """Every edit a rule refuses (or that is not of its column's type), each naming file, line, column.
    ``large``: the snapshots of tables too large to hold whole (``crm_ops.snapshots.Snapshots.large``),
    from which only the edited records are read."""
    actions = {a.action_id: a for a in plan.actions}
    problems: list[str] = []
    for edit in edits:
        action = actions[edit.action_id]
        problems += check_value(edit, action, rules, frames, large or {})
    return problems


def check_value(
    edit: Edit,
    action: Action,
    rules: Sequence[Rule],
    frames: Mapping[str, Mapping[str, pl.DataFrame]],
    large: Mapping[str, Mapping[str, Snapshot]],
) -> list[str]:
    """What the rules on ``action``'s field (and its own rule) say of ``edit``'s value in that field of
    its record as pulled (see the module); a person's pick is judged the same way
    (``crm_ops.plan.picks``)."""
    column = action.field or ""
    schema = columns(action.entity) if is_entity(action.entity) else {}
    current = frames.get(action.system, {}).get(action.entity)
    path = large.get(action.system, {}).get(action.entity)
    mine = pl.col("id") == action.record_id
    row = None
    if current is not None:
        row = current.filter(mine).head(1)
    elif path is not None:
        row = path.scan(ordered=False).filter(mine).head(1).collect()
    if row is None or row.is_empty():
        row = example_frame(action.entity, [{"id": action.record_id}], action.system)
    dtype = row.schema.get(column) or schema.get(column) or pl.String()
    edited = pl.Series(column, [edit.value], dtype=pl.String()).cast(dtype, strict=False)
    if edit.value is not None and edited.null_count():
        return [f"{edit.where}: {edit.value!r} is not a {dtype} value for {action.entity}.{column}"]
    row = row.with_columns(edited.alias(column)) if column in row.columns else row.with_columns(edited)
    ctx = RuleContext(frames, system=action.system, large=large)
    judging = [
        r
        for r in rules
        if r.applies_to(action.system, action.entity) and (r.id == action.rule or r.field == column)
    ]
    problems = []
    for rule in judging:
        try:
            ok = row.select(as_expr(rule.check(row, ctx, rule.params), 1, rule)).to_series()[0]
        except Exception as exc:  # noqa: BLE001 - a rule that cannot judge the value refuses it, named
            problems.append(f"{edit.where}: rule {rule.id} could not check {edit.value!r}: {exc}")
            continue
        if not ok:
            problems.append(f"{edit.where}: {edit.value!r} fails rule {rule.id} ({rule.description})")
    return problems


def with_edits(actions: Iterable[Action], edits: Sequence[Edit]) -> list[Action]:
    """``actions`` with the edited proposed values (same action ids: the journal keys the plan's rows)."""
    by_id = {e.action_id: e for e in edits}
    return [
        a.replace(proposed_value=by_id[a.action_id].value) if a.action_id in by_id else a for a in actions
    ]
