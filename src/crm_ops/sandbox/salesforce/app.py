"""``SalesforceApp``: the emulator's state and routes, composed of one handler class per concern."""

from __future__ import annotations

import itertools
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime

from crm_ops.sandbox.http import App, FaultInjector, Request, Response, Router
from crm_ops.sandbox.objects import SALESFORCE_OBJECTS, SfObject
from crm_ops.sandbox.salesforce.auth import AuthHandlers, SalesforceCredentials
from crm_ops.sandbox.salesforce.bulk import BulkHandlers
from crm_ops.sandbox.salesforce.common import SalesforceLimits, error, now_utc
from crm_ops.sandbox.salesforce.composite import CompositeHandlers
from crm_ops.sandbox.salesforce.describe import DescribeHandlers
from crm_ops.sandbox.salesforce.identity import IdentityHandlers
from crm_ops.sandbox.salesforce.query import QueryHandlers
from crm_ops.sandbox.salesforce.records import RecordHandlers
from crm_ops.sandbox.sfrecycle import RecycleBin
from crm_ops.sandbox.sfsoap import SoapApi
from crm_ops.sandbox.store import Store


class SalesforceApp(
    AuthHandlers,
    IdentityHandlers,
    DescribeHandlers,
    RecordHandlers,
    QueryHandlers,
    CompositeHandlers,
    BulkHandlers,
    App,
):
    """Routes and state of the Salesforce emulator; serve it with ``http.Server`` over TLS."""

    def __init__(
        self,
        store: Store,
        *,
        access_token: str,
        credentials: SalesforceCredentials,
        faults: FaultInjector,
        limits: SalesforceLimits | None = None,
        now: Callable[[], datetime] = now_utc,
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
        self.api_calls = self.limits.used_at_start
        self._lock = threading.Lock()
        self._cursors = OrderedDict()
        self._jobs = OrderedDict()
        self._ids = itertools.count(1)
        users = store["User"].frame()
        self.user_id = str(users["Id"][0]) if users.height else "0058d0000000000AAA"
        self.recycle = RecycleBin(store, self.objects, self.user_id, self._now)
        self.router = Router()
        r, d = self.router.add, "/services/data/{version}"
        r("POST", "/services/oauth2/token", self.token)
        r("GET", "/services/oauth2/userinfo", self.userinfo)
        r("POST", "/services/oauth2/userinfo", self.userinfo)
        r("GET", "/services/data", self.versions)
        r("GET", f"{d}/limits", self.get_limits)
        r("GET", f"{d}/limits/recordCount", self.record_count)
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
            recycle=self.recycle,
        )
        r("POST", "/services/Soap/u/{version}", self.soap_call)

    def _now(self) -> datetime:
        """``now`` as it is at the time of the call (a test may replace it after the start)."""
        return self.now()

    def soap_call(self, request: Request, version: str) -> Response:
        """POST /services/Soap/u/{version}: the partner API's merge, undelete, convertLead and
        emptyRecycleBin (see ``sfsoap``)."""
        return self.soap.handle(request)

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
