"""The review file's contract (issue 24): every row an action of its plan, once, answered yes, no,
not_duplicate or blank, its identity columns as the plan wrote them, the plan's id on it; a plan applied
only with its own profile. Each refusal names the file, line and column; all are listed at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from crm_ops import csvio
from crm_ops.errors import ConfigError
from crm_ops.plan import build_plan, write_plan
from crm_ops.plan.format import CSV_FIELDS, Plan
from crm_ops.plan.reviewfile import IDENTITY, check_profile, read_review_file
from tests.unit.test_plan_edits import FINDINGS

Rows = list[dict[str, str]]


def _review(tmp_path: Path, change: Callable[[Rows], Rows] = lambda rows: rows) -> tuple[Plan, Path]:
    """A plan and its review file, its rows changed by ``change`` (written back as a spreadsheet would:
    ``;``-separated)."""
    plan = build_plan(FINDINGS, profile="sandbox")
    _, review = write_plan(plan, tmp_path)
    table = csvio.read_file(review)
    rows = change([dict(r.values) for r in table])
    header = list(rows[0]) if rows else list(table.header)
    review.write_text(csvio.format_rows(header, ([r[c] for c in header] for r in rows), sep=";"))
    return plan, review


def _refused(plan: Plan, review: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        read_review_file(review, plan)
    return raised.value.problems


def _column(name: str) -> int:
    return CSV_FIELDS.index(name) + 1


def test_the_review_file_carries_its_plan_id_and_reads_back_clean(tmp_path: Path) -> None:
    plan, review = _review(tmp_path)
    table = csvio.read_file(review)
    assert table.header[-1] == "plan_id" and {r.get("plan_id") for r in table} == {plan.header.plan_id}
    read = read_review_file(review, plan)
    assert read.warnings == () and set(read.answers) == {a.action_id for a in plan.actions}


def test_a_row_pasted_twice_is_refused_naming_both_lines(tmp_path: Path) -> None:
    def pasted(rows: Rows) -> Rows:
        return [*rows, {**rows[0], "approve": "no"}, {**rows[0], "approve": "yes"}]

    plan, review = _review(tmp_path, pasted)
    problems = _refused(plan, review)
    pasted_id = csvio.read_file(review).rows[0].get("action_id")
    assert problems == [
        f"{review}:{line}: column {_column('action_id')} (action_id): action {pasted_id} has a row on "
        "line 2 too: one row per action (a row pasted twice?)"
        for line in (5, 6)
    ]


def test_an_answer_other_than_yes_no_or_blank_is_refused(tmp_path: Path) -> None:
    answers = iter(["maybe", "Y", ""])

    def answered(rows: Rows) -> Rows:
        return [{**r, "approve": next(answers)} for r in rows]

    plan, review = _review(tmp_path, answered)
    (problem,) = _refused(plan, review)
    assert problem.startswith(f"{review}:2: column {_column('approve')} (approve): 'maybe' is not yes (or y")
    # the synonyms the file always took still read
    ok, review = _review(
        tmp_path / "ok",
        lambda rows: [{**r, "approve": a} for r, a in zip(rows, ["TRUE", "n", "reject"], strict=True)],
    )
    assert sorted(read_review_file(review, ok).answers.values()) == ["no", "not_duplicate", "yes"]


def test_an_unknown_action_id_is_refused(tmp_path: Path) -> None:
    plan, review = _review(tmp_path, lambda rows: [{**rows[0], "action_id": "0123456789abcdef"}, *rows[1:]])
    (problem,) = _refused(plan, review)
    assert problem.startswith(
        f"{review}:2: column {_column('action_id')} (action_id): '0123456789abcdef' is not an action"
    )


@pytest.mark.parametrize("column", IDENTITY)
def test_an_edited_identity_column_is_refused(tmp_path: Path, column: str) -> None:
    plan, review = _review(tmp_path, lambda rows: [rows[0], {**rows[1], column: "edited"}, *rows[2:]])
    (problem,) = _refused(plan, review)
    assert problem.startswith(
        f"{review}:3: column {_column(column)} ({column}): 'edited', where the plan wrote"
    )
    assert "cannot be edited" in problem


def test_a_cell_a_spreadsheet_padded_is_no_edit(tmp_path: Path) -> None:
    def respelled(rows: Rows) -> Rows:
        return [{**r, "record_id": f" {r['record_id']} "} for r in rows]

    plan, review = _review(tmp_path, respelled)
    assert read_review_file(review, plan).warnings == ()


def test_rows_of_another_plan_are_refused_and_a_file_without_plan_id_warns(tmp_path: Path) -> None:
    plan, review = _review(tmp_path)
    other = build_plan(FINDINGS, profile="sandbox")  # the same changes, another plan
    assert other.header.plan_id != plan.header.plan_id
    problems = _refused(other, review)
    assert len(problems) == len(plan.actions)
    assert problems[0] == (
        f"{review}:2: column {_column('plan_id')} (plan_id): a row of plan {plan.header.plan_id!r}, not of "
        f"plan {other.header.plan_id!r} being applied: give that plan's own review file"
    )
    # a file of an older crm-ops (no plan_id column): read, with a warning that names it
    plan, review = _review(
        tmp_path / "old", lambda rows: [{k: v for k, v in r.items() if k != "plan_id"} for r in rows]
    )
    (warning,) = read_review_file(review, plan).warnings
    assert warning.startswith(f"{review}:1: no plan_id column")


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    def damaged(rows: Rows) -> Rows:
        return [{**rows[0], "approve": "maybe"}, {**rows[1], "record_id": "x"}, rows[1]]

    plan, review = _review(tmp_path, damaged)
    problems = _refused(plan, review)
    assert [p.split(": ")[:2] for p in problems] == [
        [f"{review}:2", f"column {_column('approve')} (approve)"],
        [f"{review}:3", f"column {_column('record_id')} (record_id)"],
        [f"{review}:4", f"column {_column('action_id')} (action_id)"],
    ]


def test_a_plan_of_another_profile_is_refused() -> None:
    plan = build_plan(FINDINGS, profile="prod")
    assert check_profile(plan, Path("plan.jsonl"), "prod") == []
    (problem,) = check_profile(plan, Path("p/plan.jsonl"), "sandbox")
    assert problem.startswith("p/plan.jsonl:1: profile: the plan was made for profile 'prod'")
