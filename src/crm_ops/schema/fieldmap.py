"""Field maps: which CRM field fills which canonical column, as data (YAML) shipped in the package.

Each entity's map has two layers. ``required`` columns are the ones the entity cannot be built without
(id, change stamp, deleted flag, creation time, name parts): an org that lacks one fails that entity,
with a clear error, and the other entities go on. ``optional`` columns are standard fields that
field-level security may hide or an org may not have, integration fields and custom fields: one the org
does not have becomes a null column, with one warning naming it and why. A column may name candidates
(``{any_of: [A, B]}``): the first one the org has fills it; the cross-CRM id fields (``linked_id``) are
discovered that way, not assumed.

A map is checked twice. At load, its shape and canonical column names (an unknown column is an error
naming the file and line). At connect, ``EntityMap.resolve`` holds its fields against what the CRM's own
metadata says exists and returns the map of this org: present fields only, candidates chosen, custom
columns typed as the CRM types them.

``apply`` turns a frame of raw CRM columns into the canonical frame: every canonical column present
and typed, values converted from the CRM's wire form (strings, in Bulk CSV and HubSpot JSON), and the
other custom fields carried as ``custom_<name>`` string columns.

Declared entities (issue 26): a YAML file of the same shape that a profile names in ``object_maps``
maps objects crm_ops does not ship a map for (a Salesforce ``X__c`` or unmapped standard object, a
HubSpot custom object type ``p_<name>`` / ``2-<id>``) to entities of the user's naming. Their columns
are the user's (lower-case names); ``id``, ``updated_at``, ``is_deleted``, ``created_at`` and
``owner_id`` default to the CRM's system fields (``DECLARED_DEFAULTS``); a column not given a ``type``
takes its field's type from the CRM's metadata at connect; ``parent: Entity`` marks a column as the id
of a parent record (a lookup field, a HubSpot association). Each declared entity's schema is recorded
in ``crm_ops.schema.entities`` (``declare``) so rules and snapshots know it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from crm_ops.errors import ConfigError
from crm_ops.schema.entities import (
    BOOL,
    COMMON,
    CUSTOM_PREFIX,
    DATE,
    ENTITIES,
    FLOAT,
    INT,
    REQUIRED,
    STR,
    TIME,
    declare,
    is_entity,
)

TRANSFORMS = ("date", "fraction_to_percent", "negate")
SYSTEMS = ("salesforce", "hubspot")
ASSOCIATION_PREFIX = "__assoc_"
LAYERS = ("required", "optional")
# the ``type`` a map may give a column (a declared entity's, or a custom one), as canonical types
TYPES: dict[str, pl.DataType] = {
    "string": STR,
    "float": FLOAT,
    "int": INT,
    "bool": BOOL,
    "date": DATE,
    "datetime": TIME,
}
# a declared entity's column names, and its own name
DECLARED_COLUMN = re.compile(r"^[a-z][a-z0-9_]*$")
DECLARED_ENTITY = re.compile(r"^[A-Z][A-Za-z0-9]*$")
# the columns a declared entity has without saying so: (field or candidates, required) by system
DECLARED_DEFAULTS: dict[str, dict[str, tuple[tuple[str, ...], bool]]] = {
    "salesforce": {
        "id": (("Id",), True),
        "updated_at": (("SystemModstamp",), True),
        "is_deleted": (("IsDeleted",), True),
        "created_at": (("CreatedDate",), True),
        "owner_id": (("OwnerId",), False),  # a detail of a master-detail relation has no owner
    },
    "hubspot": {
        "id": (("hs_object_id",), True),
        "updated_at": (("hs_lastmodifieddate",), True),
        "is_deleted": (("archived",), True),
        "created_at": (("hs_createdate", "createdate"), False),
        "owner_id": (("hubspot_owner_id",), False),
    },
}
# How each CRM's field types read as canonical types (a mapped custom column takes its field's type).
CRM_TYPES: dict[str, dict[str, pl.DataType]] = {
    "salesforce": {
        "boolean": BOOL,
        "double": FLOAT,
        "currency": FLOAT,
        "percent": FLOAT,
        "int": INT,
        "long": INT,
        "date": DATE,
        "datetime": TIME,
    },
    "hubspot": {"bool": BOOL, "number": FLOAT, "date": DATE, "datetime": TIME},
}


def canonical_type(system: str, crm_type: str) -> pl.DataType:
    """The canonical type of a value of ``crm_type`` in ``system`` (text for every type not listed)."""
    return CRM_TYPES.get(system, {}).get(crm_type, STR)


@dataclass(frozen=True)
class Source:
    """Where one canonical column comes from."""

    field: str | None = None  # a field or property name
    association: str | None = None  # an associated object type (HubSpot)
    constant: Any = None
    is_constant: bool = False
    transform: str | None = None
    origin: str = ""  # "file:line", for error messages
    optional: bool = False  # the org may lack the field: a null column and a warning, not an error
    candidates: tuple[str, ...] = ()  # ``any_of``: the first of these the org has fills the column
    dtype: pl.DataType | None = None  # a custom column's type, from the CRM's metadata (set by resolve)
    # the org lacking the field is a normal set-up (e.g. "single-currency org"): an empty column, no warning
    absent_ok: str | None = None
    parent: str | None = None  # the entity whose record id this column holds (a lookup, an association)

    @property
    def names(self) -> tuple[str, ...]:
        """The field names this source may read: its field, or its candidates before resolution."""
        return (self.field,) if self.field else self.candidates

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
    declared: bool = False  # declared by a profile's object map, not one of the core entities

    def parents(self) -> dict[str, str]:
        """The columns holding a parent record's id, and the parent's entity."""
        return {c: s.parent for c, s in self.columns.items() if s.parent}

    def fields(self) -> list[str]:
        """The CRM fields (properties) this map reads, in map order, without duplicates."""
        seen: dict[str, None] = {}
        for s in self.columns.values():
            for name in s.names:
                seen.setdefault(name)
        return list(seen)

    def associations(self) -> list[str]:
        """The object types whose associated ids this map reads."""
        return sorted({s.association for s in self.columns.values() if s.association})

    def column_for(self, source_field: str) -> str | None:
        """The canonical column a CRM field fills, if any (case-insensitive, as CRMs treat names)."""
        lowered = source_field.lower()
        for column, s in self.columns.items():
            if any(n.lower() == lowered for n in s.names):
                return column
        return None

    def resolve(self, available: Mapping[str, pl.DataType], *, ignore: Iterable[str] = ()) -> Resolved:
        """This map held against the fields the org has (``{name: canonical type}``, from its metadata).

        Returns the map of this org (fields present only, in the org's spelling; candidates chosen; custom
        columns typed) and a warning for each optional column left empty. A required column the org lacks
        is a ``ConfigError`` naming the field, the column and the map's line.
        """
        have = {a.lower(): a for a in available} | {i.lower(): i for i in ignore}
        types = {a.lower(): t for a, t in available.items()}
        problems: list[str] = []
        warnings: list[str] = []
        columns: dict[str, Source] = {}
        for column, src in self.columns.items():
            if not src.names:
                columns[column] = src
                continue
            core = ENTITIES.get(self.entity, COMMON)
            found = next((have[n.lower()] for n in src.names if n.lower() in have), None)
            if found is None:
                noun = "field" if self.system in SYSTEMS else "column"  # a source's are columns
                message = (
                    f"{self.system} {self.object} has no {noun} {_listed(src.names)} "
                    f"(mapped to {self.entity}.{column}): {absent_reason(self.system, src.names)}"
                )
                if src.optional:
                    if not src.absent_ok:
                        warnings.append(f"{message}; the column stays empty")
                    # kept without a field: an empty column of its type, never written
                    columns[column] = Source(
                        origin=src.origin,
                        optional=True,
                        dtype=src.dtype or core.get(column, STR),
                        absent_ok=src.absent_ok,
                        parent=src.parent,
                    )
                else:
                    problems.append(f"{src.origin}: {message}")
                continue
            dtype = src.dtype
            if column not in core and dtype is None:
                dtype = types.get(found.lower(), STR)
            columns[column] = Source(
                field=found,
                transform=src.transform,
                origin=src.origin,
                optional=src.optional,
                dtype=dtype,
                absent_ok=src.absent_ok,
                parent=src.parent,
            )
        if problems:
            raise ConfigError(problems)
        resolved = EntityMap(self.system, self.entity, self.object, columns, self.origin, self.declared)
        return Resolved(resolved, warnings)


def _listed(names: Sequence[str]) -> str:
    return repr(names[0]) if len(names) == 1 else "any of " + ", ".join(repr(n) for n in names)


def absent_reason(system: str, names: Sequence[str]) -> str:
    """Why a mapped field is not in the org's metadata, in words an admin can act on."""
    if system not in SYSTEMS:  # a source (billing, product, files)
        return "the source has no such column"
    if system == "hubspot":
        if any(n.startswith(("salesforce", "hs_salesforce")) for n in names):
            return "the portal does not run HubSpot's Salesforce integration, so records link by matching"
        return "the portal has no such property, or the private app cannot read it"
    if all(n.endswith("__c") for n in names):
        return "the org has no such custom field, or field-level security hides it from the integration user"
    return (
        "field-level security hides it from the integration user (or the org does not have the feature); "
        "grant read access on the field to the integration user's profile or permission set"
    )


@dataclass(frozen=True)
class Resolved:
    """An entity's map held against one org: the map to pull with and the warnings to report."""

    map: EntityMap
    warnings: list[str]


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


OFF = "off"  # what ``_source`` answers for a column switched off (``column = false`` / ``{off = true}``)
SOURCE_KEYS = {
    "field", "property", "association", "constant", "transform", "any_of", "optional", "off", "absent_ok",
    "type", "parent",
}  # fmt: skip


def _source(value: yaml.Node, where: str, *, optional: bool) -> Source | str:
    """A Source from a YAML node, ``OFF`` for a column switched off, or a problem message."""
    if isinstance(value, yaml.ScalarNode):
        text = _python(value)
        if text is False:
            return OFF
        if not isinstance(text, str) or not text.strip():
            return f"{where}: expected a field name (or false to switch the column off), got {text!r}"
        return Source(field=text.strip(), origin=where, optional=optional)
    if isinstance(value, yaml.MappingNode):
        spec = _python(value)
        if not isinstance(spec, dict):
            return f"{where}: expected a mapping"
        unknown = set(spec) - SOURCE_KEYS
        if unknown:
            return (
                f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                f"known: {', '.join(sorted(SOURCE_KEYS))}"
            )
        if spec.get("off") is True:
            return OFF if len(spec) == 1 else f"{where}: 'off' stands alone"
        if "off" in spec:
            return f"{where}: 'off' takes true"
        if "optional" in spec:
            if not isinstance(spec["optional"], bool):
                return f"{where}: 'optional' takes true or false"
            optional = spec["optional"]
        absent_ok = spec.get("absent_ok")
        if absent_ok is not None and (not isinstance(absent_ok, str) or not absent_ok.strip()):
            return f"{where}: 'absent_ok' names the set-up the field is absent in (single-currency org)"
        if absent_ok is not None and not optional:
            return f"{where}: 'absent_ok' is for optional columns"
        name = spec.get("field", spec.get("property"))
        kind, parent = spec.get("type"), spec.get("parent")
        if kind is not None and kind not in TYPES:
            return f"{where}: unknown type {kind!r}{_nearest(str(kind), TYPES)}; known: {', '.join(TYPES)}"
        if parent is not None and (not isinstance(parent, str) or not parent):
            return f"{where}: 'parent' names the entity whose record id the column holds (Account)"
        dtype = TYPES[kind] if kind is not None else None
        transform = spec.get("transform")
        if transform is not None and transform not in TRANSFORMS:
            return f"{where}: unknown transform {transform!r}; known: {', '.join(TRANSFORMS)}"
        given = [k for k in ("field", "property", "association", "constant", "any_of") if k in spec]
        if len(given) != 1 or ("field" in spec and "property" in spec):
            return f"{where}: give exactly one of field/property, any_of, association or constant"
        if "constant" in spec:
            return Source(
                constant=spec["constant"],
                is_constant=True,
                transform=transform,
                origin=where,
                dtype=dtype,
                parent=parent,
            )
        if "association" in spec:
            return Source(
                association=str(spec["association"]),
                transform=transform,
                origin=where,
                dtype=dtype,
                parent=parent,
            )
        if "any_of" in spec:
            names = spec["any_of"]
            if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
                return f"{where}: 'any_of' takes a list of field names"
            return Source(
                candidates=tuple(names),
                transform=transform,
                origin=where,
                optional=optional,
                dtype=dtype,
                parent=parent,
            )
        if not isinstance(name, str) or not name:
            return f"{where}: the field name must be a non-empty string"
        return Source(
            field=name,
            transform=transform,
            origin=where,
            optional=optional,
            absent_ok=absent_ok,
            dtype=dtype,
            parent=parent,
        )
    return f"{where}: expected a field name or a mapping"


def _nearest(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the known name nearest ``name``, or nothing when none is near."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_constant(entity: str, column: str, src: Source) -> str | None:
    """A problem when a constant cannot be a value of its column's type (``""`` for a Boolean...)."""
    target = ENTITIES.get(entity, COMMON).get(column, src.dtype or STR)
    try:
        pl.Series([src.constant]).cast(target, strict=True)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError, TypeError, ValueError):
        return f"{src.origin}: {entity}.{column} is {target}; the constant {src.constant!r} is not one"
    return None


def _check_column(entity: str, column: str, where: str) -> str | None:
    if entity not in ENTITIES:  # a declared entity: its columns are the map's own
        if DECLARED_COLUMN.match(column):
            return None
        return f"{where}: {entity}.{column}: a column name is lower case letters, digits and _ (account_id)"
    if column in ENTITIES[entity] or (column.startswith(CUSTOM_PREFIX) and len(column) > len(CUSTOM_PREFIX)):
        return None
    return (
        f"{where}: {entity} has no canonical column {column!r}{_nearest(column, ENTITIES[entity])} "
        f"(custom columns must start with {CUSTOM_PREFIX!r})"
    )


def compose_file(file: Path) -> yaml.Node | None:
    """A map file's YAML nodes (their lines name problems), or a ``ConfigError`` naming file and line."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read field map: {exc.strerror}") from None
    try:
        return yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{file}{line}: invalid YAML: {getattr(exc, 'problem', exc)}") from None


def read_layer(
    entity: str,
    cols: yaml.MappingNode,
    layer: str,
    at: Callable[[yaml.Node], str],
    problems: list[str],
    columns: dict[str, Source],
) -> None:
    """One layer of a map file (``required`` or ``optional``) into ``columns``; each problem appended
    with its file and line (``at``)."""
    for ckey, cval in cols.value:
        column = str(_python(ckey))
        bad = _check_column(entity, column, at(ckey))
        if bad:
            problems.append(bad)
            continue
        if column in columns:
            problems.append(f"{at(ckey)}: {entity}.{column} is mapped twice")
            continue
        src = _source(cval, at(ckey), optional=layer == "optional")
        if src == OFF:
            problems.append(f"{at(ckey)}: a map file cannot switch {entity}.{column} off")
        elif isinstance(src, str):
            problems.append(src)
        else:
            columns[column] = src


def _declared_defaults(system: str, columns: dict[str, Source], origin: str) -> None:
    """The system columns a declared entity has without its map saying so (``DECLARED_DEFAULTS``)."""
    for column, (names, required) in DECLARED_DEFAULTS.get(system, {}).items():
        if column in columns:
            continue
        if len(names) == 1:
            columns[column] = Source(field=names[0], origin=origin, optional=not required)
        else:
            columns[column] = Source(candidates=names, origin=origin, optional=not required)


def _read_entities(
    file: Path, system: str, problems: list[str], maps: dict[str, EntityMap], *, declared: bool
) -> None:
    """The entities of one map file into ``maps``; each problem appended with its file and line. A
    declared-objects file (``declared``) may only name entities that are not core ones."""

    def at(node: yaml.Node) -> str:
        return f"{file}:{node.start_mark.line + 1}"

    _read_root(compose_file(file), at, f"{file}:1", system, problems, maps, declared=declared)


def _read_tables(
    tables: Mapping[str, Any], origin: str, system: str, problems: list[str], maps: dict[str, EntityMap]
) -> None:
    """Entities declared in the profile itself (``[profiles.P.objects.<system>.<Entity>]``), read as a map
    file is; each problem names its setting (``origin.Entity.optional.column``) where a file names a line."""
    root = yaml.compose(yaml.safe_dump({"system": system, "entities": dict(tables)}))
    paths: dict[int, str] = {}

    def walk(node: yaml.Node, path: str) -> None:
        paths[id(node)] = path
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = f"{path}.{_python(key)}" if path else str(_python(key))
                paths[id(key)] = sub
                walk(value, sub)

    if root is not None:
        walk(root, "")

    def at(node: yaml.Node) -> str:
        return f"{origin}.{paths.get(id(node), '').removeprefix('entities.')}".rstrip(".")

    _read_root(root, at, origin, system, problems, maps, declared=True)


def _read_root(
    root: yaml.Node | None,
    at: Callable[[yaml.Node], str],
    top_where: str,
    system: str,
    problems: list[str],
    maps: dict[str, EntityMap],
    *,
    declared: bool,
) -> None:
    """The entities of one composed map (a file's, or a profile's tables) into ``maps``; ``at`` says where
    a node is (file and line, or the setting), ``top_where`` where the map itself is."""
    if not isinstance(root, yaml.MappingNode):
        problems.append(f"{top_where}: a field map is a mapping with 'system' and 'entities'")
        return
    top = {_python(k): v for k, v in root.value}
    given = _python(top["system"]) if "system" in top else None
    if given != system:
        problems.append(f"{top_where}: map is for system {given!r}, expected {system!r}")
    entities = top.get("entities")
    if not isinstance(entities, yaml.MappingNode):
        problems.append(f"{top_where}: 'entities' must be a mapping of entity name to its map")
        return
    for key, body in entities.value:
        entity = _python(key)
        if declared:
            if entity in ENTITIES:
                problems.append(
                    f"{at(key)}: {entity} is a core entity: change its columns under "
                    f"maps.{system}.{entity} in the profile, and declare new entities under other names"
                )
                continue
            if not isinstance(entity, str) or not DECLARED_ENTITY.match(entity):
                problems.append(
                    f"{at(key)}: entity name {entity!r}: a declared entity is named in CamelCase "
                    f"(Subscription, ProjectTask)"
                )
                continue
            if entity in maps:
                problems.append(
                    f"{at(key)}: {entity} is declared twice for {system} (also {maps[entity].origin})"
                )
                continue
        elif entity not in ENTITIES:
            problems.append(
                f"{at(key)}: unknown entity {entity!r}{_nearest(str(entity), ENTITIES)}; "
                f"known: {', '.join(ENTITIES)}"
            )
            continue
        if not isinstance(body, yaml.MappingNode):
            problems.append(f"{at(key)}: {entity} must have 'object' and 'columns'")
            continue
        parts = {_python(k): (k, v) for k, v in body.value}
        obj = _python(parts["object"][1]) if "object" in parts else None
        if not isinstance(obj, str) or not obj:
            strays = sorted(str(k) for k in parts if k not in ("object", *LAYERS))
            hint = next((_nearest(k, ["object"]) for k in strays if _nearest(k, ["object"])), "")
            problems.append(f"{at(key)}: {entity} needs 'object', the CRM object it comes from{hint}")
            continue
        unknown_parts = set(parts) - {"object", *LAYERS}
        if unknown_parts:
            keys = ", ".join(sorted(map(str, unknown_parts)))
            hint = _nearest(str(sorted(map(str, unknown_parts))[0]), ["object", *LAYERS])
            problems.append(
                f"{at(key)}: {entity} has unknown key(s) {keys}{hint}; "
                f"an entity has 'object', 'required' and 'optional'"
            )
        if "required" not in parts and not declared:
            problems.append(f"{at(key)}: {entity} needs 'required', the columns it cannot be built without")
        columns: dict[str, Source] = {}
        for layer in LAYERS:
            cols = parts.get(layer, (None, None))[1]
            if cols is None:
                continue
            if not isinstance(cols, yaml.MappingNode):
                problems.append(f"{at(parts[layer][0])}: {entity}.{layer} must map columns to fields")
                continue
            read_layer(entity, cols, layer, at, problems, columns)
        if declared:
            _declared_defaults(system, columns, at(key))
        maps[entity] = EntityMap(system, entity, obj, columns, at(key), declared)


def map_system(file: Path) -> str:
    """The ``system`` a map file says it is for (salesforce or hubspot), or a ``ConfigError``."""
    root = compose_file(file)
    top = {_python(k): v for k, v in root.value} if isinstance(root, yaml.MappingNode) else {}
    system = _python(top["system"]) if "system" in top else None
    if system not in SYSTEMS:
        raise ConfigError(f"{file}:1: 'system' must be one of {', '.join(SYSTEMS)}, got {system!r}")
    return str(system)


def load_map(
    system: str,
    path: str | Path | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    overrides_origin: str = "config",
    declared: Sequence[str | Path] = (),
    declared_tables: Mapping[str, Any] | None = None,
) -> FieldMap:
    """Load and check ``system``'s field map (the shipped one unless ``path``), then apply overrides.

    ``overrides`` is ``{entity: {column: field-or-spec}}`` from a profile's config. ``declared`` are
    the profile's object maps (``object_maps``): those for ``system`` add the entities they declare
    (the others are skipped); ``declared_tables`` the entities the profile declares itself
    (``objects.<system>``: entity -> table, named in errors after ``overrides_origin``). Every problem in
    the files, the tables and the overrides is reported at once, each with its file and line or setting.
    """
    file = Path(path) if path else shipped_map_path(system)
    problems: list[str] = []
    maps: dict[str, EntityMap] = {}
    _read_entities(file, system, problems, maps, declared=False)
    if problems and not maps:
        raise ConfigError(problems)
    for extra in map(Path, declared):
        if map_system(extra) == system:
            _read_entities(extra, system, problems, maps, declared=True)
    if declared_tables:
        where = f"{overrides_origin} objects.{system}"
        _read_tables(declared_tables, where, system, problems, maps)
    for entity, columns_over in (overrides or {}).items():
        where = f"{overrides_origin} maps.{system}.{entity}"
        if entity not in maps:
            problems.append(f"{where}: {system} has no map for entity {entity!r}{_nearest(entity, maps)}")
            continue
        merged = dict(maps[entity].columns)
        if not isinstance(columns_over, Mapping):
            problems.append(f"{where}: expected a table of column = field")
            continue
        for column, spec in columns_over.items():
            bad = _check_column(entity, column, f"{where}.{column}")
            if bad:
                problems.append(bad)
                continue
            node = yaml.compose(yaml.safe_dump(spec))
            # a column the user maps is required unless they say optional: a typo must not pass quietly
            src = (
                _source(node, f"{where}.{column}", optional=False)
                if node is not None
                else f"{where}.{column}: empty"
            )
            existing = merged.get(column)
            if src == OFF:
                if column in REQUIRED or (existing is not None and not existing.optional):
                    problems.append(
                        f"{where}.{column}: {entity}.{column} is required and cannot be switched off"
                    )
                else:
                    merged.pop(column, None)
            elif isinstance(src, str):
                problems.append(src)
            else:
                merged[column] = src
        old = maps[entity]
        maps[entity] = EntityMap(system, entity, old.object, merged, old.origin, old.declared)
    for entity, emap in maps.items():
        for column, src in emap.columns.items():
            bad = _check_constant(entity, column, src) if src.is_constant else None
            if bad:
                problems.append(bad)
            if src.parent is not None and src.parent not in maps and not is_entity(src.parent):
                known = [*ENTITIES, *(m for m in maps if maps[m].declared)]
                problems.append(
                    f"{src.origin}: {entity}.{column}: parent {src.parent!r} is no entity"
                    f"{_nearest(src.parent, known)}; known: {', '.join(known)}"
                )
        missing = [c for c in REQUIRED if c not in emap.columns]
        if missing:
            problems.append(f"{emap.origin}: {entity} must map {', '.join(missing)}")
    if problems:
        raise ConfigError(problems)
    for entity, emap in maps.items():
        if emap.declared:
            core = COMMON
            declare(entity, {c: s.dtype or STR for c, s in emap.columns.items() if c not in core})
    return FieldMap(system, maps)


def load_object_tables(system: str, tables: Mapping[str, Any], origin: str = "config") -> FieldMap:
    """The entities a profile declares in its own tables (``objects.<system>``), checked as ``load_map``
    checks them and recorded in ``crm_ops.schema.entities``; problems name the setting after
    ``origin``."""
    loaded = load_map(system, overrides_origin=origin, declared_tables=tables)
    return FieldMap(system, {e: m for e, m in loaded.entities.items() if m.declared})


def load_object_map(path: str | Path) -> FieldMap:
    """The entities one object map file (a profile's ``object_maps``) declares, checked as ``load_map``
    checks them, and recorded in ``crm_ops.schema.entities`` (``declare``)."""
    file = Path(path)
    system = map_system(file)
    loaded = load_map(system, declared=[file])
    return FieldMap(system, {e: m for e, m in loaded.entities.items() if m.declared})


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
    schema = ENTITIES.get(emap.entity, COMMON)  # a declared entity's own columns follow as extras
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
        target = src.dtype or STR
        exprs.append(
            (
                convert(pl.col(name), raw_types[name], target) if name in raw_types else pl.lit(None, target)
            ).alias(column)
        )
    for name in custom:
        if name in raw_types and emap.column_for(name) is None:
            exprs.append(convert(pl.col(name), raw_types[name], pl.String()).alias(CUSTOM_PREFIX + name))
    return raw.select(exprs)
