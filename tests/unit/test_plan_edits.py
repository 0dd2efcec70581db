"""Edited proposed values in a review file: what counts as an edit, what cannot be edited, what the
rules refuse (each named by file, line and column)."""

from __future__ import annotations

from pathlib import Path

from crm_ops import csvio
from crm_ops.plan import build_plan, write_plan
from crm_ops.plan.edits import check_edits, read_edits, with_edits
from crm_ops.rules.loader import load_rules
from tests.unit.test_plan import _findings

FINDINGS = _findings(
    [
        {"rule": "person.email.normalised", "entity": "Contact", "system": "salesforce", "record_id": "c1",
         "field": "email", "current_value": " Ann@Acme.com", "severity": "warning", "message": "spaces",
         "proposed_value": "ann@acme.com", "confidence": 0.99},
        {"rule": "person.phone.e164", "entity": "Contact", "system": "salesforce", "record_id": "c3",
         "field": "phone", "current_value": "(206) 555-0100", "severity": "warning", "message": "format",
         "proposed_value": "+12065550100", "confidence": 0.99},
        {"rule": "match.duplicate", "entity": "Contact", "system": "salesforce", "record_id": "c2",
         "field": "merge_into", "severity": "warning", "message": "dup", "proposed_value": "c1",
         "confidence": 0.95},
    ]
)  # fmt: skip


def _edited(tmp_path: Path, values: dict[str, str]) -> tuple[Path, list[str]]:
    plan = build_plan(FINDINGS, profile="sandbox")
    _, review = write_plan(plan, tmp_path)
    table = csvio.read_file(review)
    cells = []
    for row in table:
        cell = dict(row.values)
        cell["proposed_value"] = values.get(cell["record_id"], cell["proposed_value"])
        cells.append([cell[c] for c in table.header])
    review.write_text(csvio.format_rows(table.header, cells, sep=";"))
    return review, [a.action_id for a in plan.actions]


def test_only_a_changed_value_is_an_edit_and_merges_cannot_be_edited(tmp_path: Path) -> None:
    review, ids = _edited(tmp_path, {"c1": "ann.lee@acme.com", "c3": "12065550100", "c2": "someone else"})
    plan = build_plan(FINDINGS, profile="sandbox")
    edits, refused = read_edits(review, plan, ids)
    assert [(e.planned, e.value) for e in edits] == [
        ("ann@acme.com", "ann.lee@acme.com")
    ]  # the phone: same number
    assert len(refused) == 1 and "a merge row's proposed value cannot be edited" in refused[0]
    assert refused[0].startswith(f"{review}:")
    chosen = with_edits(plan.actions, edits)
    assert [a.proposed_value for a in chosen if a.record_id == "c1"] == ["ann.lee@acme.com"]
    assert [a.action_id for a in chosen] == [a.action_id for a in plan.actions]  # same rows, same ids
    assert read_edits(review, plan, [])[0] == []  # an edit on a row not approved is not applied anyway


def test_the_rules_the_proposal_came_from_refuse_a_bad_edit_naming_line_and_column(tmp_path: Path) -> None:
    review, ids = _edited(tmp_path, {"c1": "ANN @ acme", "c3": "'=1+1"})
    plan = build_plan(FINDINGS, profile="sandbox")
    edits, _ = read_edits(review, plan, ids)
    assert {e.value for e in edits} == {"ANN @ acme", "=1+1"}  # the neutralising quote taken off
    rules = load_rules([], shipped=True)[0]
    problems = check_edits(edits, plan, rules, {})
    column = 11  # proposed_value
    where = f"{review}:2: column {column} (proposed_value)"
    assert any(p.startswith(f"{where}: 'ANN @ acme' fails rule person.email.") for p in problems), problems
    assert any("'=1+1' fails rule person.phone.e164" in p for p in problems), problems
