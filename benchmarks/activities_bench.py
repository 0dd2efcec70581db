"""Pulls of activity-sized tables (issue 26): peak memory against the size of the table.

Run: ``.venv/bin/python benchmarks/activities_bench.py [--sizes 1000000 5000000] [--check]``.

Each size runs in a child process: a ``Puller`` pulls the entity ``Task`` of the shipped map
"activities" from a connector that makes Task pages as Salesforce's would (``--page-rows`` rows a page,
Bulk's page size), so the figures are crm_ops's own (part files, the snapshot build, the state), not a
CRM's or the emulator's. Then an incremental pull brings ``--changed`` of the rows again (changed, some
deleted) and merges them into the previous snapshot. The child resets its peak resident set
(``/proc/self/clear_refs``) before each step and reports it after, with the table's size in memory (polars'
``estimated_size`` of the snapshot, read only after the pulls are measured) and on disk. ``--check``
also times ``Workspace.check`` with the shipped activity rules on the snapshot (it reads the snapshot
whole: see docs/architecture.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from served import peak_rss_mb, print_machine

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def current_rss_mb() -> float:
    """This process's resident set now (VmRSS), in MiB: what the interpreter and libraries hold."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    """Start this process's peak resident set (VmHWM) over from what it holds now."""
    Path("/proc/self/clear_refs").write_text("5")


class TaskPages:
    """A connector of one entity, ``Task``: ``rows`` records in pages of ``page_rows`` on a full pull; on an
    incremental one, ``changed`` of them again (one in ten deleted), stamped after the first pull."""

    def __init__(self, rows: int, page_rows: int, changed: float) -> None:
        self.rows, self.page_rows, self.changed = rows, page_rows, changed
        self.api_calls = 0

    def entities(self) -> tuple[str, ...]:
        """The one entity it serves."""
        return ("Task",)

    def incremental(self, entity: str) -> bool:
        """It follows a change stamp."""
        return True

    def formula_columns(self, entity: str) -> list[str]:
        """No formula fields."""
        return []

    def warnings(self, entity: str) -> list[str]:
        """Nothing to warn about."""
        return []

    def close(self) -> None:
        """Nothing to close."""

    def _frame(self, rows: Any, stamp: datetime, deleted: Any) -> Any:
        import polars as pl

        from crm_ops.schema.entities import columns

        frame = pl.DataFrame({"n": rows}).select(
            id=pl.lit("00T8d0") + pl.col("n").cast(pl.String).str.zfill(9) + pl.lit("EAA"),
            updated_at=pl.lit(stamp) - pl.duration(milliseconds=(pl.col("n") % 86_400_000)),
            is_deleted=pl.Series(deleted) if deleted is not None else pl.lit(False),
            created_at=pl.lit(stamp) - pl.duration(days=(pl.col("n") % 900) + 1),
            owner_id=pl.lit("0058d0") + (pl.col("n") % 200).cast(pl.String).str.zfill(9) + pl.lit("AAA"),
            subject=pl.lit("Follow up #") + (pl.col("n") % 1000).cast(pl.String),
            status=pl.when(pl.col("n") % 10 == 0).then(pl.lit("Not Started")).otherwise(pl.lit("Completed")),
            due_date=pl.lit(NOW.date()) - pl.duration(days=(pl.col("n") * 7919) % 730),
            is_closed=pl.col("n") % 10 != 0,
            kind=pl.when(pl.col("n") % 3 == 0).then(pl.lit("Call")).otherwise(pl.lit("Task")),
            activity_type=pl.lit("Other"),
            priority=pl.lit("Normal"),
            contact_id=pl.lit("0038d0") + (pl.col("n") // 10).cast(pl.String).str.zfill(9) + pl.lit("AAA"),
            related_id=pl.lit("0018d0") + (pl.col("n") // 40).cast(pl.String).str.zfill(9) + pl.lit("AAA"),
            account_id=pl.lit("0018d0") + (pl.col("n") // 40).cast(pl.String).str.zfill(9) + pl.lit("AAA"),
            completed_at=pl.lit(None, pl.Datetime("ms", "UTC")),
        )
        return frame.select(
            pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
            for c, t in columns("Task").items()
        )

    def pull(
        self,
        entity: str,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: dict[str, Any] | None = None,
    ) -> Iterator[Any]:
        """Pages of Task rows: all of them, or those changed since ``since``."""
        import numpy as np

        from crm_ops.connectors.base import Page

        step = max(1, int(1 / self.changed))
        if since is None:
            todo, stamp = np.arange(self.rows, dtype=np.int64), NOW
        else:
            todo, stamp = np.arange(0, self.rows, step, dtype=np.int64), NOW + timedelta(days=1)
        start = int((cursor or {}).get("offset", 0))
        for offset in range(start, len(todo), self.page_rows):
            rows = todo[offset : offset + self.page_rows]
            deleted = (rows // step % 10 == 5) if since is not None else None
            self.api_calls += 1
            end = offset + len(rows)
            yield Page(self._frame(rows, stamp, deleted), None if end >= len(todo) else {"offset": end})


def child(rows: int, page_rows: int, changed: float, check: bool) -> None:
    """Pull ``rows`` tasks in full, then incrementally, in this process; print the figures as JSON."""
    import polars as pl

    from crm_ops.config import Profile
    from crm_ops.logs import configure
    from crm_ops.pull import Puller
    from crm_ops.schema.fieldmap import load_object_map
    from crm_ops.schema.objectmaps import shipped_object_map

    configure(level="warning", json=True)
    maps = shipped_object_map("activities")
    for path in maps:
        load_object_map(path)
    out: dict[str, Any] = {"rows": rows}
    with tempfile.TemporaryDirectory() as tmp:
        profile = Profile(name="bench", state_dir=Path(tmp), object_maps=maps)
        connector = TaskPages(rows, page_rows, changed)
        puller = Puller(profile, connectors={"salesforce": connector})  # type: ignore[dict-item]
        out["baseline_rss_mb"] = round(current_rss_mb())
        for step in ("full", "incremental"):
            reset_peak()
            started = time.perf_counter()
            result = puller.pull("salesforce", "Task")
            assert result.mode == step, result.mode
            out[step] = {
                "seconds": round(time.perf_counter() - started, 1),
                "peak_rss_mb": round(peak_rss_mb()),
                "changed": result.changed,
                "total": result.total,
            }
        snapshot = result.snapshot
        puller.close()
        if check:
            from crm_ops.api import Workspace

            reset_peak()
            started = time.perf_counter()
            run = Workspace(profile).check()
            found = run.result.findings
            out["check"] = {
                "seconds": round(time.perf_counter() - started, 1),
                "peak_rss_mb": round(peak_rss_mb()),
                "findings": found.filter(pl.col("entity") == "Task").height,
            }
        out["parquet_mb"] = round(snapshot.stat().st_size / 2**20)
        frame = pl.read_parquet(snapshot)
        out["table_mb"] = round(frame.estimated_size() / 2**20)
        every = max(1, int(1 / changed))
        assert frame.height == rows
        assert frame["is_deleted"].sum() == sum(1 for r in range(0, rows, every) if r // every % 10 == 5)
    print(json.dumps(out))


def main() -> None:
    """Run each size in a child process and print one line each, then a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--page-rows", type=int, default=50_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.page_rows, args.changed, args.check)
        return
    print_machine()
    rows = []
    for size in args.sizes:
        cmd = [sys.executable, __file__, "--child", str(size), "--page-rows", str(args.page_rows)]
        cmd += ["--changed", str(args.changed)] + (["--check"] if args.check else [])
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(done.stderr)
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(figures))
        rows.append(figures)
    print(f"{'rows':>12} {'table MB':>9} {'parquet MB':>10} {'step':>12} {'seconds':>8} {'peak RSS MB':>11}")
    print("(peak RSS includes the interpreter and libraries: baseline_rss_mb on each JSON line)")
    for f in rows:
        for step in ("full", "incremental", "check"):
            if step in f:
                s = f[step]
                print(
                    f"{f['rows']:>12,} {f['table_mb']:>9,} {f['parquet_mb']:>10,} {step:>12} "
                    f"{s['seconds']:>8} {s['peak_rss_mb']:>11,}"
                )


if __name__ == "__main__":
    main()
