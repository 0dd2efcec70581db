"""What the data monitors' statistics add to a pull (issue 27): time and peak memory of
``crm_ops.entitystats.snapshot_stats`` on an activity-sized snapshot.

Run: ``.venv/bin/python benchmarks/stats_bench.py [--sizes 1000000 5000000]``.

Each size runs in a child process: a snapshot of ``Task`` rows (the canonical columns of the shipped
"activities" map; a status, a priority and a type with few values, free text subjects, ids, dates, one
row in 50 deleted) is written as a pull writes it, then measured. The child resets its peak resident
set (``/proc/self/clear_refs``) before the statistics and reports the peak above what it held before
(the interpreter, polars), with the table's size in memory (``estimated_size``, read afterwards) and on
disk for scale.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from served import peak_rss_mb, print_machine

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def current_rss_mb() -> float:
    """This process's resident set now (VmRSS), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write(rows: int, snapshot: Path) -> float:
    """Write a ``rows``-row snapshot; its size in memory (MiB)."""
    import polars as pl

    n = pl.int_range(rows, eager=True)
    frame = pl.DataFrame(
        {
            "id": "00T" + n.cast(pl.String).str.zfill(15),
            "subject": "Call " + (n % 100_003).cast(pl.String) + " about renewal",
            "status": pl.Series(["Completed", "Open", "In Progress", "Waiting"])[(n * 7919) % 4],
            "priority": pl.Series(["Normal", "High", "Low"])[(n * 104729) % 3],
            "type": pl.Series(["Call", "Email", "Meeting", None])[(n * 31) % 4],
            "who_id": (n % (rows // 10 + 1)).cast(pl.String),
            "what_id": (n % 50_021).cast(pl.String),
            "owner_id": (n % 97).cast(pl.String),
            "due_date": pl.Series([NOW.date()] * rows),
            "updated_at": pl.Series([NOW] * rows),
            "is_deleted": (n % 50) == 0,
            "source_system": pl.Series(["salesforce"] * rows),
        }
    )
    frame.write_parquet(snapshot)
    return float(frame.estimated_size("mb"))


def measure(rows: int, snapshot: Path, size_mb: float) -> dict[str, object]:
    """The statistics of the snapshot, timed, in a process that never held the table."""
    from crm_ops.entitystats import snapshot_stats

    before = current_rss_mb()
    Path("/proc/self/clear_refs").write_text("5")
    started = time.perf_counter()
    stats = snapshot_stats(snapshot, pulled_at=NOW)
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "peak_above_mb": round(peak_rss_mb() - before, 1),
        "table_in_memory_mb": round(size_mb, 1),
        "on_disk_mb": round(snapshot.stat().st_size / 2**20, 1),
        "categorical": sorted(c for c, v in stats["columns"].items() if "top" in v),
    }


def main() -> None:
    """Run each size in its own process and print its figures as JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--write", nargs=2)
    parser.add_argument("--measure", nargs=3)
    args = parser.parse_args()
    if args.write:
        print(write(int(args.write[0]), Path(args.write[1])))
        return
    if args.measure:
        print(json.dumps(measure(int(args.measure[0]), Path(args.measure[1]), float(args.measure[2]))))
        return
    print_machine()
    for rows in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            snapshot = str(Path(tmp) / "snapshot.parquet")
            run = [sys.executable, __file__]
            size = subprocess.run(
                [*run, "--write", str(rows), snapshot], capture_output=True, text=True, check=True
            )
            out = subprocess.run(
                [*run, "--measure", str(rows), snapshot, size.stdout.strip()],
                capture_output=True,
                text=True,
                check=True,
            )
            print(out.stdout.strip())


if __name__ == "__main__":
    main()
