"""Salesforce, on simple-salesforce: OAuth, describe, REST or Bulk API 2.0, keyset-resumable pulls.

- Auth: password (username + password + security token), OAuth client credentials, JWT bearer, or an
  existing session id. Tokens come from ``{login_url}/services/oauth2/token`` (login.salesforce.com,
  test.salesforce.com or a My Domain), then simple-salesforce runs on the session.
- Which fields: those the map reads plus every custom field (``__c``), checked against ``describe``;
  compound parents (address, location) are never requested, their parts are.
- How: ``COUNT()`` first; at or under ``bulk_threshold`` a REST ``queryAll`` ordered by
  (SystemModstamp, Id) whose cursor is that pair, so a resumed pull continues right after the last row
  written; above it, a Bulk API 2.0 ``queryAll`` job whose cursor is (job id, result locator). A field
  list too long for a REST URL also goes through Bulk (its query travels in a POST body).
- Deleted records (IsDeleted, from the recycle bin) arrive as tombstones: ``queryAll`` returns them.
- API usage is read from ``Sforce-Limit-Info`` on every answer; before a call that would pass the
  configured share of the daily allowance, the pull stops with ``BudgetExhaustedError`` (resumable).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import jwt
import polars as pl
import requests
import structlog
from simple_salesforce.api import Salesforce
from simple_salesforce.bulk2 import Operation, _Bulk2Client
from simple_salesforce.exceptions import SalesforceError

from crm_ops.config import SalesforceSettings
from crm_ops.connectors import sfsoap
from crm_ops.connectors.base import Change, CursorExpiredError, FieldInfo, Link, Page, PushResult, Relink
from crm_ops.errors import ApiError, BudgetExhaustedError, ConfigError, FatalApiError, RetriableApiError
from crm_ops.retry import RetryPolicy, retrying
from crm_ops.schema import fieldmap
from crm_ops.schema.fieldmap import EntityMap, FieldMap

log = structlog.get_logger("crm_ops.salesforce")
T = TypeVar("T")
SYSTEM = "salesforce"
MAX_URL_QUERY = 12_000  # characters of SOQL we put in a GET URL (Salesforce's URI limit is ~16k)
COMPOSITE_BATCH = 200
READ_BATCH = 200
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MERGE_BATCH = 2  # records merged into the master per merge call
UNDELETE_BATCH = 200
# What a merge re-parents: the lookups pointing at each mergeable object (those the sandbox holds).
RELATIONS = {
    "Account": (("Contact", "AccountId"), ("Opportunity", "AccountId")),
    "Contact": (("OpportunityContactRole", "ContactId"),),
    "Lead": (),
}
_NUMERIC = {"currency": pl.Float64(), "double": pl.Float64(), "percent": pl.Float64(), "int": pl.Int64()}
_SKIP_TYPES = {"address", "location", "base64"}


def soql_quote(value: str) -> str:
    """A SOQL string literal: backslash and quote escaped, so a CRM value cannot end the string."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f"'{escaped}'"


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal in UTC, to the millisecond."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def translate(exc: BaseException) -> ApiError | None:
    """Our error for a simple-salesforce or requests failure: retriable for 429, 5xx and the network."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, SalesforceError):
        status = int(exc.status or 0)
        content: Any = exc.content
        first = content[0] if isinstance(content, list) and content else content
        code = first.get("errorCode") if isinstance(first, dict) else None
        message = first.get("message") if isinstance(first, dict) else str(first)[:200]
        text = f"{exc.resource_name or 'request'} failed ({status} {code or ''}): {message}"
        if status == 429 or status >= 500:
            return RetriableApiError(SYSTEM, text, status=status, code=code)
        return FatalApiError(SYSTEM, text, status=status, code=code)
    if isinstance(exc, requests.exceptions.RequestException) and not isinstance(
        exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema
    ):
        return RetriableApiError(SYSTEM, f"network error: {type(exc).__name__}")
    return None


class SalesforceConnector:
    """The Salesforce side of the connector contract."""

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
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE must not override the configured CA
        self.session.verify = settings.ca_bundle or True
        self.session.hooks["response"].append(self._on_response)
        instance_url, token = self._authenticate()
        self.sf = Salesforce(
            instance_url=instance_url, session_id=token, session=self.session, version=settings.api_version
        )
        self._describes: dict[str, list[FieldInfo]] = {}

    # ------------------------------------------------------------------ plumbing

    @property
    def api_calls(self) -> int:
        """API calls this connector made (token requests included)."""
        return self._calls

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._calls += 1
        info = response.headers.get("Sforce-Limit-Info", "")
        for part in info.split(","):
            key, _, value = part.strip().partition("=")
            if key == "api-usage" and "/" in value:
                used, limit = value.split("/", 1)
                if used.isdigit() and limit.isdigit():
                    self.used, self.limit = int(used), int(limit)

    def _check_budget(self) -> None:
        if self.used is None or not self.limit:
            return
        if self.used >= self.settings.api_budget_share * self.limit:
            used, self.used = self.used, None  # the next attempt re-reads the usage from its answer
            raise BudgetExhaustedError(
                f"salesforce: {used:,} of {self.limit:,} daily API requests used, at or past the "
                f"configured share {self.settings.api_budget_share:.0%}; the pull stopped and resumes "
                "on the next run"
            )

    def _call(self, fn: Callable[[], T]) -> T:
        for attempt in retrying(self.policy, sleep=self._sleep):
            with attempt:
                self._check_budget()
                try:
                    return fn()
                except Exception as exc:
                    mapped = translate(exc)
                    if mapped is None:
                        raise
                    if mapped.code == "REQUEST_LIMIT_EXCEEDED" and mapped.status == 403:
                        raise BudgetExhaustedError(f"{mapped}; the pull resumes on the next run") from None
                    raise mapped from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _authenticate(self) -> tuple[str, str]:
        s = self.settings
        if s.auth == "session":
            if not s.instance_url:
                raise ConfigError(f"{s.where}.instance_url: session auth needs the org's instance URL")
            return s.instance_url.rstrip("/"), s.secret("access_token")
        if not s.client_id:
            raise ConfigError(f"{s.where}.client_id: {s.auth} auth needs the connected app's client_id")
        base = s.login_url
        form: dict[str, str]
        if s.auth == "password":
            if not s.username:
                raise ConfigError(f"{s.where}.username: password auth needs a username")
            token_var = s.secret_env.get("security_token", "")
            form = {
                "grant_type": "password",
                "client_id": s.client_id,
                "client_secret": s.secret("client_secret"),
                "username": s.username,
                "password": s.secret("password") + os.environ.get(token_var, ""),
            }
        elif s.auth == "client_credentials":
            form = {
                "grant_type": "client_credentials",
                "client_id": s.client_id,
                "client_secret": s.secret("client_secret"),
            }
        else:
            if not s.username:
                raise ConfigError(f"{s.where}.username: JWT auth needs the user to act as")
            key_file = s.secret("jwt_key_file")
            try:
                key = Path(key_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"{s.where}: cannot read the JWT key file: {exc.strerror}") from None
            audience = s.login_url.rstrip("/")
            claims = {
                "iss": s.client_id,
                "sub": s.username,
                "aud": audience,
                "exp": int(time.time()) + 180,
            }
            form = {"grant_type": JWT_GRANT, "assertion": jwt.encode(claims, key, algorithm="RS256")}
        url = f"{base.rstrip('/')}/services/oauth2/token"

        def post() -> dict[str, Any]:
            response = self.session.post(url, data=form, timeout=s.timeout_seconds)
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

        body = self._call(post)
        return str(body["instance_url"]).rstrip("/"), str(body["access_token"])

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
        return self.fmap.entity(entity)

    def describe(self, entity: str) -> list[FieldInfo]:
        """The object's fields from ``describe``, each with the canonical column it fills."""
        if entity not in self._describes:
            emap = self._map(entity)
            body = self._call(lambda: self._rest(f"sobjects/{emap.object}/describe"))
            self._describes[entity] = [
                FieldInfo(
                    name=f["name"],
                    type=f["type"],
                    label=f.get("label", ""),
                    custom=bool(f.get("custom")) or f["name"].endswith("__c"),
                    updateable=bool(f.get("updateable")),
                    canonical=emap.column_for(f["name"]),
                )
                for f in body["fields"]
            ]
        return self._describes[entity]

    def _fields(self, entity: str) -> tuple[list[str], dict[str, str]]:
        """The fields to request (mapped ones checked against describe, plus customs) and their types."""
        emap = self._map(entity)
        described = self.describe(entity)
        types = {f.name: f.type for f in described}
        emap.check_fields(types)
        by_lower = {f.name.lower(): f.name for f in described}
        wanted = [by_lower[name.lower()] for name in emap.fields()]
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

    def _frame(self, entity: str, raw: pl.DataFrame) -> pl.DataFrame:
        return fieldmap.apply(self._map(entity), raw, custom=self._custom(entity))

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
            n = self.count(entity, since)
            mode = "bulk" if too_long or n > self.settings.bulk_threshold else "rest"
            log.info("salesforce.pull.plan", entity=entity, object=emap.object, records=n, mode=mode)
        if mode == "bulk":
            yield from self._pull_bulk(entity, soql_fields, since, cursor or {})
        else:
            yield from self._pull_rest(entity, fields, types, since, cursor or {})

    def _pull_rest(
        self,
        entity: str,
        fields: list[str],
        types: dict[str, str],
        since: datetime | None,
        cursor: dict[str, Any],
    ) -> Iterator[Page]:
        emap = self._map(entity)
        after = (str(cursor["after"][0]), str(cursor["after"][1])) if cursor.get("after") else None
        soql = (
            f"SELECT {', '.join(fields)} FROM {emap.object}{self._where(since, after)}"
            " ORDER BY SystemModstamp, Id"
        )
        headers = {"Sforce-Query-Options": f"batchSize={self.settings.rest_page_records}"}
        body = self._call(lambda: self._rest("queryAll", params={"q": soql}, headers=headers))
        while True:
            records = body.get("records", [])
            frame = self._frame(entity, self._records_frame(records, fields, types))
            done = body.get("done", True)
            next_cursor: dict[str, Any] | None = None
            if not done and records:
                last = records[-1]
                stamp = str(last["SystemModstamp"]).replace("+0000", "Z")
                next_cursor = {"mode": "rest", "after": [stamp, last["Id"]]}
            yield Page(frame, next_cursor)
            if done:
                return
            url = body["nextRecordsUrl"]
            body = self._call(partial(self._more, url, headers=headers))

    def _bulk_client(self, entity: str) -> _Bulk2Client:
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + self.sf.session_id}
        return _Bulk2Client(self._map(entity).object, self.sf.bulk2_url, headers, self.session)

    def _pull_bulk(
        self, entity: str, soql_fields: str, since: datetime | None, cursor: dict[str, Any]
    ) -> Iterator[Page]:
        emap = self._map(entity)
        client = self._bulk_client(entity)
        job_id = cursor.get("job")
        if not job_id:
            soql = f"SELECT {soql_fields} FROM {emap.object}{self._where(since, None)}"
            job = self._call(lambda: client.create_job(Operation.query_all, soql))
            job_id = str(job["id"])
            log.info("salesforce.bulk.job", entity=entity, job=job_id)
            # persist the job before waiting, so a kill now resumes this job rather than starting another
            yield Page(pl.DataFrame(), {"mode": "bulk", "job": job_id, "locator": ""})
        wait = 0.2
        while True:
            try:
                info = self._call(lambda: client.get_job(job_id, True))
            except FatalApiError as exc:
                if exc.status == 404:
                    raise CursorExpiredError(f"Bulk job {job_id} no longer exists") from None
                raise
            state = info.get("state")
            if state == "JobComplete":
                break
            if state in ("Failed", "Aborted"):
                if cursor.get("job"):
                    raise CursorExpiredError(f"Bulk job {job_id} ended {state}")
                raise FatalApiError(SYSTEM, f"Bulk query job {job_id} {state}: {info.get('errorMessage')}")
            self._sleep(wait)
            wait = min(wait * 1.5, 5.0)
        locator = cursor.get("locator") or ""
        custom = self._custom(entity)
        while True:
            try:
                result = self._call(
                    partial(
                        client.get_query_results,
                        job_id,
                        locator,
                        max_records=self.settings.bulk_page_records,
                    )
                )
            except FatalApiError as exc:
                if exc.status in (400, 404) and locator:
                    raise CursorExpiredError(f"Bulk job {job_id} results gone: {exc}") from None
                raise
            text = result["records"]
            raw = pl.read_csv(io.StringIO(text), infer_schema=False) if text.strip() else pl.DataFrame()
            frame = fieldmap.apply(emap, raw, custom=custom) if raw.width else pl.DataFrame()
            locator = result["locator"] or ""
            yield Page(frame, {"mode": "bulk", "job": job_id, "locator": locator} if locator else None)
            if not locator:
                return

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

    # ------------------------------------------------------------------ writing

    def _source_field(self, emap: EntityMap, column: str, value: Any) -> tuple[str, Any]:
        src = emap.columns.get(column)
        if src is None and column.startswith("custom_"):
            return column.removeprefix("custom_"), value
        if src is None or not src.field:
            raise ConfigError(f"{emap.origin}: {emap.entity}.{column} does not map to a writable field")
        return src.field, src.to_crm(value)

    def _wire_pair(self, emap: EntityMap, column: str, value: Any) -> tuple[str, Any]:
        name, value = self._source_field(emap, column, value)
        return name, _wire(value)

    def write_batch(self, entity: str, total: int) -> int:
        """200 (one composite request) for small plans; a Bulk ingest job's worth above the threshold."""
        s = self.settings
        return s.bulk_write_batch if total > s.bulk_write_threshold else COMPOSITE_BATCH

    def push(self, entity: str, changes: Sequence[Change]) -> list[PushResult]:
        """Update records: through the composite sObject collections API, 200 a request, not all-or-none;
        more than 200 at once through one Bulk API 2.0 ingest job (update)."""
        emap = self._map(entity)
        if len(changes) > COMPOSITE_BATCH:
            return self._push_bulk(entity, emap, changes)
        results: list[PushResult] = []
        for start in range(0, len(changes), COMPOSITE_BATCH):
            batch = changes[start : start + COMPOSITE_BATCH]
            records = [
                {
                    "attributes": {"type": emap.object},
                    "id": c.record_id,
                    **dict(self._wire_pair(emap, k, v) for k, v in c.values.items()),
                }
                for c in batch
            ]
            payload = json.dumps({"allOrNone": False, "records": records})
            answer = self._call(partial(self._rest, "composite/sobjects", method="PATCH", data=payload))
            for change, outcome in zip(batch, answer, strict=True):
                errors = outcome.get("errors") or []
                message = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in errors) or None
                results.append(PushResult(change.record_id, bool(outcome.get("success")), message))
        return results

    def _push_bulk(self, entity: str, emap: EntityMap, changes: Sequence[Change]) -> list[PushResult]:
        """One Bulk 2.0 update job: CSV of Id plus every field written (blank leaves a field as it is,
        ``#N/A`` clears it), then each record's outcome from the job's successful and failed results."""
        rows = [
            {"Id": c.record_id, **dict(self._wire_pair(emap, k, v) for k, v in c.values.items())}
            for c in changes
        ]
        columns = ["Id", *sorted({k for r in rows for k in r if k != "Id"})]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _bulk_cell(row[k]) if k in row else "" for k in columns})
        client = self._bulk_client(entity)
        job = self._call(lambda: client.create_job(Operation.update))
        job_id = str(job["id"])
        log.info("salesforce.bulk.ingest", entity=entity, job=job_id, records=len(rows))
        self._call(partial(client.upload_job_data, job_id, buffer.getvalue()))
        self._call(partial(client.close_job, job_id))
        wait = 0.2
        while True:
            info = self._call(lambda: client.get_job(job_id, False))
            if info.get("state") in ("JobComplete", "Failed", "Aborted"):
                break
            self._sleep(wait)
            wait = min(wait * 1.5, 5.0)
        outcome: dict[str, PushResult] = {}
        for kind in ("successfulResults", "failedResults"):
            text = self._call(partial(client.get_ingest_results, job_id, kind))
            for record in csv.DictReader(io.StringIO(text)):
                record_id = record.get("Id") or record.get("sf__Id") or ""
                error = record.get("sf__Error") or None
                outcome[record_id] = PushResult(record_id, kind == "successfulResults", error)
        missing = (
            f"not processed by Bulk job {job_id} ({info.get('state')}: {info.get('errorMessage') or ''})"
        )
        return [outcome.get(c.record_id, PushResult(c.record_id, False, missing)) for c in changes]

    # ------------------------------------------------------------------ merging

    def _soap(self, body: bytes, call: str) -> list[sfsoap.SoapResult]:
        url = f"https://{self.sf.sf_instance}/services/Soap/u/{self.settings.api_version}"

        def post() -> list[sfsoap.SoapResult]:
            response = self.session.post(
                url, data=body, headers=sfsoap.HEADERS, timeout=self.settings.timeout_seconds
            )
            return sfsoap.parse_answer(response.status_code, response.content, call)

        return self._call(post)

    def merge(self, entity: str, survivor: str, losers: Sequence[str]) -> list[PushResult]:
        """Merge through the SOAP ``merge`` call, two records a request, all into the same master."""
        emap = self._map(entity)
        if emap.object not in RELATIONS:
            raise ConfigError(f"salesforce: {emap.object} records cannot be merged")
        results: list[PushResult] = []
        for start in range(0, len(losers), MERGE_BATCH):
            chunk = list(losers[start : start + MERGE_BATCH])
            body = sfsoap.merge_request(self.sf.session_id, emap.object, survivor, chunk)
            (answer,) = self._soap(body, "merge")
            for loser in chunk:
                ok = answer.success and loser in answer.merged
                error = "; ".join(answer.errors) or (None if ok else "not merged")
                results.append(PushResult(loser, ok, error, {"related": list(answer.related)}))
        return results

    def links(self, entity: str, ids: Sequence[str]) -> list[Link]:
        """The live records whose lookups point at ``ids`` (what a merge re-parents)."""
        emap = self._map(entity)
        out: list[Link] = []
        for child, lookup in RELATIONS.get(emap.object, ()):
            for start in range(0, len(ids), READ_BATCH):
                chunk = ", ".join(soql_quote(i) for i in ids[start : start + READ_BATCH])
                records = self._records(f"SELECT Id, {lookup} FROM {child} WHERE {lookup} IN ({chunk})")
                out += [Link(f"{child}.{lookup}", str(r["Id"]), str(r[lookup])) for r in records]
        return out

    def restore(self, entity: str, records: Sequence[dict[str, Any]]) -> list[PushResult]:
        """Undelete merged-away records from the recycle bin, 200 a call: same ids, same values."""
        ids = [str(r["id"]) for r in records]
        results: list[PushResult] = []
        for start in range(0, len(ids), UNDELETE_BATCH):
            chunk = ids[start : start + UNDELETE_BATCH]
            answers = self._soap(sfsoap.undelete_request(self.sf.session_id, chunk), "undelete")
            for record_id, answer in zip(chunk, answers, strict=True):
                error = "; ".join(answer.errors) or None
                results.append(PushResult(record_id, answer.success, error, {"id": record_id}))
        return results

    def relink(self, moves: Sequence[Relink]) -> list[PushResult]:
        """Set each lookup to ``to_id`` where it still holds ``from_id`` (read, then composite, 200 a call).

        A lookup holds one value, so ``keep`` has no meaning here and is refused.
        """
        if any(m.keep for m in moves):
            raise ValueError("a Salesforce lookup points at one record: links cannot be kept on both")
        results: dict[int, PushResult] = {}
        by_relation: dict[str, list[tuple[int, Relink]]] = {}
        for index, move in enumerate(moves):
            by_relation.setdefault(move.link.relation, []).append((index, move))
        for relation, group in by_relation.items():
            child, lookup = relation.split(".", 1)
            for start in range(0, len(group), COMPOSITE_BATCH):
                part = group[start : start + COMPOSITE_BATCH]
                chunk = ", ".join(soql_quote(m.link.record_id) for _, m in part)
                records = self._records(f"SELECT Id, {lookup} FROM {child} WHERE Id IN ({chunk})")
                now = {str(r["Id"]): r.get(lookup) for r in records}
                movable = []
                for index, m in part:
                    held = now.get(m.link.record_id)
                    if held == m.to_id:
                        results[index] = PushResult(m.link.record_id, True)  # done by an earlier run
                    elif held == m.from_id:
                        movable.append((index, m))
                    else:
                        error = f"conflict: {child} {m.link.record_id} now points at {held!r}"
                        results[index] = PushResult(m.link.record_id, False, error)
                if not movable:
                    continue
                rows = [
                    {"attributes": {"type": child}, "id": m.link.record_id, lookup: m.to_id}
                    for _, m in movable
                ]
                payload = json.dumps({"allOrNone": False, "records": rows})
                answer = self._call(partial(self._rest, "composite/sobjects", method="PATCH", data=payload))
                for (index, m), outcome in zip(movable, answer, strict=True):
                    errors = outcome.get("errors") or []
                    message = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in errors) or None
                    results[index] = PushResult(m.link.record_id, bool(outcome.get("success")), message)
        return [results[i] for i in range(len(moves))]

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()


def _bulk_cell(value: Any) -> str:
    """A Bulk CSV cell: ``#N/A`` sets null (a blank cell would leave the field as it is)."""
    if value is None or value == "":
        return "#N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _wire(value: Any) -> Any:
    if isinstance(value, datetime):
        return soql_datetime(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
