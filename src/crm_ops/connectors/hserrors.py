"""HubSpot's failures as our errors: which are retried (and how long to wait), which are fatal.

- 429: retried, except the DAILY policy (the portal's allowance is spent until its midnight: the
  connector stops resumably, ``BudgetExhaustedError``); TEN_SECONDLY_ROLLING waits a second.
- 423 Locked (a large sync holds the portal): retried after 2 seconds, as HubSpot asks.
- 477 Migration in Progress (the portal moves between data centres): retried after its Retry-After.
- 5xx, timeouts and dropped connections: retried. 403 MISSING_SCOPES names the scopes to grant.
- A certificate that does not verify or a proxy that refuses: fatal, with what to do.
"""

from __future__ import annotations

import json

import requests
import urllib3

from crm_ops.connectors.netconf import proxy_hint, tls_hint
from crm_ops.errors import NO_ANSWER, ApiError, FatalApiError, RetriableApiError

SYSTEM = "hubspot"
NETWORK_ERRORS = (
    urllib3.exceptions.HTTPError,
    requests.exceptions.RequestException,
    ConnectionError,
    TimeoutError,
)
RETRIED = {0, 423, 429, 477}
LOCK_WAIT = 2.0  # seconds HubSpot's locks last


def translate(exc: BaseException, ca_bundle: str | None = None) -> ApiError | None:
    """Our error for a hubspot-api-client or urllib3 failure: retriable for 423, 429, 477, 5xx and the
    network (the caller stops at a DAILY 429); a certificate that does not verify or a proxy that
    refuses is fatal, with what to do."""
    if isinstance(exc, ApiError):
        return exc
    status = getattr(exc, "status", None)
    if status is not None and hasattr(exc, "body") and hasattr(exc, "reason"):
        status = int(status or 0)
        try:
            body = json.loads(exc.body or b"{}")
        except (TypeError, ValueError):
            body = {}
        if not isinstance(body, dict):
            body = {}
        category = body.get("category") or body.get("policyName")
        if status == 429 and body.get("policyName"):
            category = body["policyName"]  # DAILY, TEN_SECONDLY_ROLLING, SECONDLY...
        message = body.get("message") or str(getattr(exc, "reason", ""))
        scopes = [
            scope
            for e in body.get("errors") or []
            if isinstance(e, dict)
            for scope in (e.get("context") or {}).get("requiredScopes") or []
        ]
        if scopes:  # 403 MISSING_SCOPES: name what to grant
            message = f"{message} (the private app needs {', '.join(scopes)})"
        text = f"request failed ({status} {category or ''}): {message}"
        if status in RETRIED or status >= 500:
            headers = getattr(exc, "headers", None) or {}
            retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
            wait = float(retry_after) if retry_after and str(retry_after).replace(".", "").isdigit() else None
            if status == 429 and wait is None and body.get("policyName") == "TEN_SECONDLY_ROLLING":
                wait = 1.0
            if status == 423 and wait is None:
                wait = LOCK_WAIT
            return RetriableApiError(SYSTEM, text, status=status, code=category, retry_after=wait)
        return FatalApiError(SYSTEM, text, status=status, code=category)
    reason = getattr(exc, "reason", None)
    if isinstance(exc, urllib3.exceptions.SSLError) or isinstance(reason, urllib3.exceptions.SSLError):
        return FatalApiError(SYSTEM, f"TLS error ({reason or exc}): {tls_hint(ca_bundle)}")
    if isinstance(exc, urllib3.exceptions.ProxyError) or isinstance(reason, urllib3.exceptions.ProxyError):
        return FatalApiError(SYSTEM, proxy_hint(reason or exc))
    if isinstance(exc, requests.exceptions.SSLError):
        return FatalApiError(SYSTEM, f"TLS error: {tls_hint(ca_bundle)}")
    if isinstance(exc, requests.exceptions.ProxyError):
        return FatalApiError(SYSTEM, proxy_hint(exc))
    if isinstance(exc, NETWORK_ERRORS):
        return RetriableApiError(SYSTEM, f"network error: {type(exc).__name__}", code=NO_ANSWER)
    return None
