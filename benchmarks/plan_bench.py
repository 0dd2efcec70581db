"""The plan stage of ``crm-ops run`` on its own: ``profile_plan`` (build) and ``write_plan`` over a pulled
sandbox's findings, timed (CPU seconds beside wall) and, with ``--profile-out``, profiled (cProfile).

Run after a ``crm-ops run`` against a sandbox (``crm-ops sandbox serve --records N``, then
``crm-ops run``; the server may be stopped afterwards: nothing here calls a CRM)::

    .venv/bin/python benchmarks/plan_bench.py CONFIG [--profile sandbox] [--repeat 3]

The findings are the newest run's (``runs/*/findings.parquet``); matching's cross-CRM links (the twins a
drift sync is between), which a run does not keep, are made once with the profile's settings and kept
beside them (``links.parquet``). The CRMs' addresses are made up (a Salesforce instance, a HubSpot
portal) so that every action gets its URLs, as a run that can reach its CRMs does.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from served import cpu_seconds, peak_rss_mb, print_machine

NOW = datetime(2026, 12, 7, tzinfo=UTC)  # the plans' time: two versions' files differ only in their ids


def main() -> None:
    """Parse arguments, build and write the plan ``--repeat`` times, print the figures."""
    from crm_ops.check import profile_rules, rule_set_versions, snapshot_versions
    from crm_ops.config import load_profile
    from crm_ops.engines import state_snapshots
    from crm_ops.plan import build_plan, write_plan
    from crm_ops.plan.context import Addresses, Context
    from crm_ops.plan.review import Review
    from crm_ops.planning import profile_relations
    from crm_ops.state import State

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config")
    parser.add_argument("--profile", default="sandbox")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile-out", help="write cProfile stats of one build and write here")
    parser.add_argument("--out", help="keep the plan's files in this folder (to compare two versions' files)")
    args = parser.parse_args()
    print_machine()
    profile = load_profile(args.config, args.profile)
    state = State(profile.state_dir / "state.sqlite")
    runs = sorted(p for p in (profile.state_dir / "runs").glob("*/findings.parquet"))
    if not runs:
        raise SystemExit(f"no run under {profile.state_dir / 'runs'}: run `crm-ops run` first")
    findings = pl.read_parquet(runs[-1])
    rules, _ = profile_rules(profile)
    found = state_snapshots(state, profile)
    links_file = runs[-1].parent / "links.parquet"
    if not links_file.exists():
        from crm_ops.match import run_matching
        from crm_ops.match.run import profile_settings
        from crm_ops.match.sources import source_links

        settings = profile_settings(profile)
        matched = run_matching(
            found.frames,
            rules=rules,
            linked_sources=source_links(found.frames, settings["lists"]),
            **settings,
        )
        matched.links.write_parquet(links_file)
    links = pl.read_parquet(links_file)
    addresses = Addresses("https://example.my.salesforce.com", 123456)

    def once() -> tuple[float, float, float, float, int]:
        wall, cpu = time.perf_counter(), cpu_seconds()
        plan = build_plan(
            findings,
            profile=profile.name,
            snapshots=snapshot_versions(state),
            rules=rule_set_versions(profile),
            now=NOW,
            context=Context(found.frames, links, addresses, found.large),
            review=Review.for_rules(rules, profile.review),
            relations=profile_relations(profile),
        )
        built_wall, built_cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(args.out or tmp)
            wall, cpu = time.perf_counter(), cpu_seconds()
            write_plan(plan, folder)
            written_wall, written_cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        # counted after the timings: a plan of Action objects only (before issue 30) has no len
        count = len(plan) if hasattr(type(plan), "__len__") else len(plan.actions)
        return built_wall, built_cpu, written_wall, written_cpu, count

    if args.profile_out:
        profiler = cProfile.Profile()
        profiler.enable()
        once()
        profiler.disable()
        profiler.dump_stats(args.profile_out)
    times = [once() for _ in range(args.repeat)]
    load = Path("/proc/loadavg").read_text().split()[:3]
    figures = {
        "findings": findings.height,
        "actions": times[0][4],
        "build_wall": statistics.median(t[0] for t in times),
        "build_cpu": statistics.median(t[1] for t in times),
        "write_wall": statistics.median(t[2] for t in times),
        "write_cpu": statistics.median(t[3] for t in times),
        "peak_rss_mb": peak_rss_mb(),
        "load": load,
    }
    print(json.dumps(figures))
    print(
        f"{findings.height:,} findings, {times[0][4]:,} actions: build {figures['build_wall']:.2f} s "
        f"(CPU {figures['build_cpu']:.2f}), write {figures['write_wall']:.2f} s "
        f"(CPU {figures['write_cpu']:.2f}); "
        f"medians of {args.repeat}, load {' '.join(load)}"
    )


if __name__ == "__main__":
    main()
