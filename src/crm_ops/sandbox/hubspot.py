"""The HubSpot CRM v3 API emulator (plus v4 association batch reads).

Answers in the shapes of the recorded real responses (shared/fixtures/recorded/hubspot): string ids and
property values, ``null`` for unset, ``...123Z`` times, no ``paging`` key on a last page, search paging
``{"next":{"after":"200"}}``, 204 without a body on archive, 207 when a batch partly fails, and the
429 RATE_LIMITS body when the 10-second or per-second window is spent. Searches compile their filter
groups into one polars expression, so they stay fast on a million records.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from crm_ops.sandbox.http import App, ErrorResponseError, FaultInjector, Request, Response, Router
from crm_ops.sandbox.objects import (
    ASSOCIATION_TYPES,
    HUBSPOT_OBJECTS,
    PRIMARY_ASSOCIATION_TYPES,
    HsObject,
    HsProperty,
)
from crm_ops.sandbox.store import Store, Table

JSON = "application/json;charset=utf-8"
PORTAL_ID = 123456789
MAX_LIST = 100
MAX_SEARCH = 200
SEARCH_CAP = 10_000
MAX_BATCH = 100
MAX_ASSOC_BATCH = 1000
_OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}


@dataclass(frozen=True)
class HubSpotLimits:
    """The private app's rate limits the emulator enforces."""

    per_ten_seconds: int = 190
    search_per_second: int = 5
    daily: int = 1_000_000


def _now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """HubSpot's v3 time format: milliseconds and Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def wire(value: Any) -> str | None:
    """A stored value as HubSpot sends it: always a string (or null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class HsError(ErrorResponseError):
    """A HubSpot error response to send."""

    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.category, self.message, self.extra = status, category, message, extra

    def response(self) -> Response:
        """The error as HubSpot's JSON body."""
        body = {
            "status": "error",
            "message": self.message,
            "correlationId": str(uuid.uuid4()),
            "category": self.category,
            **self.extra,
        }
        return Response.json(self.status, body, JSON)


def _parse_value(prop: HsProperty, raw: Any) -> Any:
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


class HubSpotApp(App):
    """Routes and state of the HubSpot emulator; serve it with ``http.Server``."""

    def __init__(
        self,
        objects: Store,
        owners: Table,
        associations: dict[tuple[str, str], Table],
        *,
        token: str,
        faults: FaultInjector,
        limits: HubSpotLimits | None = None,
        now: Callable[[], datetime] = _now,
        types: Mapping[str, HsObject] | None = None,
    ) -> None:
        self.objects = objects
        # the portal's object types and their properties (the org's: see ``hs_objects``)
        self.types = HUBSPOT_OBJECTS if types is None else types
        self._property_lists: dict[str, list[dict[str, Any]]] = {}
        self.owners = owners
        self.associations = associations
        self.token = token
        self.faults = faults
        self.limits = limits or HubSpotLimits()
        self.now = now
        self.base_url = "http://127.0.0.1"
        self.calls_today = 0
        self._window: deque[float] = deque()
        self._search_window: deque[float] = deque()
        self._lock = threading.Lock()
        self._create_lock = threading.Lock()
        self.router = Router()
        r, o = self.router.add, "/crm/v3/objects/{object_type}"
        r("GET", o, self.list_objects)
        r("POST", o, self.create_object)
        r("POST", f"{o}/batch/create", self.batch_create)
        r("POST", f"{o}/search", self.search)
        r("POST", f"{o}/batch/read", self.batch_read)
        r("POST", f"{o}/batch/update", self.batch_update)
        r("POST", f"{o}/batch/archive", self.batch_archive)
        r("POST", f"{o}/merge", self.merge)
        r("GET", f"{o}/{{object_id}}", self.get_object)
        r("PATCH", f"{o}/{{object_id}}", self.update_object)
        r("DELETE", f"{o}/{{object_id}}", self.archive_object)
        r("GET", "/crm/v3/properties/{object_type}", self.list_properties)
        r("GET", "/crm/v3/properties/{object_type}/{name}", self.get_property)
        r("GET", "/crm/v3/owners", self.list_owners)
        r("GET", "/account-info/v3/details", self.account_details)
        r("GET", "/crm/v3/owners/{owner_id}", self.get_owner)
        r("POST", "/crm/v4/associations/{from_type}/{to_type}/batch/read", self.association_batch_read)
        r(
            "POST",
            "/crm/v4/associations/{from_type}/{to_type}/batch/associate/default",
            self.association_batch_default,
        )
        r("POST", "/crm/v4/associations/{from_type}/{to_type}/batch/archive", self.association_batch_archive)
        r("GET", "/crm/v4/objects/{from_type}/{object_id}/associations/{to_type}", self.object_associations)

    # ---------------------------------------------------------------- hooks

    def before(self, request: Request) -> Response | None:
        """Bearer auth, then the daily, 10-second and (for search) per-second windows."""
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:].strip() != self.token:
            return HsError(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
                "you can find more details at https://developers.hubspot.com/docs/methods/auth/"
                "oauth-overview",
            ).response()
        moment = time.monotonic()
        is_search = request.path.endswith("/search")
        with self._lock:
            if self.calls_today >= self.limits.daily:
                return HsError(
                    429,
                    "RATE_LIMITS",
                    "You have reached your daily limit.",
                    errorType="RATE_LIMIT",
                    policyName="DAILY",
                ).response()
            while self._window and moment - self._window[0] >= 10:
                self._window.popleft()
            while self._search_window and moment - self._search_window[0] >= 1:
                self._search_window.popleft()
            if is_search and len(self._search_window) >= self.limits.search_per_second:
                return self._limited("secondly", "SECONDLY", search=True)
            if not is_search and len(self._window) >= self.limits.per_ten_seconds:
                return self._limited("ten secondly rolling", "TEN_SECONDLY_ROLLING", search=False)
            self.calls_today += 1
            (self._search_window if is_search else self._window).append(moment)
        return None

    def _limited(self, wording: str, policy: str, *, search: bool) -> Response:
        response = HsError(
            429,
            "RATE_LIMITS",
            f"You have reached your {wording} limit.",
            errorType="RATE_LIMIT",
            policyName=policy,
        ).response()
        self._rate_headers(response, search=search)
        return response

    def _rate_headers(self, response: Response, *, search: bool) -> None:
        h = response.headers
        h["X-HubSpot-RateLimit-Daily"] = str(self.limits.daily)
        h["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, self.limits.daily - self.calls_today))
        if not search:
            per_second = max(1, self.limits.per_ten_seconds // 10)
            recent = sum(1 for t in self._window if time.monotonic() - t < 1)
            h["X-HubSpot-RateLimit-Interval-Milliseconds"] = "10000"
            h["X-HubSpot-RateLimit-Max"] = str(self.limits.per_ten_seconds)
            h["X-HubSpot-RateLimit-Remaining"] = str(max(0, self.limits.per_ten_seconds - len(self._window)))
            h["X-HubSpot-RateLimit-Secondly"] = str(per_second)
            h["X-HubSpot-RateLimit-Secondly-Remaining"] = str(max(0, per_second - recent))

    def after(self, request: Request, response: Response) -> None:
        """Rate-limit headers on every answer (search answers carry only the daily pair, as recorded)."""
        with self._lock:
            self._rate_headers(response, search=request.path.endswith("/search"))
        response.headers["X-HubSpot-Correlation-Id"] = str(uuid.uuid4())

    def fault_response(self, kind: str) -> Response:
        """An injected 429 (RATE_LIMITS) or 502/503."""
        if kind == "429":
            return HsError(
                429,
                "RATE_LIMITS",
                "You have reached your ten secondly rolling limit.",
                errorType="RATE_LIMIT",
                policyName="TEN_SECONDLY_ROLLING",
            ).response()
        return HsError(503, "SERVICE_UNAVAILABLE", "Service Unavailable").response()

    def not_found(self, request: Request) -> Response:
        """Unknown path."""
        return HsError(404, "OBJECT_NOT_FOUND", f"Resource not found: {request.path}").response()

    def method_not_allowed(self, request: Request) -> Response:
        """Known path, wrong method."""
        return HsError(
            405, "VALIDATION_ERROR", f"HTTP {request.method} is not supported by this endpoint"
        ).response()

    def internal_error(self, request: Request, error: BaseException) -> Response:
        """An emulator bug: HubSpot's generic 500."""
        return HsError(500, "INTERNAL_ERROR", "internal error").response()

    def handle(self, request: Request) -> Response | None:
        """Serve a request, turning an ``HsError`` raised anywhere into its response."""
        try:
            return super().handle(request)
        except HsError as error:
            return error.response()

    # ---------------------------------------------------------------- helpers

    def _object(self, object_type: str) -> tuple[HsObject, Table]:
        obj = self.types.get(object_type.lower())
        if obj is None or obj.name not in self.objects:
            raise HsError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
        return obj, self.objects[obj.name]

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        try:
            body = request.json()
        except ValueError:
            raise HsError(
                400, "VALIDATION_ERROR", "Invalid input JSON on line 1: the request body is not valid JSON"
            ) from None
        if not isinstance(body, dict):
            raise HsError(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object")
        return body

    @staticmethod
    def _props(obj: HsObject, asked: list[str] | None) -> list[str]:
        names = list(obj.default_properties) if not asked else [p for p in asked if p in obj.by_name]
        for always in ("hs_object_id", "createdate", obj.modified_property):
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
            "createdate",
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
                "createdAt": wire(row["createdate"]),
                "updatedAt": wire(row[obj.modified_property]),
                "archived": bool(row["archived"]),
            }
            if row["archived"]:
                record["archivedAt"] = wire(row["archivedAt"])
            record["url"] = (
                f"https://app.hubspot.com/contacts/{PORTAL_ID}/record/{obj.object_type_id}/{row['id']}"
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
        row = int(object_id) - obj.id_base
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
            try:
                out[name] = _parse_value(prop, raw)
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
            results = [{**e, "localizedErrorMessage": e["message"], "portalId": PORTAL_ID} for e in errors]
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

    # ---------------------------------------------------------------- objects

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
            page = frame.slice(row0, window).filter(pl.col("archived") == archived).head(limit + 1)
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
                    ids = self._associated(obj.name, target, [int(record["id"])]).get(int(record["id"]), [])
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

    @staticmethod
    def _limit(raw: str | int | None, default: int, maximum: int) -> int:
        if raw is None:
            return default
        try:
            limit = int(raw)
        except (TypeError, ValueError):
            raise HsError(400, "VALIDATION_ERROR", f"limit must be a number, got {raw}") from None
        if not 1 <= limit <= maximum:
            raise HsError(400, "VALIDATION_ERROR", f"limit must be between 1 and {maximum}, got {limit}")
        return limit

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
        self._columns_for(obj, table, values)
        now = self.now()
        record = {
            **values,
            "id": obj.id_base + len(table),
            "createdate": now,
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

    def _batch_inputs(self, body: dict[str, Any], maximum: int = MAX_BATCH) -> list[dict[str, Any]]:
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise HsError(400, "VALIDATION_ERROR", "Invalid input JSON: inputs must be a list of objects")
        if len(inputs) > maximum:
            raise HsError(
                400, "VALIDATION_ERROR", f"Batch input limit is {maximum}, got {len(inputs)} inputs"
            )
        return inputs

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
        archived = bool(body.get("archived", False))
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
        for row, values in planned:
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

    def merge(self, request: Request, object_type: str) -> Response:
        """POST merge: the primary keeps its id and fills its empty properties from the merged object."""
        obj, table = self._object(object_type)
        body = self._body(request)
        primary_id, merged_id = str(body.get("primaryObjectId", "")), str(body.get("objectIdToMerge", ""))
        primary, merged = self._row(obj, table, primary_id), self._row(obj, table, merged_id)
        if primary is None or merged is None or primary == merged:
            raise HsError(400, "VALIDATION_ERROR", f"Cannot merge {merged_id} into {primary_id}")
        now = self.now()
        with table.lock:
            p, m = table.row(primary), table.row(merged)
            assert p is not None
            assert m is not None
            fill = {
                k: v
                for k, v in m.items()
                if k in obj.by_name and p.get(k) is None and v is not None and not obj.by_name[k].read_only
            }
            merged_ids = ";".join(x for x in (p.get("hs_merged_object_ids"), merged_id) if x)
            table.update(primary, {**fill, "hs_merged_object_ids": merged_ids, **self._modified(obj, now)})
            table.update(merged, {"archived": True, "archivedAt": now})
        for (frm, to), assoc in self.associations.items():
            for column, other in (("from_id", frm), ("to_id", to)):
                if other != obj.name:
                    continue
                frame = assoc.frame()
                kind = PRIMARY_ASSOCIATION_TYPES.get((frm, to))
                if column == "from_id" and kind is not None:
                    # the primary record keeps its own primary link; the merged one's becomes a plain link
                    has_primary = frame.filter(
                        (pl.col("from_id") == int(primary_id)) & (pl.col("type_id") == kind)
                    )
                    if has_primary.height:
                        frame = frame.filter(
                            ~((pl.col("from_id") == int(merged_id)) & (pl.col("type_id") == kind))
                        )
                moved = frame.with_columns(
                    pl.when(pl.col(column) == int(merged_id))
                    .then(int(primary_id))
                    .otherwise(pl.col(column))
                    .alias(column)
                ).unique(maintain_order=True)
                assoc.replace(moved)
        return Response.json(200, self._render(obj, table.rows([primary]), self._props(obj, None))[0], JSON)

    # ---------------------------------------------------------------- search

    def search(self, request: Request, object_type: str) -> Response:
        """POST search: filterGroups (OR of ANDs), sorts, paging by offset, the 10,000-result cap."""
        obj, table = self._object(object_type)
        body = self._body(request)
        limit = self._limit(body.get("limit"), 10, MAX_SEARCH)
        after_raw = body.get("after") or 0
        try:
            offset = int(after_raw)
        except (TypeError, ValueError):
            raise HsError(400, "VALIDATION_ERROR", f"after must be a number, got {after_raw}") from None
        if offset + limit > SEARCH_CAP:
            raise HsError(
                400,
                "VALIDATION_ERROR",
                f"There was a problem with the request. The maximum number of results that can be "
                f"paged through by search is {SEARCH_CAP}; use filters to narrow the results.",
            )
        expr = self._filter(obj, body.get("filterGroups") or [])
        lazy = table.frame().lazy().filter(~pl.col("archived"))
        named = {
            f.get("propertyName")
            for g in body.get("filterGroups") or []
            if isinstance(g, dict)
            for f in g.get("filters") or []
            if isinstance(f, dict)
        }
        named |= {
            (s.get("propertyName") if isinstance(s, dict) else str(s).lstrip("-"))
            for s in body.get("sorts") or []
        }
        absent = [
            obj.by_name[n]
            for n in named
            if n in obj.by_name and n not in table.schema and n != "hs_object_id"
        ]
        lazy = lazy.with_columns(pl.lit(None, dtype=p.dtype).alias(p.name) for p in absent)
        if expr is not None:
            lazy = lazy.filter(expr)
        sorts = body.get("sorts") or []
        by, desc = [], []
        for s in sorts:
            name, direction = (
                (s.get("propertyName"), s.get("direction", "ASCENDING"))
                if isinstance(s, dict)
                else (str(s).lstrip("-"), "DESCENDING" if str(s).startswith("-") else "ASCENDING")
            )
            column = "id" if name == "hs_object_id" else name
            if column not in obj.by_name and column != "id":
                raise HsError(400, "VALIDATION_ERROR", f"Cannot sort on unknown property {name}")
            by.append(column)
            desc.append(direction == "DESCENDING")
        by.append("id")
        desc.append(False)
        matches = lazy.sort(by, descending=desc, nulls_last=True)
        total = int(matches.select(pl.len()).collect().item())
        page = matches.slice(offset, limit).collect()
        props = self._props(obj, body.get("properties") or None)
        out: dict[str, Any] = {"total": total, "results": self._render(obj, page, props)}
        if offset + limit < total:
            out["paging"] = {"next": {"after": str(offset + limit)}}
        return Response.json(200, out, JSON)

    def _filter(self, obj: HsObject, groups: Any) -> pl.Expr | None:
        if not isinstance(groups, list) or len(groups) > 5:
            raise HsError(400, "VALIDATION_ERROR", "filterGroups: at most 5 groups are allowed")
        total = sum(len(g.get("filters", [])) for g in groups if isinstance(g, dict))
        if total > 18:
            raise HsError(400, "VALIDATION_ERROR", f"at most 18 filters are allowed in all, got {total}")
        ors = []
        for group in groups:
            filters = group.get("filters", []) if isinstance(group, dict) else None
            if not isinstance(filters, list) or len(filters) > 6:
                raise HsError(400, "VALIDATION_ERROR", "each filter group holds at most 6 filters")
            ands = [self._one_filter(obj, f) for f in filters]
            if ands:
                expr = ands[0]
                for e in ands[1:]:
                    expr = expr & e
                ors.append(expr)
        if not ors:
            return None
        out = ors[0]
        for e in ors[1:]:
            out = out | e
        return out

    def _one_filter(self, obj: HsObject, f: Any) -> pl.Expr:
        if not isinstance(f, dict):
            raise HsError(400, "VALIDATION_ERROR", "a filter must be an object")
        name, op = f.get("propertyName"), f.get("operator")
        if op not in _OPERATORS:
            raise HsError(
                400, "VALIDATION_ERROR", f"Unknown operator {op}; expected one of {sorted(_OPERATORS)}"
            )
        if name == "hs_object_id":
            prop = HsProperty("id", "number", "number", "Record ID")
            col = pl.col("id").cast(pl.Float64)
        else:
            found = obj.by_name.get(str(name))
            if found is None:
                raise HsError(
                    400,
                    "VALIDATION_ERROR",
                    f"There was a problem with the request: property {name} does not exist",
                )
            prop, col = found, pl.col(found.name)
        if op == "HAS_PROPERTY":
            return col.is_not_null()
        if op == "NOT_HAS_PROPERTY":
            return col.is_null()

        def value(raw: Any) -> Any:
            try:
                parsed = (
                    _parse_value(prop, raw)
                    if prop.type != "enumeration"
                    else (None if raw is None else str(raw))
                )
            except ValueError as e:
                raise HsError(400, "VALIDATION_ERROR", f"invalid value {raw!r} for {name}: {e}") from None
            return parsed

        text = prop.type in ("string", "enumeration")
        if op in ("IN", "NOT_IN"):
            values = f.get("values")
            if not isinstance(values, list):
                raise HsError(400, "VALIDATION_ERROR", f"{op} needs a list of values")
            parsed = [value(v) for v in values]
            if text:
                member = col.str.to_lowercase().is_in([str(v).lower() for v in parsed])
            else:
                member = col.is_in(
                    pl.Series(parsed, dtype=prop.dtype if name != "hs_object_id" else pl.Float64)
                )
            return member.fill_null(False) if op == "IN" else (~member).fill_null(True)
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            token = str(f.get("value", "")).lower().replace("*", "")
            hit = col.cast(pl.String).str.to_lowercase().str.contains(token, literal=True).fill_null(False)
            return hit if op == "CONTAINS_TOKEN" else ~hit
        if op == "BETWEEN":
            lo, hi = value(f.get("value")), value(f.get("highValue"))
            between: pl.Expr = ((col >= lo) & (col <= hi)).fill_null(False)
            return between
        v = value(f.get("value"))
        if text and op in ("EQ", "NEQ"):
            col, v = col.str.to_lowercase(), (None if v is None else str(v).lower())
        cmp = {
            "EQ": col == v,
            "NEQ": col != v,
            "LT": col < v,
            "LTE": col <= v,
            "GT": col > v,
            "GTE": col >= v,
        }[op]
        result: pl.Expr = cmp.fill_null(op == "NEQ")
        return result

    # ---------------------------------------------------------------- properties and owners

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
            "hidden": False,
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

    def _owner(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(row["id"]),
            "email": row["email"],
            "type": "PERSON",
            "firstName": row["firstName"],
            "lastName": row["lastName"],
            "userId": row["userId"],
            "userIdIncludingInactive": row["userId"],
            "createdAt": wire(row["createdAt"]),
            "updatedAt": wire(row["updatedAt"]),
            "archived": bool(row["archived"]),
        }

    def account_details(self, request: Request) -> Response:
        """GET the portal's details (account-info v3), as HubSpot answers them."""
        body = {
            "portalId": PORTAL_ID,
            "accountType": "DEVELOPER_TEST",
            "timeZone": "US/Eastern",
            "companyCurrency": "USD",
            "additionalCurrencies": [],
            "utcOffset": "-05:00",
            "utcOffsetMilliseconds": -18000000,
            "uiDomain": "app.hubspot.com",
            "dataHostingLocation": "na1",
        }
        return Response.json(200, body, JSON)

    def list_owners(self, request: Request) -> Response:
        """GET owners: ``limit`` (max 500), ``after``, ``email``, ``archived``."""
        limit = self._limit(request.arg("limit"), 100, 500)
        archived = (request.arg("archived") or "false").lower() == "true"
        frame = self.owners.frame().filter(pl.col("archived") == archived)
        email = request.arg("email")
        if email:
            frame = frame.filter(pl.col("email").str.to_lowercase() == email.lower())
        after = request.arg("after")
        if after and after.isdigit():
            frame = frame.filter(pl.col("id") >= int(after))
        body: dict[str, Any] = {"results": [self._owner(r) for r in frame.head(limit).iter_rows(named=True)]}
        if frame.height > limit:
            nxt = str(frame["id"][limit])
            body["paging"] = {"next": {"after": nxt, "link": f"{self.base_url}/crm/v3/owners?after={nxt}"}}
        return Response.json(200, body, JSON)

    def get_owner(self, request: Request, owner_id: str) -> Response:
        """GET one owner."""
        frame = self.owners.frame()
        hit = frame.filter(pl.col("id") == int(owner_id)) if owner_id.isdigit() else frame.head(0)
        if not hit.height:
            raise HsError(404, "OBJECT_NOT_FOUND", f"owner {owner_id} not found")
        return Response.json(200, self._owner(hit.row(0, named=True)), JSON)

    # ---------------------------------------------------------------- associations

    def _associated(self, frm: str, to: str, ids: list[int]) -> dict[int, list[tuple[int, list[int]]]]:
        """For each id of ``frm``, the ``to`` ids associated with it and the type ids of each link."""
        try:
            key, flipped = self._association_table(frm, to)
        except HsError:
            return {}
        frame = self.associations[key].frame()
        src, dst = ("to_id", "from_id") if flipped else ("from_id", "to_id")
        forward = not flipped
        pair = (frm, to)
        hits = frame.filter(pl.col(src).is_in(ids))
        grouped: dict[int, dict[int, list[int]]] = {}
        for s, d, t in hits.select(src, dst, "type_id").iter_rows():
            type_id = int(t)
            if not forward:  # answer with the type ids of this direction
                type_id = (
                    PRIMARY_ASSOCIATION_TYPES.get(pair)
                    if type_id in PRIMARY_ASSOCIATION_TYPES.values()
                    else ASSOCIATION_TYPES.get(pair)
                ) or type_id
            grouped.setdefault(int(s), {}).setdefault(int(d), []).append(type_id)
        return {s: sorted(v.items()) for s, v in grouped.items()}

    def _association_table(self, from_type: str, to_type: str) -> tuple[tuple[str, str], bool]:
        """The stored pair behind a request's (from, to), and whether the request runs against it."""
        frm, to = from_type.lower(), to_type.lower()
        if (frm, to) in self.associations:
            return (frm, to), False
        if (to, frm) in self.associations:
            return (to, frm), True
        raise HsError(400, "VALIDATION_ERROR", f"Unknown association {from_type} -> {to_type}")

    def _pairs(self, inputs: list[dict[str, Any]], frm: str, to: str) -> list[tuple[int, list[int]]]:
        """(from id, [to ids]) of association inputs, each id checked to be a live record."""
        (fobj, ftable), (tobj, ttable) = self._object(frm), self._object(to)
        out = []
        for item in inputs:
            source = str((item.get("from") or {}).get("id", ""))
            targets = item.get("to")
            targets = targets if isinstance(targets, list) else [targets or {}]
            target_ids = [str((t or {}).get("id", "")) for t in targets]
            if self._row(fobj, ftable, source) is None:
                raise HsError(400, "VALIDATION_ERROR", f"{frm} {source} does not exist")
            for target in target_ids:
                if self._row(tobj, ttable, target) is None:
                    raise HsError(400, "VALIDATION_ERROR", f"{to} {target} does not exist")
            out.append((int(source), [int(t) for t in target_ids]))
        return out

    def _complete(
        self, results: list[dict[str, Any]], started: datetime, errors: list[dict[str, Any]] | None = None
    ) -> Response:
        """A v4 association batch answer: 200, or 207 with ``numErrors`` and ``errors`` when some failed."""
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        body.update(startedAt=iso(started), completedAt=iso(self.now()))
        return Response.json(207 if errors else 200, body, JSON)

    def association_batch_default(self, request: Request, from_type: str, to_type: str) -> Response:
        """POST /crm/v4/associations/{from}/{to}/batch/associate/default: the default (unlabeled) link,
        plus the primary one where the pair has a primary and the record has none yet."""
        key, flipped = self._association_table(from_type, to_type)
        started = self.now()
        pairs = self._pairs(self._batch_inputs(self._body(request), MAX_ASSOC_BATCH), from_type, to_type)
        table = self.associations[key]
        primary = PRIMARY_ASSOCIATION_TYPES.get(key)
        request_pair = (from_type.lower(), to_type.lower())
        results = []
        with table.lock:
            frame = table.frame()
            has_primary = (
                set(frame.filter(pl.col("type_id") == primary)["from_id"].to_list()) if primary else set()
            )
            rows = []
            for source, targets in pairs:
                for target in targets:
                    s, d = (target, source) if flipped else (source, target)
                    types = [ASSOCIATION_TYPES[key]]
                    if primary is not None and s not in has_primary:
                        types.append(primary)
                        has_primary.add(s)
                    rows += [(s, d, t) for t in types]
                    for t in types:
                        answer = (
                            t
                            if not flipped
                            else (
                                PRIMARY_ASSOCIATION_TYPES.get(request_pair)
                                if t == primary
                                else ASSOCIATION_TYPES.get(request_pair)
                            )
                            or t
                        )
                        results.append(
                            {
                                "from": {"id": str(source)},
                                "to": {"id": str(target)},
                                "associationSpec": {
                                    "associationCategory": "HUBSPOT_DEFINED",
                                    "associationTypeId": answer,
                                },
                            }
                        )
            if rows:
                extra = pl.DataFrame(rows, schema=frame.schema, orient="row")
                table.replace(pl.concat([frame, extra]).unique(maintain_order=True))
        return self._complete(results, started)

    def association_batch_archive(self, request: Request, from_type: str, to_type: str) -> Response:
        """POST /crm/v4/associations/{from}/{to}/batch/archive: remove every link type between the
        pairs; 204."""
        key, flipped = self._association_table(from_type, to_type)
        inputs = self._batch_inputs(self._body(request), MAX_ASSOC_BATCH)
        gone = []
        for item in inputs:
            source = str((item.get("from") or {}).get("id", ""))
            targets = item.get("to")
            targets = targets if isinstance(targets, list) else [targets or {}]
            for t in targets:
                target = str((t or {}).get("id", ""))
                if source.isdigit() and target.isdigit():
                    a, b = int(source), int(target)
                    gone.append((b, a) if flipped else (a, b))
        if gone:
            table = self.associations[key]
            with table.lock:
                drop = pl.DataFrame(gone, schema={"from_id": pl.Int64, "to_id": pl.Int64}, orient="row")
                table.replace(table.frame().join(drop, on=["from_id", "to_id"], how="anti"))
        return Response(204)

    def association_batch_read(self, request: Request, from_type: str, to_type: str) -> Response:
        """POST /crm/v4/associations/{from}/{to}/batch/read."""
        frm, to = from_type.lower(), to_type.lower()
        if frm not in self.types or to not in self.types:
            raise HsError(400, "VALIDATION_ERROR", f"Unknown association {from_type} -> {to_type}")
        started = self.now()
        inputs = self._batch_inputs(self._body(request), MAX_ASSOC_BATCH)
        ids = [int(i["id"]) for i in inputs if str(i.get("id", "")).isdigit()]
        found = self._associated(frm, to, ids)
        results, errors = [], []
        for object_id in ids:
            links = found.get(object_id)
            if not links:
                errors.append(self._no_associations(frm, to, object_id))
                continue
            results.append(
                {
                    "from": {"id": str(object_id)},
                    "to": [
                        {
                            "toObjectId": target,
                            "associationTypes": [
                                {
                                    "category": "HUBSPOT_DEFINED",
                                    "typeId": t,
                                    "label": "Primary" if t in PRIMARY_ASSOCIATION_TYPES.values() else None,
                                }
                                for t in types
                            ],
                        }
                        for target, types in links
                    ],
                }
            )
        # As HubSpot answers: 207, with one OBJECT_NOT_FOUND / NO_ASSOCIATIONS_FOUND error for each input
        # that has none, and status COMPLETE.
        return self._complete(results, started, errors)

    @staticmethod
    def _no_associations(frm: str, to: str, object_id: int) -> dict[str, Any]:
        source, target = frm.removesuffix("s").replace("companie", "company"), to.removesuffix("s")
        target = target.replace("companie", "company")
        return {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
            "context": {
                "fromObjectId": [str(object_id)],
                "fromObjectType": [source],
                "toObjectType": [target],
            },
            "message": f"No {target} is associated with {source} {object_id}.",
        }

    def object_associations(self, request: Request, from_type: str, object_id: str, to_type: str) -> Response:
        """GET /crm/v4/objects/{from}/{id}/associations/{to}."""
        if not object_id.isdigit():
            raise HsError(400, "VALIDATION_ERROR", f"invalid id {object_id}")
        links = self._associated(from_type.lower(), to_type.lower(), [int(object_id)]).get(int(object_id), [])
        results = [
            {
                "toObjectId": target,
                "associationTypes": [
                    {"category": "HUBSPOT_DEFINED", "typeId": t, "label": None} for t in types
                ],
            }
            for target, types in links
        ]
        return Response.json(200, {"results": results}, JSON)
