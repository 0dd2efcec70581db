"""Metadata: ``GET /sobjects`` (describe global), ``/sobjects/X`` and ``/sobjects/X/describe`` with
every field's attributes as a real describe gives them."""

from __future__ import annotations

from typing import Any

from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.objects import SfField, SfObject
from crm_ops.sandbox.salesforce.common import JSON, SalesforceState
from crm_ops.sandbox.sf_objects import label_of


class DescribeHandlers(SalesforceState):
    """Describe global, object summaries and full describes."""

    def describe_global(self, request: Request, version: str) -> Response:
        """GET /sobjects: one summary per object."""
        return Response.json(
            200,
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [self._summary(o, version) for o in self.objects.values()],
            },
            JSON,
        )

    def _summary(self, o: SfObject, version: str) -> dict[str, Any]:
        base = f"/services/data/{version}/sobjects/{o.name}"
        flags = dict.fromkeys(
            (
                "createable",
                "deletable",
                "layoutable",
                "queryable",
                "replicateable",
                "retrieveable",
                "searchable",
                "triggerable",
                "updateable",
                "feedEnabled",
                "mruEnabled",
            ),
            True,
        )
        return {
            "activateable": False,
            "associateEntityType": None,
            "associateParentEntity": None,
            "custom": o.name.endswith("__c"),
            "customSetting": False,
            "deepCloneable": False,
            "deprecatedAndHidden": False,
            "hasSubtypes": False,
            "isInterface": False,
            "isSubtype": False,
            "keyPrefix": o.key_prefix,
            "label": o.label,
            "labelPlural": o.label_plural or o.label + "s",
            "mergeable": o.name in ("Account", "Contact", "Lead", "Case"),
            "name": o.name,
            "undeletable": o.soft_delete,
            **flags,
            "urls": {"rowTemplate": f"{base}/{{ID}}", "describe": f"{base}/describe", "sobject": base},
        }

    def sobject_info(self, request: Request, version: str, name: str) -> Response:
        """GET /sobjects/X: the object's summary."""
        obj = self._object(name)
        if obj is None:
            return self._bad_object(name)
        return Response.json(200, {"objectDescribe": self._summary(obj, version), "recentItems": []}, JSON)

    def describe(self, request: Request, version: str, name: str) -> Response:
        """GET /sobjects/X/describe: the object and every field's metadata."""
        obj = self._object(name)
        if obj is None:
            return self._bad_object(name)
        body = self._summary(obj, version)
        master = "012000000000000AAA"
        body.update(
            childRelationships=[
                {
                    "cascadeDelete": cascade,
                    "childSObject": child,
                    "deprecatedAndHidden": False,
                    "field": fld,
                    "junctionIdListNames": [],
                    "junctionReferenceTo": [],
                    "relationshipName": rel,
                    "restrictedDelete": False,
                }
                for child, fld, rel, cascade in obj.children
            ],
            recordTypeInfos=[
                {
                    "active": True,
                    "available": True,
                    "defaultRecordTypeMapping": True,
                    "developerName": "Master",
                    "master": True,
                    "name": "Master",
                    "recordTypeId": master,
                    "urls": {
                        "layout": f"/services/data/{version}/sobjects/{obj.name}/describe/layouts/{master}"
                    },
                }
            ],
            supportedScopes=[
                {"label": f"All {obj.label_plural.lower()}", "name": "everything"},
                {"label": f"My {obj.label_plural.lower()}", "name": "mine"},
            ]
            if obj.field("OwnerId") is not None
            else [{"label": f"All {obj.label_plural.lower()}", "name": "everything"}],
            actionOverrides=[],
            namedLayoutInfos=[],
            compactLayoutable=True,
            listviewable=None,
            lookupLayoutable=None,
            networkScopeFieldName=None,
            searchLayoutable=True,
            sobjectDescribeOption="FULL",
        )
        body["fields"] = [_describe_field(obj, f) for f in obj.fields]
        return Response.json(200, body, JSON)


def _describe_field(obj: SfObject, f: SfField) -> dict[str, Any]:
    """One field's describe entry, attribute for attribute as a real describe gives it."""
    numeric = f.type in ("currency", "double", "percent")
    long_text = f.type == "textarea" and f.length > 255
    byte_length = f.length if f.type in ("id", "reference") else f.length * 3
    precision, scale = {
        "currency": (18, 2),
        "percent": (3, 0),
        "double": (18, 15 if "itude" in f.name else 2),
    }.get(f.type, (0, 0))
    return {
        "aggregatable": f.type != "address" and not long_text,
        "autoNumber": False,
        "byteLength": byte_length,
        "calculated": f.calculated,
        "calculatedFormula": f.formula,
        "cascadeDelete": False,
        "caseSensitive": False,
        "compoundFieldName": f.compound,
        "controllerName": None,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": False if f.type == "boolean" and not f.name.startswith("IsDeleted") else None,
        "defaultValueFormula": None,
        "defaultedOnCreate": f.defaulted_on_create,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 8 if f.type == "int" else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": f.custom and f.name.endswith("_Id__c"),
        "extraTypeInfo": f.extra_type_info
        or ("plaintextarea" if f.type == "textarea" and f.length <= 255 else None)
        or ("richtextarea" if long_text and f.name == "AboutMe" else "plaintextarea" if long_text else None),
        "filterable": f.type != "address" and not long_text,
        "filteredLookupInfo": None,
        "groupable": f.type not in ("address", "datetime") and not numeric and not long_text,
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": f.name in ("Id", "Email", "Username", "CommunityNickname", "FederationIdentifier"),
        "inlineHelpText": None,
        "label": f.label or label_of(f.name),
        "length": f.length,
        "mask": None,
        "maskType": None,
        "name": f.name,
        "nameField": f.name == "Name",
        "namePointing": f.polymorphic,
        "nillable": f.nillable,
        "permissionable": f.nillable and f.updateable and not f.calculated,
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
            for v in f.picklist
        ],
        "polymorphicForeignKey": f.polymorphic,
        "precision": precision,
        "queryByDistance": f.type == "address",
        "referenceTargetField": None,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": f.restricted_picklist,
        "scale": scale,
        "searchPrefilterable": f.type == "reference" and not f.polymorphic and f.name != "MasterRecordId",
        "soapType": f.soap_type,
        "sortable": f.type != "address" and not long_text,
        "type": f.type,
        "unique": f.name in ("Username", "CommunityNickname"),
        "updateable": f.updateable,
        "writeRequiresMasterRead": False,
    }
