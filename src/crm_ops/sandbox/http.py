"""A small HTTP/1.1 server for the emulators: routing, JSON helpers, TLS and fault injection.

The emulators need exact control of the wire (status lines, header casing, empty bodies without a
Content-Type, a connection dropped mid-request), which the standard library's server gives directly.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import structlog

log = structlog.get_logger("crm_ops.sandbox")


@dataclass
class Request:
    """One parsed request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    target: str = ""  # the request line's target as sent (path and query string), for length limits

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query-string parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not."""
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """One response: status, body bytes and headers (written in the casing given)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, status: int, payload: Any, content_type: str = "application/json;charset=UTF-8"
    ) -> Response:
        """A JSON response with the given content type."""
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return cls(status, body, {"Content-Type": content_type})


Handler = Callable[..., Response]
LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # in a str a valid pair is one character: any left is alone
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def has_lone_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a string with a lone UTF-16 surrogate (``"\\ud800"``): text
    neither CRM stores, whose request both refuse with a 400."""
    if isinstance(value, str):
        return LONE_SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_lone_surrogate(v) for v in value)
    return False


def surrogate_at(body: bytes) -> tuple[int, int]:
    """The line and column of the first surrogate escape in a request body, as the CRMs' parsers say."""
    for found in _SURROGATE_ESCAPE.finditer(body):
        before = body[: found.start()]
        return before.count(b"\n") + 1, found.start() - (before.rfind(b"\n") + 1) + 1
    return 1, 1


class Router:
    """Maps (method, path pattern) to handlers; ``{name}`` in a pattern captures one path segment."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Route ``method`` on paths matching ``pattern`` to ``handler(request, **captures)``."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern.rstrip("/"))
        self._routes.append((method, re.compile(f"^{regex}/?$"), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | bool | None:
        """The handler and its captures; False when the path exists under another method; None if not."""
        path_known = False
        for route_method, regex, handler in self._routes:
            m = regex.match(path)
            if m is None:
                continue
            if route_method == method:
                return handler, m.groupdict()
            path_known = True
        return path_known or None


@dataclass(frozen=True)
class FaultProfile:
    """Rates (0..1) of injected faults per request, drawn from a seeded sequence.

    The first four apply to every request of both emulators. The others are what real orgs and portals
    answer (``crm_ops.sandbox.realworld`` serves them, each from its own seeded sequence): HubSpot's
    423 Locked and 477 Migration in Progress; Salesforce's concurrent-request REQUEST_LIMIT_EXCEEDED,
    QUERY_TIMEOUT on SystemModstamp-window queries, Bulk query jobs that end Failed and Bulk result
    pages cut short of their ``Sforce-NumberOfRecords``; and on saves (``realsaves``) UNABLE_TO_LOCK_ROW
    per record and attempt (``lock_row``) and a validation rule that a share of old contacts and
    accounts fail on every edit (``validation``: the records chosen by id, always the same ones).
    ``daily_after`` / ``total_after`` (0: never)
    make the n-th call of the run answer HubSpot's 429 DAILY / Salesforce's "TotalRequests Limit
    exceeded" once (the next call is the next day).
    """

    name: str = "none"
    rate_429: float = 0.0
    rate_503: float = 0.0
    rate_drop: float = 0.0
    rate_slow: float = 0.0
    slow_seconds: float = 1.0
    rate_locked: float = 0.0
    rate_migration: float = 0.0
    rate_concurrent: float = 0.0
    rate_query_timeout: float = 0.0
    rate_bulk_failed: float = 0.0
    rate_bulk_short: float = 0.0
    rate_lock_row: float = 0.0
    rate_validation: float = 0.0
    daily_after: int = 0
    total_after: int = 0
    rate_lost_reply: float = 0.0
    lost_reply_every: int = 0
    lost_reply_ops: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """True when any of the four generic faults can happen."""
        return self.rate_429 + self.rate_503 + self.rate_drop + self.rate_slow > 0

    @property
    def loses_replies(self) -> bool:
        """True when replies to committed writes can be lost (``crm_ops.sandbox.lostreply``)."""
        return self.rate_lost_reply > 0 or self.lost_reply_every > 0


FAULT_PROFILES: dict[str, FaultProfile] = {
    "none": FaultProfile(),
    "flaky": FaultProfile("flaky", rate_429=0.05, rate_503=0.05, rate_drop=0.02),
    "hostile": FaultProfile(
        "hostile", rate_429=0.1, rate_503=0.1, rate_drop=0.05, rate_slow=0.02, slow_seconds=2
    ),
    "slow": FaultProfile("slow", rate_slow=0.2, slow_seconds=0.5),
    # what real orgs and portals do, at the rates a large nightly pull meets them (see
    # docs/architecture.md, "Real-world behaviours"): a little throttling and server trouble, HubSpot
    # locks and a portal migration now and then, Salesforce concurrency limits, a query timing out, a
    # Bulk job failing or a result page cut short, a locked row now and then, a validation rule some old
    # records fail, one daily allowance spent on each side, and now and then a write's reply lost after
    # it committed
    "real-world": FaultProfile(
        "real-world",
        rate_429=0.02,
        rate_503=0.01,
        rate_drop=0.005,
        rate_locked=0.01,
        rate_migration=0.005,
        rate_concurrent=0.02,
        rate_query_timeout=0.1,
        rate_bulk_failed=0.1,
        rate_bulk_short=0.05,
        rate_lock_row=0.02,
        rate_validation=0.02,
        daily_after=60,
        total_after=40,
        rate_lost_reply=0.02,
    ),
}
_FAULT_KEYS = {
    "429": "rate_429",
    "503": "rate_503",
    "drop": "rate_drop",
    "slow": "rate_slow",
    "slow_seconds": "slow_seconds",
    "locked": "rate_locked",
    "migration": "rate_migration",
    "concurrent": "rate_concurrent",
    "query_timeout": "rate_query_timeout",
    "bulk_failed": "rate_bulk_failed",
    "bulk_short": "rate_bulk_short",
    "lock_row": "rate_lock_row",
    "validation": "rate_validation",
    "daily_after": "daily_after",
    "total_after": "total_after",
    "lost_reply": "rate_lost_reply",
    "lost_reply_every": "lost_reply_every",
    "lost_reply_ops": "lost_reply_ops",
}
_COUNTS = ("slow_seconds", "daily_after", "total_after", "lost_reply_every")
_WHOLE = ("daily_after", "total_after", "lost_reply_every")
# what ``lost_reply_ops`` may name (``lostreply.OPERATIONS`` classifies the requests)
LOST_REPLY_OPS = ("update", "create", "delete", "merge", "undelete", "convert", "associate", "bulk")


def parse_fault_profile(text: str) -> FaultProfile:
    """A named profile (none, flaky, hostile, slow, real-world), ``key=value`` pairs such as
    ``429=0.1,drop=0.02``, or a name then pairs that change it (``real-world,validation=0.2``).

    Keys: 429, 503, drop, slow, locked, migration, concurrent, query_timeout, bulk_failed, bulk_short,
    lock_row, validation, lost_reply (rates from 0 to 1), slow_seconds, daily_after / total_after (a call
    count), lost_reply_every (the 1st and every n-th write of each operation lose their reply) and
    lost_reply_ops (the writes that can: ``merge+create``, of update, create, delete, merge, undelete,
    convert, associate, bulk; all when not given).
    """
    if text in FAULT_PROFILES:
        return FAULT_PROFILES[text]
    keys = _FAULT_KEYS
    values: dict[str, Any] = {}
    parts = [p.strip() for p in text.split(",") if p.strip()]
    base = FAULT_PROFILES.get(parts[0]) if parts else None
    if base is not None:  # a named profile with some entries changed: real-world,validation=0.2
        parts = parts[1:]
    for part in parts:
        key, sep, raw = part.partition("=")
        if not sep or key.strip() not in keys:
            raise ValueError(
                f"fault profile {text!r}: {part!r} is not one of {', '.join(FAULT_PROFILES)} "
                f"nor KEY=VALUE with KEY in {', '.join(keys)}"
            )
        if key.strip() == "lost_reply_ops":
            ops = tuple(o.strip() for o in raw.split("+") if o.strip())
            unknown = [o for o in ops if o not in LOST_REPLY_OPS]
            if unknown or not ops:
                raise ValueError(
                    f"fault profile {text!r}: lost_reply_ops takes {'+'.join(LOST_REPLY_OPS)} "
                    f"(joined by +), got {raw!r}"
                )
            values["lost_reply_ops"] = ops
            continue
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"fault profile {text!r}: {key.strip()} must be a number, got {raw!r}") from None
        if key.strip() not in _COUNTS and not 0 <= value <= 1:
            raise ValueError(
                f"fault profile {text!r}: rate {key.strip()} must be between 0 and 1, got {value}"
            )
        values[keys[key.strip()]] = int(value) if key.strip() in _WHOLE else value
    if base is not None:
        return replace(base, name=f"{base.name} (changed)", **values)
    return FaultProfile("custom", **values)


class FaultInjector:
    """Decides, per request and deterministically for a seed, whether to inject a fault."""

    def __init__(self, profile: FaultProfile, seed: int) -> None:
        self.profile = profile
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {"429": 0, "503": 0, "drop": 0, "slow": 0}

    def draw(self) -> str | None:
        """The fault for the next request: "429", "503", "drop", "slow" or None."""
        if not self.profile.active:
            return None
        p = self.profile
        with self._lock:
            x = self._rng.random()
            for kind, rate in (
                ("429", p.rate_429),
                ("503", p.rate_503),
                ("drop", p.rate_drop),
                ("slow", p.rate_slow),
            ):
                if x < rate:
                    self.counts[kind] += 1
                    return kind
                x -= rate
        return None


class ErrorResponseError(Exception):
    """Raised by a handler to answer with an error response (the CRM's own error shape)."""

    def response(self) -> Response:  # pragma: no cover - overridden
        """The response to send."""
        raise NotImplementedError


class Layer(Protocol):
    """Behaviour laid over an emulator (``realworld``): may answer a request before the emulator does,
    and may reshape the emulator's answer."""

    def before(self, request: Request) -> Response | None:
        """A response that ends the request here, or None to serve it."""
        ...

    def after(self, request: Request, response: Response) -> Response:
        """The response to send in place of the emulator's."""
        ...


class ReplyLoser(Protocol):
    """Decides whether the reply to a request the emulator has served is lost (``lostreply``)."""

    def lose(self, request: Request, response: Response) -> bool:
        """True to drop the connection instead of answering."""
        ...


class App:
    """What a served emulator provides: routing plus its CRM's shapes for faults and unknown paths."""

    router: Router
    faults: FaultInjector
    layer: Layer | None = None
    lost_replies: ReplyLoser | None = None  # replies dropped after a write committed (``lostreply``)

    def fault_response(self, kind: str) -> Response:  # pragma: no cover - overridden
        """The response for an injected 429 or 503."""
        raise NotImplementedError

    def not_found(self, request: Request) -> Response:  # pragma: no cover - overridden
        """The response for a path the emulator does not serve."""
        raise NotImplementedError

    def method_not_allowed(self, request: Request) -> Response:  # pragma: no cover - overridden
        """The response for a known path asked with the wrong method."""
        raise NotImplementedError

    def before(self, request: Request) -> Response | None:
        """A hook run before routing (authentication, rate limits); a response here ends the request."""
        return None

    def after(self, request: Request, response: Response) -> None:
        """A hook run on every response (usage headers)."""

    def internal_error(self, request: Request, error: BaseException) -> Response:  # pragma: no cover
        """The response for an unexpected error in a handler."""
        raise NotImplementedError

    def handle(self, request: Request) -> Response | None:
        """Serve one request; None means drop the connection without answering."""
        fault = self.faults.draw()
        if fault == "drop":
            return None
        if fault == "slow":
            time.sleep(self.faults.profile.slow_seconds)
        elif fault is not None:
            return self.fault_response(fault)
        if self.layer is not None:
            early = self.layer.before(request)
            if early is not None:
                return early
        early = self.before(request)
        if early is not None:
            return early
        found = self.router.match(request.method, request.path)
        if found is None:
            return self.not_found(request)
        if found is True:
            return self.method_not_allowed(request)
        assert not isinstance(found, bool)
        handler, captures = found
        try:
            response = handler(request, **captures)
        except ErrorResponseError as known:
            response = known.response()
        except Exception as exc:  # a bug in an emulator answers 500, as a real service would; never a hang
            log.exception("sandbox.handler_error", path=request.path, method=request.method)
            return self.internal_error(request, exc)
        self.after(request, response)
        if self.layer is not None:
            response = self.layer.after(request, response)
        if self.lost_replies is not None and self.lost_replies.lose(request, response):
            return None  # committed, and the connection closes before the client hears of it
        return response


def _handler_class(app: App) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in two writes: without TCP_NODELAY the body waits for the client's
        # delayed ACK (~40 ms a request)
        disable_nagle_algorithm = True
        server_version = "crm-ops-sandbox"
        sys_version = ""

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            request = Request(
                self.command,
                url.path,
                parse_qs(url.query, keep_blank_values=True),
                self.headers,
                body,
                self.path,
            )
            response = app.handle(request)
            if response is None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests are not logged one by one: the volume would drown the useful lines

    return _Handler


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that drops its connection or fails the TLS handshake is routine here, not a crash.
        log.debug("sandbox.connection_error", client=str(client_address), exc_info=True)


class Server:
    """Serves an ``App`` on 127.0.0.1 in a background thread, optionally over TLS."""

    def __init__(self, app: App, *, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.app = app
        self._httpd = _HTTPServer(("127.0.0.1", port), _handler_class(app))
        if tls is not None:
            # The handshake runs on the connection's own thread (first read), never in the accept loop.
            self._httpd.socket = tls.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread: threading.Thread | None = None
        self.scheme = "https" if tls is not None else "http"

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL clients use."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"sandbox-{self.port}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
