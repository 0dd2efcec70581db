"""Full pulls of Contact from each CRM through the connectors, at 100k and 1M contacts.

Run: ``.venv/bin/python benchmarks/pull_bench.py [--sizes 100000 1000000] [--hubspot-rate N]``.

The sandbox runs in its own process (``crm-ops sandbox serve``); each pull runs in a child process
(``Puller``: connector, part files, snapshot, state) that reports its wall seconds, its own CPU seconds
(our processing: the emulator's time is in the server process), rows, API calls and peak RSS.

HubSpot allows a private app 190 calls per 10 s (100 on lower tiers); at that pace a pull costs
calls / 19 seconds whatever the client does, so the benchmark lifts the sandbox's window (``--hubspot-rate``)
to measure our side, and prints the calls (the floor is one list call per 100 records) and what they
would cost at 190 / 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from served import peak_rss_mb, print_machine, served

PULLS = (("salesforce", "Contact"), ("hubspot", "Contact"))


def child(config: str, system: str, entity: str) -> None:
    """Pull one entity in full in this process and print its figures as JSON."""
    from crm_ops.config import load_profile
    from crm_ops.logs import configure
    from crm_ops.pull import Puller

    configure(level="warning", json=True)
    puller = Puller(load_profile(config, "sandbox"))
    started = time.perf_counter()
    result = puller.pull(system, entity, full=True)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "rows": result.total,
                "seconds": wall,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "api_calls": result.api_calls,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


def bench_size(records: int, rate: int) -> list[dict[str, Any]]:
    """Serve ``records`` contacts, then pull each CRM's contacts in a child process."""
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="crm-ops-pull-bench-") as tmp:
        env_file, config = Path(tmp) / "env", Path(tmp) / "crm-ops.toml"
        with served(records, Path(tmp), hubspot_rate=rate) as (_, seed_seconds):
            print(json.dumps({"records": records, "seed_seconds": seed_seconds}), flush=True)
            from crm_ops.sandbox.server import read_env_file

            env = {**os.environ, **read_env_file(env_file)}
            for system, entity in PULLS:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(config), system, entity],
                    check=True,
                    capture_output=True,
                    text=True,
                    env=env,
                )
                figures = json.loads(out.stdout.strip().splitlines()[-1])
                figures.update(records=records, step=f"{system} {entity}")
                figures["rows_per_second"] = figures["rows"] / figures["seconds"]
                results.append(figures)
                print(json.dumps(figures), flush=True)
    return results


def main() -> None:
    """Parse arguments, run the sizes asked for, print a summary table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--hubspot-rate", type=int, default=100_000_000, help="sandbox calls per 10 s")
    parser.add_argument("--child", nargs=3, metavar=("CONFIG", "SYSTEM", "ENTITY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print_machine()
    rows = [r for size in args.sizes for r in bench_size(size, args.hubspot_rate)]
    header = ("records", "pull", "rows", "wall s", "our CPU s", "rows/s", "calls", "at 190/10s", "peak MB")
    print("\n{:>9} {:<20} {:>9} {:>7} {:>9} {:>8} {:>7} {:>10} {:>8}".format(*header))
    for r in rows:
        floor = f"{r['api_calls'] / 19:.0f} s" if r["step"].startswith("hubspot") else ""
        print(
            f"{r['records']:>9} {r['step']:<20} {r['rows']:>9} {r['seconds']:>7.1f} {r['cpu_seconds']:>9.1f} "
            f"{r['rows_per_second']:>8.0f} {r['api_calls']:>7} {floor:>10} {r['peak_rss_mb']:>8.0f}"
        )


if __name__ == "__main__":
    main()
