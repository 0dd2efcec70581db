"""The review app's guard, in front of every request (see ``Guard``): the app listens on 127.0.0.1 only.
The address it prints carries a token made for this run; the first request with it (compared in
constant time) gets a session cookie (HttpOnly, SameSite=Strict, its name made for this run so two
review servers in one browser keep their own) and is sent on without the token in its address. The
token is exchanged once: the address in a shell's history or a process list opens nothing afterwards
(the tab it opened keeps its cookie). Any request without the token or the cookie is refused (403), as
is one naming another host (DNS rebinding). Each POST must carry the page's CSRF token in the
``X-CSRF-Token`` header and, when it names its origin, come from this very origin (scheme, host and
port); every answer carries a strict Content Security Policy (scripts and styles from the app only, no
inline script), ``no-referrer`` and ``no-store``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from secrets import compare_digest, token_hex, token_urlsafe
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

COOKIE = "crm_ops_review"  # the start of each run's cookie name
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
    cookie: str = field(default_factory=lambda: f"{COOKIE}_{token_hex(6)}")  # the session cookie's name
    exchanged: bool = False  # the token was exchanged for the session: it opens nothing more


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
        cookie = request.cookies.get(self.secrets.cookie, "")
        signed_in = compare_digest(cookie.encode(), self.secrets.session.encode())
        token = request.query_params.get("token")
        if token is not None:
            kept = {k: v for k, v in request.query_params.items() if k != "token"}
            target = request.url.path + ("?" + urlencode(kept) if kept else "")
            if signed_in:  # this tab again (its own address reopened): on, the token not looked at
                return RedirectResponse(target, status_code=303)
            if not compare_digest(token.encode(), self.secrets.token.encode()):
                return Response("wrong token: open the address crm-ops review printed", status_code=403)
            if self.secrets.exchanged:
                return Response(
                    "this address was opened already (its token is used once): use the tab it opened, or "
                    "start crm-ops review again for a new address",
                    status_code=403,
                )
            self.secrets.exchanged = True
            answer = RedirectResponse(target, status_code=303)
            answer.set_cookie(
                self.secrets.cookie, self.secrets.session, httponly=True, samesite="strict", path="/"
            )
            return answer
        if not signed_in:
            return Response("open the address `crm-ops review` printed (it holds this run's token)", 403)
        if request.method != "GET":
            csrf = request.headers.get("x-csrf-token", "")
            origin = request.headers.get("origin")
            if not compare_digest(csrf.encode(), self.secrets.csrf.encode()):
                return Response("missing or wrong CSRF token", status_code=403)
            # this very origin: the scheme, host and port the request was sent to (the host checked above)
            own = f"{request.url.scheme}://{request.headers.get('host', '')}"
            if origin is not None and origin != own:
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
