"""Salesforce as real orgs answer (issue 15): each behaviour switched on in the sandbox, crm-ops doing
the right thing through the unchanged simple-salesforce."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_ops.config import Profile, load_profile
from crm_ops.errors import FatalApiError
from crm_ops.pull import connect
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.realworld import RealWorld
from crm_ops.sandbox.server import Sandbox, SandboxConfig
from crm_ops.state import now
from tests.pulling import FAST_HUBSPOT, profile_for

pytestmark = pytest.mark.integration


def _profile(box: Sandbox, folder: Path, auth: str, **settings: str) -> Profile:
    env = box.env
    lines = "".join(f'{k} = "{v}"\n' for k, v in settings.items())
    extra = f"""
[profiles.{auth}]
state_dir = "{(folder / auth).as_posix()}"

[profiles.{auth}.salesforce]
auth = "{auth}"
username = "{env["CRM_OPS_SF_USERNAME"]}"
client_id = "{env["CRM_OPS_SF_CLIENT_ID"]}"
ca_bundle = "{env["CRM_OPS_SF_CA_BUNDLE"]}"
{lines}"""
    profile_for(box, folder, extra=extra)
    return load_profile(folder / "crm-ops.toml", auth)


@pytest.fixture(scope="module")
def new_org() -> Iterator[Sandbox]:
    """An org created after Summer '23: no username-password flow, client credentials at My Domain."""
    config = SandboxConfig(
        seed=SeedConfig(records=200, seed=41),
        hubspot_limits=FAST_HUBSPOT,
        real_world=RealWorld(password_flow=False, my_domain=True),
    )
    with Sandbox(config) as sb:
        yield sb


def _owners(profile: Profile) -> int:
    conn = connect(profile, "salesforce")
    try:
        return sum(p.frame.height for p in conn.pull("Owner", since=None, until=now(), cursor=None))
    finally:
        conn.close()


def test_password_flow_blocked_says_which_org_setting_or_flow_to_use(
    new_org: Sandbox, tmp_path: Path
) -> None:
    profile = _profile(new_org, tmp_path, "password", login_url=new_org.env["CRM_OPS_SF_INSTANCE_URL"])
    with pytest.raises(FatalApiError) as raised:
        connect(profile, "salesforce")
    text = str(raised.value)
    assert "invalid_grant: authentication failure" in text
    assert "Allow OAuth Username-Password Flows" in text and 'auth = "jwt"' in text
    assert new_org.env["CRM_OPS_SF_PASSWORD"] not in text


def test_client_credentials_at_the_login_host_says_to_use_my_domain(new_org: Sandbox, tmp_path: Path) -> None:
    profile = _profile(new_org, tmp_path, "client_credentials", login_url=new_org.env["CRM_OPS_SF_LOGIN_URL"])
    with pytest.raises(FatalApiError) as raised:
        connect(profile, "salesforce")
    assert "request not supported on this domain" in str(raised.value)
    assert "oauth_url" in str(raised.value) and "My Domain" in str(raised.value)
    assert new_org.env["CRM_OPS_SF_CLIENT_SECRET"] not in str(raised.value)


def test_client_credentials_at_my_domain_and_jwt_with_login_audience_sign_in(
    new_org: Sandbox, tmp_path: Path
) -> None:
    env = new_org.env
    users = new_org.data.salesforce["User"].height
    cc = _profile(
        new_org, tmp_path / "cc", "client_credentials", login_url=env["CRM_OPS_SF_LOGIN_URL"],
        oauth_url=env["CRM_OPS_SF_INSTANCE_URL"],
    )  # fmt: skip
    assert _owners(cc) == users
    jwt = _profile(
        new_org, tmp_path / "jwt", "jwt", oauth_url=env["CRM_OPS_SF_INSTANCE_URL"], audience="login"
    )
    assert jwt.salesforce is not None and jwt.salesforce.audience == "https://login.salesforce.com"
    assert _owners(jwt) == users
