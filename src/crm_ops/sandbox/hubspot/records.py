"""The record model: wire values parsed into stored types, property validation (HubSpot's v3
VALIDATION_ERROR body), record lookup by id or ``idProperty``, and records rendered as the API sends
them (string values, ``null`` for unset, ``...Z`` times, ``url``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import polars as pl

from crm_ops.sandbox.hubspot.common import BLOCKLISTED, HsError, HubSpotState, email_hash, wire
from crm_ops.sandbox.objects import HsObject, HsProperty
from crm_ops.sandbox.store import Table


def parse_value(prop: HsProperty, raw: Any) -> Any:
    """A wire value (string, number, epoch ms) into the stored type of ``prop``; raises ValueError."""
    if raw is None or raw == "":
        return None
    if prop.type == "number":
        return float(raw)
    if prop.type == "bool":
        return str(raw).lower() == "true"
    if prop.type in ("datetime", "date"):
        text = str(raw)
        if text.lstrip("-").isdigit():
            moment = datetime.fromtimestamp(int(text) / 1000, UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
        return moment.date() if prop.type == "date" else moment.astimezone(UTC)
    if prop.type == "enumeration" and prop.options and str(raw) not in prop.options:
        raise ValueError(f"{raw} was not one of the allowed options: {list(prop.options)}")
    return str(raw)


class RecordModel(HubSpotState):
    """Reading, validating and rendering records, for every handler that touches them."""

    @staticmethod
    def _props(obj: HsObject, asked: list[str] | None) -> list[str]:
        names = list(obj.default_properties) if not asked else [p for p in asked if p in obj.by_name]
        for always in ("hs_object_id", obj.created_property, obj.modified_property):
            if always not in names:
                names.append(always)
        return names

    @staticmethod
    def _asked(values: list[str] | None) -> list[str] | None:
        if not values:
            return None
        return [p.strip() for v in values for p in v.split(",") if p.strip()]

    def _render(self, obj: HsObject, frame: pl.DataFrame, props: list[str]) -> list[dict[str, Any]]:
        cols = [
            "id",
            "archived",
            "archivedAt",
            obj.created_property,
            obj.modified_property,
            *[p for p in props if p != "hs_object_id" and p in frame.columns],
        ]
        out = []
        for row in frame.select(list(dict.fromkeys(cols))).iter_rows(named=True):
            properties = {
                p: (str(row["id"]) if p == "hs_object_id" else wire(row.get(p))) for p in sorted(props)
            }
            record: dict[str, Any] = {
                "id": str(row["id"]),
                "properties": properties,
                "createdAt": wire(row[obj.created_property]),
                "updatedAt": wire(row[obj.modified_property]),
                "archived": bool(row["archived"]),
            }
            if row["archived"]:
                record["archivedAt"] = wire(row["archivedAt"])
            record["url"] = (
                f"https://app.hubspot.com/contacts/{self.portal_id}/record/{obj.object_type_id}/{row['id']}"
            )
            out.append(record)
        return out

    def _row(
        self,
        obj: HsObject,
        table: Table,
        object_id: str,
        id_property: str | None = None,
        *,
        archived: bool = False,
    ) -> int | None:
        if id_property and id_property != "hs_object_id":
            if id_property not in obj.by_name:
                raise HsError(400, "VALIDATION_ERROR", f"Property {id_property} does not exist")
            frame = table.frame()
            if id_property not in frame.columns:
                return None  # a property nothing has written yet matches nothing
            hits = frame.with_row_index("_row").filter(
                (pl.col(id_property).cast(pl.String).str.to_lowercase() == object_id.lower())
                & (pl.col("archived") == archived)
            )
            return int(hits["_row"][0]) if hits.height else None
        if not object_id.isdigit():
            return None
        number = int(object_id)
        if not archived:  # a merged id answers the record it was merged into
            number = self.merged_into.get((obj.name, number), number)
        row = number - obj.id_base
        record = table.row(row) if row >= 0 else None
        if record is None or bool(record["archived"]) != archived:
            return None
        return row

    @staticmethod
    def _columns_for(obj: HsObject, table: Table, values: dict[str, Any]) -> None:
        """Give the table a column for each property written for the first time."""
        table.add_columns(
            {k: obj.by_name[k].dtype for k in values if k in obj.by_name and k not in table.schema}
        )

    def _modified(self, obj: HsObject, now: datetime) -> dict[str, Any]:
        stamp = {obj.modified_property: now, "hs_lastmodifieddate": now}
        return {k: v for k, v in stamp.items() if k in obj.by_name}

    @staticmethod
    def _calculated(
        obj: HsObject, current: Mapping[str, Any] | None, values: Mapping[str, Any]
    ) -> dict[str, Any]:
        """What HubSpot calculates on a save: a line item's amount, quantity x (price less the unit
        discount), when one of those is written."""
        if obj.name != "line_items" or not {"quantity", "price", "discount"} & set(values):
            return {}
        merged = {**(current or {}), **values}
        quantity, price = merged.get("quantity"), merged.get("price")
        if quantity is None or price is None:
            return {}
        return {"amount": round(float(quantity) * (float(price) - float(merged.get("discount") or 0)), 2)}

    def _blocklisted(self, address: Any) -> bool:
        """Whether a GDPR delete blocklisted ``address``: a contact cannot take it again (``gdpr``)."""
        if not isinstance(address, str) or not address.strip():
            return False
        return email_hash(address) in self.gdpr_blocklist

    def _convert(self, obj: HsObject, properties: Any) -> dict[str, Any]:
        if not isinstance(properties, dict):
            raise HsError(400, "VALIDATION_ERROR", "Invalid input JSON: properties must be an object")
        out: dict[str, Any] = {}
        errors = []
        for name, raw in properties.items():
            prop = obj.by_name.get(name)
            if prop is None:
                errors.append(
                    {
                        "isValid": False,
                        "message": f'Property "{name}" does not exist',
                        "error": "PROPERTY_DOESNT_EXIST",
                        "name": name,
                    }
                )
                continue
            if prop.read_only:
                errors.append(
                    {
                        "isValid": False,
                        "message": f"{name} is a read only property; its value cannot be set.",
                        "error": "READ_ONLY_VALUE",
                        "name": name,
                    }
                )
                continue
            if obj.name == "contacts" and name == "email" and self._blocklisted(raw):
                blocked = {"isValid": False, "message": BLOCKLISTED, "error": "INVALID_EMAIL", "name": name}
                errors.append(blocked)
                continue
            try:
                out[name] = parse_value(prop, raw)
            except ValueError as e:
                errors.append(
                    {
                        "isValid": False,
                        "message": f"{raw} is not a valid value for {name}: {e}",
                        "error": "INVALID_OPTION" if prop.type == "enumeration" else "INVALID_VALUE",
                        "name": name,
                    }
                )
        if errors:
            # HubSpot's v3 shape: the validation results JSON-encoded into the message, and one
            # ``{message, code, context.propertyName}`` per problem in ``errors``
            results = [
                {**e, "localizedErrorMessage": e["message"], "portalId": self.portal_id} for e in errors
            ]
            raise HsError(
                400,
                "VALIDATION_ERROR",
                "Property values were not valid: " + json.dumps(results, separators=(",", ":")),
                errors=[
                    {"message": e["message"], "code": e["error"], "context": {"propertyName": [e["name"]]}}
                    for e in errors
                ],
            )
        return out
