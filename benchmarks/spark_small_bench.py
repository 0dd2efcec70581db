"""`crm-ops check --engine spark` on a small org through the CLI, default settings (issue 30: a
1,000-contact org checks in under a minute).

Run: ``.venv/bin/python benchmarks/spark_small_bench.py [--records 1000] [--folder DIR] [--runs 1]``.
The first run in a folder starts a fast sandbox of ``--records`` contacts and pulls both CRMs into
``DIR/pull/state`` (kept, so later runs, on other code, check the same snapshots); each run then calls the
CLI in a child process with a config that says only ``engine = "spark"`` (no ``[spark]`` settings) and
reports wall and CPU seconds of the whole process tree (CLI, JVM, Python workers), the findings
(and whether they are the polars engine's, ``--engine polars`` on the same snapshots), and the Spark
stages and tasks (from Spark's event log, turned on by ``PYSPARK_SUBMIT_ARGS`` so that the
config stays the default), beside the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from spark_bench import TreeMemory

ROOT = Path(__file__).resolve().parents[1]
CHECK = ("--fail-on", "never", "-o")
POLARS = ("--engine", "polars", *CHECK)


def pull(records: int, folder: Path, seed: int) -> None:
    """A sandbox of ``records`` contacts pulled into ``folder/pull/state`` (both CRMs, every entity)."""
    sys.path.insert(0, str(ROOT / "src"))
    from crm_ops.config import sandbox_profile
    from crm_ops.pull import Puller
    from crm_ops.sandbox.generator import SeedConfig
    from crm_ops.sandbox.hubspot import HubSpotLimits
    from crm_ops.sandbox.server import Sandbox, SandboxConfig

    fast = HubSpotLimits(per_ten_seconds=1_000_000, search_per_second=100_000)
    with Sandbox(SandboxConfig(seed=SeedConfig(records=records, seed=seed), hubspot_limits=fast)) as sb:
        profile = sandbox_profile(sb.env, folder / "pull", hubspot_rate=100_000)
        Puller(profile).pull_many(["salesforce", "hubspot"])


def config(folder: Path) -> Path:
    """A config whose ``small`` profile reads ``folder/pull/state`` on Spark, Spark's settings untouched."""
    path = folder / "crm-ops.toml"
    path.write_text(
        f'[profiles.small]\nstate_dir = "{(folder / "pull" / "state").as_posix()}"\nengine = "spark"\n'
    )
    return path


def stages(log_dir: Path) -> tuple[int, int, int]:
    """(jobs, stages, tasks) the event log in ``log_dir`` records (skipped stages not counted)."""
    jobs = stage_count = tasks = 0
    for path in log_dir.rglob("events_*"):
        for raw in path.read_text().splitlines():
            event = json.loads(raw)
            kind = event.get("Event")
            if kind == "SparkListenerJobStart":
                jobs += 1
            elif kind == "SparkListenerStageCompleted":
                stage_count += 1
                tasks += int(event["Stage Info"]["Number of Tasks"])
    return jobs, stage_count, tasks


def polars_findings(folder: Path, path: Path, src: Path) -> pl.DataFrame:
    """The findings of the same check on polars (``--engine polars``), to compare Spark's with."""
    out = folder / "findings-polars.parquet"
    subprocess.run(
        [sys.executable, "-m", "crm_ops", "check", "-c", str(path), "-p", "small", *POLARS, str(out)],
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        check=True,
        cwd=folder,
    )
    return pl.read_parquet(out)


def run_check(folder: Path, src: Path, extra: list[str]) -> dict[str, float | int]:
    path = config(folder)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = folder / f"findings-{stamp}.parquet"
    logs = folder / "events" / stamp
    logs.mkdir(parents=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(src),
        "PYSPARK_SUBMIT_ARGS": (
            f"--conf spark.eventLog.enabled=true --conf spark.eventLog.compress=false "
            f"--conf spark.eventLog.dir={logs.as_uri()} "
            + "".join(f"--conf {c} " for c in extra)
            + "pyspark-shell"
        ),
    }
    with TreeMemory() as memory:
        start = memory.span()
        done = subprocess.run(
            [sys.executable, "-m", "crm_ops", "check", "-c", str(path), "-p", "small", *CHECK, str(out)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            cwd=folder,
        )
        end = memory.span()
    if done.returncode:
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
        raise SystemExit(f"crm-ops check failed ({done.returncode})")
    jobs, stage_count, tasks = stages(logs)
    found = pl.read_parquet(out)
    polars = polars_findings(folder, path, src)
    same = found.select(polars.columns).sort(pl.all()).equals(polars.sort(pl.all()))
    figures = memory.figures(start, end)
    return {
        "wall_s": round(figures["s"], 1),
        "cpu_s": round(figures["cpu_s"], 1),
        "others": round(figures["others"], 2),
        "load_max": max(memory.loadavg),
        "findings": found.height,
        "same_as_polars": same,
        "jobs": jobs,
        "stages": stage_count,
        "tasks": tasks,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument(
        "--folder", type=Path, default=None, help="kept between runs (default: a temporary one)"
    )
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the crm_ops source to check with")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--conf", action="append", default=[], help="KEY=VALUE: a Spark setting to try")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "pull" / "state" / "state.sqlite").exists():
            started = time.perf_counter()
            pull(args.records, folder, args.seed)
            print(f"pulled {args.records:,} contacts in {time.perf_counter() - started:.1f} s", flush=True)
        for _ in range(args.runs):
            load = os.getloadavg()[0]
            print(f"load {load:.2f} before", json.dumps(run_check(folder, args.src, args.conf)), flush=True)


if __name__ == "__main__":
    main()
