"""A person's review file, as Excel saves it (UTF-8 BOM, ``;``, CRLF): an edited proposed value is applied
once the rules pass it, journaled as edited by a person, and undone exactly; a value a rule fails is
refused naming the file, line and column, and nothing is written."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_ops import csvio
from crm_ops.cli import EXIT_FAILED
from crm_ops.config import Profile
from crm_ops.plan import read_plan
from crm_ops.plan.format import Plan
from crm_ops.plan.outcomes import error_key
from crm_ops.pull import Puller
from crm_ops.sandbox.server import Sandbox
from crm_ops.state import State
from tests.command import crm_ops
from tests.pulling import fast_sandbox, profile_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(600, 37) as sb:
        yield sb


def _cli(box: Sandbox, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return crm_ops(*args, env={**os.environ, **box.env})  # in this process (tests.command)


def _excel(path: Path, header: tuple[str, ...], cells: list[list[str]]) -> None:
    text = csvio.format_rows(header, cells, sep=";")
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))


def _planned(box: Sandbox, tmp_path: Path) -> tuple[Profile, Path, Path, Plan]:
    """A profile pulled, checked and planned through the CLI: the profile, its config, the plan folder
    and the plan."""
    profile = profile_for(box, tmp_path)
    config = tmp_path / "crm-ops.toml"
    for args in (("pull",), ("check", "--fail-on", "never"), ("plan", "-o", tmp_path / "plan")):
        done = _cli(box, *args, "-c", config)
        assert done.returncode == 0, done.stderr
    return profile, config, tmp_path / "plan", read_plan(tmp_path / "plan" / "plan.jsonl")


def test_an_edited_proposed_value_is_validated_applied_journaled_and_undone(
    box: Sandbox, tmp_path: Path
) -> None:
    profile, config, folder, plan = _planned(box, tmp_path)
    emails = [
        a for a in plan.actions
        if a.approved and a.field == "email" and a.proposed_value
        and "@" in a.proposed_value
    ]  # fmt: skip
    # the CRM takes back a seen value without spaces (not an invalid address): undo is checked exactly
    good = next(a for a in emails if a.seen_value == (a.seen_value or "").strip())
    bad = next(a for a in emails if a is not good)
    local, domain = (good.proposed_value or "").split("@")
    edited = f"{local}.edited@{domain}"
    table = csvio.read_file(folder / "plan.csv")
    cells = [[r.get(c) for c in table.header] for r in table]
    column = table.header.index("proposed_value")
    lines = {}
    for cell, row in zip(cells, table, strict=True):
        if row.get("action_id") == good.action_id:
            cell[column] = edited
        if row.get("action_id") == bad.action_id:
            cell[column] = "broken@@address"
            lines["bad"] = row.line
    review = tmp_path / "reviewed.csv"
    _excel(review, table.header, cells)

    refused = _cli(box, "apply", folder, "-c", config, "--review", review, "--yes")
    assert refused.returncode == 2, refused.stderr
    where = f"{review}:{lines['bad']}: column {column + 1} (proposed_value)"
    assert f"{where}: 'broken@@address' fails rule person.email.valid" in refused.stderr
    state = State(profile.state_dir / "state.sqlite")
    try:
        assert state.journal(plan.header.plan_id) == {}  # nothing written while an edit is refused
    finally:
        state.close()

    for cell, row in zip(cells, table, strict=True):
        if row.get("action_id") == bad.action_id:
            cell[column] = row.get("proposed_value")  # put back as the plan wrote it
    _excel(review, table.header, cells)
    applied = _cli(box, "apply", folder, "-c", config, "--review", review, "--yes")
    assert applied.returncode == 0, applied.stderr
    assert "1 proposed value(s) edited" in applied.stdout
    state = State(profile.state_dir / "state.sqlite")
    try:
        entry = state.journal(plan.header.plan_id)[good.action_id]
    finally:
        state.close()
    assert (entry["status"], entry["after"], entry["edited_from"]) == ("done", edited, good.proposed_value)
    puller = Puller(profile)
    try:
        read = puller.connector(good.system).read
        assert read(good.entity, [good.record_id]).to_dicts()[0]["email"] == edited
        undone = _cli(box, "undo", folder, "-c", config, "--yes")
        assert read(good.entity, [good.record_id]).to_dicts()[0]["email"] == good.seen_value
    finally:
        puller.close()
    # the CRM refuses to take back some values (addresses with spaces): undo says which and why, and
    # exits 7, never 0
    state = State(profile.state_dir / "state.sqlite")
    try:
        not_back = [
            e for e in state.journal(f"undo-{plan.header.plan_id}").values() if e["status"] == "failed"
        ]
    finally:
        state.close()
    assert not_back and undone.returncode == EXIT_FAILED, undone.stderr
    labels = {a.record_id: a.label for a in plan.actions}
    for entry in not_back:
        place = f"{entry['system']} {entry['entity']} {entry['record_id']}"
        assert f"  - {labels[entry['record_id']]} ({place}" in undone.stderr
        assert f"failed: {error_key(entry['error'])} (" in undone.stderr  # grouped by the CRM's error


def test_a_review_file_that_breaks_its_contract_writes_nothing_and_names_every_place(
    box: Sandbox, tmp_path: Path
) -> None:
    """Issue 24: a row pasted twice (no, then yes), an answer of ``maybe``, an unknown id, an edited
    record_id, a row of another plan, and a plan of another profile: all refused at once, exit 2."""
    profile, config, folder, plan = _planned(box, tmp_path)
    table = csvio.read_file(folder / "plan.csv")
    header = table.header
    at = {name: header.index(name) for name in ("approve", "action_id", "record_id", "plan_id")}
    cells = [[r.get(c) for c in header] for r in table]
    approved = [c for c in cells if c[at["approve"]] == "yes"]
    assert len(approved) > 10
    pasted = [*approved[0]]
    approved[0][at["approve"]] = "no"
    pasted[at["approve"]] = "yes"  # pasted twice: once no, once yes
    approved[1][at["approve"]] = "maybe"
    approved[2][at["action_id"]] = "0123456789abcdef"
    approved[3][at["record_id"]] = "003000000000000AAA"
    approved[4][at["plan_id"]] = "20260101T000000-abcdef"  # a row of another plan
    review = tmp_path / "reviewed.csv"
    _excel(review, header, [*cells, pasted])
    lines = {tuple(r.get(c) for c in header): r.line for r in csvio.read_file(review)}
    jsonl = folder / "plan.jsonl"
    first, rest = jsonl.read_text().split("\n", 1)
    jsonl.write_text(first.replace('"profile": "sandbox"', '"profile": "prod"') + "\n" + rest)

    refused = _cli(box, "apply", folder, "-c", config, "--review", review, "--yes")
    assert refused.returncode == 2, refused.stderr

    def where(cells: list[str], column: str) -> str:
        return f"{review}:{lines[tuple(cells)]}: column {at[column] + 1} ({column})"

    expected = [
        f"{jsonl}:1: profile: the plan was made for profile 'prod', and apply was given profile 'sandbox'",
        f"{where(approved[1], 'approve')}: 'maybe' is not yes",
        f"{where(approved[2], 'action_id')}: '0123456789abcdef' is not an action of plan",
        f"{where(approved[3], 'record_id')}: '003000000000000AAA', where the plan wrote",
        f"{where(approved[4], 'plan_id')}: a row of plan '20260101T000000-abcdef'",
        f"{where(pasted, 'action_id')}: action {pasted[at['action_id']]} has a row on line "
        f"{lines[tuple(approved[0])]} too",
    ]
    for message in expected:
        assert message in refused.stderr, (message, refused.stderr[-3000:])
    state = State(profile.state_dir / "state.sqlite")
    try:
        assert state.journal(plan.header.plan_id) == {}  # nothing written
    finally:
        state.close()
    puller = Puller(profile)
    try:
        safe = next(a for a in plan.actions if a.action_id == approved[5][at["action_id"]])
        (now,) = puller.connector(safe.system).read(safe.entity, [safe.record_id]).to_dicts()
        assert now[safe.field or ""] == safe.seen_value  # an approved row elsewhere in the file: not written
    finally:
        puller.close()

    # a file of an older crm-ops (no plan_id column), rows as the plan wrote them: read, with a warning
    jsonl.write_text(first + "\n" + rest)
    keep = [i for i, name in enumerate(header) if name != "plan_id"]
    _excel(review, tuple(header[i] for i in keep), [[c[i] for i in keep] for c in _cells(folder)])
    older = _cli(box, "apply", folder, "-c", config, "--review", review)
    assert older.returncode == 0, older.stderr
    assert f"warning: {review}:1: no plan_id column" in older.stderr


def _cells(folder: Path) -> list[list[str]]:
    table = csvio.read_file(folder / "plan.csv")
    return [[r.get(c) for c in table.header] for r in table]


def test_a_pick_typed_into_the_review_file_is_refused_at_apply_and_nothing_is_written(
    box: Sandbox, tmp_path: Path
) -> None:
    """Review 29 #1: a pick's value is the source record's as pulled, never the cell's text."""
    profile = profile_for(box, tmp_path)
    config = tmp_path / "crm-ops.toml"
    for args in (("pull",), ("check", "--fail-on", "never"), ("match",), ("plan", "-o", tmp_path / "plan")):
        done = _cli(box, *args, "-c", config)
        assert done.returncode == 0, done.stderr
    folder = tmp_path / "plan"
    plan = read_plan(folder / "plan.jsonl")
    merge = next(a for a in plan.actions if a.kind == "merge" and a.entity == "Contact")
    table = csvio.read_file(folder / "plan.csv")
    cells = [[r.get(c) for c in table.header] for r in table]
    approve, picks = table.header.index("approve"), table.header.index("picks")
    lines = {}
    for cell, row in zip(cells, table, strict=True):
        cell[approve] = "no"
        if row.get("action_id") == merge.action_id:
            cell[approve] = "yes"
            cell[picks] = json.dumps({"email": {"from": merge.record_id, "value": "evil@outside.example"}})
            lines[merge.action_id] = row.line
    review = tmp_path / "reviewed.csv"
    _excel(review, table.header, cells)
    refused = _cli(box, "apply", folder, "-c", config, "--review", review, "--yes")
    assert refused.returncode == 2, refused.stderr
    place = f"{review}:{lines[merge.action_id]}: column {picks + 1} (picks)"
    where = f"{place}: pick of 'email' from {merge.record_id}"
    assert f"{where}: the record holds" in refused.stderr and "'evil@outside.example'" in refused.stderr, (
        refused.stderr[-3000:]
    )
    state = State(profile.state_dir / "state.sqlite")
    try:
        assert state.journal(plan.header.plan_id) == {}  # nothing written
    finally:
        state.close()
