"""``crm-ops profile``: a field audit of what was pulled (issue 27), from the current snapshots and the
history the pulls keep, without calling a CRM.

For every column of every entity pulled (standard, mapped and custom fields alike), over the live
records: how full it is (``fill_rate``: a value that is not null and, for text, not blank), how many
distinct values it holds, its commonest values, the records whose value is not one of its field's
active picklist values (from the org's metadata the last pull kept: a value an admin retired, or one an
integration wrote past the picklist), and, from the statistics of the earlier pulls, since when it has
been empty (``empty_since``: every pull of the last ``empty_days`` days found it empty). Each snapshot is
read with polars' streaming engine, a column at a time for the value counts, so an activity-sized table
is audited in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from crm_ops.config import Profile
from crm_ops.entitystats import OTHER
from crm_ops.schema.entities import CUSTOM_PREFIX
from crm_ops.schema.fieldmap import EntityMap, FieldMap
from crm_ops.schema.maploading import load_map
from crm_ops.state import State

SYSTEM_COLUMNS = ("id", "updated_at", "is_deleted", "source_system")
TOP = 5  # commonest values shown per column
EMPTY_DAYS = 30  # a column empty in every pull of this many days is "empty since"
LOW_FILL = 0.1  # the run's report lists the columns filled below this share
REPORTED = 200  # columns the run's report lists at most


@dataclass(frozen=True)
class FieldProfile:
    """One column of one entity of one system, as its live records hold it."""

    system: str
    entity: str
    column: str
    field: str | None  # the CRM field it reads (None: not known from the maps)
    live: int  # live records
    filled: int  # of them, with a value (text: not blank)
    distinct: int
    top: list[tuple[str, int]] = dc_field(default_factory=list)  # commonest values, with their counts
    off_picklist: int | None = None  # records whose value is no active picklist value (None: no picklist)
    off_values: list[tuple[str, int]] = dc_field(default_factory=list)  # the commonest such values
    empty_since: str | None = None  # when the unbroken run of empty pulls began (None: not empty so long)

    @property
    def fill_rate(self) -> float:
        """The share of live records with a value (1.0 for an entity without live records)."""
        return self.filled / self.live if self.live else 1.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, with ``fill_rate``."""
        return {**asdict(self), "fill_rate": round(self.fill_rate, 4)}


def _maps(profile: Profile, systems: Iterable[str]) -> dict[str, FieldMap]:
    out = {}
    for system in systems:
        if system in ("salesforce", "hubspot"):
            out[system] = load_map(
                system,
                overrides=profile.maps.get(system),
                overrides_origin=profile.source,
                declared=profile.object_maps,
                declared_tables=profile.objects.get(system),
            )
    return out


def _fields_of(emap: EntityMap | None, columns: Iterable[str]) -> dict[str, str]:
    """column -> the CRM field it reads (mapped columns; a custom column carries its field's name)."""
    out: dict[str, str] = {}
    for column in columns:
        source = emap.columns.get(column) if emap is not None else None
        if source is not None and source.field:
            out[column] = source.field
        elif column.startswith(CUSTOM_PREFIX):
            out[column] = column.removeprefix(CUSTOM_PREFIX)
    return out


def _empty_since(history: list[dict[str, Any]], column: str, days: int, now: datetime) -> str | None:
    """The first pull of the unbroken run of pulls (newest first in ``history``) that found ``column``
    empty, when that run spans ``days`` days or more."""
    start = None
    for stats in history:
        entry = (stats.get("columns") or {}).get(column)
        if entry is None or entry.get("null_rate", 0.0) < 1.0 or not stats.get("live"):
            break
        start = stats.get("pulled_at")
    if start is None:
        return None
    began = datetime.fromisoformat(start)
    return start if now - began >= timedelta(days=days) else None


def _picklists(state: State, system: str, entity: str) -> dict[str, list[str]]:
    kept = state.metadata(system, entity)
    if kept is None:
        return {}
    return {name: list(meta["picklist"]) for name, meta in kept[1].items() if meta.get("picklist")}


def audit_entity(
    state: State,
    system: str,
    entity: str,
    emap: EntityMap | None,
    *,
    empty_days: int = EMPTY_DAYS,
    now: datetime | None = None,
) -> list[FieldProfile]:
    """The field audit of one entity's current snapshot (empty when it was never pulled)."""
    current = state.current(system, entity)
    if current is None or not current.snapshot.exists():
        return []
    scan = current.snapshot.scan(ordered=False)
    schema = scan.collect_schema()
    if "is_deleted" in schema:
        scan = scan.filter(~pl.col("is_deleted").fill_null(False))
    columns = [
        c for c, t in schema.items() if c not in SYSTEM_COLUMNS and not isinstance(t, pl.List | pl.Struct)
    ]

    def has_value(c: str) -> pl.Expr:
        value = pl.col(c)
        return (
            value.is_not_null() & (value.str.strip_chars() != "")
            if schema[c] == pl.String()
            else value.is_not_null()
        )

    counts = (
        scan.select(
            pl.len().alias("__live"),
            *(has_value(c).sum().alias(f"f|{c}") for c in columns),
            *(pl.col(c).drop_nulls().n_unique().alias(f"d|{c}") for c in columns),
        )
        .collect(engine="streaming")
        .row(0, named=True)
    )
    live = int(counts["__live"])
    fields = _fields_of(emap, columns)
    picklists = _picklists(state, system, entity)
    history = state.stats_history(system, entity, 400)
    when = now or datetime.now(UTC)
    out = []
    for c in columns:
        filled = int(counts[f"f|{c}"] or 0)
        top: list[tuple[str, int]] = []
        off: int | None = None
        off_values: list[tuple[str, int]] = []
        if filled:
            values = (
                scan.filter(has_value(c))
                .group_by(pl.col(c).cast(pl.String).alias("v"))
                .len()
                .collect(engine="streaming")
                .sort(["len", "v"], descending=[True, False])
            )
            top = [(str(v), int(n)) for v, n in values.head(TOP).rows()]
            allowed = picklists.get(fields.get(c, ""))
            if allowed is not None:
                # a multi-select holds "a;b": each part must be a value of the picklist
                parts = values.with_columns(pl.col("v").str.split(";").alias("parts"))
                bad = parts.filter(~pl.col("parts").list.eval(pl.element().is_in(allowed)).list.all())
                off = int(bad["len"].sum())
                off_values = [(str(v), int(n)) for v, n in bad.select("v", "len").head(TOP).rows()]
        out.append(
            FieldProfile(
                system,
                entity,
                c,
                fields.get(c),
                live,
                filled,
                int(counts[f"d|{c}"] or 0),
                top,
                off,
                off_values,
                _empty_since(history, c, empty_days, when) if not filled else None,
            )
        )
    return out


def field_audit(
    profile: Profile,
    state: State,
    *,
    entities: Iterable[str] | None = None,
    systems: Iterable[str] | None = None,
    empty_days: int = EMPTY_DAYS,
    now: datetime | None = None,
) -> list[FieldProfile]:
    """The field audit of every current snapshot of ``state`` (or of ``entities`` / ``systems``)."""
    wanted_entities = set(entities) if entities else None
    wanted_systems = set(systems) if systems else None
    current = [
        c
        for c in state.all_current()
        if (wanted_entities is None or c.entity in wanted_entities)
        and (wanted_systems is None or c.system in wanted_systems)
    ]
    maps: Mapping[str, FieldMap] = _maps(profile, {c.system for c in current})
    out: list[FieldProfile] = []
    for c in current:
        fmap = maps.get(c.system)
        emap = fmap.entities.get(c.entity) if fmap is not None else None
        out += audit_entity(state, c.system, c.entity, emap, empty_days=empty_days, now=now)
    return out


def run_audit(
    profile: Profile,
    state: State,
    pulled: Iterable[tuple[str, str]],
    *,
    empty_days: int = EMPTY_DAYS,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The nightly run's short field audit, from the statistics its pulls kept (no further read of the
    snapshots): the columns of the entities ``pulled`` filled below ``LOW_FILL``, and the categorical
    ones holding values off their field's active picklist (counted from the value shares the statistics
    keep: exact for a column of up to a dozen values). Worst first, at most ``REPORTED``."""
    pairs = list(dict.fromkeys(pulled))
    maps = _maps(profile, {s for s, _ in pairs})
    when = now or datetime.now(UTC)
    out: list[FieldProfile] = []
    for system, entity in pairs:
        history = state.stats_history(system, entity, 400)
        if not history:
            continue
        latest = history[0]
        live = int(latest.get("live") or 0)
        columns = {c: v for c, v in (latest.get("columns") or {}).items() if c not in SYSTEM_COLUMNS}
        fmap = maps.get(system)
        fields = _fields_of(fmap.entities.get(entity) if fmap is not None else None, columns)
        picklists = _picklists(state, system, entity)
        for column, entry in columns.items():
            filled = round(live * (1.0 - float(entry.get("null_rate", 0.0))))
            shares = {v: x for v, x in (entry.get("top") or {}).items() if v != OTHER}
            top = sorted(((v, round(x * filled)) for v, x in shares.items()), key=lambda t: (-t[1], t[0]))
            allowed = picklists.get(fields.get(column, ""))
            off_values = []
            if allowed is not None:
                off_values = [(v, n) for v, n in top if not set(v.split(";")) <= set(allowed)]
            low = live > 0 and filled < LOW_FILL * live
            if not low and not off_values:
                continue
            out.append(
                FieldProfile(
                    system,
                    entity,
                    column,
                    fields.get(column),
                    live,
                    filled,
                    int(entry.get("distinct", 0)),
                    top[:TOP],
                    sum(n for _, n in off_values) if allowed is not None else None,
                    off_values[:TOP],
                    _empty_since(history, column, empty_days, when) if not filled else None,
                )
            )
    out.sort(key=lambda p: (-(p.off_picklist or 0), p.fill_rate, p.system, p.entity, p.column))
    return [p.as_dict() for p in out[:REPORTED]]
