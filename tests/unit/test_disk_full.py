"""A full disk under any file crm-ops writes (snapshot Parquet, the state's SQLite journal, plan files,
reports) is an ``OSError(ENOSPC)`` naming that file, so the command exits 8 saying which, never 70."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from crm_ops import durable
from crm_ops.cli import EXIT_OPERATIONAL, exit_for
from crm_ops.state import State


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a real full disk (mounting needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs (a real full disk) needs root")
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], check=False)
    if mounted.returncode != 0:
        pytest.skip("this machine does not let root mount a tmpfs")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def _names_the_file(exc: OSError, path: Path) -> None:
    assert exc.errno == errno.ENOSPC and exc.filename == str(path)
    named = exit_for(exc)
    assert named is not None and named[0] == EXIT_OPERATIONAL
    assert f"No space left on device writing {path}" in named[1]


@pytest.mark.parametrize("lazy", [False, True])
def test_a_parquet_file_on_a_full_disk_names_itself_and_leaves_no_half(tiny_disk: Path, lazy: bool) -> None:
    frame = pl.DataFrame({"x": np.random.default_rng(1).random(100_000)})
    path = tiny_disk / "snapshots" / "Contact.parquet"
    with pytest.raises(OSError, match="No space left on device") as raised:
        durable.write_parquet(frame.lazy() if lazy else frame, path)
    _names_the_file(raised.value, path)
    assert list(path.parent.iterdir()) == []


def test_a_text_file_on_a_full_disk_names_itself(tiny_disk: Path) -> None:
    path = tiny_disk / "plans" / "plan.csv"
    with pytest.raises(OSError, match="No space left on device") as raised:
        durable.write_text(path, "id,value\n" * 20_000)
    _names_the_file(raised.value, path)
    assert list(path.parent.iterdir()) == []


def test_the_state_database_full_names_its_file(tmp_path: Path) -> None:
    state = State(tmp_path / "state.sqlite")
    try:
        state.db.execute("PRAGMA max_page_count = 1")  # SQLite's SQLITE_FULL, as on a full disk
        with pytest.raises(OSError, match="No space left on device") as raised:
            state.db.execute("CREATE TABLE filler (x TEXT)")
        _names_the_file(raised.value, tmp_path / "state.sqlite")
    finally:
        state.close()
