"""Seed and serve the sandbox at 100k and 1M contacts; time seeding and a full read through each client.

Run: ``.venv/bin/python benchmarks/sandbox_bench.py [--sizes 100000 1000000]``. The server runs in its own
process (``crm-ops sandbox serve``) so that its memory and the client's are measured apart; each read
runs in a child process that reports its own peak RSS. Prints one line per measurement and a table.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from served import peak_rss_mb, print_machine, served

HERE = Path(__file__).resolve().parent


def read_salesforce(env: dict[str, str]) -> dict[str, Any]:
    """Every Contact, all stored fields, through simple-salesforce's Bulk 2.0 query."""
    from crm_ops.sandbox.clients import salesforce_client
    from crm_ops.sandbox.objects import SALESFORCE_OBJECTS

    sf = salesforce_client(env)
    fields = ", ".join(f.name for f in SALESFORCE_OBJECTS["Contact"].stored_fields)
    started = time.perf_counter()
    rows = 0
    calls = 0
    bulk: Any = sf.bulk2
    for chunk in bulk.Contact.query_all(f"SELECT {fields} FROM Contact", max_records=100_000, wait=1):
        rows += sum(1 for _ in csv.reader(io.StringIO(chunk))) - 1
        calls += 1
    return {"rows": rows, "seconds": time.perf_counter() - started, "result_chunks": calls}


def read_salesforce_rest(env: dict[str, str]) -> dict[str, Any]:
    """Every Contact through simple-salesforce's REST ``query_all_iter`` (2,000 a page)."""
    from crm_ops.sandbox.clients import salesforce_client

    sf = salesforce_client(env)
    started = time.perf_counter()
    rows = sum(1 for _ in sf.query_all_iter("SELECT Id, Email, Phone, LastModifiedDate FROM Contact"))
    return {"rows": rows, "seconds": time.perf_counter() - started}


def read_hubspot(env: dict[str, str]) -> dict[str, Any]:
    """Every HubSpot contact, all properties, through hubspot-api-client's list pages (100 a call)."""
    from crm_ops.sandbox.clients import hubspot_client
    from crm_ops.sandbox.objects import HUBSPOT_OBJECTS

    hs = hubspot_client(env)
    props = [p.name for p in HUBSPOT_OBJECTS["contacts"].properties]
    started = time.perf_counter()
    rows = calls = 0
    after = None
    while True:
        page = hs.crm.contacts.basic_api.get_page(limit=100, after=after, properties=props)
        calls += 1
        rows += len(page.results)
        if page.paging is None or page.paging.next is None:
            break
        after = page.paging.next.after
    return {"rows": rows, "seconds": time.perf_counter() - started, "api_calls": calls}


READERS = {
    "salesforce-bulk2": read_salesforce,
    "salesforce-rest": read_salesforce_rest,
    "hubspot-list": read_hubspot,
}


def child(reader: str, env_file: str) -> None:
    """Run one reader in this process and print its figures as JSON."""
    from crm_ops.sandbox.server import read_env_file

    result = READERS[reader](read_env_file(Path(env_file)))
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def bench_size(records: int, readers: list[str]) -> list[dict[str, Any]]:
    """Serve ``records`` contacts, then run each reader against the server."""
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="crm-ops-bench-") as tmp:
        env_file = Path(tmp) / "env"
        with served(records, Path(tmp)) as (server, seed_seconds):
            seeded_rss = peak_rss_mb(server.pid)
            results.append(
                {"records": records, "step": "seed+serve", "seconds": seed_seconds, "peak_rss_mb": seeded_rss}
            )
            print(json.dumps(results[-1]), flush=True)
            for reader in readers:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", reader, str(env_file)],
                    check=True,
                    capture_output=True,
                    text=True,
                    env={**os.environ, "PYTHONPATH": str(HERE.parent / "src")},
                )
                figures = json.loads(out.stdout.strip().splitlines()[-1])
                figures.update(records=records, step=reader, server_peak_rss_mb=peak_rss_mb(server.pid))
                figures["rows_per_second"] = figures["rows"] / figures["seconds"]
                results.append(figures)
                print(json.dumps(results[-1]), flush=True)
    return results


def main() -> None:
    """Parse arguments, run the sizes asked for, print a summary table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--readers", nargs="*", default=list(READERS), choices=list(READERS))
    parser.add_argument("--child", nargs=2, metavar=("READER", "ENV_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print_machine()
    rows = [r for size in args.sizes for r in bench_size(size, args.readers)]
    header = ("records", "step", "seconds", "rows/s", "calls", "peak MB", "server MB")
    print("\n{:>9} {:<18} {:>8} {:>9} {:>6} {:>8} {:>9}".format(*header))
    for r in rows:
        print(
            f"{r['records']:>9} {r['step']:<18} {r['seconds']:>8.1f} {r.get('rows_per_second', 0):>9.0f} "
            f"{r.get('api_calls', r.get('result_chunks', '')):>6} {r['peak_rss_mb']:>8.0f} "
            f"{r.get('server_peak_rss_mb', r['peak_rss_mb']):>9.0f}"
        )


if __name__ == "__main__":
    main()
