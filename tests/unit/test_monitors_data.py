"""The data monitors on statistics kept in a state file, the statistics of a snapshot, and
``[profiles.P.monitors]``'s checks (issue 27)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.config import MonitorSettings, load_profile
from crm_ops.entitystats import snapshot_stats
from crm_ops.errors import ConfigError
from crm_ops.layered import Snapshot
from crm_ops.monitors.data import data_monitors, total_variation
from crm_ops.state import State

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _stats(
    live: int, day: int, *, nulls: float = 0.02, stages: dict[str, float] | None = None
) -> dict[str, Any]:
    return {
        "rows": live + 20,
        "live": live,
        "deleted": 20,
        "visible": live,
        "pull_changed": 30,
        "pull_deleted": 3,
        "pulled_at": (T0 + timedelta(days=day)).isoformat(),
        "newest_change": (T0 + timedelta(days=day, hours=-1)).isoformat(),
        "lag_seconds": 3600.0,
        "columns": {
            "email": {"null_rate": nulls, "distinct": live},
            "stage": {"null_rate": 0.0, "distinct": 3, "top": stages or {"a": 0.5, "b": 0.3, "c": 0.2}},
        },
    }


def _keep(state: State, system: str, entity: str, stats: dict[str, Any]) -> None:
    job = state.start_pull(system, entity, "incremental", None, T0)
    state.finish_pull(job, Snapshot(Path("/nowhere.parquet")), stats["rows"], None, stats)


def _ids(found: list[Any]) -> set[tuple[str, str | None]]:
    return {(f.monitor, f.field) for f in found}


def test_nothing_fires_while_learning_or_on_ordinary_noise(tmp_path: Path) -> None:
    state = State(tmp_path / "state.sqlite")
    settings = MonitorSettings()
    _keep(state, "salesforce", "Contact", _stats(1000, 0))
    _keep(state, "salesforce", "Contact", _stats(400, 1))  # a drop, but only 1 pull before it: learning
    assert data_monitors(state, settings, [("salesforce", "Contact")]) == []
    for day, live in enumerate([1004, 998, 1010, 1003], start=2):
        _keep(state, "salesforce", "Contact", _stats(live, day, nulls=0.02 + day / 1000))
    assert data_monitors(state, settings, [("salesforce", "Contact")]) == []


def test_a_drop_a_null_jump_and_a_shift_fire_with_their_severities(tmp_path: Path) -> None:
    state = State(tmp_path / "state.sqlite")
    for day, live in enumerate([1000, 1004, 998, 1010]):
        _keep(state, "salesforce", "Contact", _stats(live, day))
    now = _stats(590, 5, nulls=0.6, stages={"a": 0.1, "b": 0.3, "c": 0.6})
    now["live"] = 1000  # the snapshot still holds them: hidden, not deleted
    _keep(state, "salesforce", "Contact", now)
    found = data_monitors(state, MonitorSettings(), [("salesforce", "Contact")])
    assert _ids(found) == {
        ("monitor.volume.drop", None),
        ("monitor.nulls.jump", "email"),
        ("monitor.distribution.shift", "stage"),
    }
    by = {f.monitor: f for f in found}
    assert by["monitor.volume.drop"].severity == "error"
    assert "41% fewer than usual (1,002)" in by["monitor.volume.drop"].message
    assert "snapshot still holds 1,000" in by["monitor.volume.drop"].message
    assert by["monitor.nulls.jump"].severity == "warning"
    assert by["monitor.nulls.jump"].observed == "60% empty"
    switched = MonitorSettings(disabled=("distribution", "volume.drop"), severity={"nulls.jump": "error"})
    found = data_monitors(state, switched, [("salesforce", "Contact")])
    assert [(f.monitor, f.severity) for f in found] == [("monitor.nulls.jump", "error")]


def test_a_side_whose_changes_stop_while_the_other_moves_is_stalled(tmp_path: Path) -> None:
    state = State(tmp_path / "state.sqlite")
    for day in range(5):
        _keep(state, "hubspot", "Contact", _stats(1000, day))
        stuck = _stats(1000, day)
        stuck["newest_change"] = (T0 + timedelta(days=min(day, 2))).isoformat()
        _keep(state, "salesforce", "Contact", stuck)
    found = data_monitors(state, MonitorSettings(), [("salesforce", "Contact"), ("hubspot", "Contact")])
    assert [(f.monitor, f.system, f.severity) for f in found] == [
        ("monitor.freshness.stalled", "salesforce", "error")
    ]
    assert "while hubspot's kept changing" in found[0].message


def test_total_variation() -> None:
    assert total_variation({"a": 1.0}, {"a": 1.0}) == 0
    assert total_variation({"a": 1.0}, {"b": 1.0}) == 1
    assert total_variation({"a": 0.5, "b": 0.5}, {"a": 0.7, "b": 0.3}) == pytest.approx(0.2)


def test_snapshot_statistics(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    pl.DataFrame(
        {
            "id": [str(i) for i in range(10)],
            "updated_at": [T0 - timedelta(hours=i) for i in range(10)],
            "is_deleted": [False] * 8 + [True] * 2,
            "stage": ["won", "won", "won", "lost", "lost", None, "open", "open", "won", "won"],
            "email": [f"{i}@x.org" for i in range(9)] + [None],
        }
    ).write_parquet(path)
    stats = snapshot_stats(path, pulled_at=T0 + timedelta(hours=2), visible=7)
    assert (stats["rows"], stats["live"], stats["deleted"], stats["visible"]) == (10, 8, 2, 7)
    assert stats["lag_seconds"] == 7200
    stage = stats["columns"]["stage"]
    assert stage["null_rate"] == pytest.approx(1 / 8) and stage["distinct"] == 3
    assert stage["top"] == pytest.approx({"won": 3 / 7, "lost": 2 / 7, "open": 2 / 7})
    assert stats["columns"]["email"]["null_rate"] == 0.0 and stats["columns"]["email"]["distinct"] == 8
    assert "id" not in stats["columns"]


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ("runs = 0", "monitors.runs: expected a whole number (1 or more), got 0"),
        ("volume_drop = 1.5", "monitors.volume_drop: expected a fraction from 0 to 1, got 1.5"),
        ('disabled = ["volume", "colour"]', "monitors.disabled: expected a list of monitor kinds"),
        ('severity = { "volume.dropp" = "error" }', "monitors.severity.volume.dropp: unknown monitor"),
        ("min_runs = 9", "monitors.min_runs: 9 is more than runs (7)"),
        ("treshold = 1", "monitors.treshold: unknown setting; known: "),
    ],
)
def test_monitor_settings_errors_name_the_key_and_the_file(tmp_path: Path, table: str, said: str) -> None:
    config = tmp_path / "crm-ops.toml"
    config.write_text(f'[profiles.p]\nstate_dir = "s"\n[profiles.p.monitors]\n{table}\n')
    with pytest.raises(ConfigError) as caught:
        load_profile(config, "p")
    assert said in str(caught.value) and str(config) in str(caught.value)


def test_monitor_settings_are_read(tmp_path: Path) -> None:
    config = tmp_path / "crm-ops.toml"
    config.write_text(
        '[profiles.p]\nstate_dir = "s"\n[profiles.p.monitors]\nruns = 10\nmin_runs = 4\n'
        'disabled = ["distribution"]\nseverity = { "nulls.jump" = "error" }\nvolume_drop = 0.3\n'
    )
    got = load_profile(config, "p").monitors
    assert (got.runs, got.min_runs, got.disabled, got.volume_drop) == (10, 4, ("distribution",), 0.3)
    assert got.severity == {"nulls.jump": "error"}


def test_a_spike_mass_deletions_a_collapse_and_an_old_newest_change(tmp_path: Path) -> None:
    state = State(tmp_path / "state.sqlite")
    for day, live in enumerate([1000, 1004, 998, 1010]):
        _keep(state, "hubspot", "Company", _stats(live, day))
    now = _stats(1800, 5)
    now["pull_deleted"] = 150
    now["columns"]["email"]["distinct"] = 200
    now["lag_seconds"] = 80 * 3600.0
    _keep(state, "hubspot", "Company", now)
    found = data_monitors(state, MonitorSettings(max_age_hours=72), [("hubspot", "Company")])
    assert {(f.monitor, f.severity) for f in found} == {
        ("monitor.volume.spike", "warning"),
        ("monitor.deletions.spike", "warning"),
        ("monitor.distinct.collapse", "warning"),
        ("monitor.freshness.stale", "error"),
    }
    by = {f.monitor: f for f in found}
    assert by["monitor.deletions.spike"].message == (
        "hubspot Company: this pull found 150 records deleted, usually 3 a pull"
    )
    assert "80 hours old (bound 72 hours)" in by["monitor.freshness.stale"].message
    assert "monitor.freshness.stale" not in {  # off by default: a quiet weekend is not an incident
        f.monitor for f in data_monitors(state, MonitorSettings(), [("hubspot", "Company")])
    }


def test_statistics_are_kept_with_the_finished_pull_only_and_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("crm_ops.state.KEEP_STATS", 3)
    state = State(tmp_path / "state.sqlite")
    state.start_pull("salesforce", "Lead", "full", None, T0)  # killed before its snapshot: no numbers
    assert state.stats_history("salesforce", "Lead", 10) == []
    for day in range(5):
        _keep(state, "salesforce", "Lead", _stats(100 + day, day))
    assert [h["live"] for h in state.stats_history("salesforce", "Lead", 10)] == [104, 103, 102]


def test_a_side_that_is_often_quiet_is_not_stalled(tmp_path: Path) -> None:
    state = State(tmp_path / "state.sqlite")
    for day in range(6):
        _keep(state, "hubspot", "Deal", _stats(1000, day))
        quiet = _stats(1000, day)
        quiet["newest_change"] = T0.isoformat()  # never changes: not synced to this side
        _keep(state, "salesforce", "Deal", quiet)
    assert data_monitors(state, MonitorSettings(), [("salesforce", "Deal"), ("hubspot", "Deal")]) == []
