"""The portal and the token themselves: private-app token info (which app, which portal, which scopes)
and the account details (portal id, time zone, currency, UI domain, data hosting location)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.hubspot.common import JSON, HsError, HubSpotState

APP_ID = 2718281  # the sandbox's private app
DEFAULT_USER_ID = 9_100_001  # the app's creator when the portal has no owners
TIME_ZONE = "US/Eastern"


class AccountHandlers(HubSpotState):
    """Token info and account details."""

    def token_info(self, request: Request) -> Response:
        """POST /oauth/v2/private-apps/get/access-token-info ``{"tokenKey": ...}``: the app, its creator,
        the portal and the scopes granted; an unknown token answers 401."""
        try:
            body = request.json()
        except ValueError:
            body = None
        key = body.get("tokenKey") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key:
            raise HsError(400, "VALIDATION_ERROR", "tokenKey is required")
        if key != self.token:
            raise HsError(
                401, "INVALID_AUTHENTICATION", "The access token is not valid; it may have been rotated."
            )
        return Response.json(
            200,
            {
                "userId": self._creator(),
                "hubId": self.portal_id,
                "appId": APP_ID,
                "scopes": sorted(self.limits.scopes),
            },
            JSON,
        )

    def _creator(self) -> int:
        owners = self.owners.frame().filter(~pl.col("archived"))
        return int(owners["userId"][0]) if owners.height else DEFAULT_USER_ID

    def account_details(self, request: Request) -> Response:
        """GET /account-info/v3/details: the portal's settings."""
        offset = self.now().astimezone(ZoneInfo(TIME_ZONE)).utcoffset()
        seconds = int(offset.total_seconds()) if offset is not None else 0
        sign, minutes = ("-" if seconds < 0 else "+"), abs(seconds) // 60
        body: dict[str, Any] = {
            "portalId": self.portal_id,
            "accountType": "STANDARD",
            "timeZone": TIME_ZONE,
            "companyCurrency": "USD",
            "additionalCurrencies": [],
            "utcOffset": f"{sign}{minutes // 60:02d}:{minutes % 60:02d}",
            "utcOffsetMilliseconds": seconds * 1000,
            "uiDomain": "app.hubspot.com",
            "dataHostingLocation": "na1",
        }
        return Response.json(200, body, JSON)
