"""An answer that is not the API's: a proxy's or single sign-on page (HTML) served in place of JSON.

Corporate proxies that want a sign-in, captive portals and SSO gateways answer 200 with a page. Parsed as
JSON, that page is a crash; here it is a ``NotApiAnswerError`` (exit 3) naming the host asked, the status and
the content type, with a few words of the page to recognise it by (its title; long runs such as tokens
and session ids masked, secret values redacted): never the page itself.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import requests

from crm_ops.config import redact
from crm_ops.errors import NotApiAnswerError

API_TYPES = ("json", "csv", "xml")  # what the CRMs' APIs answer in (Bulk results are CSV, SOAP XML)
NOT_JSON = "NOT_JSON"
_LONG = re.compile(r"[\w+/=.~-]{16,}")  # tokens, session ids, signed URLs' parts
_ASSIGNED = re.compile(r"(?i)\b((?:\w*token|\w*key|\w*secret|password|session\w*|sid|code)\s*[=:]\s*)\S+")


def snippet(body: bytes, limit: int = 60) -> str:
    """A few words of a page: its ``<title>``, else its first text with the tags stripped; masked."""
    text = body[:8192].decode("utf-8", "replace")
    title = re.search(r"<title[^>]*>(.*?)</title", text, re.IGNORECASE | re.DOTALL)
    text = title.group(1) if title else re.sub(r"<[^>]*>?", " ", text)
    text = _ASSIGNED.sub(r"\1…", _LONG.sub("…", " ".join(text.split())))
    return redact(text[:limit])


def not_api_answer(
    system: str, url: str, status: int, content_type: str | None, body: bytes
) -> NotApiAnswerError:
    """The error for an answer of ``url`` that is not the API's (not JSON where JSON was expected)."""
    host = urlsplit(url).netloc or url
    kind = (content_type or "").split(";")[0].strip() or "no content type"
    seen = snippet(body)
    return NotApiAnswerError(
        system,
        f"{host} answered {status} with {kind}, not the API's JSON"
        + (f" (the page says {seen!r})" if seen else "")
        + ": a proxy's or single sign-on page? Check the URL in the profile and HTTPS_PROXY / NO_PROXY, "
        "and whether the network asks this machine to sign in",
        status=status,
        code=NOT_JSON,
    )


def check(system: str, response: requests.Response) -> None:
    """Raise ``not_api_answer`` for a successful answer in none of the APIs' types, or a page labelled
    JSON (a proxy that keeps the content type it was asked for): a requests response hook, it runs
    before any caller parses the body. An empty answer (204) passes."""
    if not 200 <= response.status_code < 300 or not response.content:
        return
    kind = response.headers.get("Content-Type", "").lower()
    if "json" in kind and response.content.lstrip()[:1] == b"<":  # markup is never JSON
        raise not_api_answer(system, response.url, response.status_code, kind, response.content)
    if any(t in kind for t in API_TYPES):
        return
    raise not_api_answer(system, response.url, response.status_code, kind, response.content)
