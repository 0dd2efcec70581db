"""The configuration file: TOML with one table per profile (sandbox, preprod, prod...).

Secrets never live in the file: a key that looks like one (password, token, secret...) is refused, and
each secret is read from an environment variable at connect time (the default names are below; a
profile may name others with ``<secret>_env = "VAR"``). Other string values may use ``${VAR}``.

    [profiles.sandbox]
    state_dir = ".crm-ops/sandbox"          # relative to this file

    [profiles.sandbox.salesforce]
    auth = "password"                       # password | client_credentials | jwt | session
    login_url = "https://test.salesforce.com"
    username = "ops@example.com"
    client_id = "3MVG9..."
    bulk_threshold = 20000                  # COUNT() above this pulls through Bulk API 2.0
    bulk_write_threshold = 2000             # writes of an object in a plan above this go through Bulk ingest

    [profiles.sandbox.hubspot]
    base_url = "https://api.hubapi.com"

    [profiles.sandbox.maps.salesforce.Contact]
    custom_segment = "Segment__c"           # carry a custom field under a name of your own

    [profiles.sandbox]                      # (same table) shipped object maps by name, and objects
    object_maps = ["cases", "objects/salesforce.yaml", "objects/hubspot.yaml"]   # crm_ops ships no map for

    [profiles.sandbox.objects.salesforce.Project]   # or one declared in the profile itself
    object = "Project__c"
    required = {name = "Name"}
    optional = {account_id = {field = "Account__c", parent = "Account"}}

    [profiles.sandbox.review]               # which plan actions start approved (plan.csv, apply)
    approve = ["tag:format", "person.email.normalised"]
    min_confidence = 0.95
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_ops.config_monitors import MonitorSettings, _monitor_settings
from crm_ops.config_owners import OwnerSettings, owner_settings
from crm_ops.config_retention import RetentionSettings, _retention_settings
from crm_ops.config_sources import SourceSettings, source_settings
from crm_ops.config_tables import (
    ENGINES,
    ReviewSettings,
    RuleSettings,
    RunSettings,
    SparkSettings,
    _review_settings,
    _rule_settings,
    _run_settings,
    _spark_settings,
)
from crm_ops.errors import ConfigError
from crm_ops.retry import RetryPolicy
from crm_ops.schema.maploading import load_object_map, load_object_tables
from crm_ops.schema.objectmaps import is_shipped_name, shipped_object_map

__all__ = [
    "CrmSettings",
    "HubSpotSettings",
    "MonitorSettings",
    "Profile",
    "ReviewSettings",
    "RuleSettings",
    "RunSettings",
    "SalesforceSettings",
    "SourceSettings",
    "SparkSettings",
    "load_profile",
    "redact",
    "sandbox_config",
    "sandbox_profile",
]
DEFAULT_CONFIG = "crm-ops.toml"
SECRET_WORDS = ("password", "secret", "token", "session_id", "private_key", "api_key")
SF_SECRETS = {
    "password": "CRM_OPS_SF_PASSWORD",
    "security_token": "CRM_OPS_SF_SECURITY_TOKEN",
    "client_secret": "CRM_OPS_SF_CLIENT_SECRET",
    "access_token": "CRM_OPS_SF_ACCESS_TOKEN",
    "jwt_key_file": "CRM_OPS_SF_JWT_KEY_FILE",
}
HS_SECRETS = {"token": "CRM_OPS_HUBSPOT_TOKEN"}
SF_AUTH = ("password", "client_credentials", "jwt", "session")
SF_AUTH_SECRETS = {  # the secrets each Salesforce auth reads
    "password": ("password", "client_secret"),
    "client_credentials": ("client_secret",),
    "jwt": ("jwt_key_file",),
    "session": ("access_token",),
}
LOGIN_DOMAINS = {"login": "https://login.salesforce.com", "test": "https://test.salesforce.com"}


def _secret(env_names: Mapping[str, str], name: str, where: str) -> str:
    var = env_names[name]
    value = os.environ.get(var)
    if not value:
        raise ConfigError(f"{where}: the {name.replace('_', ' ')} comes from the environment: set {var}")
    return value


@dataclass(frozen=True)
class CrmSettings:
    """What every CRM connection has: retries, time-outs, the incremental overlap, its secrets."""

    overlap_seconds: int = 300  # an incremental pull starts this long before the watermark
    timeout_seconds: float = 60.0  # one HTTP call's time-out
    retry_attempts: int = 8  # attempts in all for a retriable failure (429, 5xx, timeout, dropped)
    retry_initial_wait: float = 0.5  # first backoff wait, seconds (exponential, with jitter)
    retry_max_wait: float = 30.0  # longest wait between attempts, seconds (Retry-After capped by it)
    connect_timeout: float = 10.0  # seconds to make a connection (then timeout_seconds for the answer)
    unreachable_after: float = 20.0  # seconds a host that refuses or does not resolve is tried for
    secret_env: dict[str, str] = field(default_factory=dict)
    where: str = "config"

    def secret(self, name: str) -> str:
        """A secret from its environment variable, or a ConfigError naming the variable."""
        return _secret(self.secret_env, name, self.where)

    def needed_secrets(self) -> tuple[str, ...]:
        """The secrets a connection needs (by the names of ``secret_env``)."""
        return tuple(self.secret_env)

    def missing_secrets(self) -> list[str]:
        """Each needed secret whose environment variable is unset or empty, as a problem naming it."""
        problems = []
        for name in self.needed_secrets():
            try:
                self.secret(name)
            except ConfigError as exc:
                problems.extend(exc.problems)
        return problems

    def retry_policy(self) -> RetryPolicy:
        """The retry policy these settings ask for."""
        return RetryPolicy(
            self.retry_attempts, self.retry_initial_wait, self.retry_max_wait, self.unreachable_after
        )


@dataclass(frozen=True)
class SalesforceSettings(CrmSettings):
    """How to reach one Salesforce org and how hard to pull from it."""

    auth: str = "session"  # password | client_credentials | jwt | session
    instance_url: str | None = None  # the org's URL (session auth; else given by the sign-in)
    login_url: str = LOGIN_DOMAINS["login"]  # login, test, or your My Domain URL
    oauth_url: str | None = None  # where to ask for tokens (the My Domain for client credentials)
    audience: str | None = None  # the JWT's aud: login or test (default: login_url)
    username: str | None = None  # the integration user (password and jwt)
    client_id: str | None = None  # the connected app's consumer key
    api_version: str = "59.0"  # REST API version
    ca_bundle: str | None = None  # a proxy's CA when it inspects TLS; the system store otherwise
    bulk_threshold: int = 20_000  # a pull of more records than this (by COUNT()) goes through Bulk 2.0
    formula_refresh_hours: float = (
        24.0  # formulas change without moving SystemModstamp: re-read (h; 0: never)
    )
    bulk_page_records: int = 50_000  # records per Bulk 2.0 results page
    bulk_write_threshold: int = 2_000  # a plan's writes of an object above this go through Bulk ingest
    bulk_write_batch: int = 10_000  # records per Bulk ingest job
    rest_page_records: int = 2_000  # records per REST query page (Sforce-Query-Options batchSize)
    api_budget_share: float = 0.8  # stop (resumably) before this share of the daily allowance is used
    allow_duplicate_saves: bool = False  # saves a duplicate rule alerts on go through (allowSave=true)
    timeout_seconds: float = 120.0  # one HTTP call's time-out
    secret_env: dict[str, str] = field(default_factory=lambda: dict(SF_SECRETS))

    def needed_secrets(self) -> tuple[str, ...]:
        """The secrets the configured auth needs (the security token may be empty: trusted IP ranges)."""
        return SF_AUTH_SECRETS.get(self.auth, ())


@dataclass(frozen=True)
class HubSpotSettings(CrmSettings):
    """How to reach one HubSpot portal and how fast to call it."""

    base_url: str = "https://api.hubapi.com"  # HubSpot's API
    ca_bundle: str | None = None  # a proxy's CA when it inspects TLS; the system store otherwise
    rate_per_ten_seconds: int = 100  # calls per rolling 10 s to stay under (the private app's limit)
    search_per_second: int = 4  # search calls per second to stay under
    part_rows: int = 20_000  # records per part file of a pull
    portal_id: int = 0  # where records open in HubSpot's app; 0: asked of the account-info API
    ui_domain: str = "app.hubspot.com"  # with portal_id (EU portals: app-eu1.hubspot.com)
    secret_env: dict[str, str] = field(default_factory=lambda: dict(HS_SECRETS))


@dataclass(frozen=True)
class NotifySettings:
    """Where a run's failure or threshold breach is posted (a Slack-compatible incoming webhook). The
    URL is a secret: it comes from the environment variable named here, never from the file."""

    webhook_env: str | None = None  # the environment variable holding the webhook URL (unset: no post)
    ca_bundle: str | None = None  # a proxy's CA when it inspects TLS; the system store otherwise
    timeout_seconds: float = 10.0  # the post's time-out
    report_url: str | None = None  # https address where runs/ is published: posts and digests link the report

    def report_link(self, run_id: str) -> str | None:
        """The https address of a run's report when ``report_url`` says where reports are published."""
        return f"{self.report_url.rstrip('/')}/{run_id}/report.html" if self.report_url else None


@dataclass(frozen=True)
class Profile:
    """One named profile: where state lives, the two CRMs, map overrides."""

    name: str
    state_dir: Path
    salesforce: SalesforceSettings | None = None
    hubspot: HubSpotSettings | None = None
    maps: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    object_maps: tuple[Path, ...] = ()  # YAML maps declaring entities of other objects (custom objects)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # the same, declared in the profile
    entities: tuple[str, ...] | None = None
    rules: RuleSettings = field(default_factory=RuleSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)
    match: dict[str, Any] = field(default_factory=dict)
    run: RunSettings = field(default_factory=RunSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    owners: OwnerSettings = field(default_factory=OwnerSettings)  # who owns which findings (issue 27)
    monitors: MonitorSettings = field(default_factory=MonitorSettings)  # the data monitors (issue 27)
    retention: RetentionSettings = field(default_factory=RetentionSettings)  # what runs prune (issue 31)
    production: bool = False
    source: str = "config"
    sources: dict[str, SourceSettings] = field(default_factory=dict)  # billing, product, files (issue 14)
    engine: str = "polars"  # polars | spark: what check, match and run compute on
    spark: SparkSettings = field(default_factory=SparkSettings)

    def systems(self) -> list[str]:
        """The CRMs this profile connects to."""
        return [s for s in ("salesforce", "hubspot") if getattr(self, s) is not None]

    def missing_secrets(self, systems: Sequence[str] | None = None) -> list[str]:
        """Each secret variable the CRMs of ``systems`` (default: all) need and the environment lacks."""
        asked = self.systems() if systems is None else [s for s in self.systems() if s in systems]
        return [p for s in asked for p in getattr(self, s).missing_secrets()]

    def all_systems(self) -> list[str]:
        """The CRMs, then the sources (by the names the config gives them)."""
        return [*self.systems(), *self.sources]


# A profile's own keys and their tables (docs/reference/config.md is generated from these and the
# dataclasses above: ``python -m crm_ops.docs``).
PROFILE_KEYS = {
    "state_dir": "where the state lives: snapshots, findings, plans, runs (default .crm-ops/<profile>, "
    "relative to the config file)",
    "production": "guard writes: apply, undo and run write only with --allow-production "
    "(default: true: a profile without the key is guarded)",
    "entities": "the CRM entities pulled and checked (default: every entity of the maps; a source's own "
    "entity is always pulled)",
    "salesforce": "table: how to reach Salesforce (absent: not pulled)",
    "hubspot": "table: how to reach HubSpot (absent: not pulled)",
    "maps": "tables maps.<system>.<Entity>: field map overrides",
    "object_maps": "a list of shipped object maps by name (cases: Salesforce Case and HubSpot tickets as "
    "the entity Case) and of YAML field maps (relative to the config file) declaring entities of objects "
    "crm_ops ships no map for: Salesforce custom objects (X__c), HubSpot custom object types (p_<name>)",
    "objects": "tables objects.<system>.<Entity> (object, required, optional): entities declared in the "
    "profile itself, as in an object map file",
    "rules": "table: which rules run",
    "review": "table: which plan actions start approved",
    "match": "table: matching settings",
    "run": "table: the nightly run's auto-apply and exit-code threshold",
    "notify": "table: the webhook a failing run posts to",
    "owners": "table: who owns which findings (by rule or tag:x, entity, system; a default), for the "
    "webhook, the digest, the report and the findings CSV",
    "monitors": "table: the data monitors' baseline, thresholds and severities (the circuit breaker)",
    "retention": "table: how many days the nightly run keeps its runs, findings, plans and journals, and "
    "earlier snapshots (then pruned)",
    "sources": "tables sources.<name>: billing, product and file sources checked against the CRMs",
    "engine": 'what check, match and run compute on: "polars" (one machine, the default) or "spark"',
    "spark": 'table: where Spark runs and where it reads the snapshots (engine = "spark")',
}

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: Any, where: str, problems: list[str], used: dict[str, str] | None = None) -> Any:
    """``${VAR}`` replaced by the variable's value; ``used`` collects the variables expanded (so that an
    error never shows their values: see ``redact``)."""
    used = {} if used is None else used
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in os.environ:
                problems.append(f"{where}: environment variable {m.group(1)} is not set")
                return ""
            used[m.group(1)] = os.environ[m.group(1)]
            return os.environ[m.group(1)]

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}", problems, used) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{where}[{i}]", problems, used) for i, v in enumerate(value)]
    return value


SECRET_VAR_WORDS = ("PASSWORD", "SECRET", "TOKEN", "KEY", "SESSION", "CREDENTIAL", "AUTH")


def redact(text: str, values: Mapping[str, str] | None = None) -> str:
    """``text`` with the values of ``values`` (variable -> value: those a config expanded) and of every
    secret-named environment variable shown as ``${VAR}``: an error message never echoes a secret."""
    named = dict(values or {})
    named |= {k: v for k, v in os.environ.items() if any(w in k.upper() for w in SECRET_VAR_WORDS)}
    for var, value in sorted(named.items(), key=lambda kv: -len(kv[1])):
        if len(value) >= 4 and value in text:
            text = text.replace(value, "${" + var + "}")
    return text


def _section(
    cls: type[SalesforceSettings] | type[HubSpotSettings],
    raw: dict[str, Any],
    where: str,
    secrets: dict[str, str],
    problems: list[str],
) -> Any:
    known = set(cls.__dataclass_fields__) - {"secret_env", "where"}
    values: dict[str, Any] = {}
    env_names = dict(secrets)
    for key, value in raw.items():
        if key.endswith("_env") and key[:-4] in secrets:
            env_names[key[:-4]] = str(value)
        elif any(word in key.lower() for word in SECRET_WORDS):
            problems.append(
                f"{where}.{key}: secrets are not read from the config file; "
                f"set the environment variable {secrets.get(key, 'named by ' + key + '_env')} instead"
            )
        elif key not in known:
            problems.append(f"{where}.{key}: unknown setting; known: {', '.join(sorted(known))}")
        else:
            expected = type(getattr(cls(), key)) if getattr(cls(), key) is not None else str
            given = float(value) if expected is float and isinstance(value, int) else value
            if not isinstance(given, expected) or isinstance(given, bool) != (expected is bool):
                problems.append(f"{where}.{key}: expected {expected.__name__}, got {value!r}")
                continue
            values[key] = given
    if cls is SalesforceSettings:
        if "domain" in raw:
            problems.append(f"{where}.domain: use login_url (or 'login'/'test')")
        for key in ("login_url", "oauth_url", "audience"):
            given = values.get(key)
            if isinstance(given, str) and given in LOGIN_DOMAINS:
                values[key] = LOGIN_DOMAINS[given]
        auth = values.get("auth", "session")
        if auth not in SF_AUTH:
            problems.append(f"{where}.auth: expected one of {', '.join(SF_AUTH)}, got {auth!r}")
        share = values.get("api_budget_share", 0.8)
        if not 0 < share <= 1:
            problems.append(f"{where}.api_budget_share: must be in (0, 1], got {share}")
    return cls(**values, secret_env=env_names, where=where)


def _notify_settings(raw: Any, where: str, problems: list[str]) -> NotifySettings:
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table with webhook_env, ca_bundle, timeout_seconds, report_url")
        return NotifySettings()
    known = set(NotifySettings.__dataclass_fields__)
    for key in sorted(set(raw) - known):
        hint = " (the URL is a secret: name its variable in webhook_env)" if "url" in key else ""
        problems.append(f"{where}.{key}: unknown setting; known: {', '.join(sorted(known))}{hint}")
    env, ca = raw.get("webhook_env"), raw.get("ca_bundle")
    timeout = raw.get("timeout_seconds", NotifySettings.timeout_seconds)
    if env is not None and (not isinstance(env, str) or not env.strip()):
        problems.append(f"{where}.webhook_env: expected the name of an environment variable, got {env!r}")
        env = None
    if ca is not None and not isinstance(ca, str):
        problems.append(f"{where}.ca_bundle: expected a path, got {ca!r}")
        ca = None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        problems.append(f"{where}.timeout_seconds: expected a positive number, got {timeout!r}")
        timeout = NotifySettings.timeout_seconds
    report_url = raw.get("report_url")
    if report_url is not None and (not isinstance(report_url, str) or not report_url.startswith("https://")):
        problems.append(
            f"{where}.report_url: expected an https:// address (where runs/ is published; a report holds "
            f"CRM data, never sent in the clear), got {report_url!r}"
        )
        report_url = None
    return NotifySettings(env, ca, float(timeout), report_url)


def _object_maps(raw: Any, where: str, file: Path, problems: list[str]) -> tuple[Path, ...]:
    """The object map files a profile names, each loaded and checked now (its entities declared)."""
    if not isinstance(raw, list) or not all(isinstance(p, str) and p for p in raw):
        problems.append(f"{where}: expected a list of YAML map files, got {raw!r}")
        return ()
    paths: list[Path] = []
    for given in raw:
        if is_shipped_name(given):  # a shipped map by name ("cases"): its file for each CRM
            try:
                named = list(shipped_object_map(given, where))
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
        else:
            named = [Path(given) if Path(given).is_absolute() else file.resolve().parent / given]
        for path in named:
            try:
                load_object_map(path)
            except ConfigError as exc:
                problems.extend(f"{where}: {p}" for p in exc.problems)
                continue
            paths.append(path)
    return tuple(paths)


def _object_tables(raw: Any, where: str, problems: list[str]) -> dict[str, dict[str, Any]]:
    """The entities the profile declares in ``objects.<system>.<Entity>`` tables, checked now."""
    if not isinstance(raw, dict) or any(s not in ("salesforce", "hubspot") for s in raw):
        problems.append(
            f"{where}.objects: expected tables objects.salesforce.<Entity> / objects.hubspot.<Entity>"
        )
        return {}
    good: dict[str, dict[str, Any]] = {}
    for system, tables in raw.items():
        if not isinstance(tables, dict):
            problems.append(f"{where}.objects.{system}: expected tables objects.{system}.<Entity>")
            continue
        try:
            load_object_tables(system, tables, where)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        good[system] = tables
    return good


def load_profile(path: str | Path | None = None, profile: str | None = None) -> Profile:
    """Read ``profile`` from the config file (``CRM_OPS_CONFIG`` or ./crm-ops.toml by default)."""
    file = Path(path or os.environ.get("CRM_OPS_CONFIG") or DEFAULT_CONFIG)
    name = profile or os.environ.get("CRM_OPS_PROFILE") or "sandbox"
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the config file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None
    profiles = data.get("profiles", {})
    if name not in profiles:
        raise ConfigError(f"{file}: no profile {name!r}; defined: {', '.join(profiles) or 'none'}")
    problems: list[str] = []
    where = f"{file} profiles.{name}"
    used: dict[str, str] = {}
    raw = _expand(profiles[name], where, problems, used)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table ([profiles.{name}])")
    for key in raw:
        if key not in PROFILE_KEYS:
            problems.append(f"{where}.{key}: unknown setting; known: {', '.join(sorted(PROFILE_KEYS))}")
    given_dir = raw.get("state_dir", f".crm-ops/{name}")
    if not isinstance(given_dir, str) or not given_dir:
        problems.append(f"{where}.state_dir: expected a path (text), got {given_dir!r}")
        given_dir = f".crm-ops/{name}"
    state_dir = Path(given_dir)
    if not state_dir.is_absolute():
        state_dir = file.resolve().parent / state_dir  # absolute: the state file records paths under it
    sf = hs = None
    if "salesforce" in raw:
        sf = _section(SalesforceSettings, raw["salesforce"], f"{where}.salesforce", SF_SECRETS, problems)
    if "hubspot" in raw:
        hs = _section(HubSpotSettings, raw["hubspot"], f"{where}.hubspot", HS_SECRETS, problems)
    maps = raw.get("maps", {})
    if not isinstance(maps, dict) or any(s not in ("salesforce", "hubspot") for s in maps):
        problems.append(f"{where}.maps: expected tables maps.salesforce.<Entity> / maps.hubspot.<Entity>")
        maps = {}
    object_maps = _object_maps(raw.get("object_maps", []), f"{where}.object_maps", file, problems)
    objects = _object_tables(raw.get("objects", {}), where, problems)
    entities = raw.get("entities")
    if entities is not None and (
        not isinstance(entities, list) or not all(isinstance(e, str) for e in entities)
    ):
        problems.append(f"{where}.entities: expected a list of entity names, got {entities!r}")
        entities = None
    for table in ("match",):
        if not isinstance(raw.get(table, {}), dict):
            problems.append(f"{where}.{table}: expected a table ([profiles.{name}.{table}])")
            raw[table] = {}
    # the guard is this key, never the profile's name: unsaid means guarded (init and the sandbox say it)
    production = raw.get("production", True)
    if not isinstance(production, bool):
        problems.append(f"{where}.production: expected true or false, got {production!r}")
        production = True  # when in doubt, guarded
    rules = _rule_settings(raw.get("rules", {}), f"{where}.rules", file.parent, problems)
    review = _review_settings(raw.get("review", {}), f"{where}.review", problems)
    run = _run_settings(raw.get("run", {}), f"{where}.run", problems)
    notify = _notify_settings(raw.get("notify", {}), f"{where}.notify", problems)
    monitors = _monitor_settings(raw.get("monitors", {}), f"{where}.monitors", problems)
    retention = _retention_settings(raw.get("retention", {}), f"{where}.retention", problems)
    sources = source_settings(raw.get("sources", {}), f"{where}.sources", file.resolve().parent, problems)
    systems = ("salesforce", "hubspot", *sources)
    owners = owner_settings(raw.get("owners", {}), f"{where}.owners", problems, systems)
    engine = raw.get("engine", "polars")
    if engine not in ENGINES:
        problems.append(f"{where}.engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
        engine = "polars"
    spark = _spark_settings(raw.get("spark", {}), f"{where}.spark", problems)
    if problems:
        raise ConfigError([redact(p, used) for p in problems])
    return Profile(
        name=name,
        state_dir=state_dir,
        salesforce=sf,
        hubspot=hs,
        maps=maps,
        object_maps=object_maps,
        objects=objects,
        entities=tuple(entities) if entities else None,
        rules=rules,
        review=review,
        match=dict(raw.get("match", {})),
        run=run,
        notify=notify,
        owners=owners,
        monitors=monitors,
        retention=retention,
        production=production,
        source=str(file),
        sources=sources,
        engine=engine,
        spark=spark,
    )


def sandbox_config(
    env: Mapping[str, str],
    state_dir: str | Path,
    *,
    name: str = "sandbox",
    hubspot_rate: int = 180,
    salesforce: Mapping[str, int | float | str] | None = None,
    hubspot: Mapping[str, int | float | str] | None = None,
) -> str:
    """A config file's text for a running sandbox (its env file gives the secrets).

    ``hubspot_rate`` is the calls per 10 seconds to stay under: the sandbox's window is HubSpot's (190).
    ``salesforce`` and ``hubspot`` add settings to those sections.
    """

    def extra(settings: Mapping[str, int | float | str] | None) -> str:
        return "".join(f"{k} = {json.dumps(v)}\n" for k, v in (settings or {}).items())

    return f"""# crm-ops configuration for the local sandbox; secrets come from the sandbox's env file.
[profiles.{name}]
state_dir = "{Path(state_dir).as_posix()}"
production = false                      # the local sandbox: apply and run write without --allow-production

[profiles.{name}.salesforce]
auth = "session"
instance_url = "{env["CRM_OPS_SF_INSTANCE_URL"]}"
ca_bundle = "{env["CRM_OPS_SF_CA_BUNDLE"]}"
{extra(salesforce)}
[profiles.{name}.hubspot]
base_url = "{env["CRM_OPS_HUBSPOT_BASE_URL"]}"
rate_per_ten_seconds = {hubspot_rate}
{extra(hubspot)}"""


def sandbox_profile(
    env: Mapping[str, str],
    folder: Path,
    *,
    name: str = "sandbox",
    extra: str = "",
    hubspot_rate: int = 180,
    salesforce: Mapping[str, int | float | str] | None = None,
    hubspot: Mapping[str, int | float | str] | None = None,
) -> Profile:
    """The profile of a running sandbox: its secrets put in the environment (as a deployment sets them),
    ``folder/crm-ops.toml`` written (``extra`` appended; state in ``folder/state``), loaded."""
    os.environ.update(env)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "crm-ops.toml"
    text = sandbox_config(
        env, folder / "state", name=name, hubspot_rate=hubspot_rate, salesforce=salesforce, hubspot=hubspot
    )
    path.write_text(text + extra)
    return load_profile(path, name)
