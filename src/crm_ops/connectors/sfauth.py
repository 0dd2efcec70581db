"""Signing in to Salesforce: the OAuth token request of each auth method, or a given session.

Tokens come from ``{login_url}/services/oauth2/token`` (login.salesforce.com, test.salesforce.com or a
My Domain); the connector then runs simple-salesforce on the session. One small function builds each
method's form; ``sign_in`` checks the settings, posts the form through the connector's retried call and
gives back (instance URL, access token).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import requests

from crm_ops.config import SalesforceSettings
from crm_ops.errors import ConfigError, FatalApiError, RetriableApiError

SYSTEM = "salesforce"
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
    key_file = s.secret("jwt_key_file")
    try:
        key = Path(key_file).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{s.where}: cannot read the JWT key file: {exc.strerror}") from None
    audience = s.login_url.rstrip("/")
    claims = {
        "iss": client_id,
        "sub": s.username,
        "aud": audience,
        "exp": int(time.time()) + 180,
    }
    return {"grant_type": JWT_GRANT, "assertion": jwt.encode(claims, key, algorithm="RS256")}


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
    url = f"{s.login_url.rstrip('/')}/services/oauth2/token"

    def post() -> Body:
        response = session.post(url, data=form, timeout=s.timeout_seconds)
        if response.status_code == 429 or response.status_code >= 500:
            raise RetriableApiError(SYSTEM, "token endpoint unavailable", status=response.status_code)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200:
            raise FatalApiError(
                SYSTEM,
                f"{s.auth} authentication refused at {url}: {body.get('error', response.status_code)}: "
                f"{body.get('error_description', '')}",
                status=response.status_code,
                code=body.get("error"),
            )
        return dict(body)

    body = call(post)
    return str(body["instance_url"]).rstrip("/"), str(body["access_token"])
