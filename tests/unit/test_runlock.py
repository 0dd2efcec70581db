"""The run lock is the kernel's: a live holder keeps it, a killed one (whatever its pid: a container's
pid 1, a reused pid) never does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crm_ops.runner import LockedError, RunLock

HOLDER = """
import sys, time
from pathlib import Path
from crm_ops.runner import RunLock
RunLock(Path(sys.argv[1])).acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_a_dead_pid_1_runs_lock_left_behind_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    path.write_text(json.dumps({"pid": 1, "started": time.time()}))  # pid 1 is always alive
    lock = RunLock(path)
    lock.acquire()
    try:
        assert lock.held
        owner = json.loads(path.read_text())
        assert owner["pid"] == os.getpid() and "boot_id" in owner and owner["started"] > 0
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        lock.release()
    assert path.read_text() == ""  # released: the file stays, empty


def test_a_live_holder_keeps_it_and_its_kill_releases_it(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match=rf'another run holds .*"pid": {holder.pid}'):
            RunLock(path).acquire()
        os.kill(holder.pid, signal.SIGKILL)  # no chance to clean up
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert json.loads(path.read_text())["pid"] == holder.pid  # the dead holder's details are still there
    lock = RunLock(path)
    lock.acquire()  # but the kernel let go of its lock
    lock.release()
