"""Plans built a column at a time (issue 30) hold to what the per-action code wrote: the same findings,
snapshots and links (``tests/plan_golden.py``: a seeded sandbox's, with hand-made findings) make
``plan.jsonl`` and ``plan.csv`` byte for byte as before, whether written from the plan's table or from
its actions."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from crm_ops.plan import read_plan, write_plan
from crm_ops.plan.format import Plan
from crm_ops.plan.review import auto_appliable, auto_apply
from tests.plan_golden import FOLDER, build


def _expected(name: str) -> bytes:
    return gzip.decompress((FOLDER / f"{name}.gz").read_bytes())


def _lines_differ(got: bytes, want: bytes) -> str:
    for number, (a, b) in enumerate(zip(got.split(b"\n"), want.split(b"\n"), strict=False), start=1):
        if a != b:
            return f"line {number}:\n got  {a[:400]!r}\n want {b[:400]!r}"
    return f"{len(got.splitlines())} lines against {len(want.splitlines())}"


@pytest.mark.parametrize("bare", [False, True], ids=["with snapshots and review", "bare"])
@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_plan_is_written_byte_for_byte_as_the_per_action_code_wrote_it(
    suffix: str, bare: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_plan(build(monkeypatch, bare=bare), tmp_path)
    got, want = (tmp_path / f"plan{suffix}").read_bytes(), _expected(f"{'bare' if bare else 'plan'}{suffix}")
    assert got == want, _lines_differ(got, want)


def test_the_actions_of_a_plan_table_are_the_plan_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = build(monkeypatch)
    (tmp_path / "plan.jsonl").write_bytes(_expected("plan.jsonl"))
    assert plan.actions == read_plan(tmp_path / "plan.jsonl").actions
    kinds = {a.kind for a in plan.actions}
    assert kinds == {"update", "merge", "convert", "associate", "flag"}  # every kind a plan is built with
    merge = next(a for a in plan.actions if a.kind == "merge")
    assert merge.detail is not None and "moves" in merge.detail


def test_a_plan_of_actions_writes_the_same_files_as_its_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = build(monkeypatch)
    of_actions = Plan(built.header, built.actions)  # written an action at a time (undo plans, edits)
    of_their_table = Plan(built.header, table=of_actions.table)  # the table made again from the actions
    for plan, folder in ((of_actions, tmp_path / "actions"), (of_their_table, tmp_path / "table")):
        folder.mkdir()
        write_plan(plan, folder)
        for name in ("plan.jsonl", "plan.csv"):
            assert (folder / name).read_bytes() == _expected(name), (folder.name, name)
    header = json.loads(_expected("plan.jsonl").split(b"\n", 1)[0])
    assert header["plan_id"] == built.header.plan_id


def test_a_plan_is_made_of_actions_or_of_a_table(monkeypatch: pytest.MonkeyPatch) -> None:
    built = build(monkeypatch)
    with pytest.raises(ValueError, match="one of them"):
        Plan(built.header)
    with pytest.raises(ValueError, match="one of them"):
        Plan(built.header, built.actions, table=built.table)


def test_what_a_run_reads_of_a_plan_table_is_what_its_actions_say(monkeypatch: pytest.MonkeyPatch) -> None:
    table_made = build(monkeypatch)
    actions = build(monkeypatch).actions  # made from the table, as read_plan's are compared above
    assert table_made.rows() == [a.as_dict() for a in actions]
    explained = [a.as_dict() | {"detail": {"explain": (a.detail or {}).get("explain")}} for a in actions]
    assert table_made.rows(detail=("explain",)) == [
        {**row, "detail": None if a.detail is None else row["detail"]}
        for a, row in zip(actions, explained, strict=True)
    ]
    assert any(row["detail"] and row["detail"]["explain"] for row in explained)
    candidates = table_made.where(auto_appliable(0.95))
    assert candidates == [
        a for a in actions if (a.confidence or 0.0) >= 0.95 and a.kind in ("update", "associate", "merge")
    ]
    assert {a.kind for a in candidates} == {"update", "merge"} and len(candidates) < len(actions)
    of_actions = Plan(table_made.header, actions)
    assert of_actions.where(auto_appliable(0.95)) == candidates
    chosen = auto_apply(candidates, wanted=["match.duplicate"], min_confidence=0.95, tags={})
    assert chosen == auto_apply(actions, wanted=["match.duplicate"], min_confidence=0.95, tags={})
    assert chosen and all(a.kind == "merge" for a in chosen)


def test_a_plan_of_actions_holding_a_lone_surrogate_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = build(monkeypatch)
    first = built.actions[0].replace(seen_value="half \ud83d emoji")
    write_plan(Plan(built.header, (first, *built.actions[1:])), tmp_path)
    assert '"seen_value": "half \\ud83d emoji"' in (tmp_path / "plan.jsonl").read_text(encoding="utf-8")
    assert "half \ufffd emoji" in (tmp_path / "plan.csv").read_text(encoding="utf-8")
