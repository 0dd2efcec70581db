"""An org's field metadata in one compact, normalised form, the same for both CRMs (issue 27).

The connectors fetch Salesforce's describe and HubSpot's properties answer to type the columns they
pull; they also keep, per field, what a later pull compares to notice the org changing under the tool
(``crm_ops.monitors.schema``): its type, length, whether a value is required, the picklist's active
values, whether the integration user may create or update it, whether it is hidden, calculated or
unique. Nothing else of the answer is kept (no labels, no help text, no secrets: metadata holds none).

A field's entry keeps only what differs from the defaults (``DEFAULTS``), so a state file holds a few
kilobytes per object and version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from crm_ops.schema.fieldmap import FieldMap

# what an entry means when it leaves a key out
DEFAULTS: dict[str, Any] = {
    "type": "string",
    "length": 0,
    "required": False,
    "picklist": [],
    "updateable": True,
    "createable": True,
    "hidden": False,
    "calculated": False,
    "unique": False,
}

FieldMeta = dict[str, Any]
ObjectMeta = dict[str, FieldMeta]  # field name -> its compact entry


def _compact(entry: Mapping[str, Any]) -> FieldMeta:
    return {k: v for k, v in entry.items() if DEFAULTS.get(k, object()) != v}


def full(entry: Mapping[str, Any]) -> FieldMeta:
    """A compact entry with every key the defaults give filled in."""
    return {**DEFAULTS, **entry}


def salesforce_field(raw: Mapping[str, Any]) -> FieldMeta:
    """One field of a Salesforce describe (``fields[]``), compact."""
    createable = bool(raw.get("createable", True))
    return _compact(
        {
            "type": raw.get("type", "string"),
            "length": int(raw.get("length") or 0),
            # a value must be given on create: not nillable, createable and not defaulted by the org
            "required": not raw.get("nillable", True) and createable and not raw.get("defaultedOnCreate"),
            "picklist": [p["value"] for p in raw.get("picklistValues") or [] if p.get("active", True)],
            "updateable": bool(raw.get("updateable", True)),
            "createable": createable,
            "calculated": bool(raw.get("calculated")),
            "unique": bool(raw.get("unique")),
        }
    )


def hubspot_property(raw: Mapping[str, Any]) -> FieldMeta:
    """One property of HubSpot's properties answer (``results[]``), compact. HubSpot has no length
    (a text property holds 65,536 characters) and no required flag on the API's side."""
    options = [] if raw.get("type") == "bool" else raw.get("options") or []
    modification = raw.get("modificationMetadata") or {}
    return _compact(
        {
            "type": raw.get("type", "string"),
            "field_type": raw.get("fieldType", ""),
            "picklist": [o["value"] for o in options if not o.get("hidden")],
            "updateable": not modification.get("readOnlyValue", False),
            "hidden": bool(raw.get("hidden")) or bool(raw.get("archived")),
            "calculated": bool(raw.get("calculated")),
            "unique": bool(raw.get("hasUniqueValue")),
        }
    )


@runtime_checkable
class DescribesOrg(Protocol):
    """A connector that keeps the org's field metadata of the objects it reads."""

    system: str
    fmap: FieldMap

    def org_metadata(self, entity: str) -> ObjectMeta:
        """The fields of the object behind ``entity`` as the org describes them now, compact."""
        ...


__all__ = [
    "DEFAULTS",
    "DescribesOrg",
    "FieldMeta",
    "ObjectMeta",
    "full",
    "hubspot_property",
    "salesforce_field",
]
