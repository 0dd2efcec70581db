"""Sessions and allowance: the OAuth token endpoint (password, client_credentials, JWT bearer), the
session check and daily-request count on every data call, ``Sforce-Limit-Info``, ``/limits`` and the
API versions served."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs

import jwt

from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.salesforce.common import JSON, ORG_ID, SalesforceState, error

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_HOST = "localhost"  # the sandbox's stand-in for login.salesforce.com (the instance is 127.0.0.1)
REAL_LOGIN = ("https://login.salesforce.com", "https://test.salesforce.com")


def login_url(instance_url: str) -> str:
    """The sandbox's login URL (login.salesforce.com in life): its instance under the login host's name."""
    return instance_url.replace("127.0.0.1", LOGIN_HOST)


@dataclass(frozen=True)
class SalesforceCredentials:
    """What the OAuth token endpoint accepts (a connected app and one integration user)."""

    client_id: str
    client_secret: str
    username: str
    password: str
    security_token: str
    jwt_public_key_pem: bytes | None = None  # the certificate's key registered on the connected app


class AuthHandlers(SalesforceState):
    """The OAuth endpoint, the session check and the daily allowance."""

    credentials: SalesforceCredentials

    def before(self, request: Request) -> Response | None:
        """Check the session and count the call against the daily limit."""
        if not request.path.startswith("/services/data/"):
            return None
        auth = request.headers.get("Authorization", "")
        token = auth.split(" ", 1)[1].strip() if auth.lower().startswith(("bearer ", "oauth ")) else ""
        if token not in self.tokens:
            return error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if self._count_call() is None:
            refused = error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self.after(request, refused)  # the refusal reports the usage too
            return refused
        return None

    def _count_call(self) -> tuple[int, int] | None:
        """Count one call against the daily limit: (used, limit), or None when the limit is reached."""
        with self._lock:
            if self.api_calls >= self.limits.daily_api_requests:
                return None
            self.api_calls += 1
            return self.api_calls, self.limits.daily_api_requests

    def after(self, request: Request, response: Response) -> None:
        """Report API usage on every data response, as Salesforce does."""
        if request.path.startswith("/services/data/"):
            response.headers["Sforce-Limit-Info"] = (
                f"api-usage={self.api_calls}/{self.limits.daily_api_requests}"
            )

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
        try:  # the aud Salesforce takes: its login hosts (the sandbox's own too) or the My Domain
            claims = jwt.decode(
                form["assertion"],
                c.jwt_public_key_pem,
                algorithms=["RS256"],
                audience=[self.instance_url, login_url(self.instance_url), *REAL_LOGIN],
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.InvalidAudienceError:  # Salesforce's own words for it
            return Response.json(
                400, {"error": "invalid_grant", "error_description": "audience is invalid"}, JSON
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
        access = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        with self._lock:
            self.tokens.add(access)
        issued = str(int(self.now().timestamp() * 1000))
        return Response.json(
            200,
            {
                "access_token": access,
                "instance_url": self.instance_url,
                "id": f"{self.instance_url}/id/{ORG_ID}/{self.user_id}",
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

    def record_count(self, request: Request, version: str) -> Response:
        """GET /limits/recordCount?sObjects=A,B: each object's records (live ones: what storage counts);
        every object when none is named, an unknown name left out (as Salesforce does)."""
        asked = [n.strip() for n in (request.arg("sObjects") or "").split(",") if n.strip()]
        names = asked or [o.name for o in self.objects.values()]
        counts = []
        for name in names:
            obj = self._object(name)
            if obj is None:
                continue
            frame = self.store[obj.name].frame()
            live = (
                frame.height - int(frame["IsDeleted"].sum()) if "IsDeleted" in frame.columns else frame.height
            )
            counts.append({"count": live, "name": obj.name})
        return Response.json(200, {"sObjects": counts}, JSON)
