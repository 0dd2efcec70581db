"""Locks the kernel releases when their holder dies: ``crm-ops run``'s (``run.lock``) and each plan's
(``locks/plan-<plan id>.lock``, taken by every apply and undo of the plan, ``crm-ops run``'s own
auto-apply and the settling of a killed apply's pending merges).

``fcntl.flock`` on the lock file: a holder killed (SIGKILL, a container stopped, the machine rebooted)
holds nothing, however its pid is reused, so a container's pid 1 or a recycled pid never keeps a dead
holder's lock, and no timeout takes a live holder's lock away. The file is kept (removing a locked file
lets two processes lock two files); while held it says who holds it (the command, pid, host, boot id and
start time), for the message another process prints. The state dir must be on a local file system (flock
over NFS is not reliable everywhere).

A lock is re-entrant within one process: ``crm-ops undo`` holds its plan's lock while it settles the
plan's pending merges and then applies the undo, each of which takes the same lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import structlog

from crm_ops import durable
from crm_ops.errors import CrmOpsError

log = structlog.get_logger("crm_ops.locks")
_HELD: dict[Path, int] = {}  # lock files this process holds -> how many times taken
DETAILS_WAIT = 2.0  # seconds a blocked process waits for a holder that has not yet written its details


class LockedError(CrmOpsError):
    """Another live process holds the lock (named in the message)."""


class RunLock:
    """An exclusive lock the kernel releases when its holder dies (see the module). ``what`` names the
    lock in the message a second process gets ("another run", "another apply or undo of plan P")."""

    def __init__(self, path: Path, what: str = "another run") -> None:
        self.path = path
        self.what = what
        self.held = False
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise ``LockedError`` naming the holder."""
        durable.private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _take_or_name_holder(fd, self.what, self.path)
        except BaseException:
            os.close(fd)
            raise
        os.fchmod(fd, 0o600)  # it names the host and pid: for the run's user only
        left = _read_all(fd)
        if left:
            # a holder that died holding it (killed, a container stopped): the kernel let it go
            log.warning("lock.stale", path=str(self.path), content=left)
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "boot_id": _boot_id(),
                 "started": time.time(), "command": _command()}  # fmt: skip
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(owner).encode(), 0)
        os.fsync(fd)
        self._fd, self.held = fd, True

    def release(self) -> None:
        """Give the lock back (the file stays, empty)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd, self.held = None, False


def _take_or_name_holder(fd: int, what: str, path: Path) -> None:
    """Lock ``fd``, or raise ``LockedError`` naming the holder. A holder writes its details just after it
    takes the lock and empties the file just before it lets go, so an empty file on a held lock is a
    holder in one of those two moments: wait a little for its details (or for it to let go) rather than
    say "no details"."""
    deadline = time.monotonic() + DETAILS_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = _read_all(fd)
            if holder or time.monotonic() >= deadline:
                raise LockedError(f"{what} holds {path}: {describe(holder)}") from None
            time.sleep(0.02)


def plan_key(plan_id: str) -> str:
    """The plan a plan id's lock guards: an undo (``undo-P``) is P's, so P's apply and undo exclude each
    other."""
    return plan_id.removeprefix("undo-")


def plan_lock_path(state_dir: Path, plan_id: str) -> Path:
    """Where plan ``plan_id``'s lock file is (its name safe for any plan id)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", plan_key(plan_id))
    return state_dir / "locks" / f"plan-{safe}.lock"


@contextmanager
def plan_lock(state_dir: Path, plan_id: str) -> Iterator[None]:
    """Hold plan ``plan_id``'s lock (its undo's too) for the block, or raise ``LockedError`` naming the
    holder. Taken again inside the block (the same process), it is already held."""
    path = plan_lock_path(state_dir.resolve(), plan_id)  # one key per file, however the dir is spelled
    if path in _HELD:
        _HELD[path] += 1
        try:
            yield
        finally:
            _HELD[path] -= 1
        return
    lock = RunLock(path, f"another apply or undo of plan {plan_key(plan_id)}")
    lock.acquire()
    _HELD[path] = 1
    try:
        yield
    finally:
        del _HELD[path]
        lock.release()


def describe(holder: str) -> str:
    """A lock file's content as a person reads it: the command, pid, host and start time."""
    try:
        owner = json.loads(holder)
    except ValueError:
        return holder or "no details (its holder wrote none)"
    if not isinstance(owner, dict):
        return holder
    started = owner.get("started")
    since = (
        datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if isinstance(started, int | float)
        else "an unknown time"
    )
    command = owner.get("command") or "a crm-ops process"
    return f"{command} (pid {owner.get('pid')} on {owner.get('host')}, since {since})"


def _command() -> str:
    """This process's command line, as a person typed it (``crm-ops apply PLAN --yes``)."""
    name = Path(sys.argv[0]).name if sys.argv else ""
    head = {"__main__.py": ["crm-ops"], "-c": ["python", "-c"], "": ["python"]}.get(name, [name])
    return " ".join([*head, *sys.argv[1:]])[:300]


def _read_all(fd: int) -> str:
    return os.pread(fd, 4096, 0).decode("utf-8", errors="replace").strip()


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
