"""Formula fields change without moving SystemModstamp (issue 15, item 16): an incremental pull cannot see
it, so the formula columns are pulled again every ``formula_refresh_hours`` and laid over the snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from crm_ops.pull import FORMULAS, Puller, read_snapshot
from crm_ops.sandbox.realworld import FORMULA_FIELD
from crm_ops.sandbox.server import Sandbox
from crm_ops.state import now
from tests.pulling import profile_for, real_world_sandbox

pytestmark = pytest.mark.integration
COLUMN = f"custom_{FORMULA_FIELD}"


@pytest.fixture
def org() -> Iterator[Sandbox]:
    with real_world_sandbox(600, 53, formula_field=True) as box:
        yield box


def _truth(box: Sandbox) -> dict[str, str | None]:
    frame = box.salesforce.store["Contact"].frame()
    return dict(zip(frame["Id"].to_list(), frame[FORMULA_FIELD].to_list(), strict=True))


def test_formula_columns_are_refreshed_and_nothing_else_moves(org: Sandbox, tmp_path: Path) -> None:
    puller = Puller(profile_for(org, tmp_path, salesforce={"formula_refresh_hours": 1e-9}))
    try:
        assert puller.connector("salesforce").formula_columns("Contact") == [COLUMN]
        puller.pull("salesforce", "Contact")
        before = read_snapshot(tmp_path / "state", "salesforce", "Contact")
        changed = org.salesforce_layer.change_formulas(7)
        result = puller.pull("salesforce", "Contact")
    finally:
        puller.close()
    assert result.mode == "incremental"  # no stamp moved: the incremental pull itself cannot see the change
    after = read_snapshot(tmp_path / "state", "salesforce", "Contact")
    truth = _truth(org)
    assert dict(zip(after["id"].to_list(), after[COLUMN].to_list(), strict=True)) == {
        i: truth[i] for i in after["id"].to_list()
    }
    moved = before.join(after, on="id", suffix="__after").filter(
        pl.col(COLUMN).ne_missing(pl.col(f"{COLUMN}__after"))
    )
    assert sorted(moved["id"]) == sorted(changed)
    others = [c for c in before.columns if c != COLUMN]
    assert before.select(others).equals(after.select(others))


def test_without_a_refresh_the_change_is_missed_and_a_stopped_refresh_is_finished_first(
    org: Sandbox, tmp_path: Path
) -> None:
    puller = Puller(profile_for(org, tmp_path, salesforce={"formula_refresh_hours": 0}))
    try:
        puller.pull("salesforce", "Contact")
        changed = org.salesforce_layer.change_formulas(4)
        puller.pull("salesforce", "Contact")
        stale = read_snapshot(tmp_path / "state", "salesforce", "Contact")
        truth = _truth(org)
        values = dict(zip(stale["id"].to_list(), stale[COLUMN].to_list(), strict=True))
        assert all(values[i] != truth[i] for i in changed)  # what refresh_hours = 0 costs
        # a refresh killed before its snapshot (its job left open) is finished by the next pull
        puller.state.start_pull("salesforce", "Contact", FORMULAS, None, now())
        puller.pull("salesforce", "Contact")
        assert [j for j in puller.state.pulls("salesforce", "Contact") if j.status == "running"] == []
    finally:
        puller.close()
    fresh = read_snapshot(tmp_path / "state", "salesforce", "Contact")
    values = dict(zip(fresh["id"].to_list(), fresh[COLUMN].to_list(), strict=True))
    assert all(values[i] == truth[i] for i in changed)
