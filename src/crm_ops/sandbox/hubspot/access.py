"""Access: the private app's bearer token, the scopes each route requires of it (403 MISSING_SCOPES
naming those it lacks), and its daily, 10-second and per-second (search) windows, with the
``X-HubSpot-RateLimit-*`` headers on every answer.

The OAuth endpoints (``/oauth/...``, the token-info call) take their token in the body: they skip the
bearer check and are not counted against the windows.
"""

from __future__ import annotations

import string
import time
import uuid
from collections.abc import Iterable

from crm_ops.sandbox.http import Handler, Request, Response
from crm_ops.sandbox.hubspot.common import (
    COMMERCE_TYPES,
    EXTRA_READ_SCOPES,
    HsError,
    HubSpotState,
    object_named,
    scope_name,
)

SCOPES_DOC = "https://developers.hubspot.com/scopes"


def missing_scopes(scopes: Iterable[str]) -> HsError:
    """HubSpot's 403 for a token without the scopes a call needs (``context.requiredScopes``)."""
    return HsError(
        403,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. Read more about required "
        f"scopes here: {SCOPES_DOC}.",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredScopes": list(scopes)},
            }
        ],
        links={"scopes": SCOPES_DOC},
    )


# scopes HubSpot still honours in place of the granular ones: a private app made before the
# ``crm.objects.tickets.*`` scopes holds ``tickets`` (read and write tickets)
LEGACY = {"crm.objects.tickets.read": "tickets", "crm.objects.tickets.write": "tickets"}
# and one made before the granular commerce scopes holds ``e-commerce`` (products and line items)
LEGACY.update(
    {f"crm.objects.{t}.{access}": "e-commerce" for t in COMMERCE_TYPES for access in ("read", "write")}
)
# the properties of products and line items are read under the objects' read scope (no schemas scope)
SCHEMA_SCOPES = {f"crm.schemas.{t}.read": f"crm.objects.{t}.read" for t in COMMERCE_TYPES}


class AccessHandlers(HubSpotState):
    """Authentication, scopes and rate limits."""

    def scoped(self, handler: Handler, *required: str) -> Handler:
        """``handler`` answering 403 MISSING_SCOPES unless the token holds every ``required`` scope.

        A scope may name a path capture (``crm.objects.{object_type}.read``): the capture stands for its
        object type's name; a type the portal does not have requires nothing (the handler answers it). A
        read of a type with ``EXTRA_READ_SCOPES`` (e-mails) requires those too.
        """

        def check(request: Request, **captures: str) -> Response:
            granted = self.limits.scopes
            lacking = [
                s
                for s in self._required(required, captures)
                if s not in granted and LEGACY.get(s) not in granted
            ]
            if lacking:
                raise missing_scopes(lacking)
            return handler(request, **captures)

        return check

    def _required(self, templates: tuple[str, ...], captures: dict[str, str]) -> list[str]:
        out = []
        for template in templates:
            names = {}
            extra: list[str] = []
            for _, key, _, _ in string.Formatter().parse(template):
                if key is None:
                    continue
                obj = object_named(self.types, captures.get(key, ""), self.portal_id)
                names[key] = scope_name(obj) if obj is not None else None
                if obj is not None and template.startswith("crm.objects.") and template.endswith(".read"):
                    extra += EXTRA_READ_SCOPES.get(obj.name, ())
            if None not in names.values():
                scope = template.format(**names)
                out += [SCHEMA_SCOPES.get(scope, scope), *extra]
        return list(dict.fromkeys(out))

    def before(self, request: Request) -> Response | None:
        """Bearer auth, then the daily, 10-second and (for search) per-second windows."""
        if request.path.startswith("/oauth/"):
            return None
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
                return self._limited("daily", "DAILY", search=is_search)
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
