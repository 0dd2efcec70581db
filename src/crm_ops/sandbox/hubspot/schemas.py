"""CRM v3 schemas: the portal's custom object types (``GET /crm/v3/schemas``, and one by objectTypeId or
fully qualified name), in the shape HubSpot answers: ids, names, labels, display properties, the
properties and the association definitions."""

from __future__ import annotations

from typing import Any

from crm_ops.sandbox.hs_properties import CUSTOM_OBJECTS
from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.hubspot.common import JSON, HsError, object_named
from crm_ops.sandbox.hubspot.properties import PropertyHandlers
from crm_ops.sandbox.objects import ASSOCIATION_TYPES, HsObject


class SchemaHandlers(PropertyHandlers):
    """The custom object schemas of the portal (standard objects have none here, as in HubSpot)."""

    def list_schemas(self, request: Request) -> Response:
        """GET /crm/v3/schemas: every custom object type."""
        found = [self._schema(o) for o in self.types.values() if o.name in CUSTOM_OBJECTS]
        return Response.json(200, {"results": found}, JSON)

    def get_schema(self, request: Request, object_type: str) -> Response:
        """GET /crm/v3/schemas/{objectTypeId or fully qualified name}."""
        obj = object_named(self.types, object_type, self.portal_id)
        if obj is None or obj.name not in CUSTOM_OBJECTS:
            raise HsError(404, "OBJECT_NOT_FOUND", f"Unable to find object type {object_type}")
        return Response.json(200, self._schema(obj), JSON)

    def _schema(self, obj: HsObject) -> dict[str, Any]:
        singular, plural, display = CUSTOM_OBJECTS[obj.name]
        short = obj.name.removeprefix("p_")
        type_ids = {o.name: o.object_type_id for o in self.types.values()}
        associations = [
            {
                "fromObjectTypeId": obj.object_type_id,
                "toObjectTypeId": type_ids[to],
                "name": f"{short}_to_{to}",
                "id": str(type_id),
                "createdAt": "2023-03-14T09:12:31.004Z",
                "updatedAt": "2023-03-14T09:12:31.004Z",
            }
            for (frm, to), type_id in ASSOCIATION_TYPES.items()
            if frm == obj.name and to in type_ids
        ]
        return {
            "id": obj.object_type_id.removeprefix("2-"),
            "objectTypeId": obj.object_type_id,
            "name": short,
            "fullyQualifiedName": f"p{self.portal_id}_{short}",
            "labels": {"singular": singular, "plural": plural},
            "primaryDisplayProperty": display,
            "secondaryDisplayProperties": [],
            "requiredProperties": [display],
            "searchableProperties": [display],
            "properties": [self._property(p, i) for i, p in enumerate(obj.properties)],
            "associations": associations,
            "metaType": "PORTAL_SPECIFIC",
            "archived": False,
            "createdAt": "2023-03-14T09:12:30.211Z",
            "updatedAt": "2023-03-14T09:12:31.004Z",
        }
