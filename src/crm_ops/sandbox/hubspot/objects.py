"""CRM v3 objects: list, get, create, update, archive and the batch read/create/update/archive calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.hubspot.associations import associated
from crm_ops.sandbox.hubspot.channels import address_holders
from crm_ops.sandbox.hubspot.common import JSON, HsError, iso
from crm_ops.sandbox.hubspot.records import RecordModel
from crm_ops.sandbox.objects import HsObject
from crm_ops.sandbox.store import Table

MAX_LIST = 100


class ObjectHandlers(RecordModel):
    """One object or a batch of them."""

    def list_objects(self, request: Request, object_type: str) -> Response:
        """GET a page of objects, ordered by id."""
        obj, table = self._object(object_type)
        limit = self._limit(request.arg("limit"), 10, MAX_LIST)
        archived = (request.arg("archived") or "false").lower() == "true"
        after = request.arg("after")
        start = int(after) if after and after.isdigit() else 0
        frame = table.frame()
        row0 = max(0, start - obj.id_base)
        # Look at a window after the cursor, not the whole table: a page costs the same at row 10 or 1M.
        window = 2 * (limit + 1)
        while True:
            shown = (pl.col("archived") == archived) & ~pl.int_range(row0, row0 + pl.len()).is_in(
                sorted(table.unseen)
            )
            page = frame.slice(row0, window).filter(shown).head(limit + 1)
            if page.height > limit or row0 + window >= frame.height:
                break
            window *= 4
        props = self._props(obj, self._asked(request.query.get("properties")))
        results = self._render(obj, page.head(limit), props)
        wanted = self._asked(request.query.get("associations"))
        if wanted:
            for record in results:
                assoc = {}
                for target in wanted:
                    ids = associated(self.associations, obj.name, target, [int(record["id"])]).get(
                        int(record["id"]), []
                    )
                    if ids:
                        assoc[target] = {
                            "results": [
                                {"id": str(t), "type": f"{obj.name[:-1]}_to_{target[:-1]}"} for t, _ in ids
                            ]
                        }
                if assoc:
                    record["associations"] = assoc
        body: dict[str, Any] = {"results": results}
        if page.height > limit:
            nxt = str(page["id"][limit])
            body["paging"] = {
                "next": {"after": nxt, "link": f"{self.base_url}/crm/v3/objects/{obj.name}?after={nxt}"}
            }
        return Response.json(200, body, JSON)

    def get_object(self, request: Request, object_type: str, object_id: str) -> Response:
        """GET one object by id (or by ``idProperty``)."""
        obj, table = self._object(object_type)
        archived = (request.arg("archived") or "false").lower() == "true"
        row = self._row(obj, table, object_id, request.arg("idProperty"), archived=archived)
        if row is None:
            return Response(404, b"", {"Content-Type": JSON})
        props = self._props(obj, self._asked(request.query.get("properties")))
        return Response.json(200, self._render(obj, table.rows([row]), props)[0], JSON)

    def _create(self, obj: HsObject, table: Table, properties: Any) -> int:
        values = self._convert(obj, properties)
        values |= self._calculated(obj, None, values)
        self._columns_for(obj, table, values)
        if obj.name == "contacts" and values.get("email"):
            held = address_holders(table, [str(values["email"])])
            if held:
                (existing,) = list(held.values())[:1]
                raise HsError(409, "CONFLICT", f"Contact already exists. Existing ID: {existing}")
        now = self.now()
        record = {
            **values,
            "id": obj.id_base + len(table),
            obj.created_property: now,
            **self._modified(obj, now),
            "archived": False,
            "archivedAt": None,
        }
        with self._create_lock:
            record["id"] = obj.id_base + len(table)
            return table.append({k: v for k, v in record.items() if k in table.schema})

    def create_object(self, request: Request, object_type: str) -> Response:
        """POST one object: 201 with the new record."""
        obj, table = self._object(object_type)
        row = self._create(obj, table, self._body(request).get("properties", {}))
        props = self._props(obj, None)
        return Response.json(201, self._render(obj, table.rows([row]), props)[0], JSON)

    def batch_create(self, request: Request, object_type: str) -> Response:
        """POST batch/create: up to 100 new objects (all validated before any is written)."""
        obj, table = self._object(object_type)
        started = self.now()
        inputs = self._batch_inputs(self._body(request))
        for item in inputs:
            self._convert(obj, item.get("properties", {}))
        rows = [self._create(obj, table, item.get("properties", {})) for item in inputs]
        reply = self._batch_reply(self._render(obj, table.rows(rows), self._props(obj, None)), [], started)
        reply.status = 201
        return reply

    def update_object(self, request: Request, object_type: str, object_id: str) -> Response:
        """PATCH one object's properties."""
        obj, table = self._object(object_type)
        body = self._body(request)
        values = self._convert(obj, body.get("properties", {}))
        row = self._row(obj, table, object_id, request.arg("idProperty"))
        if row is None:
            raise HsError(404, "OBJECT_NOT_FOUND", f"resource not found: {object_id}")
        now = self.now()
        values |= self._calculated(obj, table.row(row), values)
        self._columns_for(obj, table, values)
        table.update(row, {**values, **self._modified(obj, now)})
        return Response.json(
            200, self._render(obj, table.rows([row]), self._props(obj, list(values)))[0], JSON
        )

    def archive_object(self, request: Request, object_type: str, object_id: str) -> Response:
        """DELETE (archive) one object: 204."""
        obj, table = self._object(object_type)
        row = self._row(obj, table, object_id)
        if row is not None:
            now = self.now()
            table.update(row, {"archived": True, "archivedAt": now, **self._modified(obj, now)})
        return Response(204)

    def _batch_reply(self, results: list[dict[str, Any]], missing: list[str], started: datetime) -> Response:
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": iso(started),
            "completedAt": iso(self.now()),
        }
        if missing:
            body["numErrors"] = 1
            body["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some {objectType} objects, they may be deleted or not "
                    "exist. Check that ids are valid.",
                    "context": {"ids": missing},
                }
            ]
            return Response.json(207, body, JSON)
        return Response.json(200, body, JSON)

    def batch_read(self, request: Request, object_type: str) -> Response:
        """POST batch/read: up to 100 objects by id (or ``idProperty``)."""
        obj, table = self._object(object_type)
        started = self.now()
        body = self._body(request)
        inputs = self._batch_inputs(body)
        # ``archived`` is a query parameter of HubSpot's batch read (the client sends it there)
        archived = bool(body.get("archived", False)) or (request.arg("archived") or "").lower() == "true"
        rows, missing = [], []
        for item in inputs:
            row = self._row(obj, table, str(item.get("id", "")), body.get("idProperty"), archived=archived)
            (rows.append(row) if row is not None else missing.append(str(item.get("id"))))
        props = self._props(obj, body.get("properties") or None)
        return self._batch_reply(self._render(obj, table.rows(rows), props) if rows else [], missing, started)

    def batch_update(self, request: Request, object_type: str) -> Response:
        """POST batch/update: up to 100 updates; 207 with errors when some ids are unknown."""
        obj, table = self._object(object_type)
        started = self.now()
        inputs = self._batch_inputs(self._body(request))
        planned, missing = [], []
        for item in inputs:
            values = self._convert(obj, item.get("properties", {}))
            row = self._row(obj, table, str(item.get("id", "")), item.get("idProperty"))
            (planned.append((row, values)) if row is not None else missing.append(str(item.get("id"))))
        now = self.now()
        for row, given in planned:
            values = given | self._calculated(obj, table.row(row), given)
            self._columns_for(obj, table, values)
            table.update(row, {**values, **self._modified(obj, now)})
        names = sorted({k for _, v in planned for k in v})
        results = (
            self._render(obj, table.rows([r for r, _ in planned]), self._props(obj, names)) if planned else []
        )
        return self._batch_reply(results, missing, started)

    def batch_archive(self, request: Request, object_type: str) -> Response:
        """POST batch/archive: 204, no body."""
        obj, table = self._object(object_type)
        inputs = self._batch_inputs(self._body(request))
        now = self.now()
        for item in inputs:
            row = self._row(obj, table, str(item.get("id", "")))
            if row is not None:
                table.update(row, {"archived": True, "archivedAt": now, **self._modified(obj, now)})
        return Response(204)
