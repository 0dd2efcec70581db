"""``/composite/sobjects``: up to 200 creates, updates or deletes in one call, SaveResults in request
order, ``allOrNone`` rolling every row back when one fails."""

from __future__ import annotations

from typing import Any

from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.salesforce.common import JSON, MAX_COMPOSITE, SalesforceState, error, json_object
from crm_ops.sandbox.sfwrite import SaveError, Writer


class CompositeHandlers(SalesforceState):
    """The sObject collections resource."""

    def composite_update(self, request: Request, version: str) -> Response:
        """PATCH /composite/sobjects: up to 200 updates, SaveResults in request order."""
        return self._composite(request, version, update=True)

    def composite_create(self, request: Request, version: str) -> Response:
        """POST /composite/sobjects: up to 200 inserts."""
        return self._composite(request, version, update=False)

    def _composite(self, request: Request, version: str, *, update: bool) -> Response:
        body = json_object(request)
        if isinstance(body, Response):
            return body
        records = body.get("records")
        if not isinstance(records, list):
            return error(
                400,
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of SObject[] from request body: records",
            )
        if len(records) > MAX_COMPOSITE:
            return error(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_COMPOSITE} records into this call",
            )
        all_or_none = bool(body.get("allOrNone", False))
        guard = self._guard(request, version)
        plans: list[tuple[Writer | None, dict[str, Any], SaveError | None]] = []
        for rec in records:
            obj_name = (rec.get("attributes") or {}).get("type") if isinstance(rec, dict) else None
            obj = self._object(obj_name) if isinstance(obj_name, str) else None
            if obj is None or not isinstance(rec, dict):
                plans.append(
                    (None, {}, SaveError("INVALID_TYPE", "sObject type is missing or not supported"))
                )
                continue
            writer = Writer(obj, self.store[obj.name], self.store.tables, self.user_id, guard)
            values = {k: v for k, v in rec.items() if k not in ("attributes", "id", "Id")}
            rid = rec.get("id", rec.get("Id"))
            problem: SaveError | None
            if update:
                problem = writer.validate_update(rid, values)
            else:
                try:
                    writer.convert(values, from_csv=False, creating=True)
                    problem = None
                except SaveError as e:
                    problem = e
            plans.append((writer, {"id": rid, **values}, problem))
        failed = any(p is not None for _, _, p in plans)
        now = self.now()
        results: list[dict[str, Any]] = []
        for maybe_writer, values, problem in plans:
            if problem is not None:
                results.append({"success": False, "errors": [problem.as_json()]})
            elif all_or_none and failed:
                results.append(
                    {
                        "success": False,
                        "errors": [
                            SaveError(
                                "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                "Record rolled back because not all records were valid and the request was "
                                "using AllOrNone header",
                            ).as_json()
                        ],
                    }
                )
            else:
                assert maybe_writer is not None
                writer = maybe_writer
                rid = values.pop("id")
                try:
                    new_id = (
                        writer.update(rid, values, now, guarded=False)
                        if update
                        else writer.insert(values, now)
                    )
                    results.append({"id": new_id, "success": True, "errors": []})
                except SaveError as e:
                    results.append({"success": False, "errors": [e.as_json()]})
        return Response.json(200, results, JSON)

    def composite_delete(self, request: Request, version: str) -> Response:
        """DELETE /composite/sobjects?ids=...[&allOrNone=true]: up to 200 soft deletes (to the recycle
        bin, with what each reaches: ``sfrecycle``), SaveResults in request order; with ``allOrNone`` one
        refusal deletes nothing and the others answer ALL_OR_NONE_OPERATION_ROLLED_BACK."""
        ids = [i for i in (request.arg("ids") or "").split(",") if i]
        if len(ids) > MAX_COMPOSITE:
            return error(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_COMPOSITE} records into this call",
            )
        all_or_none = (request.arg("allOrNone") or "false").lower() == "true"
        writers: list[Writer | SaveError] = []
        for rid in ids:
            obj = next((o for o in self.objects.values() if rid.startswith(o.key_prefix)), None)
            if obj is None or obj.name not in self.store:
                writers.append(SaveError("MALFORMED_ID", f"malformed id {rid}"))
                continue
            writer = Writer(obj, self.store[obj.name], self.store.tables, self.user_id)
            located = writer.locate(rid)
            writers.append(located if isinstance(located, SaveError) else writer)
        refused = any(isinstance(w, SaveError) for w in writers)
        now = self.now()
        results: list[dict[str, Any]] = []
        done: dict[str, tuple[Any, list[str]]] = {}
        for rid, writer_or_error in zip(ids, writers, strict=True):
            try:
                if isinstance(writer_or_error, SaveError):
                    raise writer_or_error
                if all_or_none and refused:
                    raise SaveError(
                        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                        "Record rolled back because not all records were valid and the request was using "
                        "AllOrNone header",
                    )
                writer_or_error.delete(rid, now)
                done.setdefault(writer_or_error.obj.name, (writer_or_error.obj, []))[1].append(rid)
                results.append({"id": rid, "success": True, "errors": []})
            except SaveError as e:
                results.append({"success": False, "errors": [e.as_json()]})
        for obj, deleted in done.values():
            self.recycle.deleted(obj, deleted, now)
        return Response.json(200, results, JSON)
