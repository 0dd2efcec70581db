"""The purge of one erased person from a large snapshot (issue 31): CPU seconds to rewrite an N-row
Contact snapshot without them (``crm_ops.erasure.parquets.purge_parquet``: one streaming pass counting,
one rewriting) and to check it after (``find_traces``: every string column decoded, the raw bytes read).

Run: ``.venv/bin/python benchmarks/erasure_bench.py [--rows 1000000]``.

The snapshot has a Contact snapshot's shape (25 columns, 22 of them text, one a list of secondary
e-mails); the person is one row, another row's lookup points at them and a hundred rows mention their
name in a note. Figures are CPU seconds of this process (``time.process_time``: polars' threads
included) beside the wall time and the machine's load average, as the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import polars as pl
from served import print_machine

from crm_ops.erasure.parquets import purge_parquet
from crm_ops.erasure.redaction import Redactor, Trace
from crm_ops.erasure.traces import find_traces

PERSON = "0038d00000PERSON0AAA"
EMAIL, NAME = "zoe.obrien@example.com", "Zoë O'Brien"


def snapshot(rows: int) -> pl.DataFrame:
    """An N-row Contact-like snapshot holding the person once, a lookup to them and notes naming them."""
    i = pl.col("n")
    text = {
        f"custom_{k}": pl.lit(f"value {k} ") + (i * (k + 7919) % 1_000_003).cast(pl.String) for k in range(14)
    }
    frame = pl.DataFrame({"n": pl.int_range(rows, eager=True)}).with_columns(
        id=pl.lit("0038d") + i.cast(pl.String).str.zfill(13) + pl.lit("AAA"),
        first_name=pl.lit("first") + (i % 5003).cast(pl.String),
        last_name=pl.lit("last") + (i % 7919).cast(pl.String),
        email=pl.lit("user") + i.cast(pl.String) + pl.lit("@example") + (i % 89).cast(pl.String) + ".com",
        phone=pl.lit("+1 555 ") + (i % 10_000_000).cast(pl.String).str.zfill(7),
        account_id=pl.lit("0018d") + (i % 50_000).cast(pl.String).str.zfill(13) + pl.lit("AAA"),
        reports_to_id=pl.lit(None, dtype=pl.String),
        notes=pl.when(i % 10_000 == 1).then(pl.lit(f"met {NAME}")).otherwise(pl.lit("call back")),
        additional_emails=pl.concat_list(pl.lit("second") + i.cast(pl.String) + pl.lit("@example.org")),
        is_deleted=i % 97 == 0,
        **text,
    )
    person = rows // 2
    return frame.with_columns(
        id=pl.when(i == person).then(pl.lit(PERSON)).otherwise(pl.col("id")),
        email=pl.when(i == person).then(pl.lit(EMAIL)).otherwise(pl.col("email")),
        reports_to_id=pl.when(i == person + 1).then(pl.lit(PERSON)).otherwise(pl.col("reports_to_id")),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    print_machine()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "snapshots" / "salesforce" / "Contact" / "s.parquet"
        path.parent.mkdir(parents=True)
        snapshot(args.rows).write_parquet(path, compression="zstd", statistics=True)
        size = path.stat().st_size / 2**20
        redactor = Redactor(Trace(frozenset({PERSON}), frozenset({EMAIL, NAME})))
        print(f"snapshot: {args.rows:,} rows, {size:.0f} MiB; load average {os.getloadavg()[0]:.2f}")
        cpu, wall = time.process_time(), time.perf_counter()
        tally = purge_parquet(path, redactor, own_ids=True)
        print(
            f"purge: {time.process_time() - cpu:.2f} CPU s, {time.perf_counter() - wall:.2f} s wall "
            f"({tally}); load average {os.getloadavg()[0]:.2f}"
        )
        cpu, wall = time.process_time(), time.perf_counter()
        left = find_traces(root, [EMAIL, NAME])
        print(
            f"find_traces: {time.process_time() - cpu:.2f} CPU s, {time.perf_counter() - wall:.2f} s wall "
            f"({len(left)} places left); load average {os.getloadavg()[0]:.2f}"
        )
        cpu = time.process_time()
        again = purge_parquet(path, redactor, own_ids=True)
        print(f"second purge (nothing to do: {again is None}): {time.process_time() - cpu:.2f} CPU s")


if __name__ == "__main__":
    main()
