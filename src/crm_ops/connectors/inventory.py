"""What an org holds beyond what crm_ops maps: its objects, how many records each has, and which entity
of the profile's maps (shipped or declared in ``object_maps``) reads each one (``crm-ops doctor``).

Salesforce: describe global's custom objects and the standard objects worth keeping sound (activities,
cases, campaigns, products, quotes, contracts, assets), counted by ``/limits/recordCount``. HubSpot: the
standard object types, then the portal's custom object types (``/crm/v3/schemas``), each counted by a
search's total; a type the portal does not have (or the private app may not read) is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from crm_ops.connectors.hubspot import HubSpotConnector
from crm_ops.connectors.salesforce import SalesforceConnector
from crm_ops.errors import ApiError

SALESFORCE_STANDARD = (
    "Account", "Contact", "Lead", "Opportunity", "OpportunityContactRole", "User", "Task", "Event", "Case",
    "Campaign", "CampaignMember", "Product2", "PricebookEntry", "OpportunityLineItem", "Quote", "Contract",
    "Asset",
)  # fmt: skip
HUBSPOT_STANDARD = (
    "contacts", "companies", "deals", "tickets", "products", "line_items", "quotes", "calls", "emails",
    "meetings", "notes", "tasks",
)  # fmt: skip


@dataclass(frozen=True)
class OrgObject:
    """One object of an org: its API name (HubSpot custom types: ``p_<name>``, with ``type_id``), label,
    whether an admin made it, how many records it holds (None: the count was refused) and the entity of
    the profile's maps that reads it (None: not mapped)."""

    system: str
    name: str
    label: str
    custom: bool
    records: int | None
    entity: str | None
    type_id: str | None = None


def _mapped(objects: Mapping[str, str], *names: str) -> str | None:
    return next((objects[n.lower()] for n in names if n and n.lower() in objects), None)


def salesforce_inventory(conn: SalesforceConnector) -> list[OrgObject]:
    """The org's custom objects and notable standard ones, with record counts and their entity."""
    mapped = {conn.fmap.entity(e).object.lower(): e for e in conn.entities()}
    described = [
        o
        for o in conn.org_objects()
        if o.get("queryable", True)
        and (o.get("custom") or o["name"] in SALESFORCE_STANDARD or o["name"].lower() in mapped)
        and not o.get("customSetting")
    ]
    counts = conn.record_counts([str(o["name"]) for o in described])
    return [
        OrgObject(
            "salesforce",
            str(o["name"]),
            str(o.get("label") or o["name"]),
            bool(o.get("custom")),
            counts.get(str(o["name"])),
            _mapped(mapped, str(o["name"])),
        )
        for o in described
    ]


def hubspot_inventory(conn: HubSpotConnector) -> list[OrgObject]:
    """The portal's standard and custom object types it lets the app read, with counts and their entity."""
    mapped = {conn.fmap.entity(e).object.lower(): e for e in conn.entities()}
    out = []
    for name in HUBSPOT_STANDARD:
        try:
            records = conn.record_count(name)
        except ApiError:
            continue  # not in this portal, or not readable by the app: nothing to list
        label = name.replace("_", " ").capitalize()
        out.append(OrgObject("hubspot", name, label, False, records, _mapped(mapped, name)))
    for schema in conn.custom_object_types():
        short = str(schema.get("name") or "")
        type_id = str(schema.get("objectTypeId") or "")
        qualified = str(schema.get("fullyQualifiedName") or "")
        try:
            count: int | None = conn.record_count(type_id or qualified)
        except ApiError:
            count = None  # the app lacks crm.objects.custom.read: listed, not counted
        label = str((schema.get("labels") or {}).get("plural") or short)
        entity = _mapped(mapped, f"p_{short}", type_id, qualified)
        out.append(OrgObject("hubspot", f"p_{short}", label, True, count, entity, type_id or None))
    return out
