"""``crm-ops doctor``: can crm-ops reach this org, as whom, with which rights, and how much allowance is left?

Every check is a ``Finding`` (``ok``, ``warn`` or ``fail``) for one system. ``fail`` is what blocks a pull
or an apply, or would make their results wrong without saying so:

- sign-in fails, the API version is not served, the daily allowance is already past the profile's
  ``api_budget_share`` (every pull would stop at once), the clock is more than five minutes off the
  CRM's (incremental windows and JWT sign-in depend on it);
- an object the maps read cannot be described, a required mapped field is missing, a standard optional
  field is hidden (field-level security: its column would be empty, an opt-out silently lost), a field
  crm-ops fixes cannot be written by the integration user;
- a HubSpot scope crm-ops needs is not granted (403 MISSING_SCOPES names it), ``sales-email-read``
  included when a map reads HubSpot's logged e-mails;
- a source (``[sources.<name>]``) cannot be read, or lacks a column its map requires.

``warn`` is worth knowing but blocks nothing: a custom field the org does not have (switch the column off
or map your own), a cross-CRM id field absent (records link by matching), allowance above 80% used.

The org's field changes since the last pull (``orgwatch.since_last_pull``, read-only): a field crm-ops
reads gone or retyped out of its column ``fail``, a shortened, required or read-only one and a picklist
value records hold ``warn``.

Then the org's inventory (``connectors.inventory``), one ``ok`` line per object: its records and the
entity that reads it, or that none does (a custom object to declare in the profile's ``object_maps``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from crm_ops.config import Profile
from crm_ops.connectors.hswrite import OWN_ENDPOINTS
from crm_ops.connectors.hubspot import CRM_OBJECTS, HubSpotConnector, is_object
from crm_ops.connectors.inventory import OrgObject, hubspot_inventory, salesforce_inventory
from crm_ops.connectors.salesforce import SalesforceConnector
from crm_ops.connectors.source import SourceConnector
from crm_ops.errors import ApiError, ConfigError, CrmOpsError
from crm_ops.orgwatch import since_last_pull
from crm_ops.pull import connect
from crm_ops.schema.fieldmap import EntityMap, absent_reason

# Canonical columns crm-ops never writes (ids, stamps, flags the CRM computes): no write check for them.
READ_ONLY = frozenset(
    {"id", "updated_at", "is_deleted", "created_at", "source_system", "is_converted", "is_closed", "is_won"}
    | {"converted_date", "converted_account_id", "converted_contact_id", "converted_opportunity_id"}
    | {"last_activity_date", "probability", "linked_lead_id"}
)
# The scopes a private app needs for everything crm-ops does (pull, apply, merge, undo).
HUBSPOT_SCOPES = (
    *(f"crm.objects.{o}.{rw}" for o in CRM_OBJECTS for rw in ("read", "write")),
    *(f"crm.schemas.{o}.read" for o in CRM_OBJECTS),
    "crm.objects.owners.read",
)
# Scopes reading a declared object takes besides those: HubSpot serves logged e-mails' details only with
# sales-email-read (the activities map's Email).
OBJECT_SCOPES = {"emails": ("sales-email-read",)}
MAX_SKEW_SECONDS = 300
WRITTEN = frozenset({"Account", "Contact", "Lead", "Opportunity"})  # the entities fix plans write


@dataclass(frozen=True)
class Finding:
    """One check's outcome."""

    system: str
    check: str
    status: str  # ok | warn | fail
    detail: str


def _skew(system: str, date_header: str | None, now: datetime) -> Finding:
    if not date_header:
        return Finding(system, "clock", "warn", "the CRM sent no Date header; clock skew not checked")
    skew = (now - parsedate_to_datetime(date_header).astimezone(UTC)).total_seconds()
    status = "fail" if abs(skew) > MAX_SKEW_SECONDS else "ok"
    return Finding(system, "clock", status, f"this machine is {skew:+.0f} s from the CRM's clock")


def _map_findings(system: str, emap: EntityMap, fields: dict[str, bool]) -> Iterator[Finding]:
    """Each mapped column held against the fields the user can read (``fields``: name -> updateable).

    A column the profile switched off is not in the map, so it is not reported."""
    have = {n.lower(): n for n in fields}
    own = OWN_ENDPOINTS.get(emap.object, ()) if system == "hubspot" else ()  # read-only, written elsewhere
    for column, src in emap.columns.items():
        if not src.names:
            continue
        found = next((have[n.lower()] for n in src.names if n.lower() in have), None)
        where = f"{emap.entity}.{column}"
        names = ", ".join(src.names)
        if found is None:
            why = absent_reason(system, src.names)
            if src.absent_ok:  # a normal set-up: nothing to do
                yield Finding(system, "fields", "ok", f"{where}: {names} absent ({src.absent_ok})")
            elif not src.optional:
                yield Finding(system, "fields", "fail", f"{where}: required field {names} missing: {why}")
            elif src.candidates:
                yield Finding(system, "fields", "warn", f"{where}: none of {names}: {why}")
            elif all(n.endswith("__c") for n in src.names):
                yield Finding(
                    system,
                    "fields",
                    "warn",
                    f"{where}: {names} absent: {why}; `{column} = false` in "
                    f"maps.{system}.{emap.entity} of the profile silences this",
                )
            else:
                yield Finding(system, "fields", "fail", f"{where}: {names} cannot be read: {why}")
        elif emap.entity in WRITTEN and column not in READ_ONLY and column not in own and not fields[found]:
            yield Finding(
                system,
                "fields",
                "fail",
                f"{where}: {found} is read-only for the integration user; fixes to "
                "it would fail (grant edit access, or switch the column off)",
            )


def _salesforce(conn: SalesforceConnector, now: datetime) -> Iterator[Finding]:
    sf = "salesforce"
    settings = conn.settings
    conn.enforce_budget = False  # a dozen calls to say how much is left must not be refused by the guard
    who = conn.identity()
    yield Finding(
        sf,
        "sign-in",
        "ok",
        f"signed in as {who.get('preferred_username')} (user {who.get('user_id')}, "
        f"org {who.get('organization_id')}) with {settings.auth}",
    )
    versions = conn.api_versions()
    if settings.api_version not in versions:
        yield Finding(
            sf,
            "api version",
            "fail",
            f"the org does not serve API v{settings.api_version}; it serves {', '.join(versions[-3:])}",
        )
    else:
        newest = versions[-1] if versions else settings.api_version
        yield Finding(sf, "api version", "ok", f"v{settings.api_version} (the org's newest: v{newest})")
    daily = conn.limits().get("DailyApiRequests") or {}
    top, left = int(daily.get("Max") or 0), int(daily.get("Remaining") or 0)
    if top:
        used = top - left
        share = used / top
        detail = f"{used:,} of {top:,} daily API requests used ({share:.0%}), {left:,} left"
        if share >= settings.api_budget_share:
            yield Finding(
                sf,
                "allowance",
                "fail",
                f"{detail}: past api_budget_share {settings.api_budget_share:.0%}, "
                "so every pull would stop at once (wait for the 24-hour window, or raise the share)",
            )
        else:
            yield Finding(sf, "allowance", "warn" if share >= 0.8 else "ok", detail)
    yield _skew(sf, conn.server_date, now)
    for entity in conn.entities():
        emap = conn.fmap.entity(entity)
        try:
            described = conn.describe(entity)
        except ApiError as exc:
            yield Finding(sf, "objects", "fail", f"{emap.object} ({entity}) cannot be described: {exc}")
            continue
        fields = {f.name: f.updateable for f in described}
        yield from _map_findings(sf, emap, fields)
    yield from _inventory(salesforce_inventory(conn))


def _hubspot(conn: HubSpotConnector, now: datetime) -> Iterator[Finding]:
    hs = "hubspot"
    status, headers, body = conn.probe(
        "POST", "/oauth/v2/private-apps/get/access-token-info", {"tokenKey": conn.settings.secret("token")}
    )
    if status == 401:
        yield Finding(hs, "sign-in", "fail", "HubSpot refused the token (401): set a valid private app token")
        return
    if status == 200 and isinstance(body, dict):
        granted = set(body.get("scopes") or [])
        yield Finding(hs, "sign-in", "ok", f"private app {body.get('appId')} in portal {body.get('hubId')}")
        objects = {conn.fmap.entity(e).object for e in conn.entities()}
        needed = [*HUBSPOT_SCOPES, *(x for o in sorted(objects) for x in OBJECT_SCOPES.get(o, ()))]
        missing = [s for s in needed if s not in granted]
        yield (
            Finding(
                hs,
                "scopes",
                "fail",
                f"the private app lacks {', '.join(missing)}: add them on its Scopes tab",
            )
            if missing
            else Finding(hs, "scopes", "ok", f"all {len(needed)} scopes crm-ops needs are granted")
        )
    else:
        yield Finding(hs, "sign-in", "warn", f"token info unavailable ({status}); scopes probed one by one")
    yield _skew(hs, headers.get("Date"), now)
    status, headers, body = conn.probe("GET", "/crm/v3/owners?limit=1")
    if status == 403:
        needed = (body or {}).get("errors", [{}])[0].get("context", {}).get("requiredScopes") or [
            "crm.objects.owners.read"
        ]
        yield Finding(
            hs, "scopes", "fail", f"owners: 403 {(body or {}).get('category')}: needs {', '.join(needed)}"
        )
    daily, remaining = (
        headers.get("X-HubSpot-RateLimit-Daily"),
        headers.get("X-HubSpot-RateLimit-Daily-Remaining"),
    )
    if daily and remaining and daily.isdigit() and remaining.isdigit() and int(daily):
        used = int(daily) - int(remaining)
        share = used / int(daily)
        yield Finding(
            hs,
            "allowance",
            "fail" if not int(remaining) else "warn" if share >= 0.8 else "ok",
            f"{used:,} of {int(daily):,} daily API calls used ({share:.0%})",
        )
    for entity in conn.entities():
        emap = conn.fmap.entity(entity)
        if not is_object(emap.object):
            continue
        try:
            described = conn.describe(entity)
        except ApiError as exc:
            yield Finding(hs, "objects", "fail", f"{emap.object} ({entity}) properties cannot be read: {exc}")
            continue
        fields = {p.name: p.updateable for p in described} | {"archived": False}
        yield from _map_findings(hs, emap, fields)
    yield from _inventory(hubspot_inventory(conn))


def _inventory(objects: list[OrgObject]) -> Iterator[Finding]:
    """One line per object of the org: records, and the entity reading it (or how to declare one)."""
    for o in objects:
        records = "records not counted (no access)" if o.records is None else f"{o.records:,} records"
        kind = f"custom, {o.type_id}" if o.type_id else "custom" if o.custom else "standard"
        read = (
            f"mapped to {o.entity}"
            if o.entity
            else "not mapped (declare it in the profile's object_maps)"
            if o.custom
            else "not mapped"
        )
        yield Finding(o.system, "inventory", "ok", f"{o.name} ({o.label}, {kind}): {records}; {read}")


def _source(conn: SourceConnector) -> Iterator[Finding]:
    """A source beyond the CRMs: can it be read, does it have the columns its map reads?"""
    name, entity, settings = conn.system, conn.entity, conn.settings
    where = settings.path or settings.database or settings.table or "the query"
    columns = {f.name for f in conn.describe(entity)}
    yield Finding(name, "reach", "ok", f"{entity} from {where}: {len(columns)} columns")
    for column, src in conn.emap.columns.items():
        if not src.names or any(n in columns for n in src.names):
            continue
        names = " or ".join(src.names)
        if src.optional:
            yield Finding(name, "fields", "warn", f"{entity}.{column}: no column {names}; it stays empty")
        else:
            yield Finding(
                name, "fields", "fail", f"{entity}.{column}: required column {names} missing ({src.origin})"
            )
    if not conn.incremental(entity):
        yield Finding(
            name, "incremental", "warn", "no updated_at in the map: every pull reads the whole source"
        )


def _org_changes(profile: Profile, conn: Any) -> Iterator[Finding]:
    """The org's field changes since the last pull (``orgwatch``): an error-level one (a used field gone
    or retyped out of its column) fails, a warning warns; info-level churn is one ``ok`` line."""
    changes = since_last_pull(profile, conn)
    status = {"error": "fail", "warning": "warn"}
    for change in changes:
        if change.severity in status:
            yield Finding(conn.system, "org changes", status[change.severity], change.message)
    quiet = sum(1 for c in changes if c.severity not in status)
    if quiet:
        yield Finding(conn.system, "org changes", "ok", f"{quiet} change(s) to fields crm-ops does not read")


def run_doctor(profile: Profile, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> list[Finding]:
    """Every check for every CRM and source the profile configures; one that cannot be reached is one
    ``fail``."""
    findings: list[Finding] = []
    for system in profile.systems():
        try:
            conn: Any = connect(profile, system)
        except (ConfigError, ApiError) as exc:
            findings.append(Finding(system, "sign-in", "fail", str(exc)))
            continue
        try:
            checks = _salesforce(conn, now()) if system == "salesforce" else _hubspot(conn, now())
            findings.extend(checks)
            findings.extend(_org_changes(profile, conn))
        except CrmOpsError as exc:
            findings.append(Finding(system, "connection", "fail", str(exc)))
        finally:
            conn.close()
    for name, settings in profile.sources.items():
        source = None
        try:
            source = SourceConnector(settings)
            findings.extend(_source(source))
        except CrmOpsError as exc:
            findings.append(Finding(name, "reach", "fail", str(exc)))
        finally:
            if source is not None:
                source.close()
    return findings
