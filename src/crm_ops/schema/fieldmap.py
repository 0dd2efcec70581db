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

This module holds the maps' model (``Source``, ``EntityMap``, ``FieldMap``) and the CRMs' types; loading
them from YAML is ``crm_ops.schema.maploading`` (``load_map``, ``load_object_map``), turning raw CRM
frames into canonical ones ``crm_ops.schema.mapapply`` (``apply``, ``convert``).

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

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from crm_ops.errors import ConfigError
from crm_ops.schema.entities import (
    BOOL,
    COMMON,
    DATE,
    ENTITIES,
    FLOAT,
    INT,
    STR,
    TIME,
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
    personal: bool = False  # the map marks it personal data (``personal: true``; issue 31)

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
