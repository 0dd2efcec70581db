"""Who the session is: the OpenID Connect UserInfo endpoint, ``/services/oauth2/userinfo``.

It answers for the integration user (the org's first User, signed in as the connected app's
username) with the claims Salesforce sends: ``sub`` (the identity URL), ``user_id``,
``organization_id``, ``preferred_username``, names, ``email``, ``zoneinfo``, ``active``, ``urls``...
As Salesforce documents for UserInfo and the identity URLs, a request without a token answers 403
``Missing_OAuth_Token`` and one with a token that is not a live session 403 ``Bad_OAuth_Token``, as
plain text. It is not a data call: it does not count against the daily API requests.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.salesforce.auth import SalesforceCredentials
from crm_ops.sandbox.salesforce.common import JSON, ORG_ID, SalesforceState

LOGIN_URL = "https://login.salesforce.com"
DEFAULT_ZONE = "America/Los_Angeles"  # a new user's time zone when the org sets none


def _oauth_error(code: str) -> Response:
    return Response(403, code.encode(), {"Content-Type": "text/plain;charset=UTF-8"})


class IdentityHandlers(SalesforceState):
    """The UserInfo endpoint."""

    credentials: SalesforceCredentials

    def userinfo(self, request: Request) -> Response:
        """GET or POST /services/oauth2/userinfo: the session's user, as OpenID Connect claims."""
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith(("bearer ", "oauth ")):
            token = auth.split(" ", 1)[1].strip()
        else:
            token = request.arg("access_token") or request.arg("oauth_token") or ""
        if not token:
            return _oauth_error("Missing_OAuth_Token")
        if token not in self.tokens:
            return _oauth_error("Bad_OAuth_Token")
        return Response.json(200, self._claims(), JSON)

    def _claims(self) -> dict[str, Any]:
        user = self.store["User"].row(0) or {}
        user_id = self.user_id
        zone = user.get("TimeZoneSidKey") or DEFAULT_ZONE
        try:
            offset = self.now().astimezone(ZoneInfo(zone)).utcoffset()
        except ZoneInfoNotFoundError:
            offset = None
        updated = user.get("LastModifiedDate") or self.now()
        base = self.instance_url
        photo = f"{base}/profilephoto/005/F"
        username = self.credentials.username
        return {
            "sub": f"{LOGIN_URL}/id/{ORG_ID}/{user_id}",
            "user_id": user_id,
            "organization_id": ORG_ID,
            "preferred_username": username,
            "nickname": user.get("CommunityNickname") or username.split("@")[0],
            "name": user.get("Name") or username,
            "email": user.get("Email") or username,
            "email_verified": True,
            "given_name": user.get("FirstName"),
            "family_name": user.get("LastName"),
            "zoneinfo": zone,
            "photos": {"picture": photo, "thumbnail": f"{base}/profilephoto/005/T"},
            "profile": f"{base}/{user_id}",
            "picture": photo,
            "address": {"country": user.get("Country")} if user.get("Country") else {},
            "is_salesforce_integration_user": False,
            "urls": {
                "enterprise": f"{base}/services/Soap/c/{{version}}/{ORG_ID}",
                "metadata": f"{base}/services/Soap/m/{{version}}/{ORG_ID}",
                "partner": f"{base}/services/Soap/u/{{version}}/{ORG_ID}",
                "rest": f"{base}/services/data/v{{version}}/",
                "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
                "search": f"{base}/services/data/v{{version}}/search/",
                "query": f"{base}/services/data/v{{version}}/query/",
                "recent": f"{base}/services/data/v{{version}}/recent/",
                "tooling_soap": f"{base}/services/Soap/T/{{version}}/{ORG_ID}",
                "tooling_rest": f"{base}/services/data/v{{version}}/tooling/",
                "profile": f"{base}/{user_id}",
                "feeds": f"{base}/services/data/v{{version}}/chatter/feeds",
                "groups": f"{base}/services/data/v{{version}}/chatter/groups",
                "users": f"{base}/services/data/v{{version}}/chatter/users",
                "feed_items": f"{base}/services/data/v{{version}}/chatter/feed-items",
                "feed_elements": f"{base}/services/data/v{{version}}/chatter/feed-elements",
                "custom_domain": base,
            },
            "active": bool(user.get("IsActive", True)),
            "user_type": user.get("UserType") or "STANDARD",
            "language": user.get("LanguageLocaleKey") or "en_US",
            "locale": user.get("LocaleSidKey") or "en_US",
            "utcOffset": int(offset.total_seconds() * 1000) if offset is not None else 0,
            "updated_at": updated.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "is_app_installed": True,
        }
