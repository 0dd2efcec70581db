"""The pieces of the connectors that need no server: quoting, error translation, the rate limiter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import cast

import requests
import urllib3
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest

from crm_ops.connectors import hubspot, salesforce
from crm_ops.errors import FatalApiError, RetriableApiError
from crm_ops.ratelimit import RateLimiter


def test_soql_values_cannot_escape_their_quotes() -> None:
    assert salesforce.soql_quote("O'Brien") == r"'O\'Brien'"
    assert salesforce.soql_quote("a\\' OR Id != '") == r"'a\\\' OR Id != \''"
    assert salesforce.soql_quote("line\nbreak") == r"'line\nbreak'"
    stamp = datetime(2026, 1, 2, 4, 4, 5, 678900, tzinfo=timezone(timedelta(hours=1)))
    assert salesforce.soql_datetime(stamp) == "2026-01-02T03:04:05.678Z"


def _parsed(content: object) -> bytes:
    """simple-salesforce types ``content`` as bytes but passes the parsed JSON body."""
    return cast(bytes, content)


def test_salesforce_errors_are_sorted_into_retriable_and_fatal() -> None:
    busy = SalesforceGeneralError("u", 503, "query", b"<html>Service Unavailable</html>")
    assert isinstance(salesforce.translate(busy), RetriableApiError)
    throttled = SalesforceGeneralError(
        "u", 429, "query", _parsed([{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "m"}])
    )
    assert isinstance(salesforce.translate(throttled), RetriableApiError)
    bad = SalesforceMalformedRequest(
        "u", 400, "query", _parsed([{"errorCode": "MALFORMED_QUERY", "message": "unexpected"}])
    )
    mapped = salesforce.translate(bad)
    assert isinstance(mapped, FatalApiError) and mapped.code == "MALFORMED_QUERY"
    assert isinstance(salesforce.translate(requests.exceptions.ConnectionError("reset")), RetriableApiError)
    assert salesforce.translate(ValueError("a bug")) is None


class _FakeApiError(Exception):
    def __init__(self, status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.reason = "reason"
        self.body = json.dumps(body).encode()
        self.headers = headers or {}


def test_hubspot_errors_are_sorted_and_the_window_honoured() -> None:
    window = hubspot.translate(_FakeApiError(429, {"policyName": "TEN_SECONDLY_ROLLING", "message": "m"}))
    assert isinstance(window, RetriableApiError) and window.retry_after == 1.0
    told = hubspot.translate(_FakeApiError(429, {"message": "m"}, {"Retry-After": "3"}))
    assert isinstance(told, RetriableApiError) and told.retry_after == 3.0
    assert isinstance(hubspot.translate(_FakeApiError(502, {})), RetriableApiError)
    missing = hubspot.translate(_FakeApiError(404, {"category": "OBJECT_NOT_FOUND", "message": "gone"}))
    assert isinstance(missing, FatalApiError) and missing.code == "OBJECT_NOT_FOUND"
    assert isinstance(hubspot.translate(urllib3.exceptions.ProtocolError("dropped")), RetriableApiError)


def test_rate_limiter_keeps_every_window_under_its_limit() -> None:
    clock = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    limiter = RateLimiter(3, 10.0, clock=lambda: clock[0], sleep=sleep)
    stamps = []
    for _ in range(10):
        limiter.acquire()
        stamps.append(clock[0])
        clock[0] += 0.5
    for i, start in enumerate(stamps):
        assert sum(1 for s in stamps[i:] if s < start + 10.0) <= 3
    assert sleeps, "the fourth call must wait"
    assert stamps[3] >= 10.0


def test_hubspot_timestamps_parse_in_both_forms() -> None:
    assert hubspot.parse_stamp("2026-01-02T03:04:05.678Z") == datetime(
        2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC
    )
    assert hubspot.parse_stamp("1767323045678") == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
