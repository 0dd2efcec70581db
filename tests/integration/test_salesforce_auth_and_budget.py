"""Salesforce sign-in by each OAuth flow, and a pull that stops before the daily API budget is spent."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_ops.errors import BudgetExhaustedError, FatalApiError
from crm_ops.pull import Puller, connect
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.salesforce import SalesforceLimits
from crm_ops.sandbox.server import Sandbox, SandboxConfig
from crm_ops.state import now
from tests.pulling import assert_same, expected, profile_for

pytestmark = pytest.mark.integration


def _auth_profile(sandbox: Sandbox, folder: Path, auth: str) -> str:
    env = sandbox.env
    return f"""
[profiles.{auth}]
state_dir = "{(folder / auth).as_posix()}"

[profiles.{auth}.salesforce]
auth = "{auth}"
login_url = "{env["CRM_OPS_SF_INSTANCE_URL"]}"
username = "{env["CRM_OPS_SF_USERNAME"]}"
client_id = "{env["CRM_OPS_SF_CLIENT_ID"]}"
ca_bundle = "{env["CRM_OPS_SF_CA_BUNDLE"]}"
"""


@pytest.mark.parametrize("auth", ["password", "client_credentials", "jwt", "session"])
def test_each_auth_flow_signs_in_and_pulls(auth: str, sandbox: Sandbox, tmp_path: Path) -> None:
    extra = _auth_profile(sandbox, tmp_path, auth) if auth != "session" else ""
    profile = profile_for(sandbox, tmp_path, extra=extra)
    if auth != "session":
        from crm_ops.config import load_profile

        profile = load_profile(tmp_path / "crm-ops.toml", auth)
    conn = connect(profile, "salesforce")
    owners = [p.frame for p in conn.pull("Owner", since=None, until=now(), cursor=None)]
    assert sum(f.height for f in owners) == sandbox.data.salesforce["User"].height


def test_wrong_password_is_refused_without_echoing_it(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crm_ops.config import load_profile

    profile_for(sandbox, tmp_path, extra=_auth_profile(sandbox, tmp_path, "password"))
    monkeypatch.setenv("CRM_OPS_SF_PASSWORD", "hunter2-wrong")
    with pytest.raises(FatalApiError, match="authentication refused") as raised:
        connect(load_profile(tmp_path / "crm-ops.toml", "password"), "salesforce")
    assert "hunter2" not in str(raised.value)


def test_pull_stops_at_the_budget_and_resumes_when_allowed(tmp_path: Path) -> None:
    limits = SalesforceLimits(daily_api_requests=20)
    config = SandboxConfig(seed=SeedConfig(records=3000, seed=4), salesforce_limits=limits)
    with Sandbox(config) as box:
        profile = profile_for(
            box,
            tmp_path,
            salesforce={"api_budget_share": 0.5, "bulk_threshold": 100_000, "rest_page_records": 200},
        )
        puller = Puller(profile)
        with pytest.raises(BudgetExhaustedError, match="resumes"):
            puller.pull("salesforce", "Contact")
        job = puller.state.open_pull("salesforce", "Contact")
        assert job is not None and job.cursor is not None
        assert box.salesforce.api_calls <= 11, (
            "stopped at half the allowance, give or take the call in flight"
        )
        box.salesforce.limits = SalesforceLimits(daily_api_requests=1_000_000)
        result = puller.pull("salesforce", "Contact")
        assert result.resumed
        current = puller.state.current("salesforce", "Contact")
        assert current is not None
        truth = expected("salesforce", "Contact", box.data.salesforce, box.data.hubspot_associations)
        assert_same(current.snapshot.read(), truth, "salesforce.Contact")
