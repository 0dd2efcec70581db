"""What every part of the Salesforce emulator shares: wire constants, the error shape, the org's
allowances and the state the handlers work on."""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from crm_ops.sandbox.http import Request, Response, has_lone_surrogate, surrogate_at
from crm_ops.sandbox.objects import SfObject
from crm_ops.sandbox.realsaves import SaveContext, SaveRules, duplicate_rule_header
from crm_ops.sandbox.sfrecycle import RecycleBin
from crm_ops.sandbox.sfwrite import SaveGuard
from crm_ops.sandbox.store import Store

JSON = "application/json;charset=UTF-8"
CSV = "text/csv"
SF_DATETIME = "%Y-%m-%dT%H:%M:%S%.3f+0000"
BULK_DATETIME = "%Y-%m-%dT%H:%M:%S%.3fZ"
MAX_COMPOSITE = 200
MAX_CURSORS = 64
MAX_JOBS = 32
ORG_ID = "00D8d0000000001EAA"  # the sandbox org's id (18 characters; session ids start with its first 15)


@dataclass(frozen=True)
class SalesforceLimits:
    """The org's API allowances the emulator enforces."""

    daily_api_requests: int = 5_000_000
    default_batch_size: int = 2000
    bulk_default_max_records: int = 50_000
    # daily API requests already spent when the sandbox starts (an org other integrations share)
    used_at_start: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.used_at_start <= self.daily_api_requests:
            raise ValueError(
                f"used_at_start must be between 0 and daily_api_requests ({self.daily_api_requests}), "
                f"got {self.used_at_start}"
            )


def now_utc() -> datetime:
    """The wall clock in UTC: the emulator's default ``now``."""
    return datetime.now(UTC)


def error(status: int, code: str, message: str) -> Response:
    """A plain REST error: an array of one ``{message, errorCode}``."""
    return Response.json(status, [{"message": message, "errorCode": code}], JSON)


def json_object(request: Request) -> dict[str, Any] | Response:
    """The request body as a JSON object, or the JSON_PARSER_ERROR Salesforce answers (400): also for
    a lone UTF-16 surrogate (``"\\ud800"``), which no string Salesforce stores can hold: accepted, it
    would make every later read of the record fail."""
    try:
        body = request.json()
    except ValueError as e:
        return error(400, "JSON_PARSER_ERROR", f"Unexpected character in request body: {e}")
    if not isinstance(body, dict):
        return error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    if has_lone_surrogate(body):
        line, column = surrogate_at(request.body)
        return error(
            400,
            "JSON_PARSER_ERROR",
            f"Invalid UTF-16 surrogate in a string at [line:{line}, column:{column}]",
        )
    return body


@dataclass
class Job:
    """One Bulk API 2.0 job: its info as the API shows it, and its data."""

    info: dict[str, Any]
    frame: pl.DataFrame | None = None  # query results
    upload: list[bytes] = field(default_factory=list)
    successes: list[dict[str, str]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    unprocessed: list[dict[str, str]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)


class SalesforceState:
    """The org the handler mixins share; ``SalesforceApp.__init__`` sets every attribute."""

    store: Store
    objects: Mapping[str, SfObject]  # the org's objects as its describes show them to the integration user
    tokens: set[str]
    limits: SalesforceLimits
    now: Callable[[], datetime]
    instance_url: str
    api_calls: int
    user_id: str
    _lock: threading.Lock
    _ids: itertools.count[int]
    _jobs: OrderedDict[str, Job]
    recycle: RecycleBin  # deletes' reach, undelete, emptyRecycleBin and the queryAll window (sfrecycle)
    save_rules: SaveRules | None = None  # the org's own save rules (``realsaves``), when it has them

    def _guard(
        self, request: Request | None, version: str = "", *, contended: bool = False
    ) -> SaveGuard | None:
        """The org's save rules bound to what ``request`` carried (None: a Bulk job, which carries no
        duplicate rule header)."""
        rules = self.save_rules
        if rules is None:
            return None
        header = request.headers.get("Sforce-Duplicate-Rule-Header") if request is not None else None
        context = SaveContext(
            allow_duplicates=duplicate_rule_header(header),
            contended=contended,
            api_version=version.lstrip("v") or "59.0",
        )
        return lambda obj, current, changes: rules.check(obj, current, changes, context)

    def _object(self, name: str) -> SfObject | None:
        obj = next((o for o in self.objects.values() if o.name.lower() == name.lower()), None)
        return obj if obj is not None and obj.name in self.store else None

    def _bad_object(self, name: str) -> Response:
        """An sObject type this org does not have: Salesforce answers NOT_FOUND."""
        return error(404, "NOT_FOUND", "The requested resource does not exist")
