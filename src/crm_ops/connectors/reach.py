"""A CRM that cannot be reached at all: the connection refused, the name not resolved (DNS), no
connection made within ``connect_timeout``. Not a lost answer (nothing was sent, so nothing is looked up
before a write goes again) but an ``UnreachableError``, retried only for ``unreachable_after`` seconds
(``crm_ops.retry``); a pull then skips the host's other entities (``Puller.pull_many``)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import requests
import urllib3

from crm_ops.errors import UnreachableError


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: urllib3's ``reason``, requests' first argument, causes and contexts."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 12:
        current = todo.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        inner = [getattr(current, "reason", None), current.__cause__, current.__context__]
        inner += [a for a in current.args if isinstance(a, BaseException)]
        todo += [i for i in inner if isinstance(i, BaseException)]
    return seen


def _why(chain: list[BaseException]) -> str | None:
    """What kept the connection from being made, in words (None: it was made, or this is not about it)."""
    if any(isinstance(e, urllib3.exceptions.NameResolutionError | socket.gaierror) for e in chain):
        return "the host name does not resolve (DNS)"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or any(
        isinstance(e, urllib3.exceptions.NewConnectionError) and "refused" in str(e) for e in chain
    ):
        return "the connection was refused"
    if any(
        isinstance(e, urllib3.exceptions.ConnectTimeoutError | requests.exceptions.ConnectTimeout)
        for e in chain
    ):
        return "no connection within connect_timeout"
    if any(isinstance(e, urllib3.exceptions.NewConnectionError) for e in chain):
        return "no connection could be made"
    return None


def _host(chain: list[BaseException]) -> str | None:
    for e in chain:
        request = getattr(e, "request", None)
        url = getattr(request, "url", None)
        if isinstance(url, str) and urlsplit(url).netloc:
            return urlsplit(url).netloc
        pool = getattr(e, "pool", None)
        host, port = getattr(pool, "host", None), getattr(pool, "port", None)
        if host:
            return f"{host}:{port}" if port else str(host)
    return None


def unreachable(system: str, exc: BaseException, url: str, after: float) -> UnreachableError | None:
    """Our error when ``exc`` is a failure to connect at all (``url``: the host asked, when ``exc`` does
    not say); ``after`` is how long the profile lets crm-ops try."""
    chain = _chain(exc)
    why = _why(chain)
    if why is None:
        return None
    host = _host(chain) or urlsplit(url).netloc or url
    return UnreachableError(system, host, why, after)
