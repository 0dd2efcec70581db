"""What the read and the write side of the HubSpot connector share: batch sizes, timestamps, the API
objects of hubspot-api-client, and the calls sent around its request building (``RawCalls``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from hubspot import HubSpot

ASSOC_BATCH = 1_000  # ids a v4 association batch call takes
UPDATE_BATCH = 100  # records a batch read or update takes


def epoch_ms(value: datetime) -> str:
    """A datetime as HubSpot's search filters take it: epoch milliseconds, as a string."""
    return str(int(value.astimezone(UTC).timestamp() * 1000))


def parse_stamp(text: str) -> datetime:
    """A HubSpot timestamp (ISO 8601 or epoch milliseconds) as an aware datetime."""
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class HubSpotApis:
    """The hubspot-api-client API objects the connector calls, each built once."""

    def __init__(self, client: HubSpot) -> None:
        crm = client.crm
        self.objects = crm.objects.basic_api
        self.batch = crm.objects.batch_api
        self.search = crm.objects.search_api
        self.properties = crm.properties.core_api
        self.associations = crm.associations.v4.batch_api
        self.owners = crm.owners.owners_api
        # the GDPR delete (``purge``) is the contacts API's: HubSpot has none for other object types
        self.gdpr = crm.contacts.basic_api
        # the merge endpoint is per object type (contacts, companies, deals, tickets)
        self.merge: dict[str, Any] = {
            "contacts": crm.contacts.basic_api,
            "companies": crm.companies.basic_api,
            "deals": crm.deals.basic_api,
            "tickets": crm.tickets.basic_api,
        }


class RawFailureError(Exception):
    """A raw call's error answer, shaped like the client's ``ApiException`` for ``translate``."""

    def __init__(self, status: int, reason: Any, body: bytes, headers: Any) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason, self.body, self.headers = status, reason, body, headers


class RawCalls:
    """The pull's two hottest calls (a list page, a v4 association batch read) sent as the client sends
    them (same URL, query, headers and connection pool, so its proxy, CA bundle and keep-alive), without
    its request building: it sanitises and URL-encodes every parameter anew each call (~0.2 ms a list
    page of 25 properties) and walks a 1,000-id association body object by object (~2 ms). Answers come
    back unread, as the client's with ``_preload_content=False``; an error answer raises
    ``RawFailureError``, a TLS failure the client's ``status=0`` error."""

    def __init__(self, apis: HubSpotApis, token: str) -> None:
        api_client = apis.objects.api_client
        self._pool = api_client.rest_client.pool_manager
        self._host = api_client.configuration.host.rstrip("/")
        self._headers = {
            **api_client.default_headers,
            "Accept": "application/json",
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token}",
        }

    @staticmethod
    def list_query(properties: Sequence[str]) -> str:
        """The properties' part of a list call's query, encoded once for every page of a pull."""
        return urlencode([("properties", p) for p in properties])

    def list_page(
        self,
        object_type: str,
        limit: int,
        properties: str,
        after: str | None,
        archived: bool,
        *,
        _preload_content: bool,
        _request_timeout: tuple[float, float],
    ) -> Any:
        """``GET /crm/v3/objects/{object_type}``, a page of ``limit`` records (``properties``:
        ``list_query``'s; ``after``: the page's cursor, None for the first)."""
        query = f"limit={limit}" + (f"&{urlencode({'after': after})}" if after else "")
        query += (f"&{properties}" if properties else "") + f"&archived={archived}"
        path = f"/crm/v3/objects/{quote(object_type, safe='')}?{query}"
        return self._send("GET", path, None, _request_timeout)

    def association_read(
        self,
        source: str,
        target: str,
        body: bytes,
        *,
        _preload_content: bool,
        _request_timeout: tuple[float, float],
    ) -> Any:
        """``POST /crm/v4/associations/{source}/{target}/batch/read`` with ``body`` (JSON bytes)."""
        path = f"/crm/v4/associations/{quote(source, safe='')}/{quote(target, safe='')}/batch/read"
        return self._send("POST", path, body, _request_timeout)

    def _send(self, method: str, path: str, body: bytes | None, timeout: tuple[float, float]) -> Any:
        try:
            response = self._pool.request(
                method,
                self._host + path,
                body=body,
                headers=dict(self._headers),
                preload_content=False,
                timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
            )
        except urllib3.exceptions.SSLError as exc:  # as the client reports it
            raise RawFailureError(0, f"{type(exc).__name__}\n{exc}", b"", {}) from exc
        if not 200 <= response.status <= 299:
            raise RawFailureError(response.status, response.reason, response.data, response.headers)
        return response
