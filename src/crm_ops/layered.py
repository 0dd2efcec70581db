"""A snapshot on disk: a base Parquet and zero or more delta layers over it, read as one table.

An incremental pull (``crm_ops.pull``) writes only the rows it brought, tombstones included, as a layer
over the current snapshot instead of writing the whole table again; once the layers hold a share of the
base's rows (or there are many of them) a pull compacts them into a new base. Every reader takes the
entity as of a snapshot from ``Snapshot.scan``: per id the row of the newest file that holds it (a layer
over the layers before it and over the base), in id order, as a full rewrite would have written it (each
file is sorted by id: the files are merged, not sorted again).

A state file from before layers names one Parquet file: a snapshot of a base alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

LAYER_SUFFIX = ".layer.parquet"  # <pull id>.layer.parquet beside the bases (<pull id>.parquet)


@dataclass(frozen=True)
class Snapshot:
    """The files of one snapshot of an entity: ``base`` and its ``layers``, oldest first."""

    base: Path
    layers: tuple[Path, ...] = ()

    def files(self) -> tuple[Path, ...]:
        """The base, then the layers oldest first."""
        return (self.base, *self.layers)

    def exists(self) -> bool:
        """Whether every file of the snapshot is on disk."""
        return all(p.exists() for p in self.files())

    def size(self) -> int:
        """The bytes of its files on disk."""
        return sum(p.stat().st_size for p in self.files() if p.exists())

    def over(self, layer: Path) -> Snapshot:
        """This snapshot with ``layer`` (a newer one) on top."""
        return Snapshot(self.base, (*self.layers, layer))

    def encoded_layers(self) -> str | None:
        """The layers as the state file keeps them (a JSON list; None for a base alone)."""
        return json.dumps([str(p) for p in self.layers]) if self.layers else None

    @classmethod
    def decode(cls, base: str, layers: str | None) -> Snapshot:
        """A snapshot from the state file's columns (``layers`` None or empty: the base alone)."""
        return cls(Path(base), tuple(Path(p) for p in json.loads(layers or "[]")))

    def scan(self, *, ordered: bool = True) -> pl.LazyFrame:
        """The entity as of this snapshot: the rows of each file whose id no newer file holds, with the
        columns of all of them (missing ones null, types widened as a concatenation widens them).
        ``ordered``: in id order (as a rewritten snapshot is), else in no particular order (cheaper:
        counts and statistics)."""
        return scan_snapshot(self, ordered=ordered)

    def read(self) -> pl.DataFrame:
        """``scan`` collected (the same rows in the same order), held whole: the base read once, the rows
        of the layers put in among its rows by position (``read_snapshot``)."""
        return read_snapshot(self)

    def row_counts(self) -> tuple[int, int]:
        """The rows in the base file and in all layer files (from their footers)."""
        return file_rows(self.base), sum(file_rows(p) for p in self.layers)


def file_rows(path: Path) -> int:
    """The rows of one Parquet file (its footer read)."""
    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def _newest_rows(files: Sequence[Path]) -> list[pl.LazyFrame]:
    """Per file, its rows whose id no later file holds (the later files are layers: their ids are read)."""
    frames = [pl.scan_parquet(p) for p in files]
    out = []
    for i, frame in enumerate(frames):
        later = frames[i + 1 :]
        if not later:
            out.append(frame)
            continue
        ids = pl.concat([f.select(pl.col("id").cast(pl.String)) for f in later]).collect()["id"]
        out.append(frame.filter(~pl.col("id").cast(pl.String).is_in(ids.implode())))
    return out


def scan_snapshot(snapshot: Snapshot, *, ordered: bool = True) -> pl.LazyFrame:
    """``Snapshot.scan``: the one reading of a snapshot every reader goes through."""
    if not snapshot.layers:
        return pl.scan_parquet(snapshot.base)
    frames = _newest_rows(snapshot.files())
    schema = pl.concat([f.clear() for f in frames], how="diagonal_relaxed").collect_schema()
    parts = [aligned(f, schema) for f in frames]
    if not ordered:
        return pl.concat(parts)
    merged = parts[0]
    for frame in parts[1:]:
        merged = merged.merge_sorted(frame, key="id")
    return merged


def read_snapshot(snapshot: Snapshot) -> pl.DataFrame:
    """``Snapshot.read``: ``scan`` held whole, about 2.5 times cheaper than collecting its merge (1M
    rows of 21 text columns under a 1% layer: 0.34 CPU s against 0.81; the base alone reads in 0.12).

    The layers' newest rows, sorted by id, are few: each goes in among the base's other rows at the
    position ``search_sorted`` finds for its id, by one stable sort on an integer key (the base's row i
    at 2i + 1, a layer row placed before base row p at 2p), not a merge of every column."""
    if not snapshot.layers:
        return pl.read_parquet(snapshot.base)
    frames = _newest_rows(snapshot.files())
    schema = pl.concat([f.clear() for f in frames], how="diagonal_relaxed").collect_schema()
    below = aligned(frames[0], schema).collect()
    top = pl.concat([aligned(f, schema) for f in frames[1:]]).sort("id", maintain_order=True).collect()
    if top.is_empty():
        return below
    at = below["id"].search_sorted(top["id"], side="left").cast(pl.Int64)
    key = pl.concat([pl.int_range(0, below.height, dtype=pl.Int64, eager=True) * 2 + 1, at * 2])
    both = pl.concat([below, top]).with_columns(key.alias("__layered_at"))
    return both.sort("__layered_at", maintain_order=True).drop("__layered_at")


def aligned(frame: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """``frame`` with exactly ``schema``'s columns, in its order (a missing one null)."""
    have = frame.collect_schema()
    return frame.select(
        pl.col(name).cast(dtype) if name in have else pl.lit(None, dtype).alias(name)
        for name, dtype in schema.items()
    )


def sorted_file(path: Path, rows: int = 1_000_000) -> bool:
    """Whether a Parquet file's rows are in id order (its ids read ``rows`` at a time): a layer goes only
    over such a base (a snapshot written before snapshots were sorted is rewritten instead)."""
    total = file_rows(path)
    last: str | None = None
    for offset in range(0, total, rows):
        ids = pl.scan_parquet(path).select(pl.col("id").cast(pl.String)).slice(offset, rows).collect()["id"]
        if not ids.is_sorted() or (last is not None and ids.len() and ids[0] < last):
            return False
        last = ids[-1] if ids.len() else last
    return True
