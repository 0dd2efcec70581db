"""Retention (issue 31): the nightly run's own copies of CRM data deleted once older than the profile's
ages, what must stay (the current snapshot, the newest runs, a plan with a pending write) kept whatever
its age, the journal's old values gone from the state file's bytes, and the settings checked."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from crm_ops import state as state_module
from crm_ops.config_retention import RetentionSettings, _retention_settings
from crm_ops.retention import prune
from crm_ops.state import State

NOW = datetime(2026, 6, 1, tzinfo=UTC)
OLD = datetime(2025, 1, 1, tzinfo=UTC)  # older than every default age
RECENT = datetime(2026, 5, 30, tzinfo=UTC)
SECRET = "ann.erased@example.com"


def _file(path: Path, when: datetime, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def _journal(
    state: State, plan_id: str, when: datetime, status: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_module, "now", lambda: when)
    entry = {"action_id": f"{plan_id}-a", "system": "hubspot", "entity": "Contact", "record_id": "1",
             "field": "email", "before": f"{plan_id}:{SECRET}", "after": "ann@example.com",
             "status": status}  # fmt: skip
    state.record_actions(plan_id, [entry])


def _state_with_runs(tmp_path: Path, runs: int) -> tuple[Path, State]:
    """A state dir with its state file and ``runs`` old run folders, a day apart."""
    root = tmp_path / "state"
    root.mkdir()
    for i in range(runs):
        _file(root / "runs" / f"r{i}" / "summary.json", datetime(2025, 1, 1 + i, tzinfo=UTC))
    return root, State(root / "state.sqlite")


def test_what_is_past_its_age_goes_and_what_must_stay_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, state = _state_with_runs(tmp_path, 4)  # and a recent one: the two newest stay whatever their age
    _file(root / "runs" / "recent" / "summary.json", RECENT)
    current_run = _file(root / "runs" / "now" / "summary.json", OLD).parent  # the run pruning: kept
    for name, when in (("a", OLD), ("b", datetime(2025, 2, 1, tzinfo=UTC)), ("c", RECENT)):
        _file(root / "findings" / f"{name}.parquet", when)
    _file(root / "match" / "m1" / "findings.parquet", OLD)
    _file(root / "match" / "m2" / "findings.parquet", datetime(2025, 2, 1, tzinfo=UTC))  # the newest: kept
    _file(root / "plans" / "old" / "plan.jsonl", OLD, SECRET)
    _file(root / "plans" / "stuck" / "plan.jsonl", OLD)
    _file(root / "plans" / "new" / "plan.jsonl", RECENT)
    _journal(state, "old", OLD, "done", monkeypatch)
    _journal(state, "stuck", OLD, "pending", monkeypatch)  # a killed apply's write, not settled yet
    _journal(state, "new", RECENT, "done", monkeypatch)
    snapshots = root / "snapshots" / "salesforce" / "Contact"
    current = _file(snapshots / "cur.parquet", OLD)  # the current generation: kept however old
    _file(snapshots / "gen1.parquet", OLD)
    _file(snapshots / "gen2.parquet", RECENT)
    state.db.execute(
        "INSERT INTO current (system, entity, watermark, snapshot, pull_id, rows, updated_at) "
        "VALUES ('salesforce', 'Contact', NULL, ?, 'p', 1, ?)",
        (str(current), OLD.isoformat()),
    )

    pruned = prune(root, state, RetentionSettings(), now=NOW, keep=[current_run])

    assert sorted(p.name for p in (root / "runs").iterdir()) == ["now", "r3", "recent"]
    assert sorted(p.name for p in (root / "findings").iterdir()) == ["c.parquet"]
    assert sorted(p.name for p in (root / "match").iterdir()) == ["m2"]
    assert sorted(p.name for p in (root / "plans").iterdir()) == ["new", "stuck"]
    assert sorted(p.name for p in snapshots.iterdir()) == ["cur.parquet", "gen2.parquet"]
    assert state.journal("old") == {} and state.journal("stuck") and state.journal("new")
    assert pruned.summary() == {
        "runs": 3, "findings": 2, "matches": 1, "plans": 1, "journal_entries": 1, "snapshots": 1,
        "kept_pending": ["stuck"], "problems": [],
    }  # fmt: skip
    assert pruned.notices() == [
        "retention: plan stuck is past plans_days but has a pending journal entry: kept until it is settled"
    ]
    # the pruned plan's old values are gone from the state file's bytes, not only from its tables
    state.close()
    held = b"".join(p.read_bytes() for p in root.glob("state.sqlite*"))
    assert f"old:{SECRET}".encode() not in held
    assert f"stuck:{SECRET}".encode() in held and f"new:{SECRET}".encode() in held  # kept


def test_forever_keeps_everything_and_a_file_that_will_not_go_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, state = _state_with_runs(tmp_path, 3)
    _file(root / "findings" / "a.parquet", OLD)
    _file(root / "findings" / "b.parquet", OLD)
    forever = RetentionSettings(None, None, None, None)
    assert prune(root, state, forever, now=NOW).summary()["runs"] == 0
    assert len(list((root / "runs").iterdir())) == 3

    def refuse(path: Path) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "unlink", refuse)
    pruned = prune(root, state, RetentionSettings(runs_days=None), now=NOW)
    assert pruned.findings == 0
    assert pruned.problems == [f"could not delete {root / 'findings' / 'a.parquet'}: Permission denied"]
    assert pruned.notices() == [f"retention: {pruned.problems[0]}"]
    state.close()


def test_the_settings_take_days_or_forever_and_name_a_wrong_key() -> None:
    problems: list[str] = []
    settings = _retention_settings(
        {"runs_days": 30, "plans_days": "forever"}, "crm-ops.toml profiles.prod.retention", problems
    )
    assert problems == [] and settings.runs_days == 30 and settings.plans_days is None
    assert settings.snapshots_days == RetentionSettings().snapshots_days
    _retention_settings({"runs_days": 0, "journal_days": 5, "findings_days": "90"}, "p.retention", problems)
    assert problems == [
        'p.retention.runs_days: expected a whole number of days, 1 or more, or "forever", got 0',
        "p.retention.journal_days: unknown setting; known: runs_days, findings_days, plans_days, "
        "snapshots_days",
        "p.retention.findings_days: expected a whole number of days, 1 or more, or \"forever\", got '90'",
    ]


def test_a_runs_notices_reach_the_webhook() -> None:
    from crm_ops.notify import message

    body = message(
        {
            "exit_code": 7,
            "run_id": "r",
            "profile": "prod",
            "notices": ["pull failed: x", "retention: could not delete /s/runs/r0: Permission denied"],
        }
    )
    text = body["blocks"][1]["text"]["text"]
    assert "*Notice:* retention: could not delete /s/runs/r0: Permission denied" in text
    assert "*Notice:* pull failed" not in text  # said once, as a pull failure


def test_undo_of_a_plan_whose_journal_retention_deleted_says_so(tmp_path: Path) -> None:
    from crm_ops.api import open_profile
    from crm_ops.errors import ConfigError
    from crm_ops.plan import build_plan, write_plan
    from crm_ops.rules.model import FINDINGS_SCHEMA

    config = tmp_path / "crm-ops.toml"
    config.write_text('[profiles.t]\nstate_dir = "state"\nproduction = false\n', encoding="utf-8")
    plan = build_plan(pl.DataFrame(schema=FINDINGS_SCHEMA), profile="t")
    write_plan(plan, tmp_path / "plan")
    state = State(tmp_path / "state" / "state.sqlite")
    state.forget_plan(plan.header.plan_id)
    assert state.pruned_at(plan.header.plan_id) is not None
    state.close()
    ws = open_profile(config, "t")
    with pytest.raises(
        ConfigError, match=r"its journal was deleted on \d{4}-\d\d-\d\d by the profile's retention"
    ):
        ws.undo(tmp_path / "plan", write=True)
