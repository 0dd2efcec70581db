"""Sorting a table larger than memory by its ids: an external sort through Parquet files.

A pull of an activity-sized table must not hold the table (``crm_ops.pull`` writes its snapshots sorted
by id). ``sorted_by_id`` cuts the ids into ranges (``id_bounds``), writes each row to its range's files
in one streaming pass, sorts each range on its own, one at a time, and reads the sorted ranges back in
order as one lazy frame to sink. Memory follows one range, not the table.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

RANGE = "__range"
BUFFERED_ROWS = 250_000  # rows the ranges' open files buffer in all before they start new files


def id_bounds(ids: pl.Series, every: int) -> list[str]:
    """The ids that start each range of about ``every`` rows after the first, from ``ids`` in any order
    (all of a table's ids, or one in each ``every`` of them already: then ``every`` is 1). A large
    ``ids`` is cut by a systematic sample of it (about 100 ids a range), not sorted whole."""
    if ids.len() <= every:
        return []
    step = max(1, every // 100)
    sample = ids.gather_every(step).sort()
    return sample.gather_every(every // step, offset=every // step).unique(maintain_order=True).to_list()


def sorted_by_id(
    frame: pl.LazyFrame,
    bounds: Sequence[str],
    folder: Path,
    per_range: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None,
) -> pl.LazyFrame:
    """``frame`` sorted by ``id``. Without ``bounds``, the frame sorted in one piece (lazily); with them,
    a frame over sorted range files written under ``folder`` (the caller removes it once the result is
    sunk). ``per_range`` is applied to each range before its sort: every row of an id is in one range."""
    if not bounds:
        return (per_range(frame) if per_range else frame).sort("id")
    ranges = folder / "ranges"
    # how many bounds the id reaches: elementwise, so the pass streams (a search_sorted would not)
    key = pl.sum_horizontal([(pl.col("id") >= b).cast(pl.UInt32) for b in bounds])
    file_rows = max(10_000, BUFFERED_ROWS // (len(bounds) + 1))
    frame.with_columns(key.alias(RANGE)).sink_parquet(
        pl.PartitionBy(ranges, key=RANGE, include_key=False, max_rows_per_file=file_rows), mkdir=True
    )
    done = []
    for i in range(len(bounds) + 1):
        files = sorted((ranges / f"{RANGE}={i}").glob("*.parquet"))
        if not files:
            continue
        piece = pl.scan_parquet(files)
        path = folder / f"sorted-{i:06d}.parquet"
        (per_range(piece) if per_range else piece).sort("id").sink_parquet(path, compression="lz4")
        shutil.rmtree(ranges / f"{RANGE}={i}")
        done.append(path)
    return pl.concat([pl.scan_parquet(p) for p in done]) if done else frame.clear()
