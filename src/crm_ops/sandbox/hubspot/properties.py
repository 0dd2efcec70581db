"""CRM v3 properties: each object type's property definitions, HubSpot's default ones at real size."""

from __future__ import annotations

from typing import Any

from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.hubspot.common import JSON, HsError, HubSpotState
from crm_ops.sandbox.objects import HsProperty


class PropertyHandlers(HubSpotState):
    """Property definitions (listed once per type, then cached)."""

    _property_lists: dict[str, list[dict[str, Any]]]

    def list_properties(self, request: Request, object_type: str) -> Response:
        """GET the object's property definitions."""
        obj, _ = self._object(object_type)
        listed = self._property_lists.get(obj.name)
        if listed is None:
            listed = self._property_lists[obj.name] = [
                self._property(p, i) for i, p in enumerate(obj.properties)
            ]
        return Response.json(200, {"results": listed}, JSON)

    def get_property(self, request: Request, object_type: str, name: str) -> Response:
        """GET one property definition."""
        obj, _ = self._object(object_type)
        prop = obj.by_name.get(name)
        if prop is None:
            raise HsError(404, "OBJECT_NOT_FOUND", f"property {name} does not exist")
        return Response.json(200, self._property(prop, obj.properties.index(prop)), JSON)

    @staticmethod
    def _property(p: HsProperty, order: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "updatedAt": "2024-01-01T00:00:00.000Z",
            "createdAt": "2019-08-06T02:41:46.048Z" if p.hubspot_defined else "2023-03-14T09:12:30.211Z",
            "name": p.name,
            "label": p.label,
            "type": p.type,
            "fieldType": p.field_type,
            "description": "",
            "groupName": p.group,
            "options": [
                {"label": o, "value": o, "description": "", "displayOrder": i, "hidden": False}
                for i, o in enumerate(p.options)
            ]
            if p.type != "bool"
            else [
                {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
            ],
            "displayOrder": order if p.hubspot_defined else -1,
            "calculated": p.calculated,
            "externalOptions": p.name.startswith("hubspot_owner") or p.name == "hubspot_team_id",
            "hasUniqueValue": False,
            "hidden": p.hidden,
            "hubspotDefined": p.hubspot_defined,
        }
        if p.calculated and p.formula:
            body["calculationFormula"] = p.formula
        if p.type == "number" and ("amount" in p.name or "revenue" in p.name):
            body["showCurrencySymbol"] = True
        body["modificationMetadata"] = {
            "archivable": not p.hubspot_defined,
            "readOnlyDefinition": p.hubspot_defined,
            "readOnlyValue": p.read_only,
        }
        body["formField"] = not p.read_only and p.group in ("contactinformation", "companyinformation")
        body["dataSensitivity"] = "non_sensitive"
        return body
