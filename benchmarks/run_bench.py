"""``crm-ops run`` (the nightly batch) at 1M records per CRM: wall time, peak RSS, where the time goes.

Run: ``.venv/bin/python benchmarks/run_bench.py [--records 1000000] [--change 0.01]``. The sandbox is
served in its own process; a first batch pulls everything in full (its figures are printed too); then
``--change`` of each CRM's contacts are edited through the CRMs' own APIs (Salesforce Bulk 2.0 ingest,
HubSpot batch updates) and a second batch runs: incremental pulls of every entity, the whole rule
library, the whole matching, the plan (nothing is applied: the profile auto-applies nothing). Each batch
runs in its own child process, so its peak RSS is its own; the second is profiled (pyinstrument, from
the bench extra, when installed) and its time is given per stage.
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
from typing import Any

from served import cpu_seconds, peak_rss_mb, print_machine, served

# The stages of runner.run_batch, by the function each is spent in.
STAGES = {
    "pull_many": "pull (incremental)",
    "run_rules": "check (rule library)",
    "run_matching": "match",
    "build_plan": "plan",
    "write_plan": "plan written",
    "write_parquet": "findings written",
    "write_report": "report",
    "auto_apply": "choose safe fixes",
    "current_frames": "load snapshots",
}


def _stages(profiler: Any) -> dict[str, float]:
    """Seconds per stage of the profiled batch (the run_batch frame's children, by function)."""
    root = profiler.last_session.root_frame()
    todo = [root]
    batch = None
    while todo:
        frame = todo.pop()
        if frame.function == "run_batch":
            batch = frame
            break
        todo.extend(frame.children)
    if batch is None:
        return {}
    out: dict[str, float] = {}

    def walk(frame: Any, depth: int) -> None:
        for child in frame.children:
            name = STAGES.get(child.function)
            if name:
                out[name] = out.get(name, 0.0) + child.time
            elif depth < 3:
                walk(child, depth + 1)

    walk(batch, 0)
    out["other"] = max(0.0, batch.time - sum(out.values()))
    return out


def _time_pulls() -> dict[str, float]:
    """The wall and CPU seconds the batch spends in ``Puller.pull_many`` (its pulls), as it goes: a
    figure of its own, with or without the profiler."""
    from crm_ops.pull import Puller

    spent = {"seconds": 0.0, "cpu_seconds": 0.0}
    pull_many = Puller.pull_many

    def timed(self: Puller, *args: Any, **kwargs: Any) -> Any:
        started, cpu = time.perf_counter(), cpu_seconds()
        try:
            return pull_many(self, *args, **kwargs)
        finally:
            spent["seconds"] += time.perf_counter() - started
            spent["cpu_seconds"] += cpu_seconds() - cpu

    setattr(Puller, "pull_many", timed)  # noqa: B010 - the batch's own call, timed
    return spent


def child(config: str, profiled: bool) -> None:
    """One batch in this process; print its figures as JSON."""
    from crm_ops.config import load_profile
    from crm_ops.runner import run_batch

    profile = load_profile(config, "sandbox")
    pulls = _time_pulls()
    profiler = None
    if profiled:
        try:
            from pyinstrument import Profiler
        except ImportError:
            pass
        else:
            profiler = Profiler(interval=0.01)
            profiler.start()
    started, cpu = time.perf_counter(), cpu_seconds()
    result = run_batch(profile, log_level="warning")
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    stages = {}
    if profiler is not None:
        profiler.stop()
        stages = _stages(profiler)
        if os.environ.get("RUN_BENCH_PROFILE"):  # the whole call tree, for a closer look
            Path(os.environ["RUN_BENCH_PROFILE"]).write_text(profiler.output_text(unicode=False, color=False))
    figures = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "exit": int(result.exit_code),
        "pull_seconds": pulls["seconds"],
        "pull_cpu_seconds": pulls["cpu_seconds"],
    }
    print(json.dumps({**figures, "stages": stages}))


def change(env: dict[str, str], config: Path, share: float) -> dict[str, int]:
    """Edit ``share`` of each CRM's live contacts (their title) through the CRMs' APIs: Salesforce
    Bulk 2.0 ingest, HubSpot batch updates of 100. The ids are the pulled snapshots'."""
    import polars as pl

    from crm_ops.config import load_profile
    from crm_ops.sandbox.clients import hubspot_client, salesforce_client
    from crm_ops.state import State

    profile = load_profile(config, "sandbox")
    state = State(profile.state_dir / "state.sqlite")
    step = max(1, round(1 / share))
    chosen: dict[str, list[str]] = {}
    for system in ("salesforce", "hubspot"):
        current = state.current(system, "Contact")
        assert current is not None, f"no {system} Contact snapshot"
        live = current.snapshot.read().filter(~pl.col("is_deleted"))
        chosen[system] = live["id"].gather_every(step).to_list()
    bulk: Any = salesforce_client(env).bulk2
    records = [{"Id": rid, "Title": f"Changed {i}"} for i, rid in enumerate(chosen["salesforce"])]
    for start in range(0, len(records), 10_000):
        bulk.Contact.update(records=records[start : start + 10_000], wait=1)
    hs = hubspot_client(env)
    ids = chosen["hubspot"]
    for start in range(0, len(ids), 100):
        inputs = [
            {"id": rid, "properties": {"jobtitle": f"Changed {start + i}"}}
            for i, rid in enumerate(ids[start : start + 100])
        ]
        hs.crm.contacts.batch_api.update(batch_input_simple_public_object_batch_input={"inputs": inputs})
    return {system: len(ids) for system, ids in chosen.items()}


def _batch(config: Path, env: dict[str, str], profiled: bool) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", str(config)] + (["--profiled"] if profiled else [])
    out = subprocess.run(args, check=True, capture_output=True, text=True, env=env)
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def bench(records: int, share: float) -> dict[str, Any]:
    """Serve, run a full batch, change ``share`` of the contacts, run the batch again."""
    from crm_ops.sandbox.server import read_env_file

    with tempfile.TemporaryDirectory(prefix="crm-ops-run-bench-") as tmp:
        folder = Path(tmp)
        with served(records, folder) as (server, seed_seconds):
            env = {**os.environ, **read_env_file(folder / "env")}
            config = folder / "crm-ops.toml"
            first = _batch(config, env, profiled=False)
            changed = change(env, config, share)
            second = _batch(config, env, profiled=True)
            server_rss = peak_rss_mb(server.pid)
    return {
        "records": records,
        "seed_seconds": seed_seconds,
        "server_peak_rss_mb": server_rss,
        "full": first,
        "changed": changed,
        "incremental": second,
    }


def main() -> None:
    """Parse arguments, run, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--change", type=float, default=0.01)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--profiled", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.profiled)
        return
    print_machine()
    r = bench(args.records, args.change)
    print(json.dumps(r))
    full, incr = r["full"], r["incremental"]
    print(
        f"\n{args.records:,} records per CRM: full batch {full['seconds']:.1f} s "
        f"(peak {full['peak_rss_mb']:.0f} MB); "
        f"after {r['changed']['salesforce']:,} + {r['changed']['hubspot']:,} contacts changed: "
        f"{incr['seconds']:.1f} s, peak {incr['peak_rss_mb']:.0f} MB; "
        f"its pulls {incr['pull_seconds']:.1f} s, CPU {incr['pull_cpu_seconds']:.1f} s"
    )
    for stage, seconds in sorted(incr["stages"].items(), key=lambda kv: -kv[1]):
        print(f"  {stage:<22} {seconds:>6.1f} s")


if __name__ == "__main__":
    main()
