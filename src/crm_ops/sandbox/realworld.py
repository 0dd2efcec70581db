"""What real orgs and portals do that the vendors' references underplay, laid over both emulators.

Each behaviour is a setting (``RealWorld``, given as ``SandboxConfig.real_world``) or a fault-profile
entry (``http.FaultProfile``: ``--faults real-world`` turns them all on), seeded so a test holds it. The
layers answer a request before the emulator does, or reshape its answer, in the real service's shape:

HubSpot (``HubSpotLayer``):
- a request line longer than ``url_limit`` answers 414 Request-URI Too Large with the front servers'
  HTML body (a full pull of a portal with hundreds of custom properties asks for them all in one URL);
- v4 association batch reads are paged per record: at most ``association_page`` links a result, with
  ``paging.next.after`` inside that result, to be asked again as ``{"id", "after"}``;
- fault entries: 429 ``policyName: DAILY`` (``daily_after``), 423 Locked, 477 Migration in Progress
  with ``Retry-After``;
- ``salesforce_integration``: company merges refused (400, HubSpot's error shape: it documents no body);
- ``search_lag_seconds``: search leaves out records written that recently, ``total`` still counting
  them (``{"total": 1, "results": []}``, as recorded); ``merge_new_id`` is the emulator's own
  (``hubspot/merge.py``): a merge makes a new record, the old ids answering it.

Salesforce (``SalesforceLayer``):
- ``password_flow=False``: the username-password OAuth flow is blocked, as in every org created since
  Summer '23 (400 ``invalid_grant`` / ``authentication failure``, which says nothing of why);
- ``my_domain=True``: the client-credentials flow is served only at the org's My Domain (the instance
  URL, 127.0.0.1 here); the login host (``localhost`` here, login.salesforce.com in life) answers 400
  ``invalid_request`` / ``request not supported on this domain``;
- ``session_calls``: a session id expires after that many data calls (401 INVALID_SESSION_ID);
- fault entries: REQUEST_LIMIT_EXCEEDED for concurrent requests (``concurrent``) and for the daily
  total (``total_after``), QUERY_TIMEOUT on queries over SystemModstamp windows, Bulk query jobs that
  end Failed, Bulk result pages with fewer rows than their ``Sforce-NumberOfRecords``.

Seeding (``extend_hubspot`` / ``extend_salesforce``): ``custom_properties`` custom HubSpot properties
with data on contacts, companies and deals; ``formula_field``: a cross-object formula on Contact
(``Account_Tier_F__c`` = the account's tier) whose value ``SalesforceLayer.change_formulas`` changes
without moving SystemModstamp, as a parent's edit does; ``currencies``: a multi-currency org
(``CurrencyIsoCode`` on Account and Opportunity, ``deal_currency_code`` on HubSpot deals); and, in
``realsaves``, converted leads and person accounts. What Salesforce refuses on saves (duplicate rules,
a validation rule, locked rows) is ``realsaves.SaveRules``, the emulator's save guard.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import polars as pl

from crm_ops.sandbox.hs_objects import HsObject, HsProperty
from crm_ops.sandbox.http import FaultProfile, Request, Response
from crm_ops.sandbox.realsaves import seed_salesforce
from crm_ops.sandbox.salesforce.auth import LOGIN_HOST
from crm_ops.sandbox.sf_objects import SfField, SfObject
from crm_ops.sandbox.store import Store

SF_JSON = "application/json;charset=UTF-8"
HS_JSON = "application/json;charset=utf-8"
FORMULA_FIELD = "Account_Tier_F__c"
_ASSOC_READ = re.compile(r"^/crm/v4/associations/[^/]+/[^/]+/batch/read/?$")
_COMPANY_MERGE = re.compile(r"^/crm/v3/objects/companies/merge/?$")
_SEARCH = re.compile(r"^/crm/v3/objects/[^/]+/search/?$")
# HubSpot documents no body for it (its knowledge base says only that companies cannot be merged while the
# Salesforce integration is installed): its error shape, in words of our own
COMPANY_MERGE_REFUSED = (
    "Companies cannot be merged while the Salesforce integration is installed in this account."
)
_JOB = re.compile(r"^/services/data/v[\d.]+/jobs/query/(?P<job>[^/]+)/?$")
_RESULTS = re.compile(r"^/services/data/v[\d.]+/jobs/query/(?P<job>[^/]+)/results/?$")
_QUERY = re.compile(r"^/services/data/v[\d.]+/query(All)?/?$")
HTML_414 = (
    b"<html>\r\n<head><title>414 Request-URI Too Large</title></head>\r\n<body>\r\n"
    b"<center><h1>414 Request-URI Too Large</h1></center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class RealWorld:
    """The real-world settings of a sandbox (the defaults are what the real services do)."""

    url_limit: int = 16_000  # HubSpot: characters of request target (measured around 16k; some say 8 KB)
    association_page: int = 500  # HubSpot v4 batch read: links per record and page
    custom_properties: int = 0  # HubSpot: this many custom properties (with data) on each CRM object
    password_flow: bool = True  # Salesforce: False as in orgs created since Summer '23
    my_domain: bool = False  # Salesforce: client credentials only at the My Domain
    session_calls: int = 0  # Salesforce: data calls a session id lasts (0: forever)
    formula_field: bool = False  # Salesforce: Contact.Account_Tier_F__c, a cross-object formula
    currencies: tuple[str, ...] = ()  # a multi-currency org (the first is the corporate currency)
    converted_leads: float = 0.0  # Salesforce: this share of leads converted (edits refused)
    person_accounts: float = 0.0  # Salesforce: this share of accounts are person accounts (Name refused)
    duplicate_rules: bool = False  # Salesforce: alerting duplicate rules on Contact/Lead e-mail, Account name
    merge_new_id: bool = False  # HubSpot: a merge makes a new record id (the old ids answer it)
    salesforce_integration: bool = False  # HubSpot: its Salesforce integration is on (no company merges)
    search_lag_seconds: float = 0.0  # HubSpot: search sees a write this long after it


class _Draws:
    """One seeded sequence per fault kind, so adding a kind never moves another's draws."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rngs: dict[str, random.Random] = {}
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def hit(self, kind: str, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            rng = self._rngs.setdefault(
                kind, random.Random(self._seed * 1_000_003 + zlib.crc32(kind.encode()))
            )
            if rng.random() < rate:
                self.counts[kind] = self.counts.get(kind, 0) + 1
                return True
        return False

    def note(self, kind: str) -> None:
        with self._lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1


def _hs_error(status: int, category: str, message: str, **extra: Any) -> Response:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}
    return Response.json(status, {**body, **extra}, HS_JSON)


def _sf_error(status: int, code: str, message: str) -> Response:
    return Response.json(status, [{"message": message, "errorCode": code}], SF_JSON)


def _token_of(after: str | None) -> int:
    if not after:
        return 0
    try:
        return int(base64.urlsafe_b64decode(after.encode()).decode().rpartition("-")[2])
    except (ValueError, UnicodeDecodeError):
        return 0


def _after_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"assoc-{offset}".encode()).decode()


class HubSpotLayer:
    """HubSpot's real-world answers over the HubSpot emulator."""

    def __init__(self, settings: RealWorld, faults: FaultProfile, seed: int) -> None:
        self.settings = settings
        self.faults = faults
        self.draws = _Draws(seed)
        self.calls = 0
        self._lock = threading.Lock()

    def before(self, request: Request) -> Response | None:
        """414 for a long URL, then the DAILY 429 at its call, 423 and 477 at their rates."""
        if len(request.target) > self.settings.url_limit:
            self.draws.note("414")
            return Response(414, HTML_414, {"Content-Type": "text/html"})
        if not request.path.startswith("/crm/"):
            return None
        with self._lock:
            self.calls += 1
            calls = self.calls
        f = self.faults
        if f.daily_after and calls == f.daily_after:
            self.draws.note("daily")
            return _hs_error(
                429,
                "RATE_LIMITS",
                "You have reached your daily limit.",
                errorType="RATE_LIMIT",
                policyName="DAILY",
            )
        if self.draws.hit("locked", f.rate_locked):
            return _hs_error(423, "LOCKED", "The portal is locked by a large sync; try again in 2 seconds.")
        if self.draws.hit("migration", f.rate_migration):
            response = _hs_error(
                477,
                "MIGRATION_IN_PROGRESS",
                "This account is being migrated between data hosting locations.",
            )
            response.headers["Retry-After"] = "1"
            return response
        if (
            self.settings.salesforce_integration
            and request.method == "POST"
            and _COMPANY_MERGE.match(request.path)
        ):
            self.draws.note("company_merge")
            return _hs_error(400, "VALIDATION_ERROR", COMPANY_MERGE_REFUSED)
        return None

    def after(self, request: Request, response: Response) -> Response:
        """Association batch reads paged per record; search that does not see recent writes yet."""
        if self.settings.search_lag_seconds > 0 and request.method == "POST" and _SEARCH.match(request.path):
            return self._lagging(response)
        if (
            request.method != "POST"
            or response.status not in (200, 207)
            or not _ASSOC_READ.match(request.path)
        ):
            return response
        try:
            body = json.loads(response.body)
            inputs = request.json().get("inputs") or []
        except (ValueError, AttributeError):
            return response
        offsets = {str(i.get("id")): _token_of(i.get("after")) for i in inputs if isinstance(i, dict)}
        size = self.settings.association_page
        for result in body.get("results", []):
            start = offsets.get(str((result.get("from") or {}).get("id")), 0)
            links = result.get("to") or []
            result["to"] = links[start : start + size]
            result.pop("paging", None)
            if start + size < len(links):
                result["paging"] = {"next": {"after": _after_token(start + size)}}
        return Response.json(response.status, body, response.headers.get("Content-Type", HS_JSON))

    def _lagging(self, response: Response) -> Response:
        """Search answers without the records written in the last ``search_lag_seconds`` (its index has not
        caught up), their ``total`` still counting them: ``{"total": 1, "results": []}`` as recorded."""
        if response.status != 200:
            return response
        body = json.loads(response.body)
        horizon = datetime.now(UTC) - timedelta(seconds=self.settings.search_lag_seconds)
        kept = []
        for record in body.get("results") or []:
            stamp = record.get("updatedAt") or record.get("createdAt")
            if stamp and datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) > horizon:
                self.draws.note("search_lag")
                continue
            kept.append(record)
        body["results"] = kept
        return Response.json(200, body, response.headers.get("Content-Type", HS_JSON))


class SalesforceLayer:
    """Salesforce's real-world answers over the Salesforce emulator."""

    def __init__(self, settings: RealWorld, faults: FaultProfile, seed: int, store: Store) -> None:
        self.settings = settings
        self.faults = faults
        self.draws = _Draws(seed)
        self.store = store
        self.calls = 0
        self.sessions: dict[str, int] = {}
        self._failed_jobs: dict[str, bool] = {}
        self._lock = threading.Lock()

    def before(self, request: Request) -> Response | None:
        """Sign-in rules, session expiry, the allowance's two REQUEST_LIMIT_EXCEEDED, QUERY_TIMEOUT."""
        if request.path.rstrip("/") == "/services/oauth2/token" and request.method == "POST":
            return self._token(request)
        if not request.path.startswith("/services/data/"):
            return None
        auth = request.headers.get("Authorization", "")
        token = auth.split(" ", 1)[1].strip() if " " in auth else ""
        with self._lock:
            self.calls += 1
            calls = self.calls
            used = self.sessions[token] = self.sessions.get(token, 0) + 1
        if self.settings.session_calls and used > self.settings.session_calls:
            self.draws.note("session_expired")
            return _sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        f = self.faults
        if f.total_after and calls == f.total_after:
            self.draws.note("total")
            return _sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if self.draws.hit("concurrent", f.rate_concurrent):
            message = (
                "ConcurrentRequests (Concurrent API Requests) Limit exceeded."
                if calls % 2
                else "ConcurrentPerOrgLongTxn Limit exceeded."
            )
            return _sf_error(403, "REQUEST_LIMIT_EXCEEDED", message)
        if request.method == "GET" and _QUERY.match(request.path):
            soql = request.arg("q") or ""
            windowed = "ORDER BY SystemModstamp" in soql or "COUNT()" in soql
            if windowed and self.draws.hit("query_timeout", f.rate_query_timeout):
                return _sf_error(400, "QUERY_TIMEOUT", "Your query request was running for too long.")
        return None

    def _token(self, request: Request) -> Response | None:
        form = {k: v[0] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        grant = form.get("grant_type")
        if grant == "password" and not self.settings.password_flow:
            return Response.json(
                400, {"error": "invalid_grant", "error_description": "authentication failure"}, SF_JSON
            )
        host = (request.headers.get("Host") or "").rsplit(":", 1)[0]
        if grant == "client_credentials" and self.settings.my_domain and host == LOGIN_HOST:
            return Response.json(
                400,
                {"error": "invalid_request", "error_description": "request not supported on this domain"},
                SF_JSON,
            )
        return None

    def after(self, request: Request, response: Response) -> Response:
        """Bulk query jobs that end Failed; Bulk result pages cut short of their record count."""
        job = _JOB.match(request.path)
        if job and request.method == "GET" and response.status == 200:
            body = json.loads(response.body)
            if body.get("state") == "JobComplete":
                with self._lock:
                    failed = self._failed_jobs.get(job["job"])
                    if failed is None:
                        failed = self.draws.hit("bulk_failed", self.faults.rate_bulk_failed)
                        self._failed_jobs[job["job"]] = failed
                if failed:
                    body.update(
                        state="Failed",
                        errorMessage="InternalServerError : Retried more than 15 times",
                    )
                    return Response.json(200, body, response.headers.get("Content-Type", SF_JSON))
            return response
        results = _RESULTS.match(request.path)
        if results and request.method == "GET" and response.status == 200:
            lines = response.body.split(b"\n")
            rows = [line for line in lines[1:] if line.strip()]
            if len(rows) > 1 and self.draws.hit("bulk_short", self.faults.rate_bulk_short):
                cut = b"\n".join([lines[0], *rows[:-1]]) + b"\n"
                return Response(response.status, cut, dict(response.headers))
        return response

    def change_formulas(self, count: int, seed: int = 0) -> list[str]:
        """Change the formula field of ``count`` live contacts without moving their SystemModstamp (as
        an edit of their account's tier does); the ids changed."""
        table = self.store["Contact"]
        frame = table.frame()
        live = frame.with_row_index("__row").filter(~pl.col("IsDeleted"))
        chosen = live.sample(n=min(count, live.height), seed=seed)
        ids = []
        for row, record_id, value in zip(chosen["__row"], chosen["Id"], chosen[FORMULA_FIELD], strict=True):
            table.update(int(row), {FORMULA_FIELD: "Platinum" if value != "Platinum" else "Bronze"})
            ids.append(str(record_id))
        return ids


# ---------------------------------------------------------------------------------------------- seeding


def _custom_name(obj: str, i: int) -> str:
    return f"ops_{obj[:-1]}_custom_property_{i:04d}"


def extend_hubspot(
    types: Mapping[str, HsObject], tables: dict[str, pl.DataFrame], settings: RealWorld, seed: int
) -> dict[str, HsObject]:
    """``types`` with the real-world properties added; their data put in ``tables`` (in place)."""
    out = dict(types)
    rng = np.random.default_rng(seed)
    for name, obj in types.items():
        extra: list[HsProperty] = []
        columns: dict[str, pl.Series] = {}
        frame = tables.get(name)
        if frame is None:
            continue
        for i in range(settings.custom_properties):
            prop = _custom_name(name, i)
            extra.append(HsProperty(prop, "string", "text", f"Ops custom {i}", "ops", hubspot_defined=False))
            numbers = pl.Series(prop, rng.integers(0, 1000, frame.height)).cast(pl.String)
            blank = pl.Series(rng.random(frame.height) < 0.3)
            columns[prop] = pl.select(pl.when(blank).then(None).otherwise(numbers)).to_series().alias(prop)
        if settings.currencies and name == "deals":
            prop = "deal_currency_code"
            extra.append(
                HsProperty(prop, "enumeration", "select", "Currency", "dealinformation", settings.currencies)
            )
            columns[prop] = pl.Series(prop, rng.choice(settings.currencies, frame.height), dtype=pl.String)
        if extra:
            out[name] = replace(obj, properties=obj.properties + tuple(extra))
            tables[name] = frame.with_columns(list(columns.values()))
    return out


def extend_salesforce(
    objects: Mapping[str, SfObject], tables: dict[str, pl.DataFrame], settings: RealWorld, seed: int
) -> dict[str, SfObject]:
    """``objects`` with the real-world fields added; their data put in ``tables`` (in place)."""
    out = dict(objects)
    rng = np.random.default_rng(seed + 1)
    if settings.formula_field and "Account_Tier__c" in (f.name for f in objects["Account"].fields):
        field = SfField(
            FORMULA_FIELD,
            "string",
            length=1300,
            updateable=False,
            createable=False,
            calculated=True,
            label="Account Tier (formula)",
            formula="Account.Account_Tier__c",
        )
        out["Contact"] = replace(objects["Contact"], fields=(*objects["Contact"].fields, field))
        tiers = tables["Account"].select(pl.col("Id").alias("AccountId"), pl.col("Account_Tier__c"))
        contacts = tables["Contact"]
        joined = contacts.select("AccountId").join(tiers, on="AccountId", how="left", maintain_order="left")
        tables["Contact"] = contacts.with_columns(joined["Account_Tier__c"].alias(FORMULA_FIELD))
    seed_salesforce(
        out,
        tables,
        converted_leads=settings.converted_leads,
        person_accounts=settings.person_accounts,
        seed=seed,
    )
    if settings.currencies:
        for name in ("Account", "Opportunity"):
            field = SfField(
                "CurrencyIsoCode",
                "picklist",
                length=3,
                nillable=False,
                picklist=settings.currencies,
                restricted_picklist=True,
                label=f"{name} Currency",
                defaulted_on_create=True,
            )
            out[name] = replace(out[name], fields=(*out[name].fields, field))
            frame = tables[name]
            codes = rng.choice(settings.currencies, frame.height)
            tables[name] = frame.with_columns(pl.Series("CurrencyIsoCode", codes, dtype=pl.String))
    return out
