"""The review app's guard, in front of every request (see ``Guard``): the app listens on 127.0.0.1 only.
The address it prints carries a token made for this run; the first request with it (compared in
constant time) gets a session cookie (HttpOnly, SameSite=Strict) and is sent on without the token in its
address; any request without the token or the cookie is refused (403), as is one naming another host
(DNS rebinding). Each POST must carry the page's CSRF token in the ``X-CSRF-Token`` header and come from
this origin; every answer carries a strict Content Security Policy (scripts and styles from the app
only, no inline script), ``no-referrer`` and ``no-store``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from secrets import compare_digest, token_urlsafe
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

COOKIE = "crm_ops_review"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _secret() -> str:
    return token_urlsafe(32)


@dataclass
class Secrets:
    """This run's token (in the printed address), session (the cookie it is exchanged for), CSRF token
    (in each page, sent back with each POST), and the host names the app answers to."""

    token: str = field(default_factory=_secret)
    session: str = field(default_factory=_secret)
    csrf: str = field(default_factory=_secret)
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost")


class Guard:
    """Host check, token or session cookie, CSRF on POST, and the security headers (see the module): an
    ASGI middleware."""

    def __init__(self, app: Callable[..., Awaitable[None]], secrets: Secrets) -> None:
        self.app = app
        self.secrets = secrets

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(dict(scope), receive)
        refusal = self._refusal(request)
        if isinstance(refusal, Response):
            await _secured(refusal)(scope, receive, send)
            return

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in _HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)

    def _refusal(self, request: Request) -> Response | None:
        host = (request.headers.get("host") or "").rsplit(":", 1)[0]
        if host not in self.secrets.hosts:
            return Response("unknown host", status_code=403)
        token = request.query_params.get("token")
        if token is not None:
            if not compare_digest(token.encode(), self.secrets.token.encode()):
                return Response("wrong token: open the address crm-ops review printed", status_code=403)
            kept = {k: v for k, v in request.query_params.items() if k != "token"}
            target = request.url.path + ("?" + urlencode(kept) if kept else "")
            answer = RedirectResponse(target, status_code=303)
            answer.set_cookie(COOKIE, self.secrets.session, httponly=True, samesite="strict", path="/")
            return answer
        cookie = request.cookies.get(COOKIE, "")
        if not compare_digest(cookie.encode(), self.secrets.session.encode()):
            return Response("open the address `crm-ops review` printed (it holds this run's token)", 403)
        if request.method != "GET":
            csrf = request.headers.get("x-csrf-token", "")
            origin = request.headers.get("origin")
            if not compare_digest(csrf.encode(), self.secrets.csrf.encode()):
                return Response("missing or wrong CSRF token", status_code=403)
            if origin is not None and origin.split("://", 1)[-1].rsplit(":", 1)[0] not in self.secrets.hosts:
                return Response("a request from another site", status_code=403)
        return None


_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}


def _secured(response: Response) -> Response:
    response.headers.update(_HEADERS)
    return response
