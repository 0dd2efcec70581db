"""A source beyond the two CRMs (billing, product, an export of another CRM) behind the connector contract.

``SourceConnector`` reads files (``sourcefiles``) or a SQL database (``sourcesql``) in pages, maps their
columns to one canonical entity with the source's field map (``crm_ops.schema.sourcemap``: held against
the columns the source has by ``EntityMap.resolve``, applied by ``fieldmap.apply``), and hands the pull
engine the same ``Page(frame, cursor)`` stream a CRM gives: part files, snapshots, watermarks and
resumption are the engine's, as for Salesforce and HubSpot. A source is incremental when its map gives
``updated_at``. Sources are read-only: every write answers a refusal.

A value the map cannot read as its column's type (a date that is not one, a number with letters), a
row without an id, a missing required column or a broken row stops the pull before its page is written,
with an error naming the file, line and column (the row and column for Parquet, the record for SQL):
nothing is half written, and the next pull resumes from the last page written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import polars as pl
import structlog

from crm_ops.config_sources import SourceSettings
from crm_ops.connectors.base import Change, Conversion, FieldInfo, Link, Page, PushResult, Relink, resolve_map
from crm_ops.connectors.sourcefiles import FileData, file_format, file_pages, matching_files, read_file
from crm_ops.connectors.sourcesql import SqlReader
from crm_ops.errors import ConfigError
from crm_ops.schema.entities import ENTITIES, TIME, empty
from crm_ops.schema.fieldmap import EntityMap
from crm_ops.schema.mapapply import _parse_time, apply
from crm_ops.schema.sourcemap import load_source_map

log = structlog.get_logger("crm_ops.connectors.source")
READ_ONLY = "a source is read-only: crm-ops never writes to it (fix the CRM, or the source itself)"
ERASE_ELSEWHERE = (
    "a source is read-only: crm-ops never deletes from it; its owner must erase the person's rows there "
    "(the next pull then drops them)"
)
SHOWN_PROBLEMS = 10
_TYPE_WORDS = {
    pl.Date: "date",
    pl.Boolean: "true/false value",
    pl.Float64: "number",
    pl.Int64: "whole number",
}


def _times(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A source's times: ISO 8601 with or without a zone (none: UTC), with ``T`` or a space, plain dates,
    epoch seconds or milliseconds (as text or numbers; 11 digits and more are milliseconds)."""
    if dtype.is_numeric():
        number = expr.cast(pl.Float64)
        ms = pl.when(number.abs() < 1e11).then(number * 1000).otherwise(number).cast(pl.Int64)
        return pl.from_epoch(ms, time_unit="ms").dt.replace_time_zone("UTC")
    if dtype != pl.String:
        return expr
    text = expr.str.strip_chars().replace("", None)
    naive = [
        text.str.to_datetime(f, time_unit="ms", strict=False)
        for f in ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M")
    ]
    spaced = (
        text.str.replace(r"Z$", "+00:00")
        .str.replace(r"([+-]\d\d)(\d\d)$", "${1}:${2}")
        .str.to_datetime("%Y-%m-%d %H:%M:%S%.f%:z", time_unit="ms", strict=False)
        .dt.convert_time_zone("UTC")
    )
    digits = text.str.contains(r"^\d{9,10}$")
    seconds = pl.when(digits).then(pl.from_epoch(text.cast(pl.Int64, strict=False), time_unit="s"))
    plain = text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("ms"))
    return pl.coalesce(
        _parse_time(text),
        spaced,
        *(n.dt.replace_time_zone("UTC") for n in naive),
        seconds.dt.cast_time_unit("ms").dt.replace_time_zone("UTC"),
        plain.dt.replace_time_zone("UTC"),
    )


class SourceConnector:
    """Files or a SQL database, as one canonical entity, through the connector contract."""

    def __init__(self, settings: SourceSettings, emap: EntityMap | None = None) -> None:
        self.system = settings.name
        self.settings = settings
        location = settings.path or settings.database or settings.table or "query"
        self.emap = emap or load_source_map(
            settings.name,
            settings.entity,
            path=settings.map,
            columns=settings.columns,
            location=str(location),
            where=settings.where,
        )
        self.entity = settings.entity
        self._sql: SqlReader | None = None
        self._resolved: EntityMap | None = None
        self._warnings: list[str] = []
        self._calls = 0

    # ------------------------------------------------------------------------------------- reading

    def _reader(self) -> SqlReader:
        if self._sql is None:
            self._sql = SqlReader(self.settings)
        return self._sql

    def _required(self) -> tuple[str, ...]:
        return tuple(s.field for s in self.emap.columns.values() if s.field and not s.optional)

    def _resolve(self, columns: Mapping[str, pl.DataType], where: str) -> EntityMap:
        """The map held against a source's columns; a required one it lacks names the map's line."""
        missing = [
            (column, s)
            for column, s in self.emap.columns.items()
            if s.names and not s.optional and not any(n in columns for n in s.names)
        ]
        if missing:
            raise ConfigError(
                [
                    f"{where}: has no column {' or '.join(repr(n) for n in s.names)} (mapped to "
                    f"{self.entity}.{column} at {s.origin}); its columns: {', '.join(columns)}"
                    for column, s in missing
                ]
            )
        if self._resolved is None:
            resolved = resolve_map(self.emap, columns)
            self._resolved, self._warnings = resolved.map, resolved.warnings
        return self._resolved

    def canonical(
        self, raw: pl.DataFrame, place: Callable[[int, str | None], str], where: str
    ) -> pl.DataFrame:
        """``raw`` as the canonical frame, or a ``ConfigError`` naming each value it cannot read."""
        emap = self._resolve(raw.schema, where)
        times = {
            s.field: _times(pl.col(s.field), raw.schema[s.field]).alias(s.field)
            for column, s in emap.columns.items()
            if s.field in raw.columns and _target(emap, column) == TIME
        }
        frame = apply(emap, raw.with_columns(times.values()) if times else raw)
        problems: list[str] = []
        for column, src in emap.columns.items():
            name = src.field
            if name is None or name not in raw.columns:
                continue
            given = raw[name].is_not_null()
            if raw.schema[name] == pl.String:
                given = given & (raw[name].str.strip_chars() != "")
            unread = given & frame[column].is_null()
            if column == "id":
                unread = ~given
            for row in unread.arg_true().head(SHOWN_PROBLEMS).to_list():
                value = raw[name][row]
                kind = (
                    "date and time"
                    if _target(emap, column) == TIME
                    else _TYPE_WORDS.get(type(_target(emap, column)), str(_target(emap, column)))
                )
                problems.append(
                    f"{place(row, name)}: no id ({self.entity}.id)"
                    if column == "id"
                    else f"{place(row, name)}: {value!r} is not a {kind} ({self.entity}.{column})"
                )
            extra = int(unread.sum()) - SHOWN_PROBLEMS
            if extra > 0:
                problems.append(f"{where}: and {extra:,} more value(s) of {name} like these")
        if problems:
            raise ConfigError(problems)
        return frame

    def _updated_field(self) -> str | None:
        src = self.emap.columns.get("updated_at")
        if src is None or not src.names:
            return None
        if self._resolved is not None:
            resolved = self._resolved.columns.get("updated_at")
            return resolved.field if resolved is not None else None
        return src.names[0]

    def _id_field(self) -> str:
        src = self.emap.columns["id"]
        return (self._resolved.columns["id"].field if self._resolved else None) or src.names[0]

    # ----------------------------------------------------------------------------------- contract

    def entities(self) -> tuple[str, ...]:
        """The one entity this source gives."""
        return (self.entity,)

    def describe(self, entity: str) -> list[FieldInfo]:
        """The source's columns, each with the canonical column it fills."""
        columns = self._columns()
        return [
            FieldInfo(name, str(dtype), canonical=self.emap.column_for(name))
            for name, dtype in columns.items()
        ]

    def _columns(self) -> dict[str, pl.DataType]:
        self._calls += 1
        if self.settings.kind == "sql":
            return dict.fromkeys(self._reader().columns(), pl.String())
        first = matching_files(str(self.settings.path))[0]
        data = read_file(first, file_format(first, self.settings.format), ())
        return dict(data.frame.schema)

    def incremental(self, entity: str) -> bool:
        """Whether the map gives ``updated_at`` (else every pull is full)."""
        src = self.emap.columns.get("updated_at")
        return src is not None and bool(src.names)

    def count(self, entity: str, since: datetime | None) -> int:
        """Rows (changed since ``since``)."""
        if self.settings.kind == "sql":
            self._calls += 1
            return self._reader().count(self._updated_field(), since)
        return sum(
            p.frame.height for p in self.pull(entity, since=since, until=since or datetime.max, cursor=None)
        )

    def pull(
        self, entity: str, *, since: datetime | None, until: datetime, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Pages of canonical rows changed since ``since`` (every row when None)."""
        if entity != self.entity:
            raise ConfigError(f"source {self.system} gives {self.entity}, not {entity}")
        since = since if self.incremental(entity) else None
        if self.settings.kind == "sql":
            yield from self._pull_sql(since, cursor)
            return
        files = matching_files(str(self.settings.path)) if cursor is None else []
        required = self._required()
        for data, rows, start, after in file_pages(
            files, self.settings.format, self.settings.page_rows, cursor, required
        ):
            self._calls += 1
            frame = self.canonical(rows, _file_place(data, start), str(data.path))
            if since is not None:
                frame = frame.filter(pl.col("updated_at").is_null() | (pl.col("updated_at") >= since))
            yield Page(frame, after)

    def _pull_sql(self, since: datetime | None, cursor: dict[str, Any] | None) -> Iterator[Page]:
        reader = self._reader()
        self._calls += 1
        self._resolve(dict.fromkeys(reader.columns(), pl.String()), reader.label)
        id_field, updated = self._id_field(), self._updated_field()
        for raw, after in reader.pages(id_field, updated, since, cursor):
            self._calls += 1

            def place(row: int, column: str | None, raw: pl.DataFrame = raw) -> str:
                record = raw[id_field][row] if id_field in raw.columns else None
                return f"{reader.label}: record {record!r}" + (f": column {column}" if column else "")

            yield Page(self.canonical(raw, place, reader.label) if raw.height else _empty(self), after)

    def read(self, entity: str, ids: Sequence[str]) -> pl.DataFrame:
        """Current rows of ``ids`` (a whole read: sources are small next to a CRM's API)."""
        wanted = pl.Series(list(ids), dtype=pl.String).implode()
        pages = [p.frame for p in self.pull(entity, since=None, until=datetime.max, cursor=None)]
        frame = pl.concat(pages, how="diagonal_relaxed") if pages else _empty(self)
        return frame.filter(pl.col("id").is_in(wanted))

    def moved_ids(self, entity: str) -> Mapping[str, str]:
        """Source ids never move."""
        return {}

    def push(self, entity: str, changes: Sequence[Change]) -> list[PushResult]:
        """Refused: a source is read-only."""
        return [PushResult(c.record_id, False, READ_ONLY) for c in changes]

    def write_batch(self, entity: str, total: int) -> int:
        """All at once (each is refused)."""
        return max(total, 1)

    def merge(
        self, entity: str, survivor: str, losers: Sequence[str], values: Mapping[str, Any] | None = None
    ) -> list[PushResult]:
        """Refused: a source is read-only."""
        return [PushResult(loser, False, READ_ONLY) for loser in losers]

    def merged_into(self, entity: str, survivor: str, losers: Sequence[str]) -> set[str]:
        """None: a source never merges."""
        return set()

    def convert(self, conversions: Sequence[Conversion]) -> list[PushResult]:
        """Refused: a source has no leads to convert."""
        return [PushResult(c.lead_id, False, READ_ONLY) for c in conversions]

    def links(self, entity: str, ids: Sequence[str]) -> list[Link]:
        """A source's records point at nothing a merge moves."""
        return []

    def restore(self, entity: str, records: Sequence[dict[str, Any]]) -> list[PushResult]:
        """Refused: a source is read-only."""
        return [PushResult(str(r.get("id")), False, READ_ONLY) for r in records]

    def relink(self, moves: Sequence[Relink]) -> list[PushResult]:
        """Refused: a source is read-only."""
        return [PushResult(m.link.record_id, False, READ_ONLY) for m in moves]

    def erase(self, entity: str, ids: Sequence[str]) -> list[PushResult]:
        """Refused: a source is read-only; its owner erases the person's rows (one result per id)."""
        return [PushResult(i, False, ERASE_ELSEWHERE, {"hard_deleted": False}) for i in ids]

    def formula_columns(self, entity: str) -> list[str]:
        """None: a source's values change with its rows."""
        return []

    def pull_columns(
        self, entity: str, columns: Sequence[str], *, until: datetime, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Nothing to refresh."""
        return iter(())

    def warnings(self, entity: str) -> list[str]:
        """Each optional mapped column the source lacks (its canonical column stays empty)."""
        return list(self._warnings)

    @property
    def api_calls(self) -> int:
        """Files read and queries run so far."""
        return self._calls

    def close(self) -> None:
        """Close the database connection, if any."""
        if self._sql is not None:
            self._sql.close()
            self._sql = None


def _target(emap: EntityMap, column: str) -> pl.DataType:
    src = emap.columns[column]
    return ENTITIES[emap.entity].get(column) or src.dtype or pl.String()


def _file_place(data: FileData, start: int) -> Callable[[int, str | None], str]:
    return lambda row, column: data.place(start + row, column)


def _empty(conn: SourceConnector) -> pl.DataFrame:
    return empty(conn.entity)
