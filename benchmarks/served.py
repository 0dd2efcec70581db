"""What the benchmarks share: a sandbox served in its own process, and peak RSS from /proc."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CLI = Path(sys.executable).with_name("crm-ops")


def peak_rss_mb(pid: int | str = "self") -> float:
    """VmHWM (peak resident set) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds() -> float:
    """This process's CPU time so far (user + system, all threads): on a loaded machine a steadier
    figure than wall time, which counts the time other processes held the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def print_machine() -> None:
    """The machine's size, first line of every benchmark's output."""
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"machine: {os.cpu_count()} cores, {memory_gib:.0f} GiB")


@contextmanager
def served(
    records: int, folder: Path, *, hubspot_rate: int = 100_000_000
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """``crm-ops sandbox serve`` with ``records`` contacts, its env file and config in ``folder``.

    Yields the server process and the seconds it took to seed and start; stops it on exit.
    """
    env_file = folder / "env"
    started = time.perf_counter()
    args = ["sandbox", "serve", "--records", str(records), "--seed", "1", "--env-file", str(env_file)]
    args += ["--config-file", str(folder / "crm-ops.toml"), "--hubspot-rate", str(hubspot_rate)]
    server = subprocess.Popen([str(CLI), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not env_file.exists():
            if server.poll() is not None:
                raise SystemExit(f"sandbox serve exited with {server.returncode}")
            time.sleep(0.2)
        yield server, time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=120)
