"""State holds CRM data: its folders are 0700 and its files 0600, made so, and tightened (with a warning)
when they were made open before."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest
from structlog.testing import capture_logs

from crm_ops import durable
from crm_ops.state import State


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_new_state_dir_and_its_files_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual umask: without care, 0755 folders and 0644 files
    try:
        state = State(tmp_path / "state" / "nested" / "state.sqlite")
        state.remember_rejections("p1", [])
        state.record_actions("p1", [{"action_id": "a", "system": "s", "entity": "e", "record_id": "r",
                                     "status": "done"}])  # fmt: skip
        files = sorted((tmp_path / "state" / "nested").iterdir())
        assert {f.name for f in files} >= {"state.sqlite", "state.sqlite-wal", "state.sqlite-shm"}
        assert all(_mode(f) == 0o600 for f in files), [(f.name, oct(_mode(f))) for f in files]
        state.close()
        assert _mode(tmp_path / "state") == 0o700 and _mode(tmp_path / "state" / "nested") == 0o700
        durable.write_text(tmp_path / "state" / "runs" / "r1" / "summary.json", "{}")
        durable.write_parquet(pl.DataFrame({"id": ["1"]}), tmp_path / "state" / "snapshots" / "s.parquet")
        assert (
            _mode(tmp_path / "state" / "runs") == 0o700 and _mode(tmp_path / "state" / "runs" / "r1") == 0o700
        )
        assert _mode(tmp_path / "state" / "runs" / "r1" / "summary.json") == 0o600
        assert _mode(tmp_path / "state" / "snapshots" / "s.parquet") == 0o600
    finally:
        os.umask(old)


def test_an_open_state_dir_is_tightened_with_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    (folder / "snapshots").mkdir(parents=True)
    folder.chmod(0o755)
    (folder / "snapshots").chmod(0o775)
    snapshot = folder / "snapshots" / "Contact.parquet"
    snapshot.write_text("CRM data")
    snapshot.chmod(0o644)
    with capture_logs() as logs:
        State(folder / "state.sqlite").close()
    assert _mode(folder) == 0o700 and _mode(folder / "snapshots") == 0o700 and _mode(snapshot) == 0o600
    (warning,) = [e for e in logs if e["event"] == "state.permissions_tightened"]
    assert warning["log_level"] == "warning" and warning["count"] == 3


@pytest.mark.parametrize("mode", [0o700, 0o600])
def test_private_things_are_left_as_they_are(tmp_path: Path, mode: int) -> None:
    (tmp_path / "x").write_text("")
    (tmp_path / "x").chmod(mode & 0o600)
    tmp_path.chmod(0o700)
    assert durable.protect(tmp_path) == []
