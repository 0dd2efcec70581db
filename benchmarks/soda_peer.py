"""Soda Core's side of the plain-checks benchmark, run by its own interpreter.

Soda Core's DuckDB data source pins DuckDB below 1.1 and its core pins MarkupSafe 2, so it cannot share
crm_ops' environment (``requirements.lock``: DuckDB 2, Jinja2 3 on MarkupSafe 3). ``make bench`` gives it
a virtual environment of its own (``.venv-soda``); ``rules_bench.run_soda`` writes the frame to Parquet
and runs this file there: ``python soda_peer.py FRAME.parquet CHECKS.json``. It loads the rows into
DuckDB (not timed), runs the checks as SodaCL and prints ``{"seconds": ..., "failures": ...}`` (failures:
the failed checks). Nothing of crm_ops is imported here.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    """Run the checks of ``sys.argv[2]`` over the Parquet file ``sys.argv[1]`` and print the figures."""
    import duckdb
    from soda.scan import Scan

    path, spec = sys.argv[1], json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))
    connection = duckdb.connect()
    connection.execute("CREATE TABLE contacts AS SELECT * FROM read_parquet(?)", [path])
    countries = ", ".join(f"'{c}'" for c in spec["countries"])
    checks = f"""
checks for contacts:
  - missing_count(email) = 0
  - invalid_count(email) = 0:
      valid regex: '{spec["email_re"]}'
  - invalid_count(country) = 0:
      valid values: [{countries}]
  - invalid_count(last_name) = 0:
      valid min length: 1
      valid max length: 80
  - duplicate_count(id) = 0
"""
    scan = Scan()
    scan.set_data_source_name("bench")
    scan.add_duckdb_connection(connection, data_source_name="bench")
    scan.add_sodacl_yaml_str(checks)
    started = time.perf_counter()
    scan.execute()
    seconds = time.perf_counter() - started
    connection.close()
    print(json.dumps({"seconds": seconds, "failures": len(scan.get_checks_fail())}))


if __name__ == "__main__":
    main()
