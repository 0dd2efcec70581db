"""Signing in to Salesforce: the OAuth token request of each auth method, or a given session.

Tokens come from ``oauth_url`` (default ``{login_url}/services/oauth2/token``: login.salesforce.com,
test.salesforce.com or a My Domain); the connector then runs simple-salesforce on the session. The
token host and the JWT audience are separate settings because Salesforce wants them apart: the
client-credentials flow is served only at the org's My Domain, while a JWT's ``aud`` stays
login.salesforce.com (test.salesforce.com for sandboxes) wherever it is posted. One small function
builds each method's form; ``sign_in`` checks the settings, posts the form through the connector's
retried call and gives back (instance URL, access token). A refusal says what the org or the profile
must change (``refusal_hint``): orgs created since Summer '23 block the username-password flow, and
Salesforce's own answer (``invalid_grant: authentication failure``) does not say so.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from crm_ops.config import SalesforceSettings
from crm_ops.errors import ConfigError, FatalApiError, RetriableApiError

SYSTEM = "salesforce"
TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a path, not a secret
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

Body = dict[str, Any]


def password_form(s: SalesforceSettings, client_id: str) -> dict[str, str]:
    """Username, password and security token (appended to the password)."""
    if not s.username:
        raise ConfigError(f"{s.where}.username: password auth needs a username")
    token_var = s.secret_env.get("security_token", "")
    return {
        "grant_type": "password",
        "client_id": client_id,
        "client_secret": s.secret("client_secret"),
        "username": s.username,
        "password": s.secret("password") + os.environ.get(token_var, ""),
    }


def client_credentials_form(s: SalesforceSettings, client_id: str) -> dict[str, str]:
    """The connected app's own credentials (it runs as its configured user)."""
    return {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": s.secret("client_secret"),
    }


def jwt_form(s: SalesforceSettings, client_id: str) -> dict[str, str]:
    """A JWT bearer assertion for the user, signed (RS256) with the configured key file."""
    if not s.username:
        raise ConfigError(f"{s.where}.username: JWT auth needs the user to act as")
    key = jwt_key(s)
    audience = (s.audience or s.login_url).rstrip("/")
    claims = {
        "iss": client_id,
        "sub": s.username,
        "aud": audience,
        "exp": int(time.time()) + 180,
    }
    return {"grant_type": JWT_GRANT, "assertion": jwt.encode(claims, key, algorithm="RS256")}


def jwt_key(s: SalesforceSettings) -> RSAPrivateKey:
    """The RSA private key of the file ``CRM_OPS_SF_JWT_KEY_FILE`` names, or a ConfigError naming the file
    and what it holds instead (a certificate, nothing, a folder, a file that cannot be read)."""
    var = s.secret_env["jwt_key_file"]
    path = Path(s.secret("jwt_key_file"))
    wanted = "it must hold the connected app's RSA private key in PEM (-----BEGIN PRIVATE KEY-----)"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{s.where}: the JWT key file {path} ({var}) cannot be read: {exc.strerror}; {wanted}"
        ) from None
    found = re.search(rb"-----BEGIN ([A-Z ]+)-----", data)
    if not data.strip():
        problem = "is empty"
    elif found is None:
        problem = "holds no PEM block"
    elif b"PRIVATE KEY" not in found.group(1):
        problem = f"holds a {found.group(1).decode().lower()}, not a private key"
    else:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except TypeError:
            problem = "holds an encrypted private key (crm-ops takes it unencrypted, the file kept 0600)"
        except ValueError:
            problem = "holds a private key that cannot be read (damaged?)"
        else:
            if isinstance(key, RSAPrivateKey):
                return key
            problem = "holds a private key that is not RSA (JWT bearer signs with RS256)"
    raise ConfigError(f"{s.where}: the JWT key file {path} ({var}) {problem}; {wanted}")


def token_endpoint(s: SalesforceSettings) -> str:
    """Where the token request goes: ``oauth_url`` (a host, or the full endpoint), else the login URL's."""
    base = (s.oauth_url or s.login_url).rstrip("/")
    return base if base.endswith(TOKEN_PATH) else f"{base}{TOKEN_PATH}"


def refusal_hint(auth: str, error: str, description: str) -> str:
    """What to change when the token endpoint refuses, in words an admin can act on ('' if unknown)."""
    text = description.lower()
    if auth == "password" and error == "invalid_grant":
        return (
            "orgs created since Summer '23 block the username-password flow by default: an admin allows "
            "it in Setup > OAuth and OpenID Connect Settings > Allow OAuth Username-Password Flows, or "
            'better, use auth = "jwt" or "client_credentials"; else check the username, the password and '
            "the security token"
        )
    if auth == "client_credentials" and "not supported on this domain" in text:
        return (
            "the client-credentials flow is served only at the org's My Domain: set oauth_url to "
            "https://<your-domain>.my.salesforce.com"
        )
    if auth == "client_credentials" and error == "invalid_grant":
        return (
            "on the connected app, tick Enable Client Credentials Flow and set its Run As user "
            "(Manage > Edit Policies > Client Credentials Flow)"
        )
    if auth == "jwt" and "audience" in text:
        return (
            "the JWT's aud must be the login host even when tokens come from a My Domain: set audience = "
            '"login" (or "test" for a sandbox) and oauth_url to the My Domain'
        )
    if auth == "jwt" and error == "invalid_grant":
        return (
            "the user must be pre-authorized: on the connected app set Permitted Users to 'Admin approved "
            "users are pre-authorized' and give the user's profile or a permission set access; the "
            "certificate must be the one of the configured key"
        )
    return ""


def sign_in(
    s: SalesforceSettings, session: requests.Session, call: Callable[[Callable[[], Body]], Body]
) -> tuple[str, str]:
    """(instance URL, access token) for the configured auth; ``call`` retries and counts the request."""
    if s.auth == "session":
        if not s.instance_url:
            raise ConfigError(f"{s.where}.instance_url: session auth needs the org's instance URL")
        return s.instance_url.rstrip("/"), s.secret("access_token")
    if not s.client_id:
        raise ConfigError(f"{s.where}.client_id: {s.auth} auth needs the connected app's client_id")
    if s.auth == "password":
        form = password_form(s, s.client_id)
    elif s.auth == "client_credentials":
        form = client_credentials_form(s, s.client_id)
    else:
        form = jwt_form(s, s.client_id)
    url = token_endpoint(s)

    def post() -> Body:
        response = session.post(url, data=form, timeout=s.timeout_seconds)
        if response.status_code == 429 or response.status_code >= 500:
            raise RetriableApiError(SYSTEM, "token endpoint unavailable", status=response.status_code)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code == 200 and not (body.get("access_token") and body.get("instance_url")):
            # a proxy's or SSO's sign-in page, or a login URL that is not a token endpoint
            kind = response.headers.get("Content-Type", "no content type").split(";")[0]
            raise FatalApiError(
                SYSTEM,
                f"{s.auth} sign-in at {url} answered 200 with {kind}, not a token (an HTML login page? "
                "check login_url / oauth_url, and whether a proxy or single sign-on page stands in front)",
                status=response.status_code,
                code="NOT_A_TOKEN",
            )
        if response.status_code != 200:
            error, description = (
                str(body.get("error", response.status_code)),
                body.get("error_description", ""),
            )
            hint = refusal_hint(s.auth, error, str(description))
            raise FatalApiError(
                SYSTEM,
                f"{s.auth} authentication refused at {url}: {error}: {description}"
                + (f"; {hint}" if hint else ""),
                status=response.status_code,
                code=body.get("error"),
            )
        return dict(body)

    body = call(post)
    return str(body["instance_url"]).rstrip("/"), str(body["access_token"])
