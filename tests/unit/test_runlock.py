"""The run lock is the kernel's: a live holder keeps it, a killed one (whatever its pid: a container's
pid 1, a reused pid) never does."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crm_ops.locks import plan_lock, plan_lock_path
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
        with pytest.raises(LockedError, match=rf"another run holds .*\(pid {holder.pid} on "):
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


PLAN_HOLDER = """
import sys, time
from pathlib import Path
from crm_ops.locks import plan_lock
with plan_lock(Path(sys.argv[1]), sys.argv[2]):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_plans_apply_and_undo_share_one_lock_that_names_its_holder(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", PLAN_HOLDER, str(tmp_path), "20261206T010203-abc123"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        for plan_id in ("20261206T010203-abc123", "undo-20261206T010203-abc123"):
            with pytest.raises(LockedError) as caught, plan_lock(tmp_path, plan_id):
                pass
            message = str(caught.value)
            assert "another apply or undo of plan 20261206T010203-abc123 holds" in message
            assert f"(pid {holder.pid} on {socket.gethostname()}, since 20" in message
            assert "python -c" in message  # the holder's command
        with plan_lock(tmp_path, "20261206T010203-other"):  # another plan's lock is its own
            pass
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    lock_file = plan_lock_path(tmp_path, "20261206T010203-abc123")
    # the kernel let go of the dead holder's lock; and this process, holding it, may take it again
    with plan_lock(tmp_path, "undo-20261206T010203-abc123"), plan_lock(tmp_path, "20261206T010203-abc123"):
        assert json.loads(lock_file.read_text())["pid"] == os.getpid()
    assert lock_file.read_text() == ""  # released once, when the outer block ends
    assert plan_lock_path(tmp_path, "../../etc/passwd").parent == tmp_path / "locks"


SLOW_HOLDER = """
import fcntl, json, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(0.5)  # a holder caught between taking the lock and writing who it is
os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": "box", "command": "crm-ops apply p"}).encode(), 0)
time.sleep(120)
"""


def test_a_process_that_meets_a_holder_before_it_wrote_its_details_still_names_it(tmp_path: Path) -> None:
    path = tmp_path / "plan.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", SLOW_HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match=rf"holds .*: crm-ops apply p \(pid {holder.pid} on box"):
            RunLock(path).acquire()
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
