"""HubSpot, on hubspot-api-client: properties API, list pages, windowed search, archived tombstones.

- Auth: a private-app token (from the environment, never the config file).
- Which properties: those the map reads plus every property HubSpot did not define (custom ones),
  checked against the properties API.
- Full pull: list pages of 100 (the API's maximum, so the floor of calls), then the archived records
  as tombstones. Cursor: (phase, after).
- Incremental pull: search on the object's last-modified property within [since, until], sorted by
  hs_object_id, with ``hs_object_id > last id`` added to the filter; when a search reaches HubSpot's
  10,000-result cap it starts again after the last id seen, so no window loses rows. Then the
  archived records whose archivedAt falls in the window. Cursor: (phase, last id) or (phase, after).
- Associations: each page's primary company (contacts, deals) through the v4 batch read (1,000 ids a
  call). The ContactRole entity is the deal-to-contact associations, pulled whole each time.
- Calls go through a client-side limiter kept under the portal's 10-second window (and the search
  API's per-second one), and through the shared retry policy. The client's responses are read raw
  (``_preload_content=False``): its model classes cost about 45 ms a page, the JSON a fraction of it
  (orjson: a quarter of the standard library's CPU on these pages). A pull's list pages and association
  reads are sent around the client's request building (``hsapi.RawCalls``), and its answers become rows
  and frames of links in ``hspages`` (issue 30: the pull's CPU per page).
- Writing, merging and undoing merges: ``hswrite.HubSpotWrites``, a mixin of the connector.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from types import SimpleNamespace
from typing import Any

import orjson
import polars as pl
import requests
import structlog
from hubspot import HubSpot

from crm_ops.config import HubSpotSettings
from crm_ops.connectors import hspages
from crm_ops.connectors.answers import not_api_answer
from crm_ops.connectors.base import FieldInfo, Page, resolve_map
from crm_ops.connectors.hsapi import (
    ASSOC_BATCH,
    UPDATE_BATCH,
    HubSpotApis,
    RawCalls,
    RawFailureError,
    epoch_ms,
    parse_stamp,
)
from crm_ops.connectors.hserrors import translate
from crm_ops.connectors.hsprops import join_rest, split_for_url
from crm_ops.connectors.hswrite import HubSpotWrites
from crm_ops.connectors.netconf import CrmSession, proxy_for
from crm_ops.connectors.orgmeta import ObjectMeta, hubspot_property
from crm_ops.connectors.reach import unreachable
from crm_ops.errors import BudgetExhaustedError, ConfigError, RetriableApiError, UnreachableError
from crm_ops.ratelimit import RateLimiter
from crm_ops.retry import RetryPolicy, call_settled
from crm_ops.schema import fieldmap, mapapply
from crm_ops.schema.fieldmap import ASSOCIATION_PREFIX, EntityMap, FieldMap, Resolved

__all__ = ["HubSpotConnector", "parse_stamp", "translate"]

log = structlog.get_logger("crm_ops.hubspot")
SYSTEM = "hubspot"
JSON = "application/json"
LIST_LIMIT = 100
SEARCH_LIMIT = 200
SEARCH_CAP = 10_000
OWNER_LIMIT = 500
CRM_OBJECTS = ("contacts", "companies", "deals")
# the entities that are no object of the objects API (pulled whole by their own endpoints); every other
# object is one: the standard ones, and custom object types (``p_<name>``, ``2-<id>``) a profile declares
NOT_OBJECTS = ("owners", "deal_contacts")
MERGED_IDS = "hs_merged_object_ids"  # the ids merged into a record (each answers it)
# the last-modified property HubSpot's search indexes for each object
MODIFIED = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}


def modified_property(object_type: str) -> str:
    """The last-modified property search indexes for ``object_type`` (every object but contacts:
    ``hs_lastmodifieddate``, custom object types included)."""
    return MODIFIED.get(object_type, "hs_lastmodifieddate")


def is_object(object_type: str) -> bool:
    """Whether ``object_type`` is read through the objects, properties and search APIs (a standard or
    custom object type), rather than pulled whole by an endpoint of its own (owners, deal contacts)."""
    return object_type not in NOT_OBJECTS


def _parsed(base_url: str, response: Any) -> Any:
    """A raw answer's JSON ({} when empty); a page in its place (a proxy's sign-in) is our error."""
    if not response.data:
        return {}
    try:
        return orjson.loads(response.data)
    except orjson.JSONDecodeError:
        headers = getattr(response, "headers", None) or {}
        kind = headers.get("Content-Type") if hasattr(headers, "get") else None
        raise not_api_answer(
            SYSTEM, base_url, getattr(response, "status", 200), kind, response.data
        ) from None


class HubSpotConnector(HubSpotWrites):
    """The HubSpot side of the connector contract (writing: ``hswrite.HubSpotWrites``)."""

    system = SYSTEM

    def __init__(
        self,
        settings: HubSpotSettings,
        fmap: FieldMap,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.fmap = fmap
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        base = settings.base_url.rstrip("/")
        self.client = HubSpot(
            access_token=settings.secret("token"),
            host=base,
            proxy=proxy_for(base),  # HTTPS_PROXY / NO_PROXY, as for Salesforce
            ssl_ca_cert=settings.ca_bundle,
        )
        # hubspot-api-client builds a new API client (and connection pool) on every attribute access:
        # built once here, calls reuse their keep-alive connections
        self.api = HubSpotApis(self.client)
        self.raw = RawCalls(self.api, settings.secret("token"))
        self.limiter = RateLimiter(settings.rate_per_ten_seconds, 10.0, sleep=sleep)
        self.search_limiter = RateLimiter(settings.search_per_second, 1.0, sleep=sleep)
        self._calls = 0
        self._properties: dict[str, list[FieldInfo]] = {}
        self._org: dict[str, ObjectMeta] = {}  # the properties answers, compact (``orgmeta``)
        self._resolved: dict[str, Resolved] = {}
        self._moved: dict[str, dict[str, str]] = {}  # merged ids met by read, by entity
        self._merges_refused: dict[str, str] = {}
        # the calls the client library does not make
        self._http = CrmSession(settings.ca_bundle, settings.connect_timeout)

    def _unreachable(self, exc: BaseException) -> UnreachableError | None:
        return unreachable(SYSTEM, exc, self.settings.base_url, self.settings.unreachable_after)

    @property
    def api_calls(self) -> int:
        """API calls this connector made."""
        return self._calls

    def _call(
        self,
        fn: Callable[..., Any],
        *args: Any,
        search: bool = False,
        landed: Callable[[], Any] | None = None,
        parse: Callable[[Any], Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """One API call: rate-limited, retried, its JSON answer parsed (models skipped), or read by
        ``parse`` from the raw response. A write that is not safe to send twice gives ``landed``: after an
        attempt that got no answer, ``landed()`` looks it up first and its answer, when not None, is the
        call's (``retry.call_settled``)."""

        def attempt() -> Any:
            if search:
                self.search_limiter.acquire()
            self.limiter.acquire()
            self._calls += 1
            try:
                timeout = (self.settings.connect_timeout, self.settings.timeout_seconds)
                response = fn(*args, _preload_content=False, _request_timeout=timeout, **kwargs)
                return parse(response) if parse else _parsed(self.settings.base_url, response)
            except Exception as exc:
                mapped = self._unreachable(exc) or translate(exc, self.settings.ca_bundle)
                if mapped is None:
                    raise
                if mapped.status == 429 and mapped.code == "DAILY":
                    # the portal's daily allowance is spent until its midnight: never retried
                    raise BudgetExhaustedError(
                        f"{mapped}; stopped there, and resumes on the next run"
                    ) from None
                raise mapped from None

        return call_settled(self.policy, SYSTEM, attempt, landed, sleep=self._sleep)

    # ------------------------------------------------------------------ metadata

    def entities(self) -> tuple[str, ...]:
        """Every entity the map gives for HubSpot (it has no separate Lead object)."""
        return tuple(self.fmap.entities)

    def _map(self, entity: str) -> EntityMap:
        """The entity's map held against this portal's properties (present ones only, customs typed)."""
        if entity not in self._resolved:
            available = {p.name: fieldmap.canonical_type(SYSTEM, p.type) for p in self.describe(entity)}
            self._resolved[entity] = resolve_map(self.fmap.entity(entity), available, ignore=("archived",))
        return self._resolved[entity].map

    def warnings(self, entity: str) -> list[str]:
        """Each optional mapped property this portal lacks (its column stays empty)."""
        self._map(entity)
        return list(self._resolved[entity].warnings)

    def formula_columns(self, entity: str) -> list[str]:
        """None: HubSpot moves a record's last-modified date when a calculated property changes."""
        return []

    def pull_columns(
        self, entity: str, columns: Sequence[str], *, until: datetime, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Not needed for HubSpot (see ``formula_columns``)."""
        raise ConfigError(f"hubspot: {entity} has no formula columns to refresh")

    def incremental(self, entity: str) -> bool:
        """Objects (custom ones too) are searchable by last-modified date; owners and deal contacts are
        pulled whole."""
        return is_object(self.fmap.entity(entity).object)

    def describe(self, entity: str) -> list[FieldInfo]:
        """The object's properties from the properties API (owners: their fixed fields)."""
        emap = self.fmap.entity(entity)
        if not is_object(emap.object):
            return [
                FieldInfo(name, "string", canonical=c) for c, s in emap.columns.items() for name in s.names
            ]
        if emap.object not in self._properties:
            body = self._call(self.api.properties.get_all, emap.object)
            self._properties[emap.object] = [
                FieldInfo(
                    name=p["name"],
                    type=p.get("type", "string"),
                    label=p.get("label", ""),
                    custom=not p.get("hubspotDefined", False),
                    updateable=not (p.get("modificationMetadata") or {}).get("readOnlyValue", False),
                    canonical=emap.column_for(p["name"]),
                )
                for p in body.get("results", [])
            ]
            self._org[emap.object] = {p["name"]: hubspot_property(p) for p in body.get("results", [])}
        return self._properties[emap.object]

    def org_metadata(self, entity: str) -> ObjectMeta:
        """The object's properties as this pull's properties answer gave them, compact (owners, which
        have no properties API, none)."""
        self.describe(entity)
        return self._org.get(self.fmap.entity(entity).object, {})

    def _props(self, entity: str) -> tuple[list[str], list[str]]:
        """The properties to request and the custom ones among them."""
        emap = self._map(entity)
        described = self.describe(entity)
        custom = [p.name for p in described if p.custom]
        wanted = [f for f in emap.fields() if f != "archived"]
        wanted += [c for c in custom if c not in wanted]
        modified = modified_property(emap.object)
        for required in ("hs_object_id", modified):
            if required not in wanted:
                wanted.append(required)
        return wanted, custom

    def count(self, entity: str, since: datetime | None) -> int:
        """Records modified since ``since`` (search total), or all active ones."""
        emap = self._map(entity)
        if not is_object(emap.object):
            return -1
        filters = (
            []
            if since is None
            else [
                {"propertyName": modified_property(emap.object), "operator": "GTE", "value": epoch_ms(since)}
            ]
        )
        body = self._search(emap.object, filters, ["hs_object_id"], 0, 1)
        return int(body.get("total", 0))

    def visible_count(self, entity: str) -> int | None:
        """The active records the private app sees (search total), None for an entity that is not a
        CRM object (associations, owners): the data monitors' volume."""
        total = self.count(entity, None)
        return total if total >= 0 else None

    # ------------------------------------------------------------------ reading

    def _search(
        self, object_type: str, filters: list[dict[str, Any]], props: list[str], offset: int, limit: int
    ) -> Any:
        request = {
            "filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": props,
            "limit": limit,
            "after": str(offset),
        }
        return self._call(
            self.api.search.do_search,
            object_type,
            public_object_search_request=request,
            search=True,
        )

    def _page(
        self, entity: str, rows: list[dict[str, Any]], props: list[str], custom: list[str]
    ) -> pl.DataFrame:
        emap = self._map(entity)
        columns = [*props, "archived"]
        raw = (
            pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String()), orient="row")
            if rows
            else (pl.DataFrame(schema=dict.fromkeys(columns, pl.String())))
        )
        for target in emap.associations():
            ids = raw["hs_object_id"]
            links = self._links(emap.object, target, ids.to_list())
            raw = raw.with_columns(hspages.primary_of(links, ids).alias(ASSOCIATION_PREFIX + target))
        return mapapply.apply(emap, raw, custom=custom)

    def _links(self, source: str, target: str, ids: Sequence[str]) -> pl.DataFrame:
        """The ``target`` records linked to each of ``ids`` (from_id, to_id, whether the link is the
        primary one), in the answers' order: every page of each record's links (v4 batch reads page them
        per record, ``paging.next.after``)."""
        read = hspages.read_links(partial(_parsed, self.settings.base_url))
        found: list[pl.DataFrame] = []
        pending: list[dict[str, str]] = [{"id": i} for i in ids]
        while pending:  # a record with more links than a page holds says where its next page starts
            chunk, pending = pending[:ASSOC_BATCH], pending[ASSOC_BATCH:]
            body = orjson.dumps({"inputs": chunk})
            links: hspages.Links = self._call(self.raw.association_read, source, target, body, parse=read)
            found.append(links.frame)
            pending += links.pending
        return pl.concat(found) if found else pl.DataFrame(schema=hspages.LINKS)

    def _associations(
        self, source: str, target: str, ids: Sequence[str]
    ) -> dict[str, list[tuple[str, bool]]]:
        """For each id, its linked ``target`` ids and whether each link is the primary one (``_links``)."""
        out: dict[str, list[tuple[str, bool]]] = {}
        for record, to, primary in self._links(source, target, ids).iter_rows():
            out.setdefault(record, []).append((to, primary))
        return out

    def pull(
        self,
        entity: str,
        *,
        since: datetime | None,
        until: datetime,
        cursor: dict[str, Any] | None,
    ) -> Iterator[Page]:
        """Records changed in [since, until] (all when ``since`` is None), archived ones as tombstones."""
        emap = self._map(entity)
        if emap.object == "owners":
            yield from self._pull_owners(entity, cursor or {})
        elif emap.object == "deal_contacts":
            yield from self._pull_deal_contacts(entity, cursor or {})
        elif since is None:
            yield from self._pull_full(entity, cursor or {})
        else:
            yield from self._pull_changed(entity, since, until, cursor or {})

    def _pull_full(self, entity: str, cursor: dict[str, Any]) -> Iterator[Page]:
        emap = self._map(entity)
        props, custom = self._props(entity)
        modified = modified_property(emap.object)
        phases = ("active", "archived")
        phase = cursor.get("phase", "active")
        after = cursor.get("after")
        in_url, rest = split_for_url(props)  # hundreds of custom properties: the rest by batch read
        query = RawCalls.list_query(in_url)
        for current in phases[phases.index(phase) :]:
            rows: list[dict[str, Any]] = []
            while True:
                archived = current == "archived"
                body = self._call(self.raw.list_page, emap.object, LIST_LIMIT, query, after, archived)
                results = body.get("results", [])
                join_rest(results, rest, partial(self._batch_read, emap.object), archived)
                rows += hspages.rows(results, modified)
                after = ((body.get("paging") or {}).get("next") or {}).get("after")
                if after is None or len(rows) >= self.settings.part_rows:
                    last_phase = current == phases[-1]
                    if after is not None:
                        next_cursor: dict[str, Any] | None = {"phase": current, "after": after}
                    else:
                        next_cursor = None if last_phase else {"phase": phases[phases.index(current) + 1]}
                    yield Page(self._page(entity, rows, props, custom), next_cursor)
                    rows = []
                    if after is None:
                        break

    def _pull_changed(
        self, entity: str, since: datetime, until: datetime, cursor: dict[str, Any]
    ) -> Iterator[Page]:
        emap = self._map(entity)
        props, custom = self._props(entity)
        modified = modified_property(emap.object)
        window = [
            {"propertyName": modified, "operator": "GTE", "value": epoch_ms(since)},
            {"propertyName": modified, "operator": "LTE", "value": epoch_ms(until)},
        ]
        if cursor.get("phase", "changed") == "changed":
            last_id = int(cursor.get("after_id", 0))
            rows: list[dict[str, Any]] = []
            offset = 0
            while True:
                filters = [*window, {"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)}]
                body = self._search(emap.object, filters, props, offset, SEARCH_LIMIT)
                results = body.get("results", [])
                rows += hspages.rows(results, modified)
                more = bool((body.get("paging") or {}).get("next"))
                offset += len(results)
                if more and offset + SEARCH_LIMIT > SEARCH_CAP:
                    # the cap: search again after the last id seen rather than page further
                    last_id, offset = int(results[-1]["id"]), 0
                if not more or len(rows) >= self.settings.part_rows:
                    if more and offset:
                        last_id, offset = int(results[-1]["id"]), 0
                    next_cursor = {"phase": "changed", "after_id": last_id} if more else {"phase": "archived"}
                    yield Page(self._page(entity, rows, props, custom), next_cursor)
                    rows = []
                    if not more:
                        break
            cursor = {"phase": "archived"}
        after = cursor.get("after")
        rows = []
        lo, hi = since.astimezone(UTC), until.astimezone(UTC)
        query = RawCalls.list_query(props)
        while True:
            body = self._call(self.raw.list_page, emap.object, LIST_LIMIT, query, after, True)
            for r in body.get("results", []):
                stamp = r.get("archivedAt")
                if stamp and lo <= parse_stamp(stamp) <= hi:
                    rows += hspages.rows([r], modified)
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if after is None or len(rows) >= self.settings.part_rows:
                yield Page(
                    self._page(entity, rows, props, custom),
                    {"phase": "archived", "after": after} if after else None,
                )
                rows = []
                if after is None:
                    return

    def _pull_owners(self, entity: str, cursor: dict[str, Any]) -> Iterator[Page]:
        emap = self._map(entity)
        fields = ["id", "email", "firstName", "lastName", "userId", "createdAt", "updatedAt", "archived"]
        rows: list[dict[str, Any]] = []
        for archived in (False, True):
            after = None
            while True:
                kwargs: dict[str, Any] = {"limit": OWNER_LIMIT, "archived": archived}
                if after:
                    kwargs["after"] = after
                body = self._call(self.api.owners.get_page, **kwargs)
                for r in body.get("results", []):
                    row = {f: None if r.get(f) is None else str(r.get(f)) for f in fields}
                    row["archived"] = "true" if r.get("archived") or archived else "false"
                    rows.append(row)
                after = ((body.get("paging") or {}).get("next") or {}).get("after")
                if after is None:
                    break
        raw = pl.DataFrame(rows, schema=dict.fromkeys(fields, pl.String()), orient="row")
        yield Page(mapapply.apply(emap, raw.unique("id", keep="first", maintain_order=True)), None)

    def _pull_deal_contacts(self, entity: str, cursor: dict[str, Any]) -> Iterator[Page]:
        emap = self._map(entity)
        after = cursor.get("after")
        while True:
            rows: list[dict[str, Any]] = []
            deals: list[dict[str, Any]] = []
            while len(deals) < ASSOC_BATCH:
                kwargs: dict[str, Any] = {"limit": LIST_LIMIT, "properties": ["hs_lastmodifieddate"]}
                if after:
                    kwargs["after"] = after
                body = self._call(self.api.objects.get_page, "deals", **kwargs)
                deals += body.get("results", [])
                after = ((body.get("paging") or {}).get("next") or {}).get("after")
                if after is None:
                    break
            stamps = {str(d["id"]): (d.get("properties") or {}).get("hs_lastmodifieddate") for d in deals}
            links = self._associations("deals", "contacts", list(stamps))
            for deal_id, contacts in links.items():
                for contact_id, _ in contacts:
                    rows.append(
                        {
                            "id": f"{deal_id}-{contact_id}",
                            "deal_id": deal_id,
                            "contact_id": contact_id,
                            "hs_lastmodifieddate": stamps.get(deal_id),
                            "archived": "false",
                        }
                    )
            schema = dict.fromkeys(
                ["id", "deal_id", "contact_id", "hs_lastmodifieddate", "archived"], pl.String()
            )
            raw = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
            yield Page(mapapply.apply(emap, raw), {"after": after} if after else None)
            if after is None:
                return

    def read(self, entity: str, ids: Sequence[str]) -> pl.DataFrame:
        """Current values of ``ids`` through batch read (100 a call), canonical."""
        emap = self._map(entity)
        if not is_object(emap.object):
            raise ConfigError(f"hubspot: {entity} cannot be read by id")
        props, custom = self._props(entity)
        results = self._batch_read(emap.object, list(ids), [*props, MERGED_IDS])
        asked = {str(i) for i in ids}
        moved = self._moved.setdefault(entity, {})
        for r in results:
            now = str(r.get("id"))
            for old in str((r.get("properties") or {}).get(MERGED_IDS) or "").split(";"):
                if old.strip() in asked and old.strip() != now:
                    moved[old.strip()] = now  # a merged id, answered by the record it became
        unique = list({str(r.get("id")): r for r in results}.values())  # an old and a new id, one record
        rows = hspages.rows(unique, modified_property(emap.object))
        return self._page(entity, rows, props, custom)

    def moved_ids(self, entity: str) -> dict[str, str]:
        """The merged ids ``read`` has met, old to new: HubSpot answers a merged id with the record it was
        merged into, which names it in ``hs_merged_object_ids``."""
        return dict(self._moved.get(entity, {}))

    def _batch_read(
        self, object_type: str, ids: list[str], props: list[str], archived: bool = False
    ) -> list[dict[str, Any]]:
        """The records ``ids`` with ``props`` through batch read (100 a call; the list in the body)."""
        results: list[dict[str, Any]] = []
        for start in range(0, len(ids), UPDATE_BATCH):
            request: dict[str, Any] = {
                "inputs": [{"id": i} for i in ids[start : start + UPDATE_BATCH]],
                "properties": props,
                "propertiesWithHistory": [],
            }
            if archived:
                request["archived"] = True  # the emulator reads it from the body, HubSpot from the query
            body = self._call(
                self.api.batch.read,
                object_type,
                batch_read_input_simple_public_object_id=request,
                archived=archived,
            )
            results += body.get("results", [])
        return results

    # ------------------------------------------------------------------ the portal itself

    def _send(
        self, method: str, path: str, body: Any, timeout: float | tuple[float, float]
    ) -> requests.Response:
        """One request outside the client library, with the token, proxies and CA every call has."""
        return self._http.request(
            method,
            self.settings.base_url.rstrip("/") + path,
            json=body,
            headers={"Authorization": f"Bearer {self.settings.secret('token')}", "Accept": JSON},
            timeout=timeout,
        )

    def account_info(self) -> dict[str, Any]:
        """The portal's details (``GET /account-info/v3/details``: ``portalId``, ``uiDomain``, ...), through
        the same rate limit, retries and errors as every other call."""

        def get(*, _preload_content: bool, _request_timeout: tuple[float, float]) -> Any:
            response = self._send("GET", "/account-info/v3/details", None, _request_timeout)
            if response.status_code >= 400:
                status, reason = response.status_code, response.reason
                raise RawFailureError(status, reason, response.content, response.headers)
            return SimpleNamespace(
                data=response.content, status=response.status_code, headers=response.headers
            )

        body = self._call(get)
        return body if isinstance(body, dict) else {}

    def object_properties(self, object_type: str) -> list[dict[str, Any]]:
        """An object type's properties as the portal answers them (``name``, ``type``,
        ``hubspotDefined``...), for a type no map reads yet (``crm-ops discover``)."""
        body = self._call(self.api.properties.get_all, object_type)
        return list(body.get("results", [])) if isinstance(body, dict) else []

    def custom_object_types(self) -> list[dict[str, Any]]:
        """The portal's custom object schemas (``GET /crm/v3/schemas``: ``objectTypeId``,
        ``fullyQualifiedName``, ``name``, ``labels``, ``associations``...)."""
        body = self._call(self.client.crm.schemas.core_api.get_all)
        return list(body.get("results", [])) if isinstance(body, dict) else []

    def record_count(self, object_type: str) -> int:
        """How many live records of ``object_type`` the portal holds (the search API's total)."""
        return int(self._search(object_type, [], ["hs_object_id"], 0, 1).get("total", 0))

    def probe(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
        """One raw call (status, headers, parsed body), not retried, for diagnostics (``doctor``): an error
        answer is returned, not raised; a failure to connect is raised as our error."""
        self._calls += 1
        try:
            response = self._send(method, path, body, self.settings.timeout_seconds)
        except requests.exceptions.RequestException as exc:
            mapped = self._unreachable(exc) or translate(exc, self.settings.ca_bundle)
            raise mapped or RetriableApiError(SYSTEM, str(exc)) from exc
        try:
            parsed = response.json() if response.content else None
        except ValueError:
            parsed = response.text[:200]
        return response.status_code, dict(response.headers), parsed

    def close(self) -> None:
        """Close the session of the calls outside the client (the client's pool closes with the process)."""
        self._http.close()
