"""The Salesforce REST and Bulk API 2.0 emulator.

It answers in the wire shapes of the real service (see shared/fixtures/recorded/salesforce): records
with ``attributes`` first and explicit nulls, ``+0000`` datetimes, host-relative ``nextRecordsUrl``,
error arrays of ``{message, errorCode}``, SaveResults with ``statusCode``, Bulk 2.0 CSV with
``Sforce-Locator``. Only what crm_ops and its users' scripts need is served; the rest answers
NOT_FOUND as the real service does for an unknown resource.
"""

from __future__ import annotations

import base64
import csv
import io
import itertools
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import jwt
import polars as pl

from crm_ops.sandbox import soql
from crm_ops.sandbox.http import App, FaultInjector, Request, Response, Router
from crm_ops.sandbox.objects import SALESFORCE_OBJECTS, SfField, SfObject, sf_row
from crm_ops.sandbox.sf_objects import label_of
from crm_ops.sandbox.sfsoap import SoapApi
from crm_ops.sandbox.sfwrite import SaveError, Writer
from crm_ops.sandbox.store import Store

JSON = "application/json;charset=UTF-8"
CSV = "text/csv"
SF_DATETIME = "%Y-%m-%dT%H:%M:%S%.3f+0000"
BULK_DATETIME = "%Y-%m-%dT%H:%M:%S%.3fZ"
MAX_COMPOSITE = 200
MAX_CURSORS = 64
MAX_JOBS = 32
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True)
class SalesforceLimits:
    """The org's API allowances the emulator enforces."""

    daily_api_requests: int = 5_000_000
    default_batch_size: int = 2000
    bulk_default_max_records: int = 50_000


@dataclass(frozen=True)
class SalesforceCredentials:
    """What the OAuth token endpoint accepts (a connected app and one integration user)."""

    client_id: str
    client_secret: str
    username: str
    password: str
    security_token: str
    jwt_public_key_pem: bytes | None = None  # the certificate's key registered on the connected app


def _now() -> datetime:
    return datetime.now(UTC)


def error(status: int, code: str, message: str) -> Response:
    """A plain REST error: an array of one ``{message, errorCode}``."""
    return Response.json(status, [{"message": message, "errorCode": code}], JSON)


def _address(prefix: str) -> str:
    return "" if prefix == "Address" else prefix.removesuffix("Address")


@dataclass
class _Cursor:
    frame: pl.DataFrame
    obj: SfObject
    fields: tuple[str, ...]


@dataclass
class _Job:
    info: dict[str, Any]
    frame: pl.DataFrame | None = None  # query results
    upload: list[bytes] = field(default_factory=list)
    successes: list[dict[str, str]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    unprocessed: list[dict[str, str]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)


class SalesforceApp(App):
    """Routes and state of the Salesforce emulator; serve it with ``http.Server`` over TLS."""

    def __init__(
        self,
        store: Store,
        *,
        access_token: str,
        credentials: SalesforceCredentials,
        faults: FaultInjector,
        limits: SalesforceLimits | None = None,
        now: Callable[[], datetime] = _now,
        objects: Mapping[str, SfObject] | None = None,
    ) -> None:
        self.store = store
        # the org's objects as its describes show them to the integration user
        self.objects = SALESFORCE_OBJECTS if objects is None else objects
        self.tokens = {access_token}
        self.credentials = credentials
        self.faults = faults
        self.limits = limits or SalesforceLimits()
        self.now = now
        self.instance_url = "https://127.0.0.1"
        self.api_calls = 0
        self._lock = threading.Lock()
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._jobs: OrderedDict[str, _Job] = OrderedDict()
        self._ids = itertools.count(1)
        users = store["User"].frame()
        self.user_id = str(users["Id"][0]) if users.height else "0058d0000000000AAA"
        self.router = Router()
        r, d = self.router.add, "/services/data/{version}"
        r("POST", "/services/oauth2/token", self.token)
        r("GET", "/services/data", self.versions)
        r("GET", f"{d}/limits", self.get_limits)
        r("GET", f"{d}/sobjects", self.describe_global)
        r("GET", f"{d}/sobjects/{{name}}/describe", self.describe)
        r("GET", f"{d}/sobjects/{{name}}", self.sobject_info)
        r("POST", f"{d}/sobjects/{{name}}", self.create_record)
        r("GET", f"{d}/sobjects/{{name}}/{{record_id}}", self.get_record)
        r("PATCH", f"{d}/sobjects/{{name}}/{{record_id}}", self.update_record)
        r("DELETE", f"{d}/sobjects/{{name}}/{{record_id}}", self.delete_record)
        r("GET", f"{d}/query", self.query)
        r("GET", f"{d}/queryAll", self.query_all)
        r("GET", f"{d}/query/{{locator}}", self.query_more)
        r("GET", f"{d}/queryAll/{{locator}}", self.query_more)
        r("PATCH", f"{d}/composite/sobjects", self.composite_update)
        r("POST", f"{d}/composite/sobjects", self.composite_create)
        r("DELETE", f"{d}/composite/sobjects", self.composite_delete)
        r("POST", f"{d}/jobs/query", self.create_query_job)
        r("GET", f"{d}/jobs/query/{{job_id}}", self.get_query_job)
        r("PATCH", f"{d}/jobs/query/{{job_id}}", self.patch_job)
        r("DELETE", f"{d}/jobs/query/{{job_id}}", self.delete_job)
        r("GET", f"{d}/jobs/query/{{job_id}}/results", self.query_job_results)
        r("POST", f"{d}/jobs/ingest", self.create_ingest_job)
        r("GET", f"{d}/jobs/ingest/{{job_id}}", self.get_ingest_job)
        r("PATCH", f"{d}/jobs/ingest/{{job_id}}", self.patch_job)
        r("DELETE", f"{d}/jobs/ingest/{{job_id}}", self.delete_job)
        r("PUT", f"{d}/jobs/ingest/{{job_id}}/batches", self.upload_batch)
        r("GET", f"{d}/jobs/ingest/{{job_id}}/{{kind}}", self.ingest_results)
        self.soap = SoapApi(
            store,
            valid_session=lambda token: token in self.tokens,
            count_call=self._count_call,
            user_id=self.user_id,
            now=self.now,
            objects=self.objects,
        )
        r("POST", "/services/Soap/u/{version}", self.soap_call)

    # ---------------------------------------------------------------- framework hooks

    def before(self, request: Request) -> Response | None:
        """Check the session and count the call against the daily limit."""
        if not request.path.startswith("/services/data/"):
            return None
        auth = request.headers.get("Authorization", "")
        token = auth.split(" ", 1)[1].strip() if auth.lower().startswith(("bearer ", "oauth ")) else ""
        if token not in self.tokens:
            return error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if self._count_call() is None:
            return error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        return None

    def _count_call(self) -> tuple[int, int] | None:
        """Count one call against the daily limit: (used, limit), or None when the limit is reached."""
        with self._lock:
            if self.api_calls >= self.limits.daily_api_requests:
                return None
            self.api_calls += 1
            return self.api_calls, self.limits.daily_api_requests

    def soap_call(self, request: Request, version: str) -> Response:
        """POST /services/Soap/u/{version}: the partner API's merge and undelete (see ``sfsoap``)."""
        return self.soap.handle(request)

    def after(self, request: Request, response: Response) -> None:
        """Report API usage on every data response, as Salesforce does."""
        if request.path.startswith("/services/data/"):
            response.headers["Sforce-Limit-Info"] = (
                f"api-usage={self.api_calls}/{self.limits.daily_api_requests}"
            )

    def fault_response(self, kind: str) -> Response:
        """Salesforce's answers to overload: a concurrency-limit error for 429, an HTML page for 503."""
        if kind == "429":
            return error(429, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
        return Response(503, b"<html><body>Service Unavailable</body></html>", {"Content-Type": "text/html"})

    def not_found(self, request: Request) -> Response:
        """Unknown resource."""
        return error(404, "NOT_FOUND", "The requested resource does not exist")

    def method_not_allowed(self, request: Request) -> Response:
        """Known resource, wrong verb."""
        return error(
            405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed. Allowed are GET"
        )

    def internal_error(self, request: Request, error_: BaseException) -> Response:
        """An emulator bug: Salesforce's generic 500."""
        return error(
            500,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you "
            f"contact support: {secrets.token_hex(8)}",
        )

    # ---------------------------------------------------------------- auth and org

    def token(self, request: Request) -> Response:
        """OAuth 2.0 token endpoint: password and client_credentials grants."""
        form = {k: v[0] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        c = self.credentials
        grant = form.get("grant_type")
        if grant == JWT_GRANT:
            return self._jwt_grant(form)
        if grant not in ("password", "client_credentials"):
            return Response.json(
                400,
                {"error": "unsupported_grant_type", "error_description": "grant type not supported"},
                JSON,
            )
        if form.get("client_id") != c.client_id or form.get("client_secret") != c.client_secret:
            return Response.json(
                400, {"error": "invalid_client_id", "error_description": "client identifier invalid"}, JSON
            )
        if grant == "password" and (
            form.get("username") != c.username or form.get("password") != c.password + c.security_token
        ):
            return Response.json(
                400, {"error": "invalid_grant", "error_description": "authentication failure"}, JSON
            )
        return self._issue_token()

    def _jwt_grant(self, form: dict[str, str]) -> Response:
        """OAuth 2.0 JWT bearer flow: an RS256 assertion signed with the connected app's certificate key."""
        c = self.credentials
        fail = Response.json(400, {"error": "invalid_grant", "error_description": "invalid assertion"}, JSON)
        if c.jwt_public_key_pem is None or "assertion" not in form:
            return fail
        try:
            claims = jwt.decode(
                form["assertion"],
                c.jwt_public_key_pem,
                algorithms=["RS256"],
                audience=[self.instance_url, "https://login.salesforce.com", "https://test.salesforce.com"],
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.PyJWTError:
            return fail
        if claims["iss"] != c.client_id:
            return Response.json(
                400, {"error": "invalid_client_id", "error_description": "client identifier invalid"}, JSON
            )
        if claims["sub"] != c.username:
            return Response.json(
                400,
                {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"},
                JSON,
            )
        return self._issue_token()

    def _issue_token(self) -> Response:
        access = f"00D8d0000000001!{secrets.token_urlsafe(48)}"
        with self._lock:
            self.tokens.add(access)
        issued = str(int(self.now().timestamp() * 1000))
        return Response.json(
            200,
            {
                "access_token": access,
                "instance_url": self.instance_url,
                "id": f"{self.instance_url}/id/00D8d0000000001EAA/{self.user_id}",
                "token_type": "Bearer",
                "issued_at": issued,
                "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
            },
            JSON,
        )

    def versions(self, request: Request) -> Response:
        """The API versions served."""
        return Response.json(
            200, [{"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"}], JSON
        )

    def get_limits(self, request: Request, version: str) -> Response:
        """The org limits (shape of GET /limits)."""
        max_ = self.limits.daily_api_requests
        body = {
            "DailyApiRequests": {"Max": max_, "Remaining": max(0, max_ - self.api_calls)},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - len(self._jobs)},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "FileStorageMB": {"Max": 20, "Remaining": 20},
        }
        return Response.json(200, body, JSON)

    def _object(self, name: str) -> SfObject | None:
        obj = next((o for o in self.objects.values() if o.name.lower() == name.lower()), None)
        return obj if obj is not None and obj.name in self.store else None

    def _bad_object(self, name: str) -> Response:
        """An sObject type this org does not have: Salesforce answers NOT_FOUND."""
        return error(404, "NOT_FOUND", "The requested resource does not exist")

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
            "custom": False,
            "customSetting": False,
            "deepCloneable": False,
            "deprecatedAndHidden": False,
            "hasSubtypes": False,
            "isInterface": False,
            "isSubtype": False,
            "keyPrefix": o.key_prefix,
            "label": o.label,
            "labelPlural": o.label_plural or o.label + "s",
            "mergeable": o.name in ("Account", "Contact", "Lead"),
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

    # ---------------------------------------------------------------- records

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
        return Response.json(200, self._records(obj, frame, fields, version)[0], JSON)

    def create_record(self, request: Request, version: str, name: str) -> Response:
        """POST /sobjects/X: create one record; 201 with its id."""
        obj = self._object(name)
        if obj is None:
            return self._bad_object(name)
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        try:
            new_id = Writer(obj, self.store[obj.name], self.store.tables, self.user_id).insert(
                body, self.now()
            )
        except SaveError as e:
            return Response.json(
                400, [{"message": e.message, "errorCode": e.status_code, "fields": list(e.fields)}], JSON
            )
        response = Response.json(201, {"id": new_id, "success": True, "errors": []}, JSON)
        response.headers["Location"] = f"/services/data/{version}/sobjects/{obj.name}/{new_id}"
        return response

    def update_record(self, request: Request, version: str, name: str, record_id: str) -> Response:
        """PATCH /sobjects/X/{id}: 204 with no body."""
        obj = self._object(name)
        if obj is None:
            return self._bad_object(name)
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        writer = Writer(obj, self.store[obj.name], self.store.tables, self.user_id)
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
                400, [{"message": e.message, "errorCode": e.status_code, "fields": list(e.fields)}], JSON
            )
        return Response(204)

    def delete_record(self, request: Request, version: str, name: str, record_id: str) -> Response:
        """DELETE /sobjects/X/{id}: soft delete, 204."""
        obj = self._object(name)
        if obj is None:
            return self._bad_object(name)
        try:
            Writer(obj, self.store[obj.name], self.store.tables, self.user_id).delete(record_id, self.now())
        except SaveError as e:
            if e.status_code in ("MALFORMED_ID", "INVALID_CROSS_REFERENCE_KEY", "ENTITY_IS_DELETED"):
                return error(404, "NOT_FOUND", "The requested resource does not exist")
            return error(400, e.status_code, e.message)
        return Response(204)

    # ---------------------------------------------------------------- SOQL

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
        frame = self._execute(q, obj, include_deleted=include_deleted)
        if q.count == "rows":
            return Response.json(
                200, {"totalSize": int(frame["count"][0]), "done": True, "records": []}, JSON
            )
        if q.count == "field":
            records = [{"attributes": {"type": "AggregateResult"}, "expr0": int(frame["count"][0])}]
            return Response.json(200, {"totalSize": 1, "done": True, "records": records}, JSON)
        cursor = _Cursor(frame, obj, q.fields)
        return self._page(cursor, 0, batch, version, new=True)

    def _execute(self, q: soql.SoqlQuery, obj: SfObject, *, include_deleted: bool) -> pl.DataFrame:
        parts: list[str] = []
        for name in q.fields:
            f = obj.field(name)
            if f is not None and f.type == "address":
                parts += [g.name for g in obj.fields if g.compound == f.name and g.name not in q.fields]
        stored = tuple(n for n in q.fields if (f := obj.field(n)) is None or f.type != "address")
        executable = replace(q, fields=stored + tuple(parts))
        return soql.execute(
            executable,
            self.store[obj.name].frame(),
            self.now(),
            include_deleted=include_deleted,
            related=lambda name: self.store[name].frame(),
        )

    def _page(self, cursor: _Cursor, offset: int, batch: int, version: str, *, new: bool) -> Response:
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
        body["records"] = self._records(
            cursor.obj, cursor.frame.slice(offset, end - offset), cursor.fields, version
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

    def _records(
        self, obj: SfObject, frame: pl.DataFrame, fields: tuple[str, ...], version: str
    ) -> list[dict[str, Any]]:
        formatted = frame.with_columns(
            [
                pl.col(c).dt.strftime(SF_DATETIME)
                for c, t in frame.schema.items()
                if isinstance(t, pl.Datetime)
            ]
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
                    self._nest(record, obj, rel, sub, row, version)
                    continue
                f = obj.field(name)
                if f is not None and f.type == "address":
                    record[name] = _address_value(obj, f, row)
                else:
                    record[name] = row[name]
            out.append(record)
        return out

    def _nest(
        self, record: dict[str, Any], obj: SfObject, rel: str, sub: str, row: dict[str, Any], version: str
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
            target = next(t for t in lookup.reference_to if t in self.objects)
            nested = record[rel] = {
                "attributes": {
                    "type": target,
                    "url": f"/services/data/{version}/sobjects/{target}/{parent_id}",
                }
            }
        nested[sub] = row[f"{rel}.{sub}"]

    # ---------------------------------------------------------------- composite

    def composite_update(self, request: Request, version: str) -> Response:
        """PATCH /composite/sobjects: up to 200 updates, SaveResults in request order."""
        return self._composite(request, update=True)

    def composite_create(self, request: Request, version: str) -> Response:
        """POST /composite/sobjects: up to 200 inserts."""
        return self._composite(request, update=False)

    def _composite(self, request: Request, *, update: bool) -> Response:
        body = _json_object(request)
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
        plans: list[tuple[Writer | None, dict[str, Any], SaveError | None]] = []
        for rec in records:
            obj_name = (rec.get("attributes") or {}).get("type") if isinstance(rec, dict) else None
            obj = self._object(obj_name) if isinstance(obj_name, str) else None
            if obj is None or not isinstance(rec, dict):
                plans.append(
                    (None, {}, SaveError("INVALID_TYPE", "sObject type is missing or not supported"))
                )
                continue
            writer = Writer(obj, self.store[obj.name], self.store.tables, self.user_id)
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
                    new_id = writer.update(rid, values, now) if update else writer.insert(values, now)
                    results.append({"id": new_id, "success": True, "errors": []})
                except SaveError as e:
                    results.append({"success": False, "errors": [e.as_json()]})
        return Response.json(200, results, JSON)

    def composite_delete(self, request: Request, version: str) -> Response:
        """DELETE /composite/sobjects?ids=...: up to 200 soft deletes."""
        ids = [i for i in (request.arg("ids") or "").split(",") if i]
        if len(ids) > MAX_COMPOSITE:
            return error(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_COMPOSITE} records into this call",
            )
        results: list[dict[str, Any]] = []
        for rid in ids:
            obj = next((o for o in self.objects.values() if rid.startswith(o.key_prefix)), None)
            try:
                if obj is None:
                    raise SaveError("MALFORMED_ID", f"malformed id {rid}")
                Writer(obj, self.store[obj.name], self.store.tables, self.user_id).delete(rid, self.now())
                results.append({"id": rid, "success": True, "errors": []})
            except SaveError as e:
                results.append({"success": False, "errors": [e.as_json()]})
        return Response.json(200, results, JSON)

    # ---------------------------------------------------------------- Bulk API 2.0

    def _new_job(self, version: str, **info: Any) -> tuple[str, _Job]:
        now = self.now().strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        job_id = f"7508d{next(self._ids):010d}AAA"
        job = _Job(
            {
                "id": job_id,
                "createdById": self.user_id,
                "createdDate": now,
                "systemModstamp": now,
                "concurrencyMode": "Parallel",
                "contentType": "CSV",
                "apiVersion": float(version.lstrip("v")),
                "lineEnding": "LF",
                "columnDelimiter": "COMMA",
                **info,
            }
        )
        with self._lock:
            self._jobs[job_id] = job
            while len(self._jobs) > MAX_JOBS:
                self._jobs.popitem(last=False)
        return job_id, job

    def create_query_job(self, request: Request, version: str) -> Response:
        """POST /jobs/query: run the query and hold its results for download."""
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            return error(400, "INVALIDJOB", f"Invalid job operation: {operation}")
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            return error(400, "INVALIDJOB", "query is required for a query job")
        try:
            q = soql.parse(text, self.objects)
        except soql.SoqlError as e:
            return error(400, e.error_code, e.message)
        obj = self.objects[q.object_name]
        if q.count is not None or any(
            (f := obj.field(n)) is not None and f.type == "address" for n in q.fields
        ):
            return error(
                400,
                "API_ERROR",
                "Aggregate Relationships and compound fields are not supported by Bulk API 2.0 query",
            )
        frame = self._execute(q, obj, include_deleted=operation == "queryAll").select(list(q.fields))
        _, job = self._new_job(version, operation=operation, object=obj.name, state="UploadComplete")
        job.frame = frame
        reply = dict(job.info)
        job.info.update(
            state="JobComplete", numberRecordsProcessed=frame.height, retries=0, totalProcessingTime=0
        )
        return Response.json(200, reply, JSON)

    def _job(self, job_id: str, kind: str) -> _Job | Response:
        job = self._jobs.get(job_id)
        if job is None or (job.frame is None) != (kind == "ingest"):
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def get_query_job(self, request: Request, version: str, job_id: str) -> Response:
        """GET /jobs/query/{id}: the job's state."""
        job = self._job(job_id, "query")
        return job if isinstance(job, Response) else Response.json(200, job.info, JSON)

    def get_ingest_job(self, request: Request, version: str, job_id: str) -> Response:
        """GET /jobs/ingest/{id}: the job's state and counts."""
        job = self._job(job_id, "ingest")
        return job if isinstance(job, Response) else Response.json(200, job.info, JSON)

    def delete_job(self, request: Request, version: str, job_id: str) -> Response:
        """DELETE a job and its results."""
        with self._lock:
            found = self._jobs.pop(job_id, None)
        return Response(204) if found else error(404, "NOT_FOUND", "The requested resource does not exist")

    def query_job_results(self, request: Request, version: str, job_id: str) -> Response:
        """GET /jobs/query/{id}/results: a CSV chunk; ``Sforce-Locator`` names the next, or is ``null``."""
        job = self._job(job_id, "query")
        if isinstance(job, Response):
            return job
        assert job.frame is not None
        raw_max = request.arg("maxRecords")
        if raw_max is not None and (not raw_max.isdigit() or int(raw_max) < 1):
            return error(400, "INVALIDJOB", f"Invalid maxRecords: {raw_max}")
        size = int(raw_max) if raw_max else self.limits.bulk_default_max_records
        locator = request.arg("locator") or ""
        try:
            offset = int(base64.b64decode(locator).decode()) if locator else 0
        except ValueError:
            return error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
        chunk = job.frame.slice(offset, size)
        end = offset + chunk.height
        nxt = base64.b64encode(str(end).encode()).decode() if end < job.frame.height else "null"
        body = chunk.write_csv(datetime_format=BULK_DATETIME, date_format="%Y-%m-%d", quote_style="always")
        return Response(
            200,
            body.encode(),
            {"Content-Type": CSV, "Sforce-Locator": nxt, "Sforce-NumberOfRecords": str(chunk.height)},
        )

    def create_ingest_job(self, request: Request, version: str) -> Response:
        """POST /jobs/ingest: open a job for insert, update or delete."""
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        obj = self._object(str(body.get("object", "")))
        if obj is None:
            return error(
                400, "INVALIDJOB", f"Entity '{body.get('object')}' is not supported by the Bulk API."
            )
        operation = body.get("operation")
        if operation not in ("insert", "update", "delete", "hardDelete"):
            return error(
                400,
                "INVALIDJOB",
                f"Operation {operation} is not supported by this sandbox's Bulk API 2.0 ingest",
            )
        if body.get("columnDelimiter", "COMMA") != "COMMA" or body.get("lineEnding", "LF") not in (
            "LF",
            "CRLF",
        ):
            return error(
                400, "INVALIDJOB", "Only COMMA delimited CSV with LF or CRLF line endings is supported"
            )
        job_id, job = self._new_job(
            version,
            operation=operation,
            object=obj.name,
            state="Open",
            externalIdFieldName=body.get("externalIdFieldName"),
            contentUrl=f"services/data/{version}/jobs/ingest/{{id}}/batches",
        )
        job.info["contentUrl"] = job.info["contentUrl"].replace("{id}", job_id)
        job.frame = None
        return Response.json(200, job.info, JSON)

    def upload_batch(self, request: Request, version: str, job_id: str) -> Response:
        """PUT /jobs/ingest/{id}/batches: the CSV data; 201."""
        job = self._job(job_id, "ingest")
        if isinstance(job, Response):
            return job
        if job.info["state"] != "Open":
            return error(409, "INVALIDJOBSTATE", f"Job {job_id} is not open for data upload")
        job.upload.append(request.body)
        return Response(201)

    def patch_job(self, request: Request, version: str, job_id: str) -> Response:
        """PATCH a job's state: UploadComplete runs an ingest job; Aborted stops one."""
        job = self._jobs.get(job_id)
        if job is None:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        body = _json_object(request)
        if isinstance(body, Response):
            return body
        state = body.get("state")
        if state == "Aborted":
            job.info["state"] = "Aborted"
        elif state == "UploadComplete" and job.frame is None and job.info["state"] == "Open":
            self._process_ingest(job)
        else:
            return error(400, "INVALIDJOBSTATE", f"Cannot change the state of job {job_id} to {state}")
        return Response.json(200, job.info, JSON)

    def _process_ingest(self, job: _Job) -> None:
        obj = self.objects[job.info["object"]]
        writer = Writer(obj, self.store[obj.name], self.store.tables, self.user_id)
        text = b"".join(job.upload).decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        job.columns = list(rows[0].keys()) if rows else []
        now = self.now()
        op = job.info["operation"]
        for row in rows:
            try:
                if op == "insert":
                    rid, created = writer.insert(dict(row), now, from_csv=True), "true"
                elif op == "update":
                    values = {k: v for k, v in row.items() if k != "Id"}
                    rid, created = writer.update(row.get("Id", ""), values, now, from_csv=True), "false"
                else:
                    rid, created = writer.delete(row.get("Id", ""), now), "false"
                job.successes.append({"sf__Id": rid, "sf__Created": created, **row})
            except SaveError as e:
                job.failures.append({"sf__Id": row.get("Id", ""), "sf__Error": e.as_bulk(), **row})
        job.info.update(
            state="JobComplete",
            numberRecordsProcessed=len(rows),
            numberRecordsFailed=len(job.failures),
            retries=0,
            totalProcessingTime=0,
        )

    def ingest_results(self, request: Request, version: str, job_id: str, kind: str) -> Response:
        """GET successfulResults / failedResults / unprocessedrecords of an ingest job, as CSV."""
        job = self._job(job_id, "ingest")
        if isinstance(job, Response):
            return job
        kinds = {
            "successfulresults": (job.successes, ["sf__Id", "sf__Created"]),
            "failedresults": (job.failures, ["sf__Id", "sf__Error"]),
            "unprocessedrecords": (job.unprocessed, []),
        }
        if kind.lower() not in kinds:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        rows, head = kinds[kind.lower()]
        out = io.StringIO()
        writer = csv.DictWriter(
            out, fieldnames=head + job.columns, quoting=csv.QUOTE_ALL, lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
        return Response(200, out.getvalue().encode(), {"Content-Type": CSV})


# -------------------------------------------------------------------- helpers


def _json_object(request: Request) -> dict[str, Any] | Response:
    try:
        body = request.json()
    except ValueError as e:
        return error(400, "JSON_PARSER_ERROR", f"Unexpected character in request body: {e}")
    if not isinstance(body, dict):
        return error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    return body


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
