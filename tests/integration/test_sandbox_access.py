"""What the sandbox tells a client about its own access (issue 11, for ``crm-ops doctor``): who the
Salesforce session is, how much daily allowance is spent, which private app and scopes the HubSpot
token has, and the 403 MISSING_SCOPES a route answers when its scope is not granted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hubspot.crm.contacts import SimplePublicObjectInput
from hubspot.crm.deals import SimplePublicObjectInput as DealInput
from hubspot.crm.deals.exceptions import ApiException as DealsApiException
from hubspot.crm.owners.exceptions import ApiException as OwnersApiException

from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.hubspot import DEFAULT_SCOPES, HubSpotLimits
from crm_ops.sandbox.salesforce import SalesforceLimits
from crm_ops.sandbox.server import Sandbox, SandboxConfig

pytestmark = pytest.mark.integration

# What crm-ops needs of a private app (crm_ops.doctor.HUBSPOT_SCOPES); the default grant holds them all.
NEEDED = {
    *(f"crm.objects.{o}.{rw}" for o in ("contacts", "companies", "deals") for rw in ("read", "write")),
    *(f"crm.schemas.{o}.read" for o in ("contacts", "companies", "deals")),
    "crm.objects.owners.read",
}
NOT_GRANTED = {"crm.objects.owners.read", "crm.objects.deals.write", "crm.schemas.companies.read"}
MISSING_MESSAGE = (
    "This app hasn't been granted all required scopes to make this call. Read more about required "
    "scopes here: https://developers.hubspot.com/scopes."
)


def _sf(sandbox: Sandbox, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
    env = sandbox.env
    headers = {"Authorization": f"Bearer {token or env['CRM_OPS_SF_ACCESS_TOKEN']}"}
    return requests.get(
        env["CRM_OPS_SF_INSTANCE_URL"] + path,
        headers=headers,
        verify=env["CRM_OPS_SF_CA_BUNDLE"],
        timeout=10,
        **kwargs,
    )


def _hs(sandbox: Sandbox, method: str, path: str, body: Any = None, **headers: str) -> requests.Response:
    env = sandbox.env
    auth = {"Authorization": f"Bearer {env['CRM_OPS_HUBSPOT_TOKEN']}"}
    return requests.request(
        method, env["CRM_OPS_HUBSPOT_BASE_URL"] + path, json=body, headers=auth | headers, timeout=10
    )


def _plain(**limits: Any) -> SandboxConfig:
    """A small plain org (as crm-ops first meets one) with the given allowances and grants."""
    return SandboxConfig(seed=SeedConfig(records=300, org="plain"), **limits)


def _spent(*, salesforce: tuple[int, int], hubspot: tuple[int, int]) -> Sandbox:
    """A sandbox whose daily allowances (maximum, already used) start as given."""
    return Sandbox(
        _plain(
            salesforce_limits=SalesforceLimits(daily_api_requests=salesforce[0], used_at_start=salesforce[1]),
            hubspot_limits=HubSpotLimits(daily=hubspot[0], daily_used_at_start=hubspot[1]),
        )
    )


def _missing_scopes(body: dict[str, Any], *scopes: str) -> None:
    assert body["status"] == "error"
    assert body["category"] == "MISSING_SCOPES"
    assert body["message"] == MISSING_MESSAGE
    assert body["correlationId"]
    assert body["errors"] == [
        {
            "message": "One or more of the following scopes are required.",
            "context": {"requiredScopes": list(scopes)},
        }
    ]
    assert body["links"] == {"scopes": "https://developers.hubspot.com/scopes"}


@pytest.fixture(scope="module")
def limited() -> Iterator[Sandbox]:
    """A plain org whose allowances are mostly spent and whose private app lacks three scopes."""
    config = _plain(
        salesforce_limits=SalesforceLimits(daily_api_requests=15_000, used_at_start=12_000),
        hubspot_limits=HubSpotLimits(
            daily=250_000, daily_used_at_start=200_000, scopes=DEFAULT_SCOPES - NOT_GRANTED
        ),
    )
    with Sandbox(config) as sandbox:
        yield sandbox


# ---------------------------------------------------------------- Salesforce: who the session is


def test_userinfo_names_the_integration_user(sandbox: Sandbox) -> None:
    user = sandbox.data.salesforce["User"].row(0, named=True)
    answer = _sf(sandbox, "/services/oauth2/userinfo")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json;charset=UTF-8"
    body = answer.json()
    org = body["organization_id"]
    assert len(org) == 18
    assert org.startswith("00D")
    assert body["user_id"] == user["Id"]
    assert body["sub"] == f"https://login.salesforce.com/id/{org}/{user['Id']}"
    assert body["preferred_username"] == sandbox.env["CRM_OPS_SF_USERNAME"]
    assert body["name"] == user["Name"]
    assert body["email"] == user["Email"]
    assert body["given_name"] == user["FirstName"]
    assert body["family_name"] == user["LastName"]
    assert body["active"] is True
    assert body["email_verified"] is True
    assert body["zoneinfo"]
    assert isinstance(body["utcOffset"], int)
    assert body["updated_at"].endswith("Z")
    assert body["urls"]["rest"].endswith("/services/data/v{version}/")
    # the session id carries the org id's first 15 characters, as Salesforce's do
    assert sandbox.env["CRM_OPS_SF_ACCESS_TOKEN"].startswith(org[:15] + "!")


def test_userinfo_answers_a_session_the_token_endpoint_issued(sandbox: Sandbox) -> None:
    env = sandbox.env
    issued = requests.post(
        env["CRM_OPS_SF_INSTANCE_URL"] + "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": env["CRM_OPS_SF_CLIENT_ID"],
            "client_secret": env["CRM_OPS_SF_CLIENT_SECRET"],
        },
        verify=env["CRM_OPS_SF_CA_BUNDLE"],
        timeout=10,
    ).json()
    body = _sf(sandbox, "/services/oauth2/userinfo", token=issued["access_token"]).json()
    assert issued["id"].endswith(f"/id/{body['organization_id']}/{body['user_id']}")
    by_query = requests.get(
        env["CRM_OPS_SF_INSTANCE_URL"] + "/services/oauth2/userinfo",
        params={"access_token": issued["access_token"]},
        verify=env["CRM_OPS_SF_CA_BUNDLE"],
        timeout=10,
    )
    assert by_query.json()["user_id"] == body["user_id"]


def test_userinfo_refuses_a_bad_or_missing_token_as_documented(sandbox: Sandbox) -> None:
    bad = _sf(sandbox, "/services/oauth2/userinfo", token="00D8d0000000001!not-a-session")
    assert (bad.status_code, bad.text) == (403, "Bad_OAuth_Token")
    env = sandbox.env
    missing = requests.get(
        env["CRM_OPS_SF_INSTANCE_URL"] + "/services/oauth2/userinfo",
        verify=env["CRM_OPS_SF_CA_BUNDLE"],
        timeout=10,
    )
    assert (missing.status_code, missing.text) == (403, "Missing_OAuth_Token")


def test_userinfo_is_not_an_api_call(sandbox: Sandbox) -> None:
    before = sandbox.salesforce.api_calls
    for _ in range(3):
        assert _sf(sandbox, "/services/oauth2/userinfo").status_code == 200
    assert sandbox.salesforce.api_calls == before


# ---------------------------------------------------------------- allowance already spent


def test_spent_allowance_shows_in_limits_and_every_answer() -> None:
    with _spent(salesforce=(15_000, 12_000), hubspot=(250_000, 200_000)) as sandbox:
        limits = _sf(sandbox, "/services/data/v59.0/limits")
        assert limits.headers["Sforce-Limit-Info"] == "api-usage=12001/15000"
        assert limits.json()["DailyApiRequests"] == {"Max": 15_000, "Remaining": 2_999}
        sf = salesforce_client(sandbox.env)
        sf.query("SELECT Id FROM Contact LIMIT 1")
        assert sf.api_usage["api-usage"].used == 12_002
        assert sf.api_usage["api-usage"].total == 15_000

        owners = _hs(sandbox, "GET", "/crm/v3/owners?limit=1")
        assert owners.status_code == 200
        assert owners.headers["X-HubSpot-RateLimit-Daily"] == "250000"
        assert owners.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "49999"
        # a private app's answers carry the Daily pair besides the 10-second window (OAuth apps' do not)
        assert owners.headers["X-HubSpot-RateLimit-Max"]
        search = _hs(sandbox, "POST", "/crm/v3/objects/contacts/search", {"limit": 1})
        assert search.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "49998"
        assert "X-HubSpot-RateLimit-Max" not in search.headers  # as recorded: search has only the Daily pair


def test_an_allowance_spent_to_the_last_call_refuses_data_calls_but_not_identity() -> None:
    with _spent(salesforce=(1_000, 1_000), hubspot=(1_000, 1_000)) as sandbox:
        refused = _sf(sandbox, "/services/data/v59.0/limits")
        assert refused.status_code == 403
        assert refused.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
        assert refused.headers["Sforce-Limit-Info"] == "api-usage=1000/1000"
        assert _sf(sandbox, "/services/oauth2/userinfo").status_code == 200

        daily = _hs(sandbox, "GET", "/crm/v3/owners?limit=1")
        assert daily.status_code == 429
        assert daily.json()["policyName"] == "DAILY"
        assert daily.json()["category"] == "RATE_LIMITS"
        assert daily.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
        info = _hs(
            sandbox,
            "POST",
            "/oauth/v2/private-apps/get/access-token-info",
            {"tokenKey": sandbox.env["CRM_OPS_HUBSPOT_TOKEN"]},
        )
        assert info.status_code == 200


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (lambda: SalesforceLimits(daily_api_requests=10, used_at_start=11), "used_at_start"),
        (lambda: SalesforceLimits(used_at_start=-1), "used_at_start"),
        (lambda: HubSpotLimits(daily=10, daily_used_at_start=11), "daily_used_at_start"),
    ],
)
def test_an_allowance_cannot_start_past_its_maximum(limits: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        limits()


# ---------------------------------------------------------------- HubSpot: the token and the portal


def test_token_info_names_app_portal_and_every_needed_scope(sandbox: Sandbox) -> None:
    token = sandbox.env["CRM_OPS_HUBSPOT_TOKEN"]
    # the token travels in the body: no Authorization header is needed
    answer = requests.post(
        sandbox.env["CRM_OPS_HUBSPOT_BASE_URL"] + "/oauth/v2/private-apps/get/access-token-info",
        json={"tokenKey": token},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json;charset=utf-8"
    body = answer.json()
    assert set(body) == {"userId", "hubId", "appId", "scopes"}
    assert body["hubId"] == int(sandbox.env["CRM_OPS_HUBSPOT_PORTAL_ID"]) == sandbox.hubspot.portal_id
    assert isinstance(body["userId"], int)
    assert isinstance(body["appId"], int)
    assert body["scopes"] == sorted(body["scopes"])
    assert set(body["scopes"]) >= NEEDED


def test_token_info_refuses_an_unknown_token(sandbox: Sandbox) -> None:
    answer = _hs(sandbox, "POST", "/oauth/v2/private-apps/get/access-token-info", {"tokenKey": "pat-na1-x"})
    assert answer.status_code == 401
    assert answer.json()["category"] == "INVALID_AUTHENTICATION"
    assert _hs(sandbox, "POST", "/oauth/v2/private-apps/get/access-token-info", {}).status_code == 400


def test_account_details_give_the_portal(sandbox: Sandbox) -> None:
    answer = _hs(sandbox, "GET", "/account-info/v3/details")
    assert answer.status_code == 200
    body = answer.json()
    assert body["portalId"] == sandbox.hubspot.portal_id
    assert body["uiDomain"] == "app.hubspot.com"
    assert body["accountType"] == "STANDARD"
    assert body["dataHostingLocation"] == "na1"
    assert body["companyCurrency"] == "USD"
    assert body["timeZone"]
    assert body["utcOffsetMilliseconds"] in (-18_000_000, -14_400_000)
    assert body["utcOffset"] in ("-05:00", "-04:00")
    # record URLs carry the same portal id
    record = _hs(sandbox, "GET", "/crm/v3/objects/contacts?limit=1").json()["results"][0]
    assert record["url"].startswith(f"https://app.hubspot.com/contacts/{body['portalId']}/record/0-1/")


# ---------------------------------------------------------------- HubSpot: scopes


def test_token_info_lists_only_the_scopes_granted(limited: Sandbox) -> None:
    info = _hs(
        limited,
        "POST",
        "/oauth/v2/private-apps/get/access-token-info",
        {"tokenKey": limited.env["CRM_OPS_HUBSPOT_TOKEN"]},
    ).json()
    assert info["scopes"] == sorted(DEFAULT_SCOPES - NOT_GRANTED)


def test_owners_without_their_scope_answer_403_missing_scopes(limited: Sandbox) -> None:
    hs = hubspot_client(limited.env)
    with pytest.raises(OwnersApiException) as raised:
        hs.crm.owners.owners_api.get_page(limit=1)
    assert raised.value.status == 403
    _missing_scopes(json.loads(raised.value.body), "crm.objects.owners.read")
    assert raised.value.headers["X-HubSpot-RateLimit-Daily"] == "250000"
    one = _hs(limited, "GET", "/crm/v3/owners/1")
    assert one.status_code == 403
    _missing_scopes(one.json(), "crm.objects.owners.read")


def test_granted_scopes_work_and_each_write_needs_its_own(limited: Sandbox) -> None:
    hs = hubspot_client(limited.env)
    contact = hs.crm.contacts.basic_api.get_page(limit=1).results[0]
    hs.crm.contacts.basic_api.update(contact.id, SimplePublicObjectInput(properties={"jobtitle": "CFO"}))
    deal = hs.crm.deals.basic_api.get_page(limit=1).results[0]  # deals read is granted
    with pytest.raises(DealsApiException) as raised:
        hs.crm.deals.basic_api.update(deal.id, DealInput(properties={"dealname": "renamed"}))
    assert raised.value.status == 403
    _missing_scopes(json.loads(raised.value.body), "crm.objects.deals.write")
    archived = _hs(limited, "DELETE", f"/crm/v3/objects/deals/{deal.id}")
    assert archived.status_code == 403
    merged = _hs(limited, "POST", "/crm/v3/objects/deals/merge", {"primaryObjectId": deal.id})
    _missing_scopes(merged.json(), "crm.objects.deals.write")


def test_properties_need_their_schema_scope(limited: Sandbox) -> None:
    assert _hs(limited, "GET", "/crm/v3/properties/contacts").status_code == 200
    companies = _hs(limited, "GET", "/crm/v3/properties/companies")
    assert companies.status_code == 403
    _missing_scopes(companies.json(), "crm.schemas.companies.read")
    one = _hs(limited, "GET", "/crm/v3/properties/companies/name")
    _missing_scopes(one.json(), "crm.schemas.companies.read")


def test_associations_need_both_objects_scopes(limited: Sandbox) -> None:
    contact = _hs(limited, "GET", "/crm/v3/objects/contacts?limit=1").json()["results"][0]["id"]
    read = _hs(
        limited, "POST", "/crm/v4/associations/contacts/deals/batch/read", {"inputs": [{"id": contact}]}
    )
    assert read.status_code in (200, 207)
    archive = _hs(
        limited,
        "POST",
        "/crm/v4/associations/contacts/deals/batch/archive",
        {"inputs": [{"from": {"id": contact}, "to": [{"id": "300000000"}]}]},
    )
    assert archive.status_code == 403
    _missing_scopes(archive.json(), "crm.objects.deals.write")
    linked = _hs(
        limited,
        "POST",
        "/crm/v4/associations/deals/contacts/batch/associate/default",
        {"inputs": [{"from": {"id": "300000000"}, "to": {"id": contact}}]},
    )
    _missing_scopes(linked.json(), "crm.objects.deals.write")


def test_a_type_the_portal_lacks_is_still_the_validation_error(limited: Sandbox) -> None:
    unknown = _hs(limited, "GET", "/crm/v3/objects/p_projects?limit=1")  # no such custom type
    assert unknown.status_code == 400
    assert unknown.json()["category"] == "VALIDATION_ERROR"


def test_account_details_need_the_oauth_scope() -> None:
    config = _plain(
        hubspot_limits=HubSpotLimits(scopes=DEFAULT_SCOPES - {"oauth"}),
    )
    with Sandbox(config) as sandbox:
        answer = _hs(sandbox, "GET", "/account-info/v3/details")
        assert answer.status_code == 403
        _missing_scopes(answer.json(), "oauth")


def test_tickets_are_read_under_the_legacy_tickets_scope_too() -> None:
    """A private app made before HubSpot's granular ticket scopes holds ``tickets``: HubSpot serves its
    tickets under it, and so does the sandbox; without either, the granular scope is the one named."""
    granular = {"crm.objects.tickets.read", "crm.objects.tickets.write"}
    legacy = _plain(hubspot_limits=HubSpotLimits(scopes=(DEFAULT_SCOPES - granular) | {"tickets"}))
    with Sandbox(legacy) as sandbox:
        assert _hs(sandbox, "GET", "/crm/v3/objects/tickets?limit=1").status_code == 200
    neither = _plain(hubspot_limits=HubSpotLimits(scopes=DEFAULT_SCOPES - granular))
    with Sandbox(neither) as sandbox:
        answer = _hs(sandbox, "GET", "/crm/v3/objects/tickets?limit=1")
        assert answer.status_code == 403
        _missing_scopes(answer.json(), "crm.objects.tickets.read")
