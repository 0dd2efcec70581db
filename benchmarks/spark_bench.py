"""The whole rule library and contact dedupe on Spark local mode beside polars, at the same sizes.

Run: ``.venv/bin/python benchmarks/spark_bench.py [--sizes 1000000 5000000] [--masters local[1] local[2]]``.

For each size the generator seeds both CRMs (contacts, plus accounts, leads and opportunities in
proportion), mapped to the canonical schema by crm_ops' field maps and written as Parquet (as
``rules_bench.py`` does). Then, each in a fresh process:

- polars: every shipped rule over every entity (``run_rules``), then dedupe of Salesforce contacts
  (``find_duplicates`` + ``clusters``); wall seconds and the process's peak RSS;
- Spark, per master (``local[1]``, ``local[2]``: one core, then two): the same on ``run_rules_spark``
  and ``find_duplicates_spark`` + ``clusters_spark``, reading the Parquet files; wall seconds (session
  start apart) and the peak of the summed RSS of the whole process tree (driver, JVM, Python workers),
  sampled every 0.2 s.

Prints one table; ``--json`` writes the figures too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import polars as pl
import psutil
from rules_bench import canonical_frames
from served import print_machine

ROOT = Path(__file__).resolve().parents[1]


class TreeMemory:
    """The peak summed RSS of this process and its descendants (the JVM and the Python workers)."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total / 2**20)
            self._stop.wait(0.2)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def load(folder: Path) -> dict[str, dict[str, Path]]:
    paths: dict[str, dict[str, Path]] = {}
    for path in sorted(folder.glob("*.parquet")):
        if path.stem.startswith("truth."):
            continue
        system, entity = path.stem.split(".")
        paths.setdefault(system, {})[entity] = path
    return paths


def child_polars(folder: str) -> None:
    sys.path.insert(0, str(ROOT))
    from crm_ops.logs import configure
    from crm_ops.match import DEFAULTS, clusters, find_duplicates
    from crm_ops.rules import load_rules, run_rules

    configure(level="warning", json=True)
    with TreeMemory() as memory:
        frames = {
            s: {e: pl.read_parquet(p) for e, p in ents.items()} for s, ents in load(Path(folder)).items()
        }
        rules, _ = load_rules()
        started = time.perf_counter()
        findings = run_rules(rules, frames).findings.height
        rules_s = time.perf_counter() - started
        started = time.perf_counter()
        pairs = find_duplicates(frames["salesforce"]["Contact"], DEFAULTS["Contact"])
        members = clusters(pairs).height
        dedupe_s = time.perf_counter() - started
    out = {"rules_s": rules_s, "dedupe_s": dedupe_s, "findings": findings, "pairs": pairs.height}
    print(json.dumps({**out, "members": members, "peak_mb": memory.peak}))


def child_spark(folder: str, master: str, partitions: int) -> None:
    sys.path.insert(0, str(ROOT))
    from crm_ops.config import SparkSettings
    from crm_ops.logs import configure
    from crm_ops.match import DEFAULTS
    from crm_ops.rules import load_rules
    from crm_ops.spark import clusters_spark, find_duplicates_spark, run_rules_spark, session

    configure(level="warning", json=True)
    with TreeMemory() as memory:
        # local mode: the driver JVM is the whole cluster, its heap the executors' memory
        conf = {"spark.driver.memory": "12g", "spark.sql.autoBroadcastJoinThreshold": "64m"}
        spark = session(settings=SparkSettings(master=master, partitions=partitions, conf=conf))
        frames = {
            s: {e: spark.read.parquet(str(p)) for e, p in ents.items()}
            for s, ents in load(Path(folder)).items()
        }
        rules, _ = load_rules()
        started = time.perf_counter()
        findings = run_rules_spark(rules, frames).findings.height
        rules_s = time.perf_counter() - started
        started = time.perf_counter()
        pairs = find_duplicates_spark(frames["salesforce"]["Contact"], DEFAULTS["Contact"]).localCheckpoint()
        members = clusters_spark(pairs).count()
        found = pairs.count()
        dedupe_s = time.perf_counter() - started
        spark.stop()
    out = {"rules_s": rules_s, "dedupe_s": dedupe_s, "findings": findings, "pairs": found}
    print(json.dumps({**out, "members": members, "peak_mb": memory.peak}))


def run_child(*args: str) -> dict[str, Any] | None:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=7200,
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
    if done.returncode or not lines:
        print(
            f"  {' '.join(args[:1] + args[2:])} failed ({done.returncode}):", done.stderr[-3000:], flush=True
        )
        return None
    return dict(json.loads(lines[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--masters", nargs="+", default=["local[1]", "local[2]"])
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "polars":
            child_polars(args.child[1])
        else:
            child_spark(args.child[1], args.child[2], int(args.child[3]))
        return
    print_machine()
    rows = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            counts = canonical_frames(size, folder)
            print(f"{size:,} contacts: {sum(counts.values()):,} records in all", flush=True)
            runs: list[tuple[str, tuple[str, ...]]] = [("polars", ("polars", tmp))]
            runs += [(f"spark {m}", ("spark", tmp, m, str(args.partitions))) for m in args.masters]
            for engine, child_args in runs:
                r = run_child(*child_args)
                if r is None:
                    continue
                rows.append({"contacts": size, "engine": engine, **r})
                print(
                    f"  {engine:16} rules {r['rules_s']:8.1f} s  dedupe {r['dedupe_s']:7.1f} s  "
                    f"peak {r['peak_mb']:7.0f} MB  findings {r['findings']:,}  pairs {r['pairs']:,}",
                    flush=True,
                )
    print()
    print(f"{'contacts':>10} | {'engine':16} | {'rules s':>8} | {'dedupe s':>8} | {'peak MB':>8} | findings")
    for r in rows:
        print(
            f"{r['contacts']:>10,} | {r['engine']:16} | {r['rules_s']:8.1f} | {r['dedupe_s']:8.1f} | "
            f"{r['peak_mb']:8.0f} | {r['findings']:,}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
