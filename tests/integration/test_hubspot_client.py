"""The HubSpot emulator driven by the unmodified hubspot-api-client, and held to recorded responses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsApiException
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    PublicObjectSearchRequest,
)
from hubspot.crm.contacts.exceptions import ApiException

from crm_ops.sandbox.clients import hubspot_client
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.hubspot import HubSpotLimits
from crm_ops.sandbox.server import Sandbox, SandboxConfig

pytestmark = pytest.mark.integration
RECORDED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "recorded" / "hubspot"


def _contacts(sandbox: Sandbox) -> pl.DataFrame:
    return sandbox.hubspot.objects["contacts"].frame()


def test_get_page_and_get_all_read_every_live_contact(hs: HubSpot, sandbox: Sandbox) -> None:
    live = _contacts(sandbox).filter(~pl.col("archived"))
    page = hs.crm.contacts.basic_api.get_page(limit=100, properties=["email", "phone"])
    assert len(page.results) == 100
    assert page.paging.next.after
    first = page.results[0]
    assert isinstance(first.id, str)
    assert set(first.properties) >= {"email", "phone", "hs_object_id", "createdate"}
    everyone = hs.crm.contacts.get_all(properties=["email"])
    assert sorted(int(c.id) for c in everyone) == sorted(live["id"].to_list())


def test_limit_over_100_is_the_services_400(hs: HubSpot) -> None:
    with pytest.raises(ApiException) as err:
        hs.crm.contacts.basic_api.get_page(limit=101)
    assert err.value.status == 400
    assert json.loads(err.value.body)["category"] == "VALIDATION_ERROR"


def test_wrong_token_is_401(sandbox: Sandbox) -> None:
    bad = hubspot_client({**sandbox.env, "CRM_OPS_HUBSPOT_TOKEN": "pat-na1-wrong"})
    with pytest.raises(ApiException) as err:
        bad.crm.contacts.basic_api.get_page(limit=1)
    assert err.value.status == 401
    assert json.loads(err.value.body)["category"] == "INVALID_AUTHENTICATION"


def test_search_filters_sorts_and_pages(hs: HubSpot, sandbox: Sandbox) -> None:
    contacts = _contacts(sandbox).filter(~pl.col("archived"))
    cutoff = (datetime.now(UTC) - timedelta(days=20)).replace(microsecond=0)
    expected = contacts.filter(
        (pl.col("lastmodifieddate") >= cutoff) & (pl.col("country").str.to_lowercase() == "us")
    )
    request = PublicObjectSearchRequest(
        filter_groups=[
            {
                "filters": [
                    {
                        "propertyName": "lastmodifieddate",
                        "operator": "GTE",
                        "value": str(int(cutoff.timestamp() * 1000)),
                    },
                    {"propertyName": "country", "operator": "EQ", "value": "us"},
                ]
            }
        ],
        sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        properties=["email", "country"],
        limit=50,
    )
    seen: list[int] = []
    after: str | None = None
    while True:
        request.after = after
        result = hs.crm.contacts.search_api.do_search(public_object_search_request=request)
        assert result.total == expected.height
        seen += [int(r.id) for r in result.results]
        if result.paging is None:
            break
        after = result.paging.next.after
    assert seen == sorted(expected["id"].to_list())


def test_search_operators(hs: HubSpot, sandbox: Sandbox) -> None:
    contacts = _contacts(sandbox).filter(~pl.col("archived"))

    def total(*filters: dict[str, Any]) -> int:
        req = PublicObjectSearchRequest(filter_groups=[{"filters": list(filters)}], limit=1)
        return int(hs.crm.contacts.search_api.do_search(public_object_search_request=req).total)

    assert (
        total({"propertyName": "country", "operator": "IN", "values": ["DE", "FR"]})
        == contacts.filter(pl.col("country").is_in(["DE", "FR"])).height
    )
    assert (
        total({"propertyName": "mobilephone", "operator": "NOT_HAS_PROPERTY"})
        == contacts.filter(pl.col("mobilephone").is_null()).height
    )
    assert (
        total({"propertyName": "salesforcecontactid", "operator": "HAS_PROPERTY"})
        == contacts.filter(pl.col("salesforcecontactid").is_not_null()).height
    )
    assert (
        total({"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "smith"})
        == contacts.filter(pl.col("email").str.to_lowercase().str.contains("smith", literal=True)).height
    )
    assert (
        total({"propertyName": "country", "operator": "NEQ", "value": "US"})
        == contacts.filter(
            (pl.col("country").str.to_lowercase() != "us") | pl.col("country").is_null()
        ).height
    )


def test_search_past_10000_results_is_the_services_400(hs: HubSpot) -> None:
    request = PublicObjectSearchRequest(limit=100, after="9950")
    with pytest.raises(ApiException) as err:
        hs.crm.contacts.search_api.do_search(public_object_search_request=request)
    assert err.value.status == 400
    with pytest.raises(ApiException) as too_many:
        hs.crm.contacts.search_api.do_search(
            public_object_search_request=PublicObjectSearchRequest(limit=201)
        )
    assert too_many.value.status == 400


def test_batch_update_persists_and_reports_missing_ids(hs: HubSpot, sandbox: Sandbox) -> None:
    ids = [str(i) for i in _contacts(sandbox).filter(~pl.col("archived"))["id"].slice(40, 2).to_list()]
    batch = BatchInputSimplePublicObjectBatchInput(
        inputs=[
            {"id": ids[0], "properties": {"jobtitle": "Data Steward"}},
            {"id": ids[1], "properties": {"jobtitle": "Data Steward"}},
        ]
    )
    result = hs.crm.contacts.batch_api.update(batch_input_simple_public_object_batch_input=batch)
    assert result.status == "COMPLETE"
    assert {r.id for r in result.results} == set(ids)
    again = hs.crm.contacts.basic_api.get_by_id(ids[0], properties=["jobtitle"])
    assert again.properties["jobtitle"] == "Data Steward"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sandbox.env['CRM_OPS_HUBSPOT_TOKEN']}"
    partial = session.post(
        f"{sandbox.env['CRM_OPS_HUBSPOT_BASE_URL']}/crm/v3/objects/contacts/batch/update",
        json={
            "inputs": [
                {"id": ids[0], "properties": {"jobtitle": "X"}},
                {"id": "1", "properties": {"jobtitle": "X"}},
            ]
        },
    )
    assert partial.status_code == 207
    assert partial.json()["errors"][0]["context"]["ids"] == ["1"]
    too_many = session.post(
        f"{sandbox.env['CRM_OPS_HUBSPOT_BASE_URL']}/crm/v3/objects/contacts/batch/read",
        json={"inputs": [{"id": ids[0]}] * 101},
    )
    assert too_many.status_code == 400


def test_associations_v4_batch_read(hs: HubSpot, sandbox: Sandbox) -> None:
    links = sandbox.hubspot.associations[("contacts", "companies")].frame()
    contact_id = int(links["from_id"][0])
    expected = set(links.filter(pl.col("from_id") == contact_id)["to_id"].to_list())
    request = BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": str(contact_id)}])
    result = hs.crm.associations.v4.batch_api.get_page("contacts", "companies", request)
    assert {int(t.to_object_id) for t in result.results[0].to} == expected
    type_ids = {a.type_id for t in result.results[0].to for a in t.association_types}
    assert type_ids == {1, 279}
    reverse = hs.crm.associations.v4.batch_api.get_page(
        "companies",
        "contacts",
        BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": str(min(expected))}]),
    )
    assert contact_id in {int(t.to_object_id) for t in reverse.results[0].to}
    deals = sandbox.hubspot.associations[("deals", "contacts")].frame()
    deal = hs.crm.associations.v4.batch_api.get_page(
        "deals",
        "contacts",
        BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": str(deals["from_id"][0])}]),
    )
    assert int(deal.results[0].to[0].to_object_id) == deals["to_id"][0]


def test_owners_and_properties(hs: HubSpot, sandbox: Sandbox) -> None:
    owners = hs.crm.owners.owners_api.get_page(limit=500)
    assert {int(o.id) for o in owners.results} == set(
        sandbox.data.hubspot_owners.filter(~pl.col("archived"))["id"].to_list()
    )
    props = hs.crm.properties.core_api.get_all("contacts")
    names = {p.name for p in props.results}
    assert {"email", "lifecyclestage", "salesforcecontactid", "hs_lastmodifieddate"} <= names


def test_rate_limit_answers_429_with_hubspot_body() -> None:
    limits = HubSpotLimits(per_ten_seconds=5, search_per_second=2)
    with Sandbox(SandboxConfig(seed=SeedConfig(records=100), hubspot_limits=limits)) as small:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {small.env['CRM_OPS_HUBSPOT_TOKEN']}"
        base = small.env["CRM_OPS_HUBSPOT_BASE_URL"]
        statuses = [session.get(f"{base}/crm/v3/objects/contacts").status_code for _ in range(7)]
        assert statuses == [200] * 5 + [429] * 2
        limited = session.get(f"{base}/crm/v3/objects/contacts")
        body = limited.json()
        assert body["category"] == "RATE_LIMITS"
        assert "Retry-After" not in limited.headers
        assert limited.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        searches = [
            session.post(f"{base}/crm/v3/objects/contacts/search", json={}).status_code for _ in range(3)
        ]
        assert searches == [200, 200, 429]


@pytest.mark.skipif(not RECORDED.is_dir(), reason="recorded fixtures not found")
def test_shapes_match_recorded_responses(sandbox: Sandbox) -> None:
    def rec(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((RECORDED / name).read_text())["response"]
        return data

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sandbox.env['CRM_OPS_HUBSPOT_TOKEN']}"
    base = sandbox.env["CRM_OPS_HUBSPOT_BASE_URL"]
    listed = session.get(
        f"{base}/crm/v3/objects/contacts", params={"limit": "3", "properties": "email,phone"}
    )
    recorded_list = rec("contacts_list_last_page.json")
    assert listed.headers["Content-Type"] == recorded_list["headers"]["content-type"]
    got = listed.json()["results"][0]
    want = recorded_list["body"]["results"][0]
    assert set(got) == set(want)
    assert got["createdAt"].endswith("Z")
    assert len(got["createdAt"]) == len(want["createdAt"])
    assert all(v is None or isinstance(v, str) for v in got["properties"].values())
    for header in (
        "x-hubspot-ratelimit-interval-milliseconds",
        "x-hubspot-ratelimit-max",
        "x-hubspot-ratelimit-remaining",
        "x-hubspot-ratelimit-secondly",
    ):
        assert header in listed.headers
    searched = session.post(f"{base}/crm/v3/objects/deals/search", json={"limit": 2}).json()
    recorded_search = rec("search_deals_paging_after.json")["body"]
    assert set(searched) == set(recorded_search)
    assert set(searched["paging"]["next"]) == set(recorded_search["paging"]["next"]) == {"after"}
    last = session.post(
        f"{base}/crm/v3/objects/deals/search",
        json={
            "limit": 1,
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "hs_object_id",
                            "operator": "EQ",
                            "value": searched["results"][0]["id"],
                        }
                    ]
                }
            ],
        },
    )
    assert "paging" not in last.json()
    ids = [r["id"] for r in searched["results"]]
    updated = session.post(
        f"{base}/crm/v3/objects/deals/batch/update",
        json={"inputs": [{"id": ids[0], "properties": {"dealname": "Renamed"}}]},
    )
    recorded_update = rec("batch_update_contacts_200.json")
    assert updated.status_code == recorded_update["status"]
    assert set(updated.json()) == set(recorded_update["body"])
    archived = session.post(f"{base}/crm/v3/objects/deals/batch/archive", json={"inputs": [{"id": ids[1]}]})
    assert archived.status_code == rec("batch_archive_204.json")["status"] == 204
    assert archived.content == b""
    assert "Content-Type" not in archived.headers
    owners = session.get(f"{base}/crm/v3/owners").json()["results"][0]
    assert set(owners) == set(rec("owners_list.json")["body"]["results"][0])
    prop = session.get(f"{base}/crm/v3/properties/companies").json()["results"][0]
    assert set(prop) == set(rec("properties_list_companies.json")["body"]["results"][0])


@pytest.mark.skipif(not RECORDED.is_dir(), reason="recorded fixtures not found")
def test_association_writes_match_recorded_shapes(hs: HubSpot, sandbox: Sandbox) -> None:
    """v4 default association and archive, through the client: the batch answer is shaped like the
    recorded association batch create (from/to ids, status, times); archive is a 204 like batch archive."""
    created_rec = json.loads((RECORDED / "associations_batch_create.json").read_text())["response"]["body"]
    contacts, companies = _contacts(sandbox), sandbox.hubspot.objects["companies"].frame()
    contact, company = str(contacts["id"][3]), str(companies["id"][7])
    answer = hs.crm.associations.v4.batch_api.create_default(
        "contacts", "companies", batch_input_public_default_association_multi_post={
            "inputs": [{"from": {"id": contact}, "to": {"id": company}}]
        }, _preload_content=False,
    )  # fmt: skip
    body = json.loads(answer.data)
    assert set(body) == set(created_rec)
    assert {(r["from"]["id"], r["to"]["id"]) for r in body["results"]} == {(contact, company)}
    assert set(body["results"][0]) - {"associationSpec"} == set(created_rec["results"][0]) - {"type"}
    linked = hs.crm.associations.v4.basic_api.get_page("contacts", contact, "companies")
    assert company in {str(r.to_object_id) for r in linked.results}
    hs.crm.associations.v4.batch_api.archive(
        "contacts", "companies", batch_input_public_association_multi_archive={
            "inputs": [{"from": {"id": contact}, "to": [{"id": company}]}]
        },
    )  # fmt: skip
    linked = hs.crm.associations.v4.basic_api.get_page("contacts", contact, "companies")
    assert company not in {str(r.to_object_id) for r in linked.results}
    with pytest.raises(AssociationsApiException) as missing:
        hs.crm.associations.v4.batch_api.create_default(
            "contacts", "companies", batch_input_public_default_association_multi_post={
                "inputs": [{"from": {"id": contact}, "to": {"id": "999999999999"}}]
            },
        )  # fmt: skip
    assert missing.value.status == 400
