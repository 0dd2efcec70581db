"""Pulls of activity-sized tables (issue 26): peak memory against the size of the table.

Run: ``.venv/bin/python benchmarks/activities_bench.py [--sizes 1000000 5000000] [--check]``.

Each size runs in a child process: a ``Puller`` pulls the entity ``Task`` of the shipped map
"activities" from a connector that makes Task pages as Salesforce's would (``--page-rows`` rows a page,
Bulk's page size), so the figures are crm_ops's own (part files, the snapshot build, the state), not a
CRM's or the emulator's. Then an incremental pull brings ``--changed`` of the rows again (changed, some
deleted) and merges them into the previous snapshot. The child resets its peak resident set
(``/proc/self/clear_refs``) before each step and reports it after, with the table's size in memory (polars'
``estimated_size`` of the snapshot, read only after the pulls are measured) and on disk. ``--check``
also pulls the contacts the tasks are logged on (a tenth as many, one in 97 deleted) and times
``Workspace.check`` with the shipped rules (the activity rules read each task's contact): the Task table
is checked a chunk at a time (``crm_ops.rules.chunks``); ``--whole`` checks with every table read whole,
as before, to compare.
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


def canonical(frame: Any, entity: str) -> Any:
    """``frame`` with ``entity``'s columns, in order and typed (those it lacks empty)."""
    import polars as pl

    from crm_ops.schema.entities import columns

    return frame.select(
        pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
        for c, t in columns(entity).items()
    )


def sf_id(prefix: str, n: Any) -> Any:
    """A Salesforce-shaped id of the object ``prefix`` (``003``) numbered by the expression ``n``."""
    import polars as pl

    return pl.lit(f"{prefix}8d0") + n.cast(pl.String).str.zfill(9) + pl.lit("AAA")


class TaskPages:
    """A connector of one entity, ``Task``: ``rows`` records in pages of ``page_rows`` on a full pull; on an
    incremental one, ``changed`` of them again (one in ten deleted), stamped after the first pull."""

    def __init__(self, rows: int, page_rows: int, changed: float) -> None:
        self.rows, self.page_rows, self.changed = rows, page_rows, changed
        self.api_calls = 0

    def entities(self) -> tuple[str, ...]:
        """Tasks, the contacts they are logged on (a tenth as many) and the contacts' accounts (a
        quarter as many as the contacts)."""
        return ("Task", "Contact", "Account")

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

        frame = pl.DataFrame({"n": rows}).select(
            id=pl.lit("00T8d0") + pl.col("n").cast(pl.String).str.zfill(9) + pl.lit("EAA"),
            updated_at=pl.lit(stamp) - pl.duration(milliseconds=(pl.col("n") % 86_400_000)),
            is_deleted=pl.Series(deleted) if deleted is not None else pl.lit(False),
            created_at=pl.lit(stamp) - pl.duration(days=(pl.col("n") % 900) + 1),
            owner_id=sf_id("005", pl.col("n") % 200),
            subject=pl.lit("Follow up #") + (pl.col("n") % 1000).cast(pl.String),
            status=pl.when(pl.col("n") % 10 == 0).then(pl.lit("Not Started")).otherwise(pl.lit("Completed")),
            due_date=pl.lit(NOW.date()) - pl.duration(days=(pl.col("n") * 7919) % 730),
            is_closed=pl.col("n") % 10 != 0,
            kind=pl.when(pl.col("n") % 3 == 0).then(pl.lit("Call")).otherwise(pl.lit("Task")),
            activity_type=pl.lit("Other"),
            priority=pl.lit("Normal"),
            contact_id=sf_id("003", pl.col("n") // 10),
            related_id=sf_id("001", pl.col("n") // 40),
            account_id=sf_id("001", pl.col("n") // 40),
            completed_at=pl.lit(None, pl.Datetime("ms", "UTC")),
        )
        return canonical(frame, "Task")

    def _contacts(self, rows: Any) -> Any:
        import polars as pl

        frame = pl.DataFrame({"n": rows}).select(
            id=sf_id("003", pl.col("n")),
            updated_at=pl.lit(NOW) - pl.duration(milliseconds=(pl.col("n") % 86_400_000)),
            is_deleted=pl.col("n") % 97 == 13,  # in the recycle bin, their tasks with them on record
            created_at=pl.lit(NOW) - pl.duration(days=(pl.col("n") % 900) + 1),
            first_name=pl.lit("Ada") + (pl.col("n") % 5000).cast(pl.String),
            last_name=pl.lit("Lovelace") + (pl.col("n") % 7000).cast(pl.String),
            email=pl.lit("ada")
            + pl.col("n").cast(pl.String)
            + pl.lit("@acme")
            + (pl.col("n") // 4).cast(pl.String)
            + pl.lit(".com"),
            account_id=sf_id("001", pl.col("n") // 4),
        )
        return canonical(frame, "Contact")

    def _accounts(self, rows: Any) -> Any:
        import polars as pl

        frame = pl.DataFrame({"n": rows}).select(
            id=sf_id("001", pl.col("n")),
            updated_at=pl.lit(NOW) - pl.duration(milliseconds=(pl.col("n") % 86_400_000)),
            is_deleted=pl.lit(False),
            created_at=pl.lit(NOW) - pl.duration(days=(pl.col("n") % 900) + 1),
            name=pl.lit("Acme ") + pl.col("n").cast(pl.String),
            website=pl.lit("https://acme") + pl.col("n").cast(pl.String) + pl.lit(".com"),
            domain=pl.lit("acme") + pl.col("n").cast(pl.String) + pl.lit(".com"),
        )
        return canonical(frame, "Account")

    def pull(
        self,
        entity: str,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: dict[str, Any] | None = None,
    ) -> Iterator[Any]:
        """Pages of Task rows (all of them, or those changed since ``since``), or every contact."""
        import numpy as np

        from crm_ops.connectors.base import Page

        if entity in ("Contact", "Account"):
            make, count = (
                (self._contacts, self.rows // 10)
                if entity == "Contact"
                else (self._accounts, self.rows // 40)
            )
            everyone = np.arange(count, dtype=np.int64)
            for offset in range(0, len(everyone), self.page_rows):
                self.api_calls += 1
                end = offset + self.page_rows
                yield Page(make(everyone[offset:end]), None if end >= len(everyone) else {"n": end})
            return
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


def check_step(profile: Any, whole: bool) -> dict[str, Any]:
    """Check the pulled tasks and contacts with the shipped rules (the activity rules read each task's
    contact): through ``Workspace.check`` (the Task table checked a chunk at a time), or, ``whole``, with
    every table read whole as before; its time, peak resident set and findings."""

    from crm_ops.api import Workspace
    from crm_ops.check import profile_rules
    from crm_ops.engines import profile_snapshots
    from crm_ops.rules import run_rules

    reset_peak()
    started = time.perf_counter()
    if whole:
        found = profile_snapshots(profile, chunk_rows=10**12)
        findings = run_rules(profile_rules(profile)[0], found.frames).findings
    else:
        findings = Workspace(profile).check().result.findings
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(peak_rss_mb()),
        "findings": dict(findings.group_by("entity").len().sort("entity").iter_rows()),
        "whole": whole,
    }


def child(rows: int, page_rows: int, changed: float, check: bool, whole: bool = False) -> None:
    """Pull ``rows`` tasks in full, then incrementally, in this process (with ``check``, a tenth as many
    contacts too, and check them all); print the figures as JSON."""

    from crm_ops.config import Profile
    from crm_ops.logs import configure
    from crm_ops.pull import Puller
    from crm_ops.schema.maploading import load_object_map
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
            puller = Puller(profile, connectors={"salesforce": connector})  # type: ignore[dict-item]
            puller.pull("salesforce", "Contact")
            puller.pull("salesforce", "Account")
            puller.close()
            out["check"] = check_step(profile, whole)
        out["parquet_mb"] = round(snapshot.size() / 2**20)
        frame = snapshot.read()
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
    parser.add_argument("--check", action="store_true", help="also pull the contacts and check everything")
    parser.add_argument("--whole", action="store_true", help="check with every table read whole (before)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.page_rows, args.changed, args.check, args.whole)
        return
    print_machine()
    rows = []
    for size in args.sizes:
        cmd = [sys.executable, __file__, "--child", str(size), "--page-rows", str(args.page_rows)]
        cmd += ["--changed", str(args.changed)] + (["--check"] if args.check else [])
        cmd += ["--whole"] if args.whole else []
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
