"""SOQL over REST: ``/query`` and ``/queryAll`` (paging by ``nextRecordsUrl``, ``Sforce-Query-Options:
batchSize``, COUNT() and COUNT(Id)), and the query execution the Bulk API shares."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import polars as pl

from crm_ops.sandbox import soql
from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.objects import SfObject
from crm_ops.sandbox.salesforce.common import JSON, MAX_CURSORS, SalesforceState, error
from crm_ops.sandbox.salesforce.records import render_records
from crm_ops.sandbox.store import Store


@dataclass
class Cursor:
    """A query's result held for its next pages."""

    frame: pl.DataFrame
    obj: SfObject
    fields: tuple[str, ...]


class QueryHandlers(SalesforceState):
    """Query cursors and their pages."""

    _cursors: OrderedDict[str, Cursor]

    def query(self, request: Request, version: str) -> Response:
        """GET /query?q=: the first page of a SOQL query's live records."""
        return self._run_query(request, version, include_deleted=False)

    def query_all(self, request: Request, version: str) -> Response:
        """GET /queryAll?q=: like query, deleted records included."""
        return self._run_query(request, version, include_deleted=True)

    def _run_query(self, request: Request, version: str, *, include_deleted: bool) -> Response:
        text = request.arg("q")
        if not text:
            return error(400, "MALFORMED_QUERY", "A query string must be provided.")
        try:
            q = soql.parse(text, self.objects)
        except soql.SoqlError as e:
            return error(400, e.error_code, e.message)
        obj = self.objects[q.object_name]
        batch = _batch_size(request, self.limits.default_batch_size)
        if isinstance(batch, Response):
            return batch
        frame = execute(q, obj, self.store, self.now(), include_deleted=include_deleted)
        if q.count == "rows":
            return Response.json(
                200, {"totalSize": int(frame["count"][0]), "done": True, "records": []}, JSON
            )
        if q.count == "field":
            records = [{"attributes": {"type": "AggregateResult"}, "expr0": int(frame["count"][0])}]
            return Response.json(200, {"totalSize": 1, "done": True, "records": records}, JSON)
        cursor = Cursor(frame, obj, q.fields)
        return self._page(cursor, 0, batch, version, new=True)

    def _page(self, cursor: Cursor, offset: int, batch: int, version: str, *, new: bool) -> Response:
        total = cursor.frame.height
        end = min(total, offset + batch)
        body: dict[str, Any] = {"totalSize": total, "done": end >= total}
        if end < total:
            with self._lock:
                locator = f"01g8d{next(self._ids):010d}"
                self._cursors[locator] = cursor
                while len(self._cursors) > MAX_CURSORS:
                    self._cursors.popitem(last=False)
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{end}"
        body["records"] = render_records(
            self.objects, cursor.obj, cursor.frame.slice(offset, end - offset), cursor.fields, version
        )
        return Response.json(200, body, JSON)

    def query_more(self, request: Request, version: str, locator: str) -> Response:
        """GET /query/{locator}-{offset}: the next page of a cursor."""
        key, _, offset = locator.rpartition("-")
        with self._lock:
            cursor = self._cursors.get(key)
        if cursor is None or not offset.isdigit():
            return error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        batch = _batch_size(request, self.limits.default_batch_size)
        if isinstance(batch, Response):
            return batch
        return self._page(cursor, int(offset), batch, version, new=False)


def _batch_size(request: Request, default: int) -> int | Response:
    options = request.headers.get("Sforce-Query-Options", "")
    for part in options.split(","):
        key, _, value = part.strip().partition("=")
        if key.lower() == "batchsize":
            if not value.isdigit():
                return error(400, "INVALID_BATCH_SIZE", f"Invalid batch size: {value}")
            # Salesforce treats batchSize as a hint between 200 and 2,000.
            return min(2000, max(200, int(value)))
    return default


def execute(
    q: soql.SoqlQuery, obj: SfObject, store: Store, now: datetime, *, include_deleted: bool
) -> pl.DataFrame:
    """Run a parsed query on the store; compound (address) fields become their stored parts."""
    parts: list[str] = []
    for name in q.fields:
        f = obj.field(name)
        if f is not None and f.type == "address":
            parts += [g.name for g in obj.fields if g.compound == f.name and g.name not in q.fields]
    stored = tuple(n for n in q.fields if (f := obj.field(n)) is None or f.type != "address")
    executable = replace(q, fields=stored + tuple(parts))
    return soql.execute(
        executable,
        store[obj.name].visible(),
        now,
        include_deleted=include_deleted,
        related=lambda name: store[name].visible(),
    )
