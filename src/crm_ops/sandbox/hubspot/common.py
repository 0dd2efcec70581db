"""What every part of the HubSpot emulator shares: wire formats, the error shape, the private app's
limits and the state the handlers work on."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from crm_ops.sandbox.hs_objects import ENGAGEMENTS
from crm_ops.sandbox.http import (
    ErrorResponseError,
    FaultInjector,
    Request,
    Response,
    has_lone_surrogate,
    surrogate_at,
)
from crm_ops.sandbox.objects import HsObject
from crm_ops.sandbox.store import Store, Table

JSON = "application/json;charset=utf-8"
PORTAL_ID = 123456789  # the sandbox portal's id (hub id), the one the recorded responses carry
MAX_BATCH = 100
CRM_TYPES = ("contacts", "companies", "deals", "tickets")
# products and line items: read and written under scopes of their own (crm.objects.line_items.read...);
# their properties under those same scopes, as HubSpot's products and line items guides list them
COMMERCE_TYPES = ("products", "line_items")
# What the private app is granted unless told otherwise: everything crm-ops and the emulated endpoints
# need (``oauth``, which every app holds, for the account details).
DEFAULT_SCOPES = frozenset(
    {f"crm.objects.{t}.{access}" for t in CRM_TYPES for access in ("read", "write")}
    | {f"crm.schemas.{t}.read" for t in CRM_TYPES}
    | {"crm.objects.owners.read", "oauth", "communication_preferences.write"}
    # custom object types: one pair of scopes for all of them, as HubSpot grants them
    | {"crm.objects.custom.read", "crm.objects.custom.write", "crm.schemas.custom.read"}
    # logged e-mails' content (issue 26): HubSpot asks for it besides the contacts scopes
    | {"sales-email-read"}
    # the product library and line items
    | {f"crm.objects.{t}.{access}" for t in COMMERCE_TYPES for access in ("read", "write")}
    # quotes: their own scopes, the schema one included
    | {"crm.objects.quotes.read", "crm.objects.quotes.write", "crm.schemas.quotes.read"}
)
# Scopes HubSpot requires besides ``crm.objects.<scope word>.read`` to read an object type: the logged
# e-mails' details are behind ``sales-email-read`` (HubSpot's engagements and e-mail API references).
EXTRA_READ_SCOPES: dict[str, tuple[str, ...]] = {"emails": ("sales-email-read",)}


def object_named(types: Mapping[str, HsObject], given: str, portal_id: int = PORTAL_ID) -> HsObject | None:
    """The object type a path names: by name (``contacts``), by objectTypeId (``0-1``, ``2-7353817``), or a
    custom one by its fully qualified name (``p123456789_subscriptions``, or ``p_subscriptions``)."""
    key = given.lower()
    if key in types:
        return types[key]
    prefix = f"p{portal_id}_"
    if key.startswith(prefix) and "p_" + key[len(prefix) :] in types:
        return types["p_" + key[len(prefix) :]]
    return next((o for o in types.values() if o.object_type_id == key), None)


def scope_name(obj: HsObject) -> str:
    """The word a scope uses for the object type (``contacts``; ``custom`` for every custom one; the
    engagements (tasks, calls, e-mails, meetings, notes) are read and written under the contacts scopes,
    as HubSpot grants them; reading e-mails takes ``sales-email-read`` besides: ``EXTRA_READ_SCOPES``)."""
    if obj.name in ENGAGEMENTS:
        return "contacts"
    return "custom" if obj.object_type_id.startswith("2-") else obj.name


@dataclass(frozen=True)
class HubSpotLimits:
    """The private app's rate limits and grants the emulator enforces.

    ``daily_used_at_start``: calls of the daily allowance already spent when the sandbox starts.
    ``scopes``: the scopes granted to the private app's token; a route needing one it lacks answers
    403 MISSING_SCOPES.
    """

    per_ten_seconds: int = 190
    search_per_second: int = 5
    daily: int = 1_000_000
    daily_used_at_start: int = 0
    scopes: AbstractSet[str] = field(default=DEFAULT_SCOPES)

    def __post_init__(self) -> None:
        if not 0 <= self.daily_used_at_start <= self.daily:
            raise ValueError(
                f"daily_used_at_start must be between 0 and daily ({self.daily}), "
                f"got {self.daily_used_at_start}"
            )
        object.__setattr__(self, "scopes", frozenset(self.scopes))


def now_utc() -> datetime:
    """The wall clock in UTC: the emulator's default ``now``."""
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


def email_hash(address: str) -> str:
    """The form the GDPR blocklist keeps an address in: a SHA-256 of it, case and spaces aside (HubSpot
    says its blocklist "is supported by anonymized data": the address itself is not kept)."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


BLOCKLISTED = (
    "This email address was permanently deleted from this portal (GDPR delete) and cannot be added back"
)


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


class HubSpotState:
    """The portal the handler mixins share; ``HubSpotApp.__init__`` sets every attribute."""

    objects: Store
    types: Mapping[str, HsObject]  # the portal's object types and their properties (see ``hs_objects``)
    owners: Table
    associations: dict[tuple[str, str], Table]
    token: str
    portal_id: int
    faults: FaultInjector
    limits: HubSpotLimits
    now: Callable[[], datetime]
    base_url: str
    calls_today: int
    _window: deque[float]
    _search_window: deque[float]
    _lock: threading.Lock
    _create_lock: threading.Lock
    merge_new_id: bool = False  # a merge makes a new record (``RealWorld.merge_new_id``)
    merged_into: dict[tuple[str, int], int]  # (object type, merged id) -> the record that id answers now
    gdpr_blocklist: set[str]  # ``email_hash`` of each address a GDPR delete blocklisted (``gdpr``)

    def _object(self, object_type: str) -> tuple[HsObject, Table]:
        obj = object_named(self.types, object_type, self.portal_id)
        if obj is None or obj.name not in self.objects:
            raise HsError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
        return obj, self.objects[obj.name]

    def _type_name(self, given: str) -> str:
        """The stored name of the object type a path names (an objectTypeId or fully qualified name
        answered as the type's name); an unknown one as given, lower case."""
        obj = object_named(self.types, given, self.portal_id)
        return obj.name if obj is not None else given.lower()

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
        if has_lone_surrogate(body):  # no property can hold it: the whole request is refused
            line, column = surrogate_at(request.body)
            raise HsError(
                400,
                "VALIDATION_ERROR",
                f"Invalid input JSON on line {line}, column {column}: Invalid UTF-16 surrogate (unpaired) "
                "in a string",
            )
        return body

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

    def _batch_inputs(self, body: dict[str, Any], maximum: int = MAX_BATCH) -> list[dict[str, Any]]:
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise HsError(400, "VALIDATION_ERROR", "Invalid input JSON: inputs must be a list of objects")
        if len(inputs) > maximum:
            raise HsError(
                400, "VALIDATION_ERROR", f"Batch input limit is {maximum}, got {len(inputs)} inputs"
            )
        return inputs
