"""The whole rule library and contact dedupe on Spark local mode beside polars, at the same sizes.

Run: ``make spark-bench`` (``SIZES="1000000 5000000"``) or ``.venv/bin/python benchmarks/spark_bench.py
[--sizes 1000000 5000000] [--masters local[1] local[2]] [--driver-memory 14g] [--partitions N]`` (on a
shared machine, under ``flock /work/.bench.lock``); Spark settings of your own as JSON in
``SPARK_BENCH_CONF``. Shuffle partitions default to one per 125k contacts (8 or more).

For each size the generator seeds both CRMs (contacts, plus accounts, leads and opportunities in
proportion; beyond a million contacts, orgs of a million side by side with their ids prefixed),
mapped to the canonical schema by crm_ops' field maps and written as Parquet (as ``rules_bench.py``
does). Then, each in a fresh process:

- polars: every shipped rule over every entity (``run_rules``), then dedupe of Salesforce contacts
  (``find_duplicates`` + ``clusters``);
- Spark, per master (``local[1]``, ``local[2]``: one core, then two): the same on ``run_rules_spark``
  and ``find_duplicates_spark`` + ``clusters_spark``, reading the Parquet files (session start apart).

Each run reports wall and CPU seconds (of the whole process tree: driver, JVM, Python workers), the
peak of its summed RSS, the cores other processes kept busy meanwhile and the load average
(``TreeMemory``). Prints one table; ``--json`` writes the figures too.
"""

from __future__ import annotations

import argparse
import json
import os
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


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (all processes, all cores) since boot."""
    times = psutil.cpu_times()
    return float(times.user + times.nice + times.system + times.irq + times.softirq + times.steal)


class TreeMemory:
    """The peak summed RSS of this process and its descendants (the JVM and the Python workers), their
    CPU seconds, and the machine's other load while they ran, sampled every 0.2 s.

    ``cpu_s()`` is the tree's CPU time so far: each process's user + system seconds as last seen, summed
    over every process seen (a worker that ends between two samples loses at most 0.2 s). ``others``
    is the mean number of cores busy with anything outside the tree over a span, the fair "load" of a
    timing on a shared machine; ``loadavg`` keeps the 1-minute load averages seen.
    """

    def __init__(self) -> None:
        self.peak = 0.0
        self.loadavg: list[float] = []
        self._cpu: dict[tuple[int, float], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, me: psutil.Process) -> None:
        total = 0
        for p in [me, *me.children(recursive=True)]:
            try:
                with p.oneshot():
                    total += p.memory_info().rss
                    t = p.cpu_times()
                    self._cpu[(p.pid, p.create_time())] = t.user + t.system
            except psutil.Error:
                continue
        self.peak = max(self.peak, total / 2**20)
        self.loadavg.append(os.getloadavg()[0])

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            self._sample(me)
            self._stop.wait(0.2)

    def cpu_s(self) -> float:
        self._sample(psutil.Process())
        return sum(self._cpu.values())

    def span(self) -> tuple[float, float, float]:
        """(wall, tree CPU, machine busy CPU) now, to subtract a later ``span()`` from."""
        return time.perf_counter(), self.cpu_s(), busy_cpu_s()

    @staticmethod
    def figures(start: tuple[float, float, float], end: tuple[float, float, float]) -> dict[str, float]:
        wall, cpu, busy = (b - a for a, b in zip(start, end, strict=True))
        return {"s": wall, "cpu_s": cpu, "others": max(busy - cpu, 0.0) / wall}

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


SHARD = 1_000_000  # the most contacts one generated org holds (its company names run out beyond)


def seed_frames(contacts: int, folder: Path) -> int:
    """The canonical Parquet files of ``contacts`` contacts (and the rest in proportion): one generated
    org up to a million, beyond that orgs of a million each (seeds 1, 2, ...) side by side, every id and
    reference prefixed by its org's number so that none collide. Returns the records in all."""
    if contacts <= SHARD:
        return sum(canonical_frames(contacts, folder).values())
    shards = []
    for k in range((contacts + SHARD - 1) // SHARD):
        shard = folder / f"shard{k}"
        shard.mkdir()
        canonical_frames(min(SHARD, contacts - k * SHARD), shard, seed=k + 1)
        shards.append(shard)
    total = 0
    for path in sorted(shards[0].glob("*.parquet")):
        parts = []
        for k, shard in enumerate(shards):
            frame = pl.scan_parquet(shard / path.name)
            ids = [
                c
                for c, t in frame.collect_schema().items()
                if (c == "id" or c.endswith("_id")) and t == pl.String
            ]
            parts.append(
                frame.with_columns(pl.format("{}-{}", pl.lit(f"o{k}"), pl.col(c)).alias(c) for c in ids)
            )
        pl.concat(parts, how="diagonal_relaxed").sink_parquet(folder / path.name)
        if not path.name.startswith("truth."):
            total += pl.scan_parquet(folder / path.name).select(pl.len()).collect().item()
    for shard in shards:
        for p in shard.iterdir():
            p.unlink()
        shard.rmdir()
    return total


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
        started = memory.span()
        findings = run_rules(rules, frames).findings.height
        ruled = memory.span()
        pairs = find_duplicates(frames["salesforce"]["Contact"], DEFAULTS["Contact"])
        members = clusters(pairs).height
        deduped = memory.span()
    out = {"findings": findings, "pairs": pairs.height, "members": members, "peak_mb": memory.peak}
    print(json.dumps({**out, **phases(memory, started, ruled, deduped)}))


def child_spark(folder: str, master: str, partitions: int, driver_memory: str) -> None:
    sys.path.insert(0, str(ROOT))
    from crm_ops.config import SparkSettings
    from crm_ops.logs import configure
    from crm_ops.match import DEFAULTS
    from crm_ops.rules import load_rules
    from crm_ops.spark import clusters_spark, find_duplicates_spark, run_rules_spark, session

    configure(level="warning", json=True)
    with TreeMemory() as memory:
        # local mode: the driver JVM is the whole cluster, its heap the executors' memory
        conf = {"spark.driver.memory": driver_memory, **json.loads(os.environ.get("SPARK_BENCH_CONF", "{}"))}
        spark = session(settings=SparkSettings(master=master, partitions=partitions, conf=conf))
        frames = {
            s: {e: spark.read.parquet(str(p)) for e, p in ents.items()}
            for s, ents in load(Path(folder)).items()
        }
        rules, _ = load_rules()
        started = memory.span()
        findings = run_rules_spark(rules, frames).findings.height
        ruled = memory.span()
        pairs = find_duplicates_spark(frames["salesforce"]["Contact"], DEFAULTS["Contact"]).localCheckpoint()
        members = clusters_spark(pairs).count()
        found = pairs.count()
        deduped = memory.span()
        spark.stop()
    out = {"findings": findings, "pairs": found, "members": members, "peak_mb": memory.peak}
    print(json.dumps({**out, **phases(memory, started, ruled, deduped)}))


def phases(memory: TreeMemory, *marks: tuple[float, float, float]) -> dict[str, float]:
    """Wall s, CPU s and the other processes' mean busy cores for rules, dedupe and both together."""
    out: dict[str, float] = {}
    for name, (a, b) in (("rules", marks[0:2]), ("dedupe", marks[1:3]), ("total", marks[0:3:2])):
        out.update({f"{name}_{k}": v for k, v in memory.figures(a, b).items()})
    out["loadavg_max"] = max(memory.loadavg)
    out["loadavg_mean"] = sum(memory.loadavg) / len(memory.loadavg)
    return out


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
        causes = [x for x in done.stderr.splitlines() if "Exception" in x or "Error" in x][:5]
        print(
            f"  {' '.join(args[:1] + args[2:])} failed ({done.returncode}):",
            *causes,
            sep="\n    ",
            flush=True,
        )
        print(done.stderr[-2000:], flush=True)
        return None
    return dict(json.loads(lines[-1]))


def line(size: int, engine: str, r: dict[str, Any]) -> str:
    """One table row: wall and CPU seconds, peak MB, the cores other processes kept busy meanwhile and
    the 1-minute load average (mean/max; it counts this run's own work too)."""
    return (
        f"{size:>10,} | {engine:16} | {r['rules_s']:8.1f} | {r['dedupe_s']:8.1f} | {r['total_s']:7.1f} | "
        f"{r['total_cpu_s']:7.1f} | {r['peak_mb']:8.0f} | {r['total_others']:6.2f} | "
        f"{r['loadavg_mean']:4.1f}/{r['loadavg_max']:4.1f} | {r['findings']:,} / {r['pairs']:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--masters", nargs="+", default=["local[1]", "local[2]"])
    parser.add_argument(
        "--partitions",
        type=int,
        default=0,
        help="shuffle partitions (default: one per 125k contacts, 8 or more)",
    )
    parser.add_argument("--driver-memory", default="10g", help="the local JVM's heap (the whole cluster's)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "seed":
            print(json.dumps({"records": seed_frames(int(args.child[1]), Path(args.child[2]))}))
        elif args.child[0] == "polars":
            child_polars(args.child[1])
        else:
            child_spark(args.child[1], args.child[2], int(args.child[3]), args.child[4])
        return
    print_machine()
    rows = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            # seeded in a child process too, so that this one holds none of it while the runs do
            seeded = run_child("seed", str(size), str(folder))
            if seeded is None:
                continue
            print(f"{size:,} contacts: {seeded['records']:,} records in all", flush=True)
            parts = args.partitions or max(8, size // 125_000)
            runs: list[tuple[str, tuple[str, ...]]] = [("polars", ("polars", tmp))]
            runs += [
                (f"spark {m} p{parts}", ("spark", tmp, m, str(parts), args.driver_memory))
                for m in args.masters
            ]
            for engine, child_args in runs:
                r = run_child(*child_args)
                if r is None:
                    continue
                rows.append({"contacts": size, "engine": engine, **r})
                print("  " + line(size, engine, r), flush=True)
    print()
    print(
        f"{'contacts':>10} | {'engine':16} | {'rules s':>8} | {'dedupe s':>8} | {'wall s':>7} | "
        f"{'CPU s':>7} | {'peak MB':>8} | {'others':>6} | {'load':>9} | findings / pairs"
    )
    for r in rows:
        print(line(r["contacts"], r["engine"], r))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
