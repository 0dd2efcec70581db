"""The config file: profiles, secrets only from the environment, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_ops.config import load_profile
from crm_ops.errors import ConfigError

GOOD = """
[profiles.prod]
state_dir = "state/prod"

[profiles.prod.salesforce]
auth = "password"
login_url = "test"
username = "ops@example.com"
client_id = "${APP_ID}"
bulk_threshold = 50000
api_budget_share = 0.5

[profiles.prod.hubspot]
rate_per_ten_seconds = 90

[profiles.prod.maps.salesforce.Contact]
custom_segment = "Segment__c"
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crm-ops.toml"
    path.write_text(text)
    return path


def test_a_profile_loads_with_defaults_and_env_expansion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_ID", "3MVG9-app")
    profile = load_profile(_file(tmp_path, GOOD), "prod")
    assert profile.state_dir == tmp_path / "state" / "prod"
    assert profile.production
    sf = profile.salesforce
    assert sf is not None
    assert sf.login_url == "https://test.salesforce.com"
    assert sf.client_id == "3MVG9-app"
    assert sf.bulk_threshold == 50_000
    assert profile.hubspot is not None and profile.hubspot.rate_per_ten_seconds == 90
    assert profile.maps == {"salesforce": {"Contact": {"custom_segment": "Segment__c"}}}
    assert profile.systems() == ["salesforce", "hubspot"]


def test_secrets_in_the_file_are_refused_with_the_variable_to_use(tmp_path: Path) -> None:
    path = _file(
        tmp_path, '[profiles.prod.salesforce]\npassword = "hunter2"\n[profiles.prod.hubspot]\ntoken = "pat"\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_profile(path, "prod")
    text = str(raised.value)
    assert "profiles.prod.salesforce.password" in text and "CRM_OPS_SF_PASSWORD" in text
    assert "profiles.prod.hubspot.token" in text and "CRM_OPS_HUBSPOT_TOKEN" in text
    assert "hunter2" not in text and 'pat"' not in text


def test_secrets_come_from_the_environment_by_the_names_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path, '[profiles.prod.hubspot]\ntoken_env = "PROD_HUBSPOT_PAT"\n')
    hubspot = load_profile(path, "prod").hubspot
    assert hubspot is not None
    monkeypatch.delenv("PROD_HUBSPOT_PAT", raising=False)
    with pytest.raises(ConfigError, match="set PROD_HUBSPOT_PAT"):
        hubspot.secret("token")
    monkeypatch.setenv("PROD_HUBSPOT_PAT", "pat-123")
    assert hubspot.secret("token") == "pat-123"


def test_bad_settings_are_each_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    path = _file(
        tmp_path,
        '[profiles.prod]\nstat_dir = "x"\n[profiles.prod.salesforce]\nauth = "magic"\n'
        'bulk_threshold = "big"\n'
        'instance_url = "${NOT_SET_ANYWHERE}"\napi_budget_share = 1.5\n'
        "[profiles.prod.rules]\nchunk_rows = 10\n",
    )
    with pytest.raises(ConfigError) as raised:
        load_profile(path, "prod")
    problems = "\n".join(raised.value.problems)
    assert "profiles.prod.stat_dir: unknown setting" in problems
    assert (
        "salesforce.auth: expected one of password, client_credentials, jwt, session, got 'magic'" in problems
    )
    assert "salesforce.bulk_threshold: expected int, got 'big'" in problems
    assert "NOT_SET_ANYWHERE is not set" in problems
    assert "api_budget_share: must be in (0, 1]" in problems
    assert "profiles.prod.rules.chunk_rows: expected a number of rows, 1000 or more, got 10" in problems


def test_unknown_profile_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no profile 'staging'; defined: prod"):
        load_profile(_file(tmp_path, "[profiles.prod]\n"), "staging")
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_profile(tmp_path / "missing.toml", "prod")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_profile(_file(tmp_path, "[profiles.prod\n"), "prod")


def test_the_production_guard_is_the_key_never_the_name(tmp_path: Path) -> None:
    path = _file(
        tmp_path, "[profiles.prod]\nproduction = false\n[profiles.eu]\n[profiles.live]\nproduction = true\n"
    )
    assert not load_profile(path, "prod").production  # named prod, said not to be
    assert load_profile(path, "eu").production  # said nothing: guarded
    assert load_profile(path, "live").production
