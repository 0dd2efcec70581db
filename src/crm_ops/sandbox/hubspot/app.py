"""``HubSpotApp``: the emulator's state and routes, composed of one handler class per concern."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime

from crm_ops.sandbox.http import App, FaultInjector, Handler, Request, Response, Router
from crm_ops.sandbox.hubspot.access import AccessHandlers
from crm_ops.sandbox.hubspot.account import AccountHandlers
from crm_ops.sandbox.hubspot.associations import AssociationHandlers
from crm_ops.sandbox.hubspot.channels import ChannelHandlers
from crm_ops.sandbox.hubspot.common import PORTAL_ID, HsError, HubSpotLimits, now_utc
from crm_ops.sandbox.hubspot.gdpr import GdprHandlers
from crm_ops.sandbox.hubspot.merge import MergeHandlers
from crm_ops.sandbox.hubspot.objects import ObjectHandlers
from crm_ops.sandbox.hubspot.owners import OwnerHandlers
from crm_ops.sandbox.hubspot.schemas import SchemaHandlers
from crm_ops.sandbox.hubspot.search import SearchHandlers
from crm_ops.sandbox.objects import HUBSPOT_OBJECTS, HsObject
from crm_ops.sandbox.store import Store, Table


class HubSpotApp(
    AccessHandlers,
    AccountHandlers,
    ObjectHandlers,
    SearchHandlers,
    MergeHandlers,
    GdprHandlers,
    SchemaHandlers,
    OwnerHandlers,
    AssociationHandlers,
    ChannelHandlers,
    App,
):
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
        now: Callable[[], datetime] = now_utc,
        types: Mapping[str, HsObject] | None = None,
        portal_id: int = PORTAL_ID,
    ) -> None:
        self.objects = objects
        self.types = HUBSPOT_OBJECTS if types is None else types
        self._property_lists = {}
        self.owners = owners
        self.associations = associations
        self.token = token
        self.portal_id = portal_id
        self.faults = faults
        self.limits = limits or HubSpotLimits()
        self.now = now
        self.base_url = "http://127.0.0.1"
        self.calls_today = self.limits.daily_used_at_start
        self._window = deque()
        self._search_window = deque()
        self._lock = threading.Lock()
        self._create_lock = threading.Lock()
        self.merged_into = {}
        self.gdpr_blocklist = set()
        self.router = Router()
        o = "/crm/v3/objects/{object_type}"
        read, write = "crm.objects.{object_type}.read", "crm.objects.{object_type}.write"
        schema = "crm.schemas.{object_type}.read"
        both_read = ("crm.objects.{from_type}.read", "crm.objects.{to_type}.read")
        both_write = ("crm.objects.{from_type}.write", "crm.objects.{to_type}.write")

        def r(method: str, pattern: str, handler: Handler, *scopes: str) -> None:
            self.router.add(method, pattern, self.scoped(handler, *scopes) if scopes else handler)

        r("GET", o, self.list_objects, read)
        r("POST", o, self.create_object, write)
        r("POST", f"{o}/batch/create", self.batch_create, write)
        r("POST", f"{o}/search", self.search, read)
        r("POST", f"{o}/batch/read", self.batch_read, read)
        r("POST", f"{o}/batch/update", self.batch_update, write)
        r("POST", f"{o}/batch/archive", self.batch_archive, write)
        r("POST", f"{o}/merge", self.merge, write)
        for contacts in ("contacts", "0-1"):  # HubSpot's GDPR delete is the contacts API's (``gdpr``)
            path = f"/crm/v3/objects/{contacts}/gdpr-delete"
            r("POST", path, self.gdpr_delete, "crm.objects.contacts.write")
        r("GET", f"{o}/{{object_id}}", self.get_object, read)
        r("PATCH", f"{o}/{{object_id}}", self.update_object, write)
        r("DELETE", f"{o}/{{object_id}}", self.archive_object, write)
        r("GET", "/crm/v3/properties/{object_type}", self.list_properties, schema)
        r("GET", "/crm/v3/properties/{object_type}/{name}", self.get_property, schema)
        for schemas in ("/crm/v3/schemas", "/crm-object-schemas/v3/schemas"):
            r("GET", schemas, self.list_schemas, "crm.schemas.custom.read")
            r("GET", f"{schemas}/{{object_type}}", self.get_schema, "crm.schemas.custom.read")
        r("GET", "/crm/v3/owners", self.list_owners, "crm.objects.owners.read")
        r("GET", "/crm/v3/owners/{owner_id}", self.get_owner, "crm.objects.owners.read")
        a = "/crm/v4/associations/{from_type}/{to_type}"
        r("POST", f"{a}/batch/read", self.association_batch_read, *both_read)
        r("POST", f"{a}/batch/associate/default", self.association_batch_default, *both_write)
        r("POST", f"{a}/batch/archive", self.association_batch_archive, *both_write)
        r(
            "GET",
            "/crm/v4/objects/{from_type}/{object_id}/associations/{to_type}",
            self.object_associations,
            *both_read,
        )
        secondary = "/contacts/v1/secondary-email/{vid}/email/{email}"
        r("PUT", secondary, self.add_secondary_email, "crm.objects.contacts.write")
        r("DELETE", secondary, self.remove_secondary_email, "crm.objects.contacts.write")
        r(
            "POST",
            "/communication-preferences/v4/statuses/{email}/unsubscribe-all",
            self.unsubscribe_all,
            "communication_preferences.write",
        )
        r("POST", "/oauth/v2/private-apps/get/access-token-info", self.token_info)
        r("GET", "/account-info/v3/details", self.account_details, "oauth")

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
