"""The sandbox's in-memory store: one polars table per object, updated in place, readable at 1M rows.

Writes are cheap: an update is queued in a per-table overlay and folded into the frame, column by
column, the next time anyone reads. A row's position never changes (deletes are soft), so a record id
maps to its row by arithmetic (see ``objects.sf_row``), with no index to keep. A record deleted for good
(Salesforce's recycle bin emptied, HubSpot's GDPR delete) keeps its row: ``Table.purge`` nulls its values
and marks it, and no read serves it again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl


def scatter(frame: pl.DataFrame, updates: Mapping[str, Mapping[int, Any]]) -> pl.DataFrame:
    """A copy of ``frame`` with ``updates[column][row] = value`` applied; untouched columns are shared."""
    columns = []
    for column, values in updates.items():
        series = frame.get_column(column).clone()
        series.scatter(
            list(values), pl.Series(column, list(values.values()), dtype=series.dtype, strict=False)
        )
        columns.append(series)
    return frame.with_columns(columns) if columns else frame


class Table:
    """One object's records: a polars frame plus the writes not yet folded into it."""

    def __init__(self, name: str, frame: pl.DataFrame) -> None:
        self.name = name
        self._frame = frame
        self._schema = frame.schema
        self._updates: dict[int, dict[str, Any]] = {}
        self._appends: list[dict[str, Any]] = []
        self.lock = threading.RLock()
        # rows the integration user may not see (a sharing rule, a profile change: ``sandbox.controls``):
        # not deleted, absent from every query, search, list and read as if they did not exist
        self.hidden: frozenset[int] = frozenset()
        # rows deleted for good (``purge``): their values nulled, served by no read, never revealed again
        self.purged: frozenset[int] = frozenset()

    @property
    def schema(self) -> pl.Schema:
        """The table's column names and types."""
        return self._schema

    def __len__(self) -> int:
        with self.lock:
            return self._frame.height + len(self._appends)

    def frame(self) -> pl.DataFrame:
        """The current records, every pending write applied."""
        with self.lock:
            self._fold()
            return self._frame

    @property
    def unseen(self) -> frozenset[int]:
        """The rows no read serves: hidden from the integration user, or purged."""
        return self.hidden | self.purged

    def visible(self) -> pl.DataFrame:
        """The records the integration user sees: ``frame()`` without the hidden and purged rows
        (positions are not kept: for queries and searches, not for row arithmetic)."""
        with self.lock:
            frame = self.frame()
            unseen = self.unseen
            if not unseen:
                return frame
            keep = ~pl.int_range(pl.len(), dtype=pl.Int64).is_in(sorted(unseen))
            return frame.filter(keep)

    def row(self, index: int) -> dict[str, Any] | None:
        """The record at ``index`` as a dict of typed values, or None when out of range or hidden.

        Read through the overlay without folding it, so a run of single-record saves (each reading its
        record first) stays O(1) per save instead of rewriting whole columns every time.
        """
        with self.lock:
            if index < 0 or index >= len(self) or index in self.hidden or index in self.purged:
                return None
            base = self._frame.height
            if index >= base:
                return {c: self._appends[index - base].get(c) for c in self._schema}
            record = self._frame.row(index, named=True)
            pending = self._updates.get(index)
            if pending:
                record.update(pending)
            return record

    def rows(self, indices: Iterable[int]) -> pl.DataFrame:
        """The records at these positions (which must be valid), in the order given."""
        with self.lock:
            self._fold()
            return self._frame[list(indices)]

    def update(self, index: int, values: Mapping[str, Any]) -> None:
        """Queue new values for the record at ``index``; unknown columns raise KeyError."""
        unknown = [k for k in values if k not in self._schema]
        if unknown:
            raise KeyError(unknown[0])
        with self.lock:
            base = self._frame.height
            if index >= base:
                self._appends[index - base].update(values)
            else:
                self._updates.setdefault(index, {}).update(values)

    def append(self, values: Mapping[str, Any]) -> int:
        """Add a record (missing columns are null) and return its row index."""
        unknown = [k for k in values if k not in self._schema]
        if unknown:
            raise KeyError(unknown[0])
        with self.lock:
            self._appends.append(dict(values))
            return len(self) - 1

    def purge(self, index: int, keep: Iterable[str]) -> None:
        """Delete the record at ``index`` for good: every value but the columns ``keep`` (its id and
        deletion flag, which hold nothing of the person and keep every vectorised ``~deleted`` filter
        right) nulled, and the row marked purged, so no read serves it again."""
        kept = set(keep)
        with self.lock:
            self.update(index, {c: None for c in self._schema if c not in kept})
            self.purged = self.purged | {index}

    def _fold(self) -> None:
        if self._appends:
            extra = pl.DataFrame(
                [{c: r.get(c) for c in self._schema} for r in self._appends],
                schema=self._schema,
                orient="row",
            )
            self._frame = pl.concat([self._frame, extra], how="vertical")
            self._appends.clear()
        if not self._updates:
            return
        by_column: dict[str, dict[int, Any]] = {}
        for index, values in self._updates.items():
            for column, value in values.items():
                by_column.setdefault(column, {})[index] = value
        self._frame = scatter(self._frame, by_column)
        self._updates.clear()

    def add_columns(self, columns: Mapping[str, pl.DataType]) -> None:
        """Add null columns of these types (those the table lacks): a property first written."""
        with self.lock:
            new = {name: dtype for name, dtype in columns.items() if name not in self._schema}
            if not new:
                return
            self._fold()
            height = self._frame.height
            self._frame = self._frame.with_columns(
                pl.repeat(None, height, dtype=dtype, eager=True).alias(name) for name, dtype in new.items()
            )
            self._schema = self._frame.schema

    def replace(self, frame: pl.DataFrame) -> None:
        """Swap in a whole new frame of the same schema (used when a bulk job rewrites many rows)."""
        if frame.schema != self._schema:
            raise ValueError(f"{self.name}: schema mismatch")
        with self.lock:
            self._updates.clear()
            self._appends.clear()
            self._frame = frame


class Store:
    """A named set of tables (one CRM's objects), saved to and loaded from a folder of Parquet files."""

    def __init__(self, tables: Mapping[str, pl.DataFrame]) -> None:
        self.tables = {name: Table(name, frame) for name, frame in tables.items()}

    def __getitem__(self, name: str) -> Table:
        return self.tables[name]

    def __contains__(self, name: object) -> bool:
        return name in self.tables

    def save(self, directory: Path) -> None:
        """Write every table as ``<name>.parquet`` and its hidden and purged rows as
        ``<name>.marks.json`` (atomically, each through a temporary file)."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, table in self.tables.items():
            target = directory / f"{name}.parquet"
            tmp = target.with_suffix(".parquet.tmp")
            table.frame().write_parquet(tmp)
            tmp.replace(target)
            marks = {"hidden": sorted(table.hidden), "purged": sorted(table.purged)}
            marks_file = directory / f"{name}.marks.json"
            tmp = marks_file.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(marks))
            tmp.replace(marks_file)

    @classmethod
    def load(cls, directory: Path) -> Store:
        """Read a store written by ``save``: a purged row stays unserved, a hidden one hidden."""
        store = cls({p.stem: pl.read_parquet(p) for p in sorted(directory.glob("*.parquet"))})
        for name, table in store.tables.items():
            marks_file = directory / f"{name}.marks.json"
            if marks_file.exists():
                marks = json.loads(marks_file.read_text())
                table.hidden = frozenset(marks["hidden"])
                table.purged = frozenset(marks["purged"])
        return store
