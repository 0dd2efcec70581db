"""Reading a SQL source: a SQLAlchemy URL (read by ``polars.read_database``) or a DuckDB or SQLite file.

Pages are keyset queries, so a pull resumes where it stopped without re-reading what it wrote: a full
pull orders by the id column (``WHERE id > :last``), an incremental one by (updated column, id) from
the watermark (``WHERE upd >= :since AND (upd > :t OR (upd = :t AND id > :last))``). The watermark is
bound in the form the column holds (a timestamp, ISO text with or without the ``T``, epoch seconds or
milliseconds: SQLite keeps whatever it was given), read from a sample of the column.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from crm_ops.config_sources import SQL_FILE_SUFFIXES, SourceSettings
from crm_ops.errors import ConfigError, FatalApiError

_PARAM = re.compile(r"(?<![:\w]):(since|t|last)\b")  # our bound names, in DuckDB's $name style


def _quote(name: str) -> str:
    """A SQL identifier, double-quoted (``schema.table``: each part)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


class SqlReader:
    """One SQL source's connection and its paged reads."""

    def __init__(self, settings: SourceSettings) -> None:
        self.settings = settings
        self.label = settings.table or "query"
        self._duck: Any = None
        self._engine: Any = None
        self._secret: str | None = None  # the URL's password: never in a message
        if settings.database:
            path = Path(settings.database)
            if not path.is_file():
                raise ConfigError(f"{settings.where}.database: {path}: no such file")
            kind = SQL_FILE_SUFFIXES[path.suffix.lower()]
            self.label = f"{path} {self.label}"
            if kind == "duckdb":
                import duckdb  # noqa: PLC0415 - only for DuckDB sources

                self._duck = duckdb.connect(str(path), read_only=True)
            else:
                self._engine = _engine(f"sqlite:///file:{path}?mode=ro&uri=true", settings.where)
        else:
            url = settings.url or os.environ.get(settings.url_env or "")
            if not url:
                raise ConfigError(
                    f"{settings.where}.url_env: set the environment variable {settings.url_env}"
                )
            self._secret = _password(url)
            self._engine = _engine(url, settings.where, self._secret)

    @property
    def base(self) -> str:
        """The FROM clause: the table, or the query as a subquery."""
        if self.settings.table:
            return _quote(self.settings.table)
        return f"({self.settings.query}) AS crm_ops_source"

    def run(self, sql: str, params: dict[str, Any]) -> pl.DataFrame:
        """One query's rows as a frame; a database error names the source."""
        try:
            if self._duck is not None:
                result = self._duck.execute(_PARAM.sub(r"$\1", sql), params)
                names = [d[0] for d in result.description]
                rows = result.fetchall()
                return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
            import sqlalchemy as sa  # noqa: PLC0415

            with self._engine.connect() as conn:
                return pl.read_database(
                    sa.text(sql),
                    connection=conn,
                    execute_options={"parameters": params},
                    infer_schema_length=None,
                )
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - the driver's own error types vary by database
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            text = _hidden(text, self._secret)
            raise FatalApiError(self.settings.name, f"{self.label}: the query failed: {text}") from None

    def columns(self) -> list[str]:
        """The source's column names."""
        return self.run(f"SELECT * FROM {self.base} WHERE 1 = 0", {}).columns

    def count(self, updated: str | None, since: datetime | None) -> int:
        """Rows (changed since ``since`` when given)."""
        where, params = self._since(updated, since)
        frame = self.run(f"SELECT COUNT(*) AS n FROM {self.base}{where}", params)
        return int(frame["n"][0])

    def _since(self, updated: str | None, since: datetime | None) -> tuple[str, dict[str, Any]]:
        if since is None or updated is None:
            return "", {}
        sample = self.run(
            f"SELECT {_quote(updated)} AS v FROM {self.base} WHERE {_quote(updated)} IS NOT NULL LIMIT 1", {}
        )
        value = sample["v"][0] if sample.height else None
        return f" WHERE {_quote(updated)} >= :since", {"since": bind_like(value, since)}

    def pages(
        self, id_column: str, updated: str | None, since: datetime | None, cursor: dict[str, Any] | None
    ) -> Iterator[tuple[pl.DataFrame, dict[str, Any] | None]]:
        """Pages of ``page_rows`` rows by keyset from ``cursor`` ({"last": [updated, id]}), each with the
        cursor after it (None: done)."""
        size = self.settings.page_rows
        by_time = since is not None and updated is not None
        where, params = self._since(updated, since)
        order = f"{_quote(updated)}, {_quote(id_column)}" if by_time and updated else _quote(id_column)
        last = list(cursor["last"]) if cursor else None
        while True:
            clauses, values = ([where.removeprefix(" WHERE ")] if where else []), dict(params)
            if last is not None:
                if by_time and updated:
                    upd, key = _quote(updated), _quote(id_column)
                    clauses.append(f"({upd} > :t OR ({upd} = :t AND {key} > :last))")
                    values["t"] = last[0]
                else:
                    clauses.append(f"{_quote(id_column)} > :last")
                values["last"] = last[1]
            sql = f"SELECT * FROM {self.base}"
            if clauses:
                sql += " WHERE " + " AND ".join(clauses)
            frame = self.run(f"{sql} ORDER BY {order} LIMIT {int(size)}", values)
            if frame.height:
                tail = frame.tail(1)
                last = [_json(tail[updated][0]) if by_time and updated else None, _json(tail[id_column][0])]
            more = frame.height == size
            yield frame, ({"last": last} if more else None)
            if not more:
                return

    def close(self) -> None:
        """Close the connection."""
        if self._duck is not None:
            self._duck.close()
        if self._engine is not None:
            self._engine.dispose()


def _password(url: str) -> str | None:
    try:
        from sqlalchemy.engine import make_url  # noqa: PLC0415 - the sql extra

        password = make_url(url).password
    except Exception:  # noqa: BLE001 - a URL SQLAlchemy cannot parse is refused by create_engine
        return None
    return str(password) if password else None


def _hidden(text: str, secret: str | None) -> str:
    """``text`` without the URL's password (a driver's message may echo the URL)."""
    return text.replace(secret, "***") if secret and len(secret) >= 3 else text


def _engine(url: str, where: str, secret: str | None = None) -> Any:
    try:
        import sqlalchemy as sa  # noqa: PLC0415 - the sql extra
    except ImportError:
        raise ConfigError(f"{where}: SQL sources need SQLAlchemy: pip install 'crm-ops[sql]'") from None
    try:
        return sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        hint = " (install the database's driver beside crm-ops)" if isinstance(exc, ImportError) else ""
        message = _hidden(str(exc).replace(url, "<url>"), secret)
        raise ConfigError(f"{where}: cannot use the database URL: {message}{hint}") from None


def _json(value: Any) -> Any:
    """A keyset value as JSON keeps it (and binds it back)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float | str) or value is None:
        return value
    return str(value)


def bind_like(sample: Any, moment: datetime) -> Any:
    """``moment`` in the form ``sample`` (a value of the column) has: compared as the column compares."""
    utc = moment.astimezone(UTC)
    if isinstance(sample, datetime):
        return utc if sample.tzinfo is not None else utc.replace(tzinfo=None)
    if isinstance(sample, int | float) and not isinstance(sample, bool):
        seconds = utc.timestamp()
        return int(seconds * 1000) if abs(sample) > 1e11 else int(seconds)
    if isinstance(sample, str):
        text = sample.strip()
        sep = "T" if "T" in text else " "
        out = utc.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
        if text.endswith("Z"):
            return out + "Z"
        if (len(text) > 19 and text[19] in "+-") or (text[-6:-5] in "+-" and ":" in text[-5:]):
            return out + "+00:00"
        return out if len(text) > 10 else out[:10]
    return utc.replace(tzinfo=None)
