"""``[profiles.P.sources.<name>]``: sources beyond the two CRMs (billing, product, files), checked at load.

A source gives one canonical entity (``Subscription``, ``ProductUser``, or any CRM entity an export of
another CRM holds) from files (CSV, Parquet, JSON Lines: a path or a glob) or from a SQL database (a
SQLAlchemy URL, or a DuckDB or SQLite file), through a field map (a YAML file and/or a ``columns``
table). Its name is the system name everything else uses: ``crm-ops pull -s billing``, the snapshots
``snapshots/billing/Subscription/``, the findings' ``system`` column.

    [profiles.prod.sources.billing]
    entity = "Subscription"
    database = "billing.sqlite"             # or url_env = "BILLING_DB_URL" (a URL holding a password)
    table = "subscriptions"
    map = "billing-map.yaml"

    [profiles.prod.sources.product]         # the product's users, as daily JSON Lines exports
    entity = "ProductUser"
    path = "exports/users-*.jsonl"
    columns = { id = "uid", email = "mail", signed_up_at = "created" }
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_ops.schema.entities import ENTITY_NAMES

SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
RESERVED = ("salesforce", "hubspot")
FORMATS = ("auto", "csv", "parquet", "jsonl")
SQL_FILE_SUFFIXES = {
    ".duckdb": "duckdb",
    ".ddb": "duckdb",
    ".sqlite": "sqlite",
    ".sqlite3": "sqlite",
    ".db": "sqlite",
}
_PASSWORD_IN_URL = re.compile(r"^[a-z0-9+]+://[^/@:]*:[^/@]+@", re.IGNORECASE)


@dataclass(frozen=True)
class SourceSettings:
    """One source: where its records are, which entity they are, how its columns map."""

    name: str = ""
    entity: str = "Subscription"  # the canonical entity its records are (Subscription, ProductUser...)
    path: str | None = None  # files: a path or a glob (CSV, Parquet, JSON Lines), relative to the config
    format: str = "auto"  # csv, parquet or jsonl (auto: from each file's extension)
    database: str | None = None  # a DuckDB (.duckdb) or SQLite (.sqlite, .db) file, relative to the config
    url: str | None = None  # a SQLAlchemy URL without a password (sqlite:///x.db, postgresql://host/db)
    url_env: str | None = None  # the environment variable holding a URL with a password
    table: str | None = None  # SQL: the table (or view) to read, schema.table allowed
    query: str | None = None  # SQL: a SELECT to read instead of a table
    map: str | None = None  # the YAML field map (entity, required, optional), relative to the config
    columns: dict[str, Any] = field(default_factory=dict)  # inline map: column = "source column"
    page_rows: int = 50_000  # records per page (one part file of the pull)
    overlap_seconds: int = 300  # an incremental pull starts this long before the watermark
    where: str = "config"

    @property
    def kind(self) -> str:
        """``files`` or ``sql``."""
        return "files" if self.path else "sql"


SOURCE_KEYS = {f for f in SourceSettings.__dataclass_fields__ if f not in ("name", "where")}


def source_settings(raw: Any, where: str, base: Path, problems: list[str]) -> dict[str, SourceSettings]:
    """Every ``[sources.<name>]`` table checked; paths made absolute against ``base`` (the config's
    folder). Problems are appended, each naming its key."""
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected tables sources.<name> (billing, product...)")
        return {}
    out: dict[str, SourceSettings] = {}
    for name, spec in raw.items():
        at = f"{where}.{name}"
        if not SOURCE_NAME.match(name) or name in RESERVED:
            problems.append(
                f"{at}: a source's name is lower-case letters, digits, _ and - (not salesforce or hubspot)"
            )
            continue
        if not isinstance(spec, dict):
            problems.append(f"{at}: expected a table")
            continue
        before = len(problems)
        for key in sorted(set(spec) - SOURCE_KEYS):
            hint = " (a URL with a password goes in the variable url_env names)" if "pass" in key else ""
            problems.append(f"{at}.{key}: unknown setting; known: {', '.join(sorted(SOURCE_KEYS))}{hint}")
        values: dict[str, Any] = {}
        defaults = SourceSettings()
        for key in SOURCE_KEYS & set(spec):
            value, default = spec[key], getattr(defaults, key)
            expected: type = type(default) if default is not None else str
            if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
                problems.append(f"{at}.{key}: expected {expected.__name__}, got {value!r}")
                continue
            values[key] = value
        entity = values.get("entity", defaults.entity)
        if entity not in ENTITY_NAMES:
            problems.append(f"{at}.entity: unknown entity {entity!r}; known: {', '.join(ENTITY_NAMES)}")
        given = [k for k in ("path", "database", "url", "url_env") if values.get(k)]
        if len(given) != 1:
            problems.append(
                f"{at}: give exactly one of path (files), database (a DuckDB or SQLite file), url "
                f"or url_env (SQL); got {', '.join(given) or 'none'}"
            )
        if values.get("format", "auto") not in FORMATS:
            problems.append(f"{at}.format: expected one of {', '.join(FORMATS)}, got {values['format']!r}")
        if values.get("url") and _PASSWORD_IN_URL.match(values["url"]):
            problems.append(
                f"{at}.url: the URL holds a password; put it in an environment variable and "
                "name it with url_env"
            )
        database = values.get("database")
        if database and Path(database).suffix.lower() not in SQL_FILE_SUFFIXES:
            problems.append(
                f"{at}.database: expected a DuckDB (.duckdb) or SQLite (.sqlite, .sqlite3, .db) "
                f"file, got {database!r}"
            )
        sql = bool(database or values.get("url") or values.get("url_env"))
        if sql and bool(values.get("table")) == bool(values.get("query")):
            problems.append(f"{at}: a SQL source takes table or query (one of them)")
        if not sql and (values.get("table") or values.get("query")):
            problems.append(f"{at}: table and query are for SQL sources (database, url or url_env)")
        if not values.get("map") and not values.get("columns"):
            problems.append(f'{at}: give a field map: map = "file.yaml" and/or a columns table')
        for key in ("page_rows", "overlap_seconds"):
            if key in values and values[key] < (1 if key == "page_rows" else 0):
                problems.append(f"{at}.{key}: must be positive, got {values[key]}")
        if len(problems) > before:
            continue
        for key in ("path", "database", "map"):
            if values.get(key) and not Path(values[key]).is_absolute():
                values[key] = str(base / values[key])
        out[name] = SourceSettings(name=name, where=at, **values)
    return out
