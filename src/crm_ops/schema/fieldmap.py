"""Field maps: which CRM field fills which canonical column, as data (YAML) shipped in the package.

A map is checked twice. At load, its shape and canonical column names (an unknown column is an error
naming the file and line). At connect, its source fields against what the CRM's own metadata says
exists (``check_fields``), so a typo or a field removed from the org fails before any data moves.

``apply`` turns a frame of raw CRM columns into the canonical frame: every canonical column present
and typed, values converted from the CRM's wire form (strings, in Bulk CSV and HubSpot JSON), and the
custom fields carried as ``custom_<name>`` string columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from crm_ops.errors import ConfigError
from crm_ops.schema.entities import CUSTOM_PREFIX, ENTITIES, REQUIRED, TIME

TRANSFORMS = ("date", "fraction_to_percent", "negate")
SYSTEMS = ("salesforce", "hubspot")
ASSOCIATION_PREFIX = "__assoc_"


@dataclass(frozen=True)
class Source:
    """Where one canonical column comes from."""

    field: str | None = None  # a field or property name
    association: str | None = None  # an associated object type (HubSpot)
    constant: Any = None
    is_constant: bool = False
    transform: str | None = None
    origin: str = ""  # "file:line", for error messages

    @property
    def raw_column(self) -> str | None:
        """The raw frame column this source reads, if any."""
        if self.association:
            return ASSOCIATION_PREFIX + self.association
        return self.field

    def to_crm(self, value: Any) -> Any:
        """A canonical value back in the CRM's terms: the inverse of the read transform."""
        if value is None or self.transform is None:
            return value
        if self.transform == "date":
            text = value.isoformat() if hasattr(value, "isoformat") else str(value)
            return text[:10]
        if self.transform == "fraction_to_percent":
            return float(value) / 100
        if self.transform == "negate":
            return not (value if isinstance(value, bool) else str(value).lower() == "true")
        raise ValueError(f"{self.origin}: no inverse for transform {self.transform!r}")  # pragma: no cover


@dataclass(frozen=True)
class EntityMap:
    """One entity's map in one CRM."""

    system: str
    entity: str
    object: str
    columns: dict[str, Source]
    origin: str = ""

    def fields(self) -> list[str]:
        """The CRM fields (properties) this map reads, in map order, without duplicates."""
        seen: dict[str, None] = {}
        for s in self.columns.values():
            if s.field:
                seen.setdefault(s.field)
        return list(seen)

    def associations(self) -> list[str]:
        """The object types whose associated ids this map reads."""
        return sorted({s.association for s in self.columns.values() if s.association})

    def column_for(self, source_field: str) -> str | None:
        """The canonical column a CRM field fills, if any (case-insensitive, as CRMs treat names)."""
        lowered = source_field.lower()
        for column, s in self.columns.items():
            if s.field and s.field.lower() == lowered:
                return column
        return None

    def check_fields(self, available: Iterable[str], *, ignore: Iterable[str] = ()) -> None:
        """Fail with every map field the CRM does not have, naming the file and line of each."""
        have = {a.lower() for a in available} | {i.lower() for i in ignore}
        problems = [
            f"{s.origin}: {self.system} {self.object} has no field {s.field!r} "
            f"(mapped to {self.entity}.{column})"
            for column, s in self.columns.items()
            if s.field and s.field.lower() not in have
        ]
        if problems:
            raise ConfigError(problems)


@dataclass(frozen=True)
class FieldMap:
    """Every entity's map for one CRM."""

    system: str
    entities: dict[str, EntityMap] = field(default_factory=dict)

    def entity(self, name: str) -> EntityMap:
        """The map of one entity, or a clear error when this CRM has none."""
        try:
            return self.entities[name]
        except KeyError:
            raise ConfigError(
                f"{self.system} has no map for entity {name!r}; mapped: {', '.join(self.entities)}"
            ) from None


# ---------------------------------------------------------------------------------------------- loading


def shipped_map_path(system: str) -> Path:
    """The map the package ships for ``system``."""
    if system not in SYSTEMS:
        raise ConfigError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}")
    return Path(str(resources.files("crm_ops.schema").joinpath("maps", f"{system}.yaml")))


def _python(node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(node))


def _source(value: yaml.Node, where: str) -> Source | str:
    """A Source from a YAML node, or a problem message."""
    if isinstance(value, yaml.ScalarNode):
        text = _python(value)
        if not isinstance(text, str) or not text.strip():
            return f"{where}: expected a field name, got {text!r}"
        return Source(field=text.strip(), origin=where)
    if isinstance(value, yaml.MappingNode):
        spec = _python(value)
        if not isinstance(spec, dict):
            return f"{where}: expected a mapping"
        unknown = set(spec) - {"field", "property", "association", "constant", "transform"}
        if unknown:
            return f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}"
        name = spec.get("field", spec.get("property"))
        transform = spec.get("transform")
        if transform is not None and transform not in TRANSFORMS:
            return f"{where}: unknown transform {transform!r}; known: {', '.join(TRANSFORMS)}"
        given = [k for k in ("field", "property", "association", "constant") if k in spec]
        if len(given) != 1 or ("field" in spec and "property" in spec):
            return f"{where}: give exactly one of field/property, association or constant"
        if "constant" in spec:
            return Source(constant=spec["constant"], is_constant=True, transform=transform, origin=where)
        if "association" in spec:
            return Source(association=str(spec["association"]), transform=transform, origin=where)
        if not isinstance(name, str) or not name:
            return f"{where}: the field name must be a non-empty string"
        return Source(field=name, transform=transform, origin=where)
    return f"{where}: expected a field name or a mapping"


def _check_column(entity: str, column: str, where: str) -> str | None:
    if column in ENTITIES[entity] or (column.startswith(CUSTOM_PREFIX) and len(column) > len(CUSTOM_PREFIX)):
        return None
    return (
        f"{where}: {entity} has no canonical column {column!r} "
        f"(custom columns must start with {CUSTOM_PREFIX!r})"
    )


def load_map(
    system: str,
    path: str | Path | None = None,
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    overrides_origin: str = "config",
) -> FieldMap:
    """Load and check ``system``'s field map (the shipped one unless ``path``), then apply overrides.

    ``overrides`` is ``{entity: {column: field-or-spec}}`` from a profile's config. Every problem in the
    file and the overrides is reported at once, each with its file and line.
    """
    file = Path(path) if path else shipped_map_path(system)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read field map: {exc.strerror}") from None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{file}{line}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    problems: list[str] = []
    maps: dict[str, EntityMap] = {}

    def at(node: yaml.Node) -> str:
        return f"{file}:{node.start_mark.line + 1}"

    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{file}:1: a field map is a mapping with 'system' and 'entities'")
    top = {_python(k): v for k, v in root.value}
    declared = _python(top["system"]) if "system" in top else None
    if declared != system:
        problems.append(f"{file}:1: map is for system {declared!r}, expected {system!r}")
    entities = top.get("entities")
    if not isinstance(entities, yaml.MappingNode):
        problems.append(f"{file}:1: 'entities' must be a mapping of entity name to its map")
        raise ConfigError(problems)
    for key, body in entities.value:
        entity = _python(key)
        if entity not in ENTITIES:
            problems.append(f"{at(key)}: unknown entity {entity!r}; known: {', '.join(ENTITIES)}")
            continue
        if not isinstance(body, yaml.MappingNode):
            problems.append(f"{at(key)}: {entity} must have 'object' and 'columns'")
            continue
        parts = {_python(k): (k, v) for k, v in body.value}
        obj = _python(parts["object"][1]) if "object" in parts else None
        if not isinstance(obj, str) or not obj:
            problems.append(f"{at(key)}: {entity} needs 'object', the CRM object it comes from")
            continue
        cols = parts.get("columns", (None, None))[1]
        if not isinstance(cols, yaml.MappingNode):
            problems.append(f"{at(key)}: {entity} needs 'columns', a mapping of column to field")
            continue
        columns: dict[str, Source] = {}
        for ckey, cval in cols.value:
            column = str(_python(ckey))
            bad = _check_column(entity, column, at(ckey))
            if bad:
                problems.append(bad)
                continue
            src = _source(cval, at(ckey))
            if isinstance(src, str):
                problems.append(src)
            else:
                columns[column] = src
        maps[entity] = EntityMap(system, entity, obj, columns, at(key))
    for entity, columns_over in (overrides or {}).items():
        where = f"{overrides_origin} maps.{system}.{entity}"
        if entity not in maps:
            problems.append(f"{where}: {system} has no map for entity {entity!r}")
            continue
        merged = dict(maps[entity].columns)
        for column, spec in columns_over.items():
            bad = _check_column(entity, column, f"{where}.{column}")
            if bad:
                problems.append(bad)
                continue
            node = yaml.compose(yaml.safe_dump(spec))
            src = _source(node, f"{where}.{column}") if node is not None else f"{where}.{column}: empty"
            if isinstance(src, str):
                problems.append(src)
            else:
                merged[column] = src
        maps[entity] = EntityMap(system, entity, maps[entity].object, merged, maps[entity].origin)
    for entity, emap in maps.items():
        missing = [c for c in REQUIRED if c not in emap.columns]
        if missing:
            problems.append(f"{emap.origin}: {entity} must map {', '.join(missing)}")
    if problems:
        raise ConfigError(problems)
    return FieldMap(system, maps)


# ---------------------------------------------------------------------------------------------- applying


def _parse_time(expr: pl.Expr) -> pl.Expr:
    """ISO 8601 strings as Salesforce and HubSpot write them (``...Z``, ``...+0000``, or epoch ms)."""
    text = expr.str.strip_chars()
    iso = (
        text.str.replace(r"Z$", "+00:00")
        .str.replace(r"([+-]\d\d)(\d\d)$", "${1}:${2}")
        .str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="ms", strict=False)
    )
    epoch = pl.when(text.str.contains(r"^\d{10,}$")).then(
        pl.from_epoch(text.cast(pl.Int64, strict=False), time_unit="ms")
    )
    return pl.coalesce(iso, epoch.dt.replace_time_zone("UTC")).dt.convert_time_zone("UTC")


def convert(expr: pl.Expr, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    """Convert a raw column to a canonical type; strings (the wire form) are parsed."""
    if source == target == pl.String():
        # neither CRM tells an empty text field from an absent one; Bulk CSV writes both as ""
        return pl.when(expr == "").then(None).otherwise(expr)
    if source == target:
        return expr
    if source == pl.String():
        blank = expr.str.strip_chars().replace("", None)
        if target == pl.Boolean():
            return blank.str.to_lowercase().replace_strict(
                {"true": True, "false": False, "1": True, "0": False}, default=None, return_dtype=pl.Boolean
            )
        if target == TIME:
            return _parse_time(blank)
        if target == pl.Date():
            return blank.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        if target in (pl.Float64(), pl.Int64()):
            numeric = blank.cast(pl.Float64, strict=False)
            return numeric.round(0).cast(pl.Int64) if target == pl.Int64() else numeric
        return blank.cast(target)
    if target == pl.String():
        if source.is_float():
            # 200000123.0 -> "200000123": ids that travelled as numbers
            return (
                pl.when(expr == expr.floor())
                .then(expr.cast(pl.Int64).cast(pl.String))
                .otherwise(expr.cast(pl.String))
            )
        return expr.cast(pl.String)
    if target == pl.Date() and isinstance(source, pl.Datetime):
        return expr.dt.date()
    if target == TIME and isinstance(source, pl.Datetime):
        return (
            expr.dt.replace_time_zone("UTC") if source.time_zone is None else expr.dt.convert_time_zone("UTC")
        )
    return expr.cast(target)


def _transformed(expr: pl.Expr, transform: str | None, target: pl.DataType) -> pl.Expr:
    if transform == "fraction_to_percent":
        return expr * 100.0
    if transform == "negate":
        return ~expr
    return expr


def apply(emap: EntityMap, raw: pl.DataFrame, *, custom: Iterable[str] = ()) -> pl.DataFrame:
    """The canonical frame of ``raw`` (a frame of CRM fields): typed, every column present, customs last."""
    schema = ENTITIES[emap.entity]
    raw_types = raw.schema
    exprs: list[pl.Expr] = []
    for column, target in schema.items():
        src = emap.columns.get(column)
        if column == "source_system":
            exprs.append(pl.lit(emap.system, pl.String).alias(column))
        elif src is None:
            exprs.append(pl.lit(None, target).alias(column))
        elif src.is_constant:
            exprs.append(pl.lit(src.constant).cast(target).alias(column))
        else:
            name = src.raw_column or ""
            if name not in raw_types:
                exprs.append(pl.lit(None, target).alias(column))
                continue
            source_type = raw_types[name]
            step = pl.col(name)
            if src.transform == "date":
                step = convert(step, source_type, TIME) if source_type == pl.String() else step
                step = step.dt.date() if src.transform == "date" else step
                exprs.append(convert(step, pl.Date(), target).alias(column))
                continue
            exprs.append(
                _transformed(convert(step, source_type, target), src.transform, target).alias(column)
            )
    extra = {c: s for c, s in emap.columns.items() if c not in schema}
    for column, src in extra.items():
        name = src.raw_column or ""
        exprs.append(
            (
                convert(pl.col(name), raw_types[name], pl.String())
                if name in raw_types
                else pl.lit(None, pl.String)
            ).alias(column)
        )
    for name in custom:
        if name in raw_types and emap.column_for(name) is None:
            exprs.append(convert(pl.col(name), raw_types[name], pl.String()).alias(CUSTOM_PREFIX + name))
    return raw.select(exprs)
