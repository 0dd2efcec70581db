"""sObject records: GET/POST/PATCH/DELETE ``/sobjects/X/{id}``, and the REST rendering of records
(``attributes`` first, explicit nulls, ``+0000`` datetimes, nested parent fields, compound addresses)
that queries share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from crm_ops.sandbox import soql
from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.objects import SfField, SfObject, sf_row
from crm_ops.sandbox.salesforce.common import JSON, SF_DATETIME, SalesforceState, error, json_object
from crm_ops.sandbox.sfwrite import SaveError, Writer


class RecordHandlers(SalesforceState):
    """One record at a time."""

    def get_record(self, request: Request, version: str, name: str, record_id: str) -> Response:
        """GET /sobjects/X/{id}: every field, or those in ``fields``."""
        obj = self._object(name)
        if obj is None:
            return self._bad_object(name)
        row = sf_row(record_id, obj.key_prefix)
        record = self.store[obj.name].row(row) if row is not None else None
        if record is None or record.get("IsDeleted"):
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        names: list[str] = []
        for asked in (request.arg("fields") or "").split(","):
            if not asked.strip():
                continue
            f = obj.field(asked.strip())
            if f is None:
                return error(
                    400, "INVALID_FIELD", f"No such column '{asked.strip()}' on sobject of type {obj.name}"
                )
            names.append(f.name)
        assert row is not None
        frame = self.store[obj.name].rows([row])
        fields = tuple(names) or tuple(f.name for f in obj.fields)
        return Response.json(200, render_records(self.objects, obj, frame, fields, version)[0], JSON)

    def create_record(self, request: Request, version: str, name: str) -> Response:
        """POST /sobjects/X: create one record; 201 with its id."""
        obj = self._object(name)
        if obj is None:
            return self._bad_object(name)
        body = json_object(request)
        if isinstance(body, Response):
            return body
        try:
            new_id = Writer(obj, self.store[obj.name], self.store.tables, self.user_id).insert(
                body, self.now()
            )
        except SaveError as e:
            return Response.json(
                400,
                [{"message": e.message, "errorCode": e.status_code, "fields": list(e.fields), **e.extra}],
                JSON,
            )
        response = Response.json(201, {"id": new_id, "success": True, "errors": []}, JSON)
        response.headers["Location"] = f"/services/data/{version}/sobjects/{obj.name}/{new_id}"
        return response

    def update_record(self, request: Request, version: str, name: str, record_id: str) -> Response:
        """PATCH /sobjects/X/{id}: 204 with no body."""
        obj = self._object(name)
        if obj is None:
            return self._bad_object(name)
        body = json_object(request)
        if isinstance(body, Response):
            return body
        writer = Writer(
            obj, self.store[obj.name], self.store.tables, self.user_id, self._guard(request, version)
        )
        located = writer.locate(record_id)
        if isinstance(located, SaveError):
            return error(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {record_id}"
                if located.status_code == "MALFORMED_ID"
                else "The requested resource does not exist",
            )
        try:
            writer.update(record_id, body, self.now())
        except SaveError as e:
            return Response.json(
                400,
                [{"message": e.message, "errorCode": e.status_code, "fields": list(e.fields), **e.extra}],
                JSON,
            )
        return Response(204)

    def delete_record(self, request: Request, version: str, name: str, record_id: str) -> Response:
        """DELETE /sobjects/X/{id}: soft delete (to the recycle bin, with what it reaches: ``sfrecycle``),
        204."""
        obj = self._object(name)
        if obj is None:
            return self._bad_object(name)
        try:
            now = self.now()
            Writer(obj, self.store[obj.name], self.store.tables, self.user_id).delete(record_id, now)
            self.recycle.deleted(obj, [record_id], now)
        except SaveError as e:
            if e.status_code in ("MALFORMED_ID", "INVALID_CROSS_REFERENCE_KEY", "ENTITY_IS_DELETED"):
                return error(404, "NOT_FOUND", "The requested resource does not exist")
            return error(400, e.status_code, e.message)
        return Response(204)


def _address(prefix: str) -> str:
    return "" if prefix == "Address" else prefix.removesuffix("Address")


def _address_value(obj: SfObject, f: SfField, row: dict[str, Any]) -> dict[str, Any] | None:
    prefix = _address(f.name)
    parts = {
        "city": row.get(f"{prefix}City"),
        "country": row.get(f"{prefix}Country"),
        "geocodeAccuracy": row.get(f"{prefix}GeocodeAccuracy"),
        "latitude": row.get(f"{prefix}Latitude"),
        "longitude": row.get(f"{prefix}Longitude"),
        "postalCode": row.get(f"{prefix}PostalCode"),
        "state": row.get(f"{prefix}State"),
        "street": row.get(f"{prefix}Street"),
    }
    return parts if any(v is not None for v in parts.values()) else None


def render_records(
    objects: Mapping[str, SfObject], obj: SfObject, frame: pl.DataFrame, fields: tuple[str, ...], version: str
) -> list[dict[str, Any]]:
    """Records as the REST API answers them: ``attributes`` first, then every asked field, explicit
    nulls, ``+0000`` datetimes, whole doubles as integers, parent fields nested."""
    formatted = frame.with_columns(
        [pl.col(c).dt.strftime(SF_DATETIME) for c, t in frame.schema.items() if isinstance(t, pl.Datetime)]
        + [pl.col(c).dt.strftime("%Y-%m-%d") for c, t in frame.schema.items() if isinstance(t, pl.Date)]
    )
    floats = [c for c, t in frame.schema.items() if t == pl.Float64]
    out = []
    for row in formatted.iter_rows(named=True):
        for c in floats:
            v = row[c]
            if v is not None and float(v).is_integer():
                row[c] = int(v)
        record: dict[str, Any] = {
            "attributes": {
                "type": obj.name,
                "url": f"/services/data/{version}/sobjects/{obj.name}/{row['Id']}",
            }
        }
        for name in fields:
            rel, dot, sub = name.partition(".")
            if dot:
                _nest(objects, record, obj, rel, sub, row, version)
                continue
            f = obj.field(name)
            if f is not None and f.type == "address":
                record[name] = _address_value(obj, f, row)
            else:
                record[name] = row[name]
        out.append(record)
    return out


def _nest(
    objects: Mapping[str, SfObject],
    record: dict[str, Any],
    obj: SfObject,
    rel: str,
    sub: str,
    row: dict[str, Any],
    version: str,
) -> None:
    """A parent field as the REST API answers it: ``"Owner": {"attributes": {...}, "Email": ...}``,
    or ``"Owner": null`` when the lookup is empty."""
    parent_id = row.get(soql.relation_id(rel))
    if parent_id is None:
        record[rel] = None
        return
    nested = record.get(rel)
    if nested is None:
        lookup = obj.lookup(rel)
        assert lookup is not None
        target = next(t for t in lookup.reference_to if t in objects)
        nested = record[rel] = {
            "attributes": {
                "type": target,
                "url": f"/services/data/{version}/sobjects/{target}/{parent_id}",
            }
        }
    nested[sub] = row[f"{rel}.{sub}"]
