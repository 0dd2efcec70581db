"""Checking a table too large to hold whole, one chunk of rows at a time (issue 26: activity tables are
ten or more times the contacts).

A declared entity that matching does not use and whose snapshot holds more than a profile's ``[rules]
chunk_rows`` (``CHUNK_ROWS``, 250,000, by default) is not read into memory:
``crm_ops.snapshots.split_frames`` hands its Parquet path to the engine instead, which reads it
``chunks`` at a time and runs the rules of each chunk as it runs any frame. That is the same answer
only for a rule that judges each row on its own and on other entities' records (``chunk_safe``): the
YAML vocabulary's plain checks, the library's checks, a condition (``when:``, ``check: {holds: ...}``,
whose parents and children are read whole from the context). A rule comparing rows of its own entity
(``unique``), and a Python check of a user's own not declared ``row_level``, runs once over the whole
table instead: correct, but as large as the table. A tolerance counts the judged rows of every chunk
before it decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import polars as pl

from crm_ops.config_tables import CHUNK_ROWS
from crm_ops.layered import Snapshot, aligned, file_rows
from crm_ops.rules import conditions
from crm_ops.rules.library import GENERIC_KINDS
from crm_ops.rules.model import Rule

# Python checks and fixers of a user's own that read only their rows (and other entities' records), as
# declared by ``row_level``: a large table is checked a chunk at a time by them, and the Spark engine runs
# them on its partitions. Any other check of a user's own sees the whole table.
ROW_LEVEL: set[Callable[..., Any]] = set()


def row_level(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Declare a custom check or fixer row-level: it judges each row on its own (and may read other
    entities through the context), so a large table is checked a chunk at a time by it and the Spark
    engine runs it on each partition."""
    ROW_LEVEL.add(fn)
    return fn


def chunk_safe(rule: Rule) -> bool:
    """Whether ``rule`` gives the same findings on a large table's chunks as on the whole table."""
    generic = GENERIC_KINDS.get(rule.check)
    if generic is not None:
        return generic[0] != "unique"
    if isinstance(rule.check, conditions.ConditionCheck) or rule.check in ROW_LEVEL:
        return True
    module = getattr(rule.check, "__module__", "")
    return module.startswith("crm_ops.rules.library.") or module == "crm_ops.rules.loader"


def chunks(snapshot: Snapshot, rows: int = CHUNK_ROWS) -> Iterator[pl.DataFrame]:
    """A snapshot's rows, about ``rows`` at a time (in id order, as ``Snapshot.scan`` gives them), each
    read only when asked for (a slice of the file reads the row groups it covers; a streaming batch reader
    would read ahead of the rules). A layered snapshot (``crm_ops.layered``): a slice of its base (sorted
    by id) without the ids its layers hold, with the layers' rows whose ids fall in the slice's range."""
    if rows < 1:
        raise ValueError(f"chunk rows must be 1 or more, got {rows}")
    base = snapshot.base
    total = file_rows(base)
    if not snapshot.layers:
        for offset in range(0, total, rows):
            yield pl.scan_parquet(base).slice(offset, rows).collect()
        return
    schema = snapshot.scan().collect_schema()
    top = Snapshot(snapshot.layers[0], snapshot.layers[1:]).scan()  # the layers' newest rows, by id
    layered = top.select(pl.col("id").cast(pl.String)).collect()["id"].implode()
    low: str | None = None
    for offset in range(0, max(total, 1), rows):
        piece = pl.scan_parquet(base).slice(offset, rows).collect()
        high = None if offset + rows >= total or piece.is_empty() else str(piece["id"][-1])
        near = top.filter(
            (pl.col("id") > low) if low is not None else pl.lit(True),
            (pl.col("id") <= high) if high is not None else pl.lit(True),
        ).collect()
        kept = piece.filter(~pl.col("id").cast(pl.String).is_in(layered))
        out = aligned(pl.concat([kept.lazy(), near.lazy()], how="diagonal_relaxed"), schema)
        yield out.sort("id").collect()
        low = high
