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

    [profiles.sandbox.review]               # which plan actions start approved (plan.csv, apply)
    approve = ["tag:format", "person.email.normalised"]
    min_confidence = 0.95
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_ops.errors import ConfigError
from crm_ops.retry import RetryPolicy

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

    overlap_seconds: int = 300
    timeout_seconds: float = 60.0
    retry_attempts: int = 8
    retry_initial_wait: float = 0.5
    retry_max_wait: float = 30.0
    secret_env: dict[str, str] = field(default_factory=dict)
    where: str = "config"

    def secret(self, name: str) -> str:
        """A secret from its environment variable, or a ConfigError naming the variable."""
        return _secret(self.secret_env, name, self.where)

    def retry_policy(self) -> RetryPolicy:
        """The retry policy these settings ask for."""
        return RetryPolicy(self.retry_attempts, self.retry_initial_wait, self.retry_max_wait)


@dataclass(frozen=True)
class SalesforceSettings(CrmSettings):
    """How to reach one Salesforce org and how hard to pull from it."""

    auth: str = "session"
    instance_url: str | None = None
    login_url: str = LOGIN_DOMAINS["login"]
    oauth_url: str | None = None  # where to ask for tokens (the My Domain for client credentials)
    audience: str | None = None  # the JWT's aud: login or test (default: login_url)
    username: str | None = None
    client_id: str | None = None
    api_version: str = "59.0"
    ca_bundle: str | None = None
    bulk_threshold: int = 20_000
    # formulas change without moving SystemModstamp: their columns are pulled again this often (0: never)
    formula_refresh_hours: float = 24.0
    bulk_page_records: int = 50_000
    bulk_write_threshold: int = 2_000
    bulk_write_batch: int = 10_000
    rest_page_records: int = 2_000
    api_budget_share: float = 0.8
    timeout_seconds: float = 120.0
    secret_env: dict[str, str] = field(default_factory=lambda: dict(SF_SECRETS))


@dataclass(frozen=True)
class HubSpotSettings(CrmSettings):
    """How to reach one HubSpot portal and how fast to call it."""

    base_url: str = "https://api.hubapi.com"
    ca_bundle: str | None = None  # a proxy's CA when it inspects TLS; the system store otherwise
    rate_per_ten_seconds: int = 100
    search_per_second: int = 4
    part_rows: int = 20_000
    portal_id: int = 0  # where records open in HubSpot's app; 0: asked of the account-info API
    ui_domain: str = "app.hubspot.com"  # with portal_id (EU portals: app-eu1.hubspot.com)
    secret_env: dict[str, str] = field(default_factory=lambda: dict(HS_SECRETS))


@dataclass(frozen=True)
class RuleSettings:
    """Which rules a profile runs: extra folders; rules (or ``tag:x``) switched off, re-graded, re-tuned."""

    folders: tuple[Path, ...] = ()
    disabled: tuple[str, ...] = ()
    severity: dict[str, str] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ReviewSettings:
    """Which plan actions start approved: ``update`` actions of the rules listed (ids or ``tag:x``) at
    or above ``min_confidence``. Merges, associations and drift syncs start approved only when their
    rule is listed by id (a tag never selects them); flags never (see ``crm_ops.plan.review``)."""

    approve: tuple[str, ...] = ("tag:format",)
    min_confidence: float = 0.95


ENGINES = ("polars", "spark")


@dataclass(frozen=True)
class SparkSettings:
    """``[profiles.P.spark]``: where Spark runs and where it reads the snapshots (``engine = "spark"``).

    ``master``: a master URL (``local[2]``, ``spark://host:7077``, ``yarn``); empty: the active session
    of the platform (Databricks, EMR) or ``local[*]``. ``snapshots``: a URI holding
    ``<system>/<Entity>`` Parquet datasets (``s3a://bucket/crm``); empty: the state file's current
    snapshots. ``partitions``: shuffle partitions (0: Spark's default). ``conf``: any Spark settings."""

    master: str = ""
    snapshots: str = ""
    partitions: int = 0
    app_name: str = "crm-ops"
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    """One named profile: where state lives, the two CRMs, map overrides."""

    name: str
    state_dir: Path
    salesforce: SalesforceSettings | None = None
    hubspot: HubSpotSettings | None = None
    maps: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    entities: tuple[str, ...] | None = None
    rules: RuleSettings = field(default_factory=RuleSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)
    match: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    production: bool = False
    source: str = "config"
    engine: str = "polars"  # polars | spark: what check, match and run compute on
    spark: SparkSettings = field(default_factory=SparkSettings)

    def systems(self) -> list[str]:
        """The CRMs this profile connects to."""
        return [s for s in ("salesforce", "hubspot") if getattr(self, s) is not None]


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: Any, where: str, problems: list[str]) -> Any:
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in os.environ:
                problems.append(f"{where}: environment variable {m.group(1)} is not set")
                return ""
            return os.environ[m.group(1)]

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}", problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    return value


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


def _rule_settings(raw: Any, where: str, base: Path, problems: list[str]) -> RuleSettings:
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table with folders, disabled, severity, params")
        return RuleSettings()
    unknown = set(raw) - {"folders", "disabled", "severity", "params"}
    if unknown:
        problems.append(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    folders = raw.get("folders", [])
    disabled = raw.get("disabled", [])
    severity = raw.get("severity", {})
    params = raw.get("params", {})
    if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
        problems.append(f"{where}.folders: expected a list of paths")
        folders = []
    if not isinstance(disabled, list) or not all(isinstance(d, str) for d in disabled):
        problems.append(f"{where}.disabled: expected a list of rule ids or tag:<tag>")
        disabled = []
    bad = (
        {k: v for k, v in severity.items() if v not in ("error", "warning", "info")}
        if isinstance(severity, dict)
        else {}
    )
    if not isinstance(severity, dict) or bad:
        problems.append(
            f"{where}.severity: expected rule id = error | warning | info, got {bad or severity!r}"
        )
        severity = {}
    if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        problems.append(f"{where}.params: expected tables of parameters by rule id")
        params = {}
    paths = tuple(Path(f) if Path(f).is_absolute() else base / f for f in folders)
    return RuleSettings(paths, tuple(disabled), dict(severity), {k: dict(v) for k, v in params.items()})


def _review_settings(raw: Any, where: str, problems: list[str]) -> ReviewSettings:
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table with approve, min_confidence")
        return ReviewSettings()
    for key in sorted(set(raw) - {"approve", "min_confidence"}):
        problems.append(f"{where}.{key}: unknown setting; known: approve, min_confidence")
    default = ReviewSettings()
    approve = raw.get("approve", list(default.approve))
    if not isinstance(approve, list) or not all(isinstance(x, str) and x.strip() for x in approve):
        problems.append(f"{where}.approve: expected a list of rule ids or tag:<tag>, got {approve!r}")
        approve = list(default.approve)
    bar = raw.get("min_confidence", default.min_confidence)
    if isinstance(bar, bool) or not isinstance(bar, int | float) or not 0 <= bar <= 1:
        problems.append(f"{where}.min_confidence: expected a number from 0 to 1, got {bar!r}")
        bar = default.min_confidence
    return ReviewSettings(tuple(x.strip() for x in approve), float(bar))


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
    raw = _expand(profiles[name], where, problems)
    known = {
        "state_dir", "salesforce", "hubspot", "maps", "entities", "production", "rules", "review",
        "match", "run", "engine", "spark",
    }  # fmt: skip
    for key in raw:
        if key not in known:
            problems.append(f"{where}.{key}: unknown setting; known: {', '.join(sorted(known))}")
    state_dir = Path(raw.get("state_dir", f".crm-ops/{name}"))
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
    entities = raw.get("entities")
    rules = _rule_settings(raw.get("rules", {}), f"{where}.rules", file.parent, problems)
    review = _review_settings(raw.get("review", {}), f"{where}.review", problems)
    engine = str(raw.get("engine", "polars"))
    if engine not in ENGINES:
        problems.append(f"{where}.engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    spark = _spark_settings(raw.get("spark", {}), f"{where}.spark", problems)
    if problems:
        raise ConfigError(problems)
    return Profile(
        name=name,
        state_dir=state_dir,
        salesforce=sf,
        hubspot=hs,
        maps=maps,
        entities=tuple(entities) if entities else None,
        rules=rules,
        review=review,
        match=dict(raw.get("match", {})),
        run=dict(raw.get("run", {})),
        production=bool(raw.get("production", name == "prod")),
        source=str(file),
        engine=engine,
        spark=spark,
    )


def _spark_settings(raw: Any, where: str, problems: list[str]) -> SparkSettings:
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table")
        return SparkSettings()
    known = set(SparkSettings.__dataclass_fields__)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            problems.append(f"{where}.{key}: unknown setting; known: {', '.join(sorted(known))}")
        elif key == "conf":
            if not isinstance(value, dict):
                problems.append(f"{where}.conf: expected a table of Spark settings")
            else:
                values[key] = {str(k): str(v) for k, v in value.items()}
        elif key == "partitions":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems.append(f"{where}.partitions: expected a whole number >= 0, got {value!r}")
            else:
                values[key] = value
        elif not isinstance(value, str):
            problems.append(f"{where}.{key}: expected a string, got {value!r}")
        else:
            values[key] = value
    return SparkSettings(**values)


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
