"""Loading field maps: the shipped YAML maps of each CRM, a profile's overrides (``maps``) and the object
map files and ``objects`` tables that declare entities of other objects (issue 26), each checked as it
loads (every mistake a ``ConfigError`` naming the file and line, or the setting, and the nearest valid
name) into a ``crm_ops.schema.fieldmap.FieldMap``. A declared entity's schema is recorded in
``crm_ops.schema.entities`` (``declare``) so rules and snapshots know it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from crm_ops.errors import ConfigError
from crm_ops.schema.entities import (
    COMMON,
    CUSTOM_PREFIX,
    ENTITIES,
    REQUIRED,
    STR,
    declare,
    is_entity,
    mark_personal,
)
from crm_ops.schema.fieldmap import (
    DECLARED_COLUMN,
    DECLARED_DEFAULTS,
    DECLARED_ENTITY,
    LAYERS,
    SYSTEMS,
    TRANSFORMS,
    TYPES,
    EntityMap,
    FieldMap,
    Source,
)


def shipped_map_path(system: str) -> Path:
    """The map the package ships for ``system``."""
    if system not in SYSTEMS:
        raise ConfigError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}")
    return Path(str(resources.files("crm_ops.schema").joinpath("maps", f"{system}.yaml")))


def node_value(node: yaml.Node) -> Any:
    """A composed YAML node as the plain Python value it holds (kept as a node to know its line)."""
    return yaml.safe_load(yaml.serialize(node))


OFF = "off"  # what ``parse_source`` answers for a column switched off (``column = false`` / ``{off = true}``)
SOURCE_KEYS = {
    "field", "property", "association", "constant", "transform", "any_of", "optional", "off", "absent_ok",
    "type", "parent", "personal",
}  # fmt: skip


def parse_source(value: yaml.Node, where: str, *, optional: bool) -> Source | str:
    """A Source from a YAML node, ``OFF`` for a column switched off, or a problem message."""
    if isinstance(value, yaml.ScalarNode):
        text = node_value(value)
        if text is False:
            return OFF
        if not isinstance(text, str) or not text.strip():
            return f"{where}: expected a field name (or false to switch the column off), got {text!r}"
        return Source(field=text.strip(), origin=where, optional=optional)
    if isinstance(value, yaml.MappingNode):
        spec = node_value(value)
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
        personal = spec.get("personal", False)
        if not isinstance(personal, bool):
            return f"{where}: 'personal' takes true or false"
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
                personal=personal,
            )
        if "association" in spec:
            return Source(
                association=str(spec["association"]),
                transform=transform,
                origin=where,
                dtype=dtype,
                parent=parent,
                personal=personal,
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
                personal=personal,
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
            personal=personal,
        )
    return f"{where}: expected a field name or a mapping"


def _nearest(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the known name nearest ``name``, or nothing when none is near."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_constant(entity: str, column: str, src: Source) -> str | None:
    """A problem when a constant cannot be a value of its column's type (``""`` for a Boolean...)."""
    target = ENTITIES.get(entity, COMMON).get(column, src.dtype or STR)
    try:
        pl.Series([src.constant]).cast(target, strict=True)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError, TypeError, ValueError):
        return f"{src.origin}: {entity}.{column} is {target}; the constant {src.constant!r} is not one"
    return None


def check_column(entity: str, column: str, where: str) -> str | None:
    """A problem when ``column`` is no column of ``entity`` (a declared entity's: a lower-case name)."""
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
        column = str(node_value(ckey))
        bad = check_column(entity, column, at(ckey))
        if bad:
            problems.append(bad)
            continue
        if column in columns:
            problems.append(f"{at(ckey)}: {entity}.{column} is mapped twice")
            continue
        src = parse_source(cval, at(ckey), optional=layer == "optional")
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
                sub = f"{path}.{node_value(key)}" if path else str(node_value(key))
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
    top = {node_value(k): v for k, v in root.value}
    given = node_value(top["system"]) if "system" in top else None
    if given != system:
        problems.append(f"{top_where}: map is for system {given!r}, expected {system!r}")
    entities = top.get("entities")
    if not isinstance(entities, yaml.MappingNode):
        problems.append(f"{top_where}: 'entities' must be a mapping of entity name to its map")
        return
    for key, body in entities.value:
        entity = node_value(key)
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
        parts = {node_value(k): (k, v) for k, v in body.value}
        obj = node_value(parts["object"][1]) if "object" in parts else None
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
    top = {node_value(k): v for k, v in root.value} if isinstance(root, yaml.MappingNode) else {}
    system = node_value(top["system"]) if "system" in top else None
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
            bad = check_column(entity, column, f"{where}.{column}")
            if bad:
                problems.append(bad)
                continue
            node = yaml.compose(yaml.safe_dump(spec))
            # a column the user maps is required unless they say optional: a typo must not pass quietly
            src = (
                parse_source(node, f"{where}.{column}", optional=False)
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
            bad = check_constant(entity, column, src) if src.is_constant else None
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
        mark_personal(entity, [c for c, s in emap.columns.items() if s.personal])
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
