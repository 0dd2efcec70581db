"""The emulated HubSpot objects: their properties (built from ``hs_properties``), per org.

The ``crm_ops`` org (the default) has HubSpot's Salesforce-integration properties (``salesforcecontactid``
and the rest of the ``salesforceinformation`` group); the ``plain`` org has none of them.
Only the properties the generator fills are columns in the store (``stored``); every other one
answers null until something writes it, and then the store adds its column.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import polars as pl

from crm_ops.sandbox import hs_properties as data

_KINDS = {
    "s": ("string", "text"),
    "t": ("string", "textarea"),
    "p": ("string", "phonenumber"),
    "n": ("number", "number"),
    "dt": ("datetime", "date"),
    "d": ("date", "date"),
    "b": ("bool", "booleancheckbox"),
    "e": ("enumeration", "select"),
    "r": ("enumeration", "radio"),
    "c": ("enumeration", "checkbox"),
}
_STAGE_FAMILIES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "lifecycle": (
        ("hs_lifecyclestage_{}_date", "dt", "Became a {} Date"),
        ("hs_date_entered_{}", "dt", "Date entered '{}'"),
        ("hs_date_exited_{}", "dt", "Date exited '{}'"),
        ("hs_time_in_{}", "n", "Time in '{}'"),
        ("hs_v2_date_entered_{}", "dt", "Date entered '{}' (v2)"),
        ("hs_v2_date_exited_{}", "dt", "Date exited '{}' (v2)"),
        ("hs_v2_latest_time_in_{}", "n", "Latest time in '{}'"),
        ("hs_v2_cumulative_time_in_{}", "n", "Cumulative time in '{}'"),
    ),
}
# deal stages have the lifecycle families but the first (HubSpot has no 'became a ... date' for them)
_STAGE_FAMILIES["deal_stage"] = _STAGE_FAMILIES["lifecycle"][1:]
ORGS = ("crm_ops", "plain")


@dataclass(frozen=True)
class HsProperty:
    """One HubSpot property as the properties API reports it."""

    name: str
    type: str  # string | number | datetime | date | enumeration | bool
    field_type: str  # text | number | date | select | radio | checkbox | booleancheckbox | ...
    label: str
    group: str = "contactinformation"
    options: tuple[str, ...] = ()
    read_only: bool = False
    calculated: bool = False
    stored: bool = True
    formula: str | None = None
    hubspot_defined: bool = True
    hidden: bool = False  # hidden in HubSpot's UI (the API still reads and writes it)

    @property
    def dtype(self) -> pl.DataType:
        """The polars type the store keeps this property's values in."""
        return {
            "number": pl.Float64(),
            "datetime": pl.Datetime("ms", "UTC"),
            "date": pl.Date(),
            "bool": pl.Boolean(),
        }.get(self.type, pl.String())


@dataclass(frozen=True)
class HsObject:
    """One HubSpot CRM object type: its name, id range and properties."""

    name: str
    object_type_id: str
    id_base: int
    properties: tuple[HsProperty, ...]
    modified_property: str = "hs_lastmodifieddate"
    created_property: str = "createdate"  # a custom object type's is hs_createdate
    by_name: dict[str, HsProperty] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.properties})

    def schema(self) -> dict[str, pl.DataType]:
        """The polars schema of this object's table: ``id``, the stored properties, and archive state."""
        cols: dict[str, pl.DataType] = {"id": pl.Int64()}
        cols.update({p.name: p.dtype for p in self.properties if p.stored and p.name != "hs_object_id"})
        cols["archived"] = pl.Boolean()
        cols["archivedAt"] = pl.Datetime("ms", "UTC")
        return cols

    @property
    def default_properties(self) -> tuple[str, ...]:
        """What a list or read returns when no ``properties`` are asked for (as HubSpot does)."""
        return _DEFAULT_PROPERTIES[self.name]


def _label(name: str) -> str:
    words = name.removeprefix("hs_").replace("_", " ")
    return words[:1].upper() + words[1:]


def _parse(text: str, *, hubspot_defined: bool = True) -> list[HsProperty]:
    out: list[HsProperty] = []
    group = "contactinformation"
    for raw in text.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1]
            continue
        if line.startswith("@stages"):
            key = line.split()[1]
            for pattern, kind, label in _STAGE_FAMILIES[key]:
                for stage in data.OPTIONS[key]:
                    type_, field_type = _KINDS[kind]
                    name = pattern.format(stage)
                    out.append(
                        HsProperty(
                            name,
                            type_,
                            field_type,
                            label.format(stage),
                            group,
                            read_only=True,
                            calculated=True,
                            stored=False,
                            formula=f"stage_timestamp({key}, {stage})",
                            hubspot_defined=hubspot_defined,
                        )
                    )
            continue
        name, *rest = line.split()
        kind = rest[0] if rest and "=" not in rest[0] and rest[0] not in ("ro", "calc", "stored") else "s"
        flags = rest[1:] if rest and rest[0] == kind else rest
        code, _, options = kind.partition(":")
        type_, field_type = _KINDS[code]
        label = next((f[6:].replace("_", " ") for f in flags if f.startswith("label=")), _label(name))
        calc = "calc" in flags
        out.append(
            HsProperty(
                name,
                type_,
                field_type,
                label,
                group,
                options=data.OPTIONS[options] if options else (),
                read_only="ro" in flags or calc,
                calculated=calc,
                stored="stored" in flags,
                formula=data.FORMULAS.get(name) if calc else None,
                hubspot_defined=hubspot_defined,
            )
        )
    return out


_IDS = {
    "contacts": ("0-1", 100_000_000),
    "companies": ("0-2", 200_000_000),
    "deals": ("0-3", 300_000_000),
    "tickets": ("0-5", 500_000_000),
    # a custom object type: "2-" and an id the portal assigns; its fully qualified name is p<portal>_<name>
    "p_subscriptions": ("2-7353817", 400_000_000),
    # engagements (activities)
    "tasks": ("0-27", 600_000_000),
    "calls": ("0-48", 700_000_000),
    "emails": ("0-49", 640_000_000),
    "meetings": ("0-47", 660_000_000),
    "notes": ("0-46", 680_000_000),
    # the product library and line items (commerce)
    "products": ("0-7", 800_000_000),
    "line_items": ("0-8", 900_000_000),
    "quotes": ("0-14", 1_000_000_000),
}
ENGAGEMENTS = ("tasks", "calls", "emails", "meetings", "notes")


@functools.cache
def hubspot_objects(org: str = "crm_ops") -> dict[str, HsObject]:
    """Every emulated object type of ``org`` with its full property list."""
    if org not in ORGS:
        raise ValueError(f"unknown org {org!r}; expected one of {', '.join(ORGS)}")
    objects = {}
    for name, text in data.TEXT.items():
        props = _parse(text)
        if org == "crm_ops":
            props += _parse(data._SALESFORCE.get(name, ""))
        props += _parse(data.CUSTOM[name], hubspot_defined=False)
        unique = {p.name: p for p in reversed(props)}  # the first definition of a name wins
        ordered = tuple(unique[p.name] for p in props if unique[p.name] is p)
        type_id, base = _IDS[name]
        modified = "lastmodifieddate" if name == "contacts" else "hs_lastmodifieddate"
        own_createdate = type_id.startswith("2-") or name in ENGAGEMENTS or name == "quotes"
        created = "hs_createdate" if own_createdate else "createdate"
        objects[name] = HsObject(
            name, type_id, base, ordered, modified_property=modified, created_property=created
        )
    return objects


HUBSPOT_OBJECTS: dict[str, HsObject] = hubspot_objects("crm_ops")
LIFECYCLE_STAGES = data.OPTIONS["lifecycle"]
HS_LEAD_STATUSES = data.OPTIONS["lead_status"]
DEAL_STAGES: dict[str, tuple[float, bool, bool]] = {
    # stage id: (probability, is closed, is won), the default sales pipeline
    "appointmentscheduled": (0.2, False, False),
    "qualifiedtobuy": (0.4, False, False),
    "presentationscheduled": (0.6, False, False),
    "decisionmakerboughtin": (0.8, False, False),
    "contractsent": (0.9, False, False),
    "closedwon": (1.0, True, True),
    "closedlost": (0.0, True, False),
}


_DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "p_subscriptions": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
    "tickets": (
        "content",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hs_pipeline",
        "hs_pipeline_stage",
        "hs_ticket_category",
        "hs_ticket_priority",
        "subject",
    ),
    "tasks": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id", "hs_task_subject", "hs_timestamp"),
    "calls": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id", "hs_call_title", "hs_timestamp"),
    "emails": ("hs_createdate", "hs_email_subject", "hs_lastmodifieddate", "hs_object_id", "hs_timestamp"),
    "meetings": ("hs_createdate", "hs_lastmodifieddate", "hs_meeting_title", "hs_object_id", "hs_timestamp"),
    "notes": ("hs_createdate", "hs_lastmodifieddate", "hs_note_body", "hs_object_id", "hs_timestamp"),
    "products": ("createdate", "description", "hs_lastmodifieddate", "hs_object_id", "name", "price"),
    "line_items": (
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hs_product_id",
        "name",
        "price",
        "quantity",
    ),
    "quotes": ("hs_createdate", "hs_expiration_date", "hs_lastmodifieddate", "hs_object_id", "hs_title"),
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
}

# Association type ids of the v4 API (HUBSPOT_DEFINED category), by (from, to).
ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
    ("tickets", "contacts"): 16,
    ("contacts", "tickets"): 15,
    ("tickets", "companies"): 339,
    ("companies", "tickets"): 340,
    # a custom object's association definitions get ids of their own (USER_DEFINED in the schema)
    ("p_subscriptions", "companies"): 71,
    ("companies", "p_subscriptions"): 72,
    # engagements: HUBSPOT_DEFINED ids
    ("tasks", "contacts"): 204,
    ("contacts", "tasks"): 203,
    ("tasks", "companies"): 192,
    ("companies", "tasks"): 191,
    ("calls", "contacts"): 194,
    ("contacts", "calls"): 193,
    ("calls", "companies"): 182,
    ("companies", "calls"): 181,
    ("emails", "contacts"): 198,
    ("contacts", "emails"): 197,
    ("emails", "companies"): 186,
    ("companies", "emails"): 185,
    ("emails", "deals"): 210,
    ("deals", "emails"): 209,
    ("meetings", "contacts"): 200,
    ("contacts", "meetings"): 199,
    ("meetings", "companies"): 188,
    ("companies", "meetings"): 187,
    ("meetings", "deals"): 212,
    ("deals", "meetings"): 211,
    ("notes", "contacts"): 202,
    ("contacts", "notes"): 201,
    ("notes", "companies"): 190,
    ("companies", "notes"): 189,
    ("notes", "deals"): 214,
    ("deals", "notes"): 213,
    # line items on deals (a line item belongs to one deal)
    ("line_items", "deals"): 20,
    ("deals", "line_items"): 19,
    # quotes on deals
    ("quotes", "deals"): 64,
    ("deals", "quotes"): 63,
}
PRIMARY_ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 1,
    ("companies", "contacts"): 2,
    ("deals", "companies"): 5,
    ("companies", "deals"): 6,
}
OWNERS_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "email": pl.String(),
    "firstName": pl.String(),
    "lastName": pl.String(),
    "userId": pl.Int64(),
    "createdAt": pl.Datetime("ms", "UTC"),
    "updatedAt": pl.Datetime("ms", "UTC"),
    "archived": pl.Boolean(),
}
