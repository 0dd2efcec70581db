"""Salesforce, on simple-salesforce: OAuth, describe, REST or Bulk API 2.0, keyset-resumable pulls.

- Auth (``sfauth``): password (username + password + security token), OAuth client credentials, JWT
  bearer, or an existing session id. Tokens come from ``{login_url}/services/oauth2/token``
  (login.salesforce.com, test.salesforce.com or a My Domain), then simple-salesforce runs on the session.
- Which fields: those the map reads plus every custom field (``__c``), checked against ``describe``;
  compound parents (address, location) are never requested, their parts are.
- How: ``COUNT()`` first; at or under ``bulk_threshold`` a REST ``queryAll`` ordered by
  (SystemModstamp, Id) whose cursor is that pair, so a resumed pull continues right after the last row
  written; above it, a Bulk API 2.0 ``queryAll`` job whose cursor is (job id, result locator). A field
  list too long for a REST URL also goes through Bulk (its query travels in a POST body).
- Deleted records (IsDeleted, from the recycle bin) arrive as tombstones: ``queryAll`` returns them.
- API usage is read from ``Sforce-Limit-Info`` on every answer; before a call that would pass the
  configured share of the daily allowance, the pull stops with ``BudgetExhaustedError`` (resumable).
- Writing, merging and undoing merges: ``sfwrite.SalesforceWrites``, a mixin of the connector.
"""

from __future__ import annotations

import io
import json
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import polars as pl
import requests
import structlog
from simple_salesforce.api import Salesforce
from simple_salesforce.bulk2 import Operation, _Bulk2Client
from simple_salesforce.exceptions import SalesforceError

from crm_ops.config import SalesforceSettings
from crm_ops.connectors import answers, sfauth
from crm_ops.connectors.base import CursorExpiredError, FieldInfo, Page, resolve_map
from crm_ops.connectors.netconf import CrmSession, proxy_hint, tls_hint
from crm_ops.connectors.orgmeta import ObjectMeta, salesforce_field
from crm_ops.connectors.reach import unreachable
from crm_ops.connectors.sfsoql import READ_BATCH, soql_datetime, soql_quote
from crm_ops.connectors.sfwindows import BULK_RESTARTS, narrower, next_window, window_clauses
from crm_ops.connectors.sfwrite import SalesforceWrites
from crm_ops.errors import (
    NO_ANSWER,
    ApiError,
    BudgetExhaustedError,
    ConfigError,
    FatalApiError,
    NotApiAnswerError,
    RetriableApiError,
    SessionExpiredError,
)
from crm_ops.retry import RetryPolicy, call_settled
from crm_ops.schema import fieldmap, mapapply
from crm_ops.schema.entities import CUSTOM_PREFIX
from crm_ops.schema.fieldmap import EntityMap, FieldMap, Resolved

__all__ = ["SalesforceConnector", "soql_datetime", "soql_quote", "translate"]

log = structlog.get_logger("crm_ops.salesforce")
T = TypeVar("T")
SYSTEM = "salesforce"
MAX_URL_QUERY = 12_000  # characters of SOQL we put in a GET URL (Salesforce's URI limit is ~16k)
_NUMERIC = {"currency": pl.Float64(), "double": pl.Float64(), "percent": pl.Float64(), "int": pl.Int64()}
_SKIP_TYPES = {"address", "location", "base64"}


def _reason(exc: BaseException) -> str:
    """The innermost cause's words (a TLS or proxy failure is wrapped three deep by requests)."""
    while exc.__context__ is not None and not isinstance(exc, OSError | ssl.SSLError):
        exc = exc.__context__
    text = str(exc.args[0] if exc.args else exc)
    return text.rsplit("(Caused by ", maxsplit=1)[-1].rstrip(")")[:200]


def translate(exc: BaseException, ca_bundle: str | None = None) -> ApiError | None:
    """Our error for a simple-salesforce or requests failure: retriable for 429, 5xx, the network and
    REQUEST_LIMIT_EXCEEDED for concurrent requests (ConcurrentRequests, ConcurrentPerOrgLongTxn); the
    daily total (TotalRequests) is fatal here and stops the pull resumably in ``_call``; a certificate
    that does not verify or a proxy that refuses is fatal, with what to do."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, SalesforceError):
        status = int(exc.status or 0)
        content: Any = exc.content
        first = content[0] if isinstance(content, list) and content else content
        code = first.get("errorCode") if isinstance(first, dict) else None
        message = first.get("message") if isinstance(first, dict) else str(first)[:200]
        text = f"{exc.resource_name or 'request'} failed ({status} {code or ''}): {message}"
        concurrent = code == "REQUEST_LIMIT_EXCEEDED" and "Concurrent" in str(message)
        if status == 429 or status >= 500 or concurrent:  # too many at once: wait and go on
            return RetriableApiError(SYSTEM, text, status=status, code=code)
        return FatalApiError(SYSTEM, text, status=status, code=code)
    if isinstance(exc, requests.exceptions.SSLError):
        return FatalApiError(SYSTEM, f"TLS error ({_reason(exc)}): {tls_hint(ca_bundle)}")
    if isinstance(exc, requests.exceptions.ProxyError):
        return FatalApiError(SYSTEM, proxy_hint(_reason(exc)))
    if isinstance(exc, json.JSONDecodeError):  # typed JSON, yet not (requests' JSONDecodeError is one)
        return NotApiAnswerError(SYSTEM, f"an answer said to be JSON is not ({exc})", code=answers.NOT_JSON)
    if isinstance(exc, requests.exceptions.RequestException) and not isinstance(
        exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema
    ):
        return RetriableApiError(SYSTEM, f"network error: {type(exc).__name__}", code=NO_ANSWER)
    return None


class SalesforceConnector(SalesforceWrites):
    """The Salesforce side of the connector contract (writing: ``sfwrite.SalesforceWrites``)."""

    system = SYSTEM

    def __init__(
        self,
        settings: SalesforceSettings,
        fmap: FieldMap,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.fmap = fmap
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._calls = 0
        self.used: int | None = None
        self.limit: int | None = None
        self.server_date: str | None = None  # the Date header of the last answer (clock skew)
        self.enforce_budget = True  # off only for the few calls of diagnostics (doctor)
        self.on_count: Callable[[str, int], None] | None = None  # a pull's COUNT(), for progress totals
        self.session = CrmSession(settings.ca_bundle, settings.connect_timeout)
        self.session.hooks["response"].append(self._on_response)
        instance_url, token = sfauth.sign_in(settings, self.session, self._call)
        self.sf = Salesforce(
            instance_url=instance_url, session_id=token, session=self.session, version=settings.api_version
        )
        self._describes: dict[str, list[FieldInfo]] = {}
        self._org: dict[str, ObjectMeta] = {}  # the describes' fields, compact (``orgmeta``)
        self._resolved: dict[str, Resolved] = {}
        self._bulk_restarts: dict[str, int] = {}

    # ------------------------------------------------------------------ plumbing

    @property
    def api_calls(self) -> int:
        """API calls this connector made (token requests included)."""
        return self._calls

    @property
    def instance_url(self) -> str:
        """The org's instance URL (its records open at ``{instance_url}/lightning/r/...``)."""
        return f"https://{self.sf.sf_instance}"

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._calls += 1
        if not response.url.endswith(sfauth.TOKEN_PATH):  # sign-in says more of its own (sfauth)
            answers.check(SYSTEM, response)  # a proxy's page in place of the API's answer: our error
        self.server_date = response.headers.get("Date") or self.server_date
        info = response.headers.get("Sforce-Limit-Info", "")
        for part in info.split(","):
            key, _, value = part.strip().partition("=")
            if key == "api-usage" and "/" in value:
                used, limit = value.split("/", 1)
                if used.isdigit() and limit.isdigit():
                    self.used, self.limit = int(used), int(limit)

    def _check_budget(self) -> None:
        if self.used is None or not self.limit or not self.enforce_budget:
            return
        if self.used >= self.settings.api_budget_share * self.limit:
            used, self.used = self.used, None  # the next attempt re-reads the usage from its answer
            raise BudgetExhaustedError(
                f"salesforce: {used:,} of {self.limit:,} daily API requests used, at or past the "
                f"configured share {self.settings.api_budget_share:.0%}; stopped there, and resumes on "
                "the next run"
            )

    def _call(self, fn: Callable[[], T], landed: Callable[[], T | None] | None = None) -> T:
        """``fn()`` under the retry policy; a write not safe to send twice gives ``landed``, which looks
        up whether an attempt that got no answer landed (``retry.call_settled``)."""
        renewed = False  # a session that expires mid-call is renewed once, then the call goes on

        def attempt() -> T:
            nonlocal renewed
            self._check_budget()
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 -- mapped to ours, or raised as it is
                mapped = self._mapped(exc, renewed)
                renewed = renewed or mapped.status == 401
                raise mapped from None

        return call_settled(self.policy, SYSTEM, attempt, landed, sleep=self._sleep)

    def _mapped(self, exc: Exception, renewed: bool) -> ApiError:
        """Our error for a failed attempt (a session that expired renewed, once a call)."""
        url = self.settings.instance_url or sfauth.token_endpoint(self.settings)
        mapped = unreachable(SYSTEM, exc, url, self.settings.unreachable_after) or translate(
            exc, self.settings.ca_bundle
        )
        if mapped is None:
            raise exc
        if mapped.code == "REQUEST_LIMIT_EXCEEDED" and isinstance(mapped, FatalApiError):
            raise BudgetExhaustedError(f"{mapped}; stopped there, and resumes on the next run") from None
        if mapped.code == "INVALID_SESSION_ID" and mapped.status == 401:
            self._renew(mapped, renewed)
            return RetriableApiError(SYSTEM, "session expired; signed in again", status=401)
        return mapped

    def _renew(self, error: ApiError, renewed: bool) -> None:
        """Sign in again with the configured flow after a 401 INVALID_SESSION_ID (once a call); a given
        session id cannot be renewed: stop, resumably, saying what to do."""
        if self.settings.auth == "session":
            raise SessionExpiredError(
                SYSTEM,
                "the session id expired (401 INVALID_SESSION_ID); set a fresh one in "
                f"{self.settings.secret_env.get('access_token')}, or sign in by a flow crm-ops can repeat "
                '(auth = "jwt" or "client_credentials"); what was pulled is kept and the next run resumes',
                status=401,
                code="INVALID_SESSION_ID",
            ) from None
        if renewed:
            raise error from None
        log.info("salesforce.session_renewed", auth=self.settings.auth)
        _, token = sfauth.sign_in(self.settings, self.session, self._call)
        self.sf.session_id = token
        self.sf.headers["Authorization"] = "Bearer " + token

    def _rest(self, path: str, **kwargs: Any) -> Any:
        answer = self.sf.restful(path, **kwargs)
        if answer is None:
            raise FatalApiError(SYSTEM, f"{path}: empty answer")
        return answer

    def _records(self, soql: str, endpoint: str = "query") -> list[dict[str, Any]]:
        """Every record a (small) REST query returns, following ``nextRecordsUrl``."""
        body = self._call(partial(self._rest, endpoint, params={"q": soql}))
        records = list(body.get("records", []))
        while not body.get("done", True):
            body = self._call(partial(self._more, body["nextRecordsUrl"]))
            records += body.get("records", [])
        return records

    def _more(self, url: str, **kwargs: Any) -> dict[str, Any]:
        return dict(self.sf.query_more(url, identifier_is_url=True, include_deleted=True, **kwargs))

    # ------------------------------------------------------------------ metadata

    def entities(self) -> tuple[str, ...]:
        """Every entity the map gives for Salesforce."""
        return tuple(self.fmap.entities)

    def incremental(self, entity: str) -> bool:
        """Every Salesforce object has SystemModstamp."""
        return True

    def _map(self, entity: str) -> EntityMap:
        """The entity's map held against this org's describe (present fields only, customs typed)."""
        if entity not in self._resolved:
            described = [f for f in self.describe(entity) if f.type not in _SKIP_TYPES]
            available = {f.name: fieldmap.canonical_type(SYSTEM, f.type) for f in described}
            self._resolved[entity] = resolve_map(self.fmap.entity(entity), available)
        return self._resolved[entity].map

    def warnings(self, entity: str) -> list[str]:
        """Each optional mapped field this org's describe lacks (its column stays empty)."""
        self._map(entity)
        return list(self._resolved[entity].warnings)

    def describe(self, entity: str) -> list[FieldInfo]:
        """The object's fields from ``describe``, each with the canonical column it fills."""
        if entity not in self._describes:
            emap = self.fmap.entity(entity)
            body = self._call(lambda: self._rest(f"sobjects/{emap.object}/describe"))
            self._describes[entity] = [
                FieldInfo(
                    name=f["name"],
                    type=f["type"],
                    label=f.get("label", ""),
                    custom=bool(f.get("custom")) or f["name"].endswith("__c"),
                    updateable=bool(f.get("updateable")),
                    canonical=emap.column_for(f["name"]),
                    calculated=bool(f.get("calculated")),
                )
                for f in body["fields"]
            ]
            self._org[entity] = {f["name"]: salesforce_field(f) for f in body["fields"]}
        return self._describes[entity]

    def org_metadata(self, entity: str) -> ObjectMeta:
        """The object's fields as this pull's describe gave them (what the integration user sees), compact."""
        self.describe(entity)
        return self._org[entity]

    def _fields(self, entity: str) -> tuple[list[str], dict[str, str]]:
        """The fields to request (the mapped ones this org has, plus customs) and their types."""
        emap = self._map(entity)
        described = self.describe(entity)
        types = {f.name: f.type for f in described}
        wanted = emap.fields()
        wanted += [
            f.name for f in described if f.custom and f.type not in _SKIP_TYPES and f.name not in wanted
        ]
        for required in ("Id", "SystemModstamp"):
            if required not in wanted and required in types:
                wanted.append(required)
        return [w for w in wanted if types[w] not in _SKIP_TYPES], types

    def _custom(self, entity: str) -> list[str]:
        return [f.name for f in self.describe(entity) if f.custom and f.type not in _SKIP_TYPES]

    # ------------------------------------------------------------------ reading

    def _where(self, since: datetime | None, after: tuple[str, str] | None) -> str:
        clauses = []
        if since is not None:
            clauses.append(f"SystemModstamp >= {soql_datetime(since)}")
        if after is not None:
            stamp, last_id = after
            clauses.append(
                f"(SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > {soql_quote(last_id)}))"
            )
        return f" WHERE {' AND '.join(clauses)}" if clauses else ""

    def count(self, entity: str, since: datetime | None) -> int:
        """COUNT() of the records changed since ``since``, deleted ones included."""
        emap = self._map(entity)
        soql = f"SELECT COUNT() FROM {emap.object}{self._where(since, None)}"
        body = self._call(lambda: self._rest("queryAll", params={"q": soql}))
        return int(body["totalSize"])

    def visible_count(self, entity: str) -> int | None:
        """COUNT() of the live records the integration user sees (``query``, not ``queryAll``): what a
        sharing rule or a profile change hides leaves it at once (the data monitors' volume)."""
        emap = self._map(entity)
        body = self._call(lambda: self._rest("query", params={"q": f"SELECT COUNT() FROM {emap.object}"}))
        return int(body["totalSize"])

    def _frame(self, entity: str, raw: pl.DataFrame) -> pl.DataFrame:
        return mapapply.apply(self._map(entity), raw, custom=self._custom(entity))

    def _records_frame(
        self, records: list[dict[str, Any]], fields: list[str], types: dict[str, str]
    ) -> pl.DataFrame:
        schema = {
            f: _NUMERIC.get(types[f], pl.Boolean() if types[f] == "boolean" else pl.String()) for f in fields
        }
        return (
            pl.DataFrame(
                [{f: r.get(f) for f in fields} for r in records], schema=schema, strict=False, orient="row"
            )
            if records
            else pl.DataFrame(schema=schema)
        )

    def pull(
        self,
        entity: str,
        *,
        since: datetime | None,
        until: datetime,
        cursor: dict[str, Any] | None,
    ) -> Iterator[Page]:
        """Changed records (all when ``since`` is None) through REST or Bulk 2.0, as canonical pages."""
        fields, types = self._fields(entity)
        emap = self._map(entity)
        soql_fields = ", ".join(fields)
        mode = (cursor or {}).get("mode")
        if mode is None:
            too_long = len(soql_fields) + 200 > MAX_URL_QUERY
            try:
                n = self.count(entity, since)
            except FatalApiError as exc:
                if exc.code != "QUERY_TIMEOUT":
                    raise
                n = -1  # too many even to count in time: Bulk, which has no such limit
            mode = "bulk" if too_long or n < 0 or n > self.settings.bulk_threshold else "rest"
            log.info("salesforce.pull.plan", entity=entity, object=emap.object, records=n, mode=mode)
            if self.on_count is not None:
                self.on_count(entity, n)
        if mode == "bulk":
            yield from self._pull_bulk(entity, soql_fields, since, cursor or {})
        else:
            yield from self._pull_rest(entity, fields, types, (since, until), cursor or {})

    def formula_columns(self, entity: str) -> list[str]:
        """The pulled columns whose fields are formulas (``calculated`` in describe)."""
        fields, _ = self._fields(entity)
        emap = self._map(entity)
        formulas = {f.name for f in self.describe(entity) if f.calculated} & set(fields)
        columns = [c for c, src in emap.columns.items() if src.field in formulas]
        columns += [CUSTOM_PREFIX + f for f in sorted(formulas) if emap.column_for(f) is None]
        return columns

    def pull_columns(
        self, entity: str, columns: Sequence[str], *, until: datetime, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """``id`` and ``columns`` of every record (REST or Bulk by COUNT(), resumable as a full pull is)."""
        emap = self._map(entity)
        _, types = self._fields(entity)
        sources = []
        for column in columns:
            src = emap.columns.get(column)
            name = src.field if src is not None else column.removeprefix(CUSTOM_PREFIX)
            if name not in types:
                raise ConfigError(f"salesforce {emap.object} has no field for column {column!r}")
            sources.append(name)
        fields = list(dict.fromkeys(["Id", "SystemModstamp", "IsDeleted", *sources]))
        mode = (cursor or {}).get("mode")
        if mode is None:
            n = self.count(entity, None)
            mode = "bulk" if n > self.settings.bulk_threshold else "rest"
        pages = (
            self._pull_bulk(entity, ", ".join(fields), None, cursor or {})
            if mode == "bulk"
            else self._pull_rest(entity, fields, types, (None, until), cursor or {})
        )
        keep = ["id", *columns]
        for page in pages:
            frame = page.frame
            narrow = frame.select([c for c in keep if c in frame.columns]) if frame.width else frame
            yield Page(narrow, page.cursor)

    def _pull_rest(
        self,
        entity: str,
        fields: list[str],
        types: dict[str, str],
        span: tuple[datetime | None, datetime],
        cursor: dict[str, Any],
    ) -> Iterator[Page]:
        """Keyset pages ordered by (SystemModstamp, Id); a QUERY_TIMEOUT narrows the SystemModstamp
        window the query covers (``sfwindows``), each window read in turn, the last one open."""
        emap = self._map(entity)
        since, until = span
        headers = {"Sforce-Query-Options": f"batchSize={self.settings.rest_page_records}"}
        state: dict[str, Any] = {**cursor, "mode": "rest"}
        while True:
            after = (str(state["after"][0]), str(state["after"][1])) if state.get("after") else None
            where = self._where(since, after)
            bounds = window_clauses(state)
            if bounds:
                where = (f"{where} AND " if where else " WHERE ") + " AND ".join(bounds)
            soql = f"SELECT {', '.join(fields)} FROM {emap.object}{where} ORDER BY SystemModstamp, Id"
            try:
                body = self._call(partial(self._rest, "queryAll", params={"q": soql}, headers=headers))
            except FatalApiError as exc:
                if exc.code != "QUERY_TIMEOUT":
                    raise
                state = narrower(state, since, until)
                log.warning("salesforce.query_timeout", entity=entity, upper=state["upper"])
                continue
            while True:
                records = body.get("records", [])
                frame = self._frame(entity, self._records_frame(records, fields, types))
                if records:
                    stamp = str(records[-1]["SystemModstamp"]).replace("+0000", "Z")
                    state = {**state, "after": [stamp, records[-1]["Id"]]}
                if body.get("done", True):
                    following = next_window(state, until)
                    yield Page(frame, following)
                    if following is None:
                        return
                    state = following
                    break
                yield Page(frame, state)
                body = self._call(partial(self._more, body["nextRecordsUrl"], headers=headers))

    def _bulk_client(self, entity: str) -> _Bulk2Client:
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + self.sf.session_id}
        return _Bulk2Client(self._map(entity).object, self.sf.bulk2_url, headers, self.session)

    def _bulk_results(self, entity: str, job_id: str, locator: str) -> tuple[pl.DataFrame, str]:
        """One page of a Bulk query job's results (a client on the current session) and the next
        locator; a page with fewer rows than its ``Sforce-NumberOfRecords`` is retried."""
        client = self._bulk_client(entity)
        result = client.get_query_results(job_id, locator, max_records=self.settings.bulk_page_records)
        text = result["records"]
        raw = pl.read_csv(io.StringIO(text), infer_schema=False) if text.strip() else pl.DataFrame()
        if raw.height != int(result["number_of_records"]):
            raise RetriableApiError(
                SYSTEM, f"Bulk job {job_id}: {raw.height} rows of the {result['number_of_records']} sent"
            )
        return raw, result["locator"] or ""

    def _pull_bulk(
        self, entity: str, soql_fields: str, since: datetime | None, cursor: dict[str, Any]
    ) -> Iterator[Page]:
        emap = self._map(entity)
        job_id = cursor.get("job")
        if not job_id:
            soql = f"SELECT {soql_fields} FROM {emap.object}{self._where(since, None)}"
            job = self._call(lambda: self._bulk_client(entity).create_job(Operation.query_all, soql))
            job_id = str(job["id"])
            log.info("salesforce.bulk.job", entity=entity, job=job_id)
            # persist the job before waiting, so a kill now resumes this job rather than starting another
            yield Page(pl.DataFrame(), {"mode": "bulk", "job": job_id, "locator": ""})
        wait = 0.2
        while True:
            try:
                info = self._call(lambda: self._bulk_client(entity).get_job(job_id, True))
            except FatalApiError as exc:
                if exc.status == 404:
                    raise CursorExpiredError(f"Bulk job {job_id} no longer exists") from None
                raise
            state = info.get("state")
            if state == "JobComplete":
                break
            if state in ("Failed", "Aborted"):
                self._bulk_restart(entity, f"Bulk query job {job_id} {state}: {info.get('errorMessage')}")
            self._sleep(wait)
            wait = min(wait * 1.5, 5.0)
        locator = cursor.get("locator") or ""
        rows = int(cursor.get("rows") or 0)
        custom = self._custom(entity)
        while True:
            try:
                raw, locator = self._call(partial(self._bulk_results, entity, job_id, locator))
            except FatalApiError as exc:
                if exc.status in (400, 404) and locator:
                    raise CursorExpiredError(f"Bulk job {job_id} results gone: {exc}") from None
                raise
            rows += raw.height
            frame = mapapply.apply(emap, raw, custom=custom) if raw.width else pl.DataFrame()
            if not locator:
                processed = info.get("numberRecordsProcessed")
                if processed is not None and int(processed) != rows:
                    # never a short snapshot: the job is read again from its start
                    self._bulk_restart(entity, f"Bulk job {job_id}: {rows} rows read, {processed} processed")
                yield Page(frame, None)
                return
            yield Page(frame, {"mode": "bulk", "job": job_id, "locator": locator, "rows": rows})

    def _bulk_restart(self, entity: str, why: str) -> None:
        """Start the entity's Bulk pull again (a bounded number of times), else fail saying why."""
        self._bulk_restarts[entity] = self._bulk_restarts.get(entity, 0) + 1
        if self._bulk_restarts[entity] > BULK_RESTARTS:
            raise FatalApiError(SYSTEM, f"{why} ({BULK_RESTARTS} restarts already)")
        log.warning("salesforce.bulk.restart", entity=entity, reason=why)
        raise CursorExpiredError(why)

    def read(self, entity: str, ids: Sequence[str]) -> pl.DataFrame:
        """Current values of ``ids`` (deleted ones included, as tombstones), canonical."""
        fields, types = self._fields(entity)
        emap = self._map(entity)
        frames = []
        for start in range(0, len(ids), READ_BATCH):
            chunk = ", ".join(soql_quote(i) for i in ids[start : start + READ_BATCH])
            soql = f"SELECT {', '.join(fields)} FROM {emap.object} WHERE Id IN ({chunk})"
            records = self._records(soql, "queryAll")
            frames.append(self._frame(entity, self._records_frame(records, fields, types)))
        return (
            pl.concat(frames, how="diagonal_relaxed")
            if frames
            else self._frame(entity, self._records_frame([], fields, types))
        )

    # ------------------------------------------------------------------ the org itself (doctor)

    def identity(self) -> dict[str, Any]:
        """Who the session is: the OAuth userinfo (user_id, organization_id, preferred_username...)."""
        url = f"{self.sf.base_url.split('/services/data/')[0]}/services/oauth2/userinfo"
        response = self._call(
            lambda: self.sf.session.get(url, headers=self.sf.headers, timeout=self.settings.timeout_seconds)
        )
        if response.status_code != 200:  # Salesforce answers a bad token in plain text (Bad_OAuth_Token)
            raise FatalApiError(
                SYSTEM,
                f"userinfo failed ({response.status_code}): {response.text[:100]}",
                status=response.status_code,
            )
        body: dict[str, Any] = response.json()
        return body

    def api_versions(self) -> list[str]:
        """The REST API versions the org serves, oldest first."""
        url = f"{self.sf.base_url.split('/services/data/')[0]}/services/data"
        body = self._call(lambda: self.sf.session.get(url, headers=self.sf.headers, timeout=30).json())
        return [str(v["version"]) for v in body] if isinstance(body, list) else []

    def object_describe(self, name: str) -> dict[str, Any]:
        """An object's describe as the org answers it (``fields`` with their ``type``, ``referenceTo``...),
        for an object no map reads yet (``crm-ops discover``)."""
        body: dict[str, Any] = self._call(lambda: self._rest(f"sobjects/{name}/describe"))
        return body

    def org_objects(self) -> list[dict[str, Any]]:
        """The org's objects as describe global lists them (``name``, ``label``, ``custom``,
        ``queryable``...), those the integration user can see."""
        body: dict[str, Any] = self._call(lambda: self._rest("sobjects"))
        return list(body.get("sobjects", []))

    def record_counts(self, names: Sequence[str]) -> dict[str, int]:
        """Records of each object (``GET /limits/recordCount``: the org's storage count, refreshed by
        Salesforce now and then, so approximate), 100 objects a call; an object it does not know is absent."""
        counts: dict[str, int] = {}
        for start in range(0, len(names), 100):
            chunk = ",".join(names[start : start + 100])
            body = self._call(partial(self._rest, "limits/recordCount", params={"sObjects": chunk}))
            counts |= {str(o["name"]): int(o["count"]) for o in body.get("sObjects", [])}
        return counts

    def limits(self) -> dict[str, Any]:
        """The org's limits (``DailyApiRequests``: Max and Remaining, and the others)."""
        body: dict[str, Any] = self._call(lambda: self._rest("limits"))
        return body

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()
