"""`crm-ops init`'s config: loads as written, safe by default, never a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_ops.config import load_profile
from crm_ops.errors import ConfigError
from crm_ops.starter import StarterChoices, secret_variables, starter_config


def test_the_starter_config_loads_and_is_safe_by_default(tmp_path: Path) -> None:
    path = tmp_path / "crm-ops.toml"
    path.write_text(starter_config(StarterChoices()))
    profile = load_profile(path, "prod")
    assert profile.production  # apply and run refuse to write without --allow-production
    assert profile.salesforce is not None and profile.salesforce.auth == "jwt"
    assert profile.salesforce.login_url == "https://login.salesforce.com"
    assert profile.run.auto_apply == ()  # nothing written unattended until a person lists rules
    assert profile.hubspot is not None and profile.hubspot.base_url == "https://api.hubapi.com"
    text = path.read_text()
    for word in ("password =", "secret =", "token =", "key ="):
        assert word not in text
    # unattended writes on production: off, and the key that turns them on is there, commented out
    assert not profile.run.allow_production and "\n# allow_production = true\n" in text
    path.write_text(text.replace("# allow_production = true", "allow_production = true"))
    assert load_profile(path, "prod").run.allow_production


def test_a_non_prod_profile_is_not_production_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "crm-ops.toml"
    path.write_text(starter_config(StarterChoices(profile="preprod", login_url="test", hubspot=False)))
    profile = load_profile(path, "preprod")
    assert not profile.production and profile.hubspot is None
    path.write_text(starter_config(StarterChoices(profile="eu", production=True)))
    assert load_profile(path, "eu").production


def test_choices_that_cannot_work_are_refused_together() -> None:
    with pytest.raises(ConfigError) as raised:
        starter_config(StarterChoices(profile="my prod", auth="saml", login_url="example.com"))
    assert len(raised.value.problems) == 3
    with pytest.raises(ConfigError, match="client_credentials posts to the org's own My Domain"):
        starter_config(StarterChoices(auth="client_credentials", login_url="login"))


def test_the_variables_to_set_follow_the_auth_method() -> None:
    assert [v for v, _ in secret_variables(StarterChoices())] == [
        "CRM_OPS_SF_JWT_KEY_FILE",
        "CRM_OPS_HUBSPOT_TOKEN",
    ]
    password = [v for v, _ in secret_variables(StarterChoices(auth="password", hubspot=False))]
    assert password == ["CRM_OPS_SF_PASSWORD", "CRM_OPS_SF_SECURITY_TOKEN", "CRM_OPS_SF_CLIENT_SECRET"]
