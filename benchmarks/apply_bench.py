"""Applying a 100k-action plan to each CRM: wall seconds, API calls, peak RSS.

Run: ``.venv/bin/python benchmarks/apply_bench.py [--records 120000] [--actions 100000] [--merges 2000]``.
The sandbox is served in its own process; a child process pulls Contact from each CRM, builds a plan
updating the title of ``--actions`` contacts per CRM (seen value = the pulled one), applies it (re-read
for conflicts, then Bulk 2.0 ingest jobs of 10,000 on Salesforce, batch updates of 100 on HubSpot, all
journaled) and reports. Then it merges ``--merges`` other contacts pairwise (each into the next one) and
undoes those merges (Salesforce undelete, HubSpot re-create, links put back), and reports both.
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

from served import peak_rss_mb, print_machine, served


def measure(applier: Any, conn: Any, step: str, plan_id: str, todo: list[Any]) -> None:
    """Apply ``todo`` and print the figures as a JSON line."""
    calls = conn.api_calls
    started = time.perf_counter()
    report = applier.apply(plan_id, todo, dry_run=False)
    figures = {
        "system": conn.system,
        "step": step,
        "actions": len(todo),
        "seconds": time.perf_counter() - started,
        "api_calls": conn.api_calls - calls,
        "counts": report.counts,
        "peak_rss_mb": peak_rss_mb(),
    }
    print(json.dumps(figures), flush=True)


def child(config: str, actions: int, merges: int) -> None:
    """Pull, plan, apply in this process; print figures per system as JSON lines."""
    import polars as pl

    from crm_ops.config import load_profile
    from crm_ops.logs import configure
    from crm_ops.plan.apply import Applier, undo_plan
    from crm_ops.plan.format import Action, Header, Plan
    from crm_ops.pull import Puller

    configure(level="warning", json=True)
    puller = Puller(load_profile(config, "sandbox"))
    for system in ("salesforce", "hubspot"):
        puller.pull(system, "Contact", full=True)
        current = puller.state.current(system, "Contact")
        assert current is not None
        live = current.snapshot.read().filter(~pl.col("is_deleted")).head(actions)
        plan = [
            Action(
                kind="update", system=system, entity="Contact", record_id=rid, field="title",
                seen_value=title, proposed_value=f"Bench title {i}", rule="bench", severity="info",
                confidence=1.0, reason="benchmark",
            ).with_id()
            for i, (rid, title) in enumerate(live.select("id", "title").iter_rows())
        ]  # fmt: skip
        conn = puller.connector(system)
        applier = Applier(puller.state, puller.connector)

        measure(applier, conn, "update", f"bench-{system}", plan)
        others = current.snapshot.read().filter(~pl.col("is_deleted")).slice(actions, 2 * merges)
        ids = others["id"].to_list()
        merging = [
            Action(
                kind="merge", system=system, entity="Contact", record_id=ids[i], field="merge_into",
                seen_value=None, proposed_value=ids[i + 1], rule="bench", severity="info", confidence=1.0,
                reason="benchmark",
            ).with_id()
            for i in range(0, len(ids) - 1, 2)
        ]  # fmt: skip
        measure(applier, conn, "merge", f"bench-merge-{system}", merging)
        header = Header(plan_id=f"bench-merge-{system}", created_at="", profile="sandbox")
        undo = undo_plan(puller.state, Plan(header, tuple(merging)))
        measure(applier, conn, "undo merge", undo.header.plan_id, list(undo.actions))
    puller.close()


def main() -> None:
    """Serve, run the child, print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=120_000)
    parser.add_argument("--actions", type=int, default=100_000)
    parser.add_argument("--merges", type=int, default=2_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    print_machine()
    with (
        tempfile.TemporaryDirectory(prefix="crm-ops-apply-bench-") as tmp,
        served(args.records, Path(tmp)) as (server, _),
    ):
        from crm_ops.sandbox.server import read_env_file

        env = {**os.environ, **read_env_file(Path(tmp) / "env")}
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(Path(tmp) / "crm-ops.toml"), str(args.actions),
             str(args.merges)],
            check=True, capture_output=True, text=True, env=env,
        )  # fmt: skip
        server_rss = peak_rss_mb(server.pid)
    rows: list[dict[str, Any]] = [
        json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")
    ]
    for r in rows:
        print(
            f"{r['system']:<11} {r['step']:<10} {r['actions']:>7,} actions: {r['seconds']:.1f} s "
            f"({r['actions'] / r['seconds']:,.0f}/s), {r['api_calls']:,} API calls, {r['counts']}, "
            f"peak RSS {r['peak_rss_mb']:.0f} MB (server {server_rss:.0f} MB)"
        )


if __name__ == "__main__":
    main()
