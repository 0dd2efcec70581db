"""An admin changing the org between two pulls, on both emulators (issue 27): drop, retype, shorten,
hide or add a field, remove a picklist value or a HubSpot option.

Each control changes what the emulator's metadata says, and the emulator then answers as the real
service does:

- Salesforce: a field dropped, or hidden from the integration user by field-level security, is absent
  from ``describe`` and a SOQL query naming it fails ``INVALID_FIELD`` (the two are the same to the
  integration user: FLS hides a field entirely). A retyped, shortened or trimmed picklist field is
  described anew; the stored values stay (as in an org, records keep a removed picklist value).
- HubSpot: an archived property is gone from the properties list (a list or search call naming it
  leaves it out, silently); a hidden one is listed with ``"hidden": true``; an option removed is gone
  from ``options`` (records keep the value).
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from crm_ops.sandbox.hs_objects import HsObject, HsProperty
from crm_ops.sandbox.server import Sandbox
from crm_ops.sandbox.sf_objects import SfField, SfObject


def _sf(box: Sandbox, obj: str) -> tuple[dict[str, SfObject], SfObject]:
    objects = box.salesforce.objects
    assert isinstance(objects, dict), "the emulator's objects are the sandbox's own dict"
    return objects, objects[obj]


def _sf_field(box: Sandbox, obj: str, name: str) -> tuple[dict[str, SfObject], SfObject, SfField]:
    objects, sobject = _sf(box, obj)
    found = sobject.field(name)
    if found is None:
        raise KeyError(f"Salesforce {obj} has no field {name}")
    return objects, sobject, found


def _sf_put(box: Sandbox, obj: str, fields: tuple[SfField, ...]) -> None:
    objects, sobject = _sf(box, obj)
    objects[obj] = replace(sobject, fields=fields)


def sf_drop_field(box: Sandbox, obj: str, name: str) -> None:
    """Delete ``obj.name`` (or hide it from the integration user: FLS answers the same)."""
    _, sobject, found = _sf_field(box, obj, name)
    _sf_put(box, obj, tuple(f for f in sobject.fields if f is not found))


sf_hide_field = sf_drop_field  # field-level security: the integration user no longer sees it


def sf_change_field(box: Sandbox, obj: str, name: str, **changes: object) -> None:
    """Change ``obj.name``'s describe attributes (``type``, ``length``, ``nillable``, ``updateable``,
    ``picklist``... as ``SfField`` names them). A retype keeps the stored values as they are (a
    checkbox made text answers ``false`` as before)."""
    _, sobject, found = _sf_field(box, obj, name)
    changed = replace(found, **changes)  # type: ignore[arg-type]
    _sf_put(box, obj, tuple(changed if f is found else f for f in sobject.fields))


def sf_remove_picklist_value(box: Sandbox, obj: str, name: str, value: str) -> None:
    """Remove ``value`` from ``obj.name``'s picklist (records holding it keep it)."""
    _, _, found = _sf_field(box, obj, name)
    sf_change_field(box, obj, name, picklist=tuple(v for v in found.picklist if v != value))


def sf_add_field(box: Sandbox, obj: str, field: SfField, dtype: pl.DataType | None = None) -> None:
    """Add ``field`` to ``obj`` (its records hold no value yet; ``dtype``: the stored values' type,
    text by default)."""
    _, sobject = _sf(box, obj)
    box.salesforce.store[obj].add_columns({field.name: dtype or pl.String()})
    _sf_put(box, obj, (*sobject.fields, field))


def _hs(box: Sandbox, object_type: str) -> tuple[dict[str, HsObject], HsObject]:
    types = box.hubspot.types
    assert isinstance(types, dict), "the emulator's object types are the sandbox's own dict"
    box.hubspot._property_lists.pop(object_type, None)  # the properties answer is cached per type
    return types, types[object_type]


def _hs_put(box: Sandbox, object_type: str, properties: tuple[HsProperty, ...]) -> None:
    types, obj = _hs(box, object_type)
    types[object_type] = replace(obj, properties=properties)


def _hs_property(box: Sandbox, object_type: str, name: str) -> tuple[HsObject, HsProperty]:
    _, obj = _hs(box, object_type)
    found = obj.by_name.get(name)
    if found is None:
        raise KeyError(f"HubSpot {object_type} has no property {name}")
    return obj, found


def hs_change_property(box: Sandbox, object_type: str, name: str, **changes: object) -> None:
    """Change a property's definition (``type``, ``field_type``, ``options``, ``hidden``...)."""
    obj, found = _hs_property(box, object_type, name)
    changed = replace(found, **changes)  # type: ignore[arg-type]
    _hs_put(box, object_type, tuple(changed if p is found else p for p in obj.properties))


def hs_archive_property(box: Sandbox, object_type: str, name: str) -> None:
    """Archive (delete) a property: gone from the properties list; list calls naming it leave it out."""
    obj, found = _hs_property(box, object_type, name)
    _hs_put(box, object_type, tuple(p for p in obj.properties if p is not found))


def hs_hide_property(box: Sandbox, object_type: str, name: str) -> None:
    """Hide a property (``"hidden": true`` in its definition; its values are still read)."""
    hs_change_property(box, object_type, name, hidden=True)


def hs_remove_option(box: Sandbox, object_type: str, name: str, value: str) -> None:
    """Remove ``value`` from an enumeration property's options (records holding it keep it)."""
    _, found = _hs_property(box, object_type, name)
    hs_change_property(box, object_type, name, options=tuple(o for o in found.options if o != value))


def hs_add_property(box: Sandbox, object_type: str, prop: HsProperty) -> None:
    """Add a property definition (no record holds a value yet)."""
    obj, _ = _hs_property(box, object_type, "hs_object_id")
    _hs_put(box, object_type, (*obj.properties, prop))


def saved(box: Sandbox) -> tuple[dict[str, SfObject], dict[str, HsObject]]:
    """Both emulators' metadata as it is now, for ``restore``."""
    return dict(_sf(box, "Contact")[0]), dict(_hs(box, "contacts")[0])


def restore(box: Sandbox, metadata: tuple[dict[str, SfObject], dict[str, HsObject]]) -> None:
    """Put back the metadata ``saved`` took (every change since undone)."""
    objects, types = _sf(box, "Contact")[0], _hs(box, "contacts")[0]
    objects.clear()
    objects.update(metadata[0])
    types.clear()
    types.update(metadata[1])
    box.hubspot._property_lists.clear()


__all__ = [
    "hs_add_property",
    "hs_archive_property",
    "hs_change_property",
    "hs_hide_property",
    "hs_remove_option",
    "restore",
    "saved",
    "sf_add_field",
    "sf_change_field",
    "sf_drop_field",
    "sf_hide_field",
    "sf_remove_picklist_value",
]
