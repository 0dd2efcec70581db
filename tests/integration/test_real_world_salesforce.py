"""Salesforce as real orgs answer (issue 15): each behaviour switched on in the sandbox, crm-ops doing
the right thing through the unchanged simple-salesforce."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from crm_ops.config import Profile, load_profile
from crm_ops.errors import BudgetExhaustedError, FatalApiError, SessionExpiredError
from crm_ops.pull import Puller, connect
from crm_ops.sandbox.clients import salesforce_client
from crm_ops.sandbox.server import Sandbox
from crm_ops.state import now
from tests.pulling import assert_pulled, assert_same, expected, profile_for, real_world_sandbox

pytestmark = pytest.mark.integration


def _profile(box: Sandbox, folder: Path, auth: str, **settings: str | int) -> Profile:
    env = box.env
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
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
    with real_world_sandbox(200, 41, password_flow=False, my_domain=True) as sb:
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


@pytest.fixture(scope="module")
def short_sessions() -> Iterator[Sandbox]:
    """Sessions that expire after 4 data calls."""
    with real_world_sandbox(600, 43, session_calls=4) as sb:
        yield sb


SMALL_REST = {"rest_page_records": 200, "bulk_threshold": 100_000}


def test_a_session_expiring_mid_pull_is_renewed_by_the_configured_flow(
    short_sessions: Sandbox, tmp_path: Path
) -> None:
    url = short_sessions.env["CRM_OPS_SF_INSTANCE_URL"]
    profile = _profile(short_sessions, tmp_path, "jwt", oauth_url=url, audience="login", **SMALL_REST)
    puller = Puller(profile)
    data = short_sessions.data
    for entity in ("Contact", "Account"):
        result = puller.pull("salesforce", entity)
        assert result.api_calls > 4
        truth = expected("salesforce", entity, data.salesforce, data.hubspot_associations)
        assert_same(result.snapshot.read(), truth, entity)
    assert short_sessions.salesforce_layer.draws.counts["session_expired"] >= 2


def test_a_given_session_id_that_expires_stops_resumably_with_what_to_do(
    short_sessions: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = profile_for(short_sessions, tmp_path, salesforce=SMALL_REST)
    stale = short_sessions.env["CRM_OPS_SF_ACCESS_TOKEN"]
    short_sessions.salesforce_layer.sessions[stale] = 0
    puller = Puller(profile)
    with pytest.raises(SessionExpiredError, match="CRM_OPS_SF_ACCESS_TOKEN") as raised:
        puller.pull("salesforce", "Contact")
    assert stale not in str(raised.value)
    job = puller.state.open_pull("salesforce", "Contact")
    assert job is not None and job.parts > 0  # what was pulled is kept
    puller.close()

    token = requests.post(
        f"{short_sessions.env['CRM_OPS_SF_INSTANCE_URL']}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": short_sessions.env["CRM_OPS_SF_CLIENT_ID"],
            "client_secret": short_sessions.env["CRM_OPS_SF_CLIENT_SECRET"],
        },
        verify=short_sessions.env["CRM_OPS_SF_CA_BUNDLE"],
        timeout=30,
    ).json()["access_token"]
    short_sessions.salesforce_layer.sessions[token] = -1000  # a fresh session that lasts this pull
    monkeypatch.setenv("CRM_OPS_SF_ACCESS_TOKEN", token)
    resumed = Puller(profile).pull("salesforce", "Contact")
    assert resumed.resumed
    data = short_sessions.data
    truth = expected("salesforce", "Contact", data.salesforce, data.hubspot_associations)
    assert_same(resumed.snapshot.read(), truth, "Contact")


SF_ENTITIES = ["Account", "Contact", "Lead", "Opportunity", "Owner", "ContactRole"]
QUICK = {"retry_attempts": 12, "retry_initial_wait": 0.01, "retry_max_wait": 0.05}


def test_concurrent_request_limits_are_waited_out_and_the_daily_total_stops_resumably(tmp_path: Path) -> None:
    with real_world_sandbox(1500, 45, "concurrent=0.1,total_after=25") as box:
        profile = profile_for(
            box, tmp_path, salesforce={**SMALL_REST, "bulk_threshold": 1000, **QUICK}, hubspot=QUICK
        )
        puller = Puller(profile)
        with pytest.raises(BudgetExhaustedError, match=r"TotalRequests Limit exceeded.*resumes"):
            puller.pull_many(["salesforce", "hubspot"])
        assert box.salesforce_layer.draws.counts["total"] == 1
        assert {c.system for c in puller.state.all_current()} == {"salesforce", "hubspot"}
        puller.close()

        again = Puller(profile)
        again.pull_many(["salesforce", "hubspot"])
        assert_pulled(again, box, "salesforce", SF_ENTITIES)
        assert box.salesforce_layer.draws.counts["concurrent"] >= 3


def test_query_timeouts_narrow_the_window_and_failed_or_short_bulk_jobs_are_never_a_short_snapshot(
    tmp_path: Path,
) -> None:
    faults = "query_timeout=0.5,bulk_failed=0.4,bulk_short=0.3"
    with real_world_sandbox(2500, 47, faults) as box:
        settings = {"bulk_threshold": 2000, "bulk_page_records": 400, "rest_page_records": 200, **QUICK}
        puller = Puller(profile_for(box, tmp_path, salesforce=settings))
        puller.pull_many(["salesforce"])
        assert_pulled(puller, box, "salesforce", SF_ENTITIES)
        counts = box.salesforce_layer.draws.counts
        assert counts["query_timeout"] >= 3 and counts["bulk_failed"] >= 1 and counts["bulk_short"] >= 1, (
            counts
        )


def test_the_sandbox_serves_a_formula_that_changes_without_a_stamp_and_a_multi_currency_org() -> None:
    with real_world_sandbox(200, 49, formula_field=True, currencies=("USD", "EUR", "GBP")) as box:
        sf: Any = salesforce_client(box.env)
        fields = {f["name"]: f for f in sf.Contact.describe()["fields"]}
        assert fields["Account_Tier_F__c"]["calculated"] is True
        assert {f["name"] for f in sf.Opportunity.describe()["fields"]} >= {"CurrencyIsoCode"}
        codes = {r["CurrencyIsoCode"] for r in sf.query("SELECT CurrencyIsoCode FROM Account")["records"]}
        assert codes == {"USD", "EUR", "GBP"}
        before = {
            r["Id"]: r
            for r in sf.query_all("SELECT Id, SystemModstamp, Account_Tier_F__c FROM Contact")["records"]
        }
        changed = box.salesforce_layer.change_formulas(5)
        after = {
            r["Id"]: r
            for r in sf.query_all("SELECT Id, SystemModstamp, Account_Tier_F__c FROM Contact")["records"]
        }
        for record_id in changed:
            assert after[record_id]["Account_Tier_F__c"] != before[record_id]["Account_Tier_F__c"]
            assert after[record_id]["SystemModstamp"] == before[record_id]["SystemModstamp"]
