"""The sandbox answers like a real org (issue 17): full describes and property lists, relationship
fields, deleted records, 207 association reads, and a plain org without crm_ops's own fields."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests
from hubspot import HubSpot
from simple_salesforce.exceptions import SalesforceMalformedRequest

from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.server import Sandbox, SandboxConfig

pytestmark = pytest.mark.integration
RECORDED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "recorded"
_ATTRIBUTES = (
    "type",
    "length",
    "nillable",
    "createable",
    "updateable",
    "calculated",
    "compoundFieldName",
    "referenceTo",
    "relationshipName",
    "soapType",
    "defaultedOnCreate",
    "restrictedPicklist",
)


def _recorded_contact_describe() -> dict[str, Any]:
    path = RECORDED / "salesforce" / "describe_contact.json"
    if not path.exists():
        pytest.skip("recorded fixtures not present")
    body: dict[str, Any] = json.loads(path.read_text())["response"]["body"]
    return body


def _hs_session(sandbox: Sandbox) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {sandbox.env['CRM_OPS_HUBSPOT_TOKEN']}"
    return session


def _sf_session(sandbox: Sandbox) -> requests.Session:
    session = requests.Session()
    session.verify = sandbox.env["CRM_OPS_SF_CA_BUNDLE"]
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {sandbox.env['CRM_OPS_SF_ACCESS_TOKEN']}"
    return session


# ------------------------------------------------------------------------------------------ Salesforce


def test_contact_describe_has_every_standard_field_of_the_real_one_with_its_attributes(sf: Any) -> None:
    real = _recorded_contact_describe()
    ours = sf.Contact.describe()
    by_name = {f["name"]: f for f in ours["fields"]}
    for field in (f for f in real["fields"] if not f["custom"]):
        assert field["name"] in by_name, field["name"]
        mine = by_name[field["name"]]
        for key in _ATTRIBUTES:
            if key == "length" and field["type"] == "picklist":
                continue  # picklist lengths differ between orgs
            assert mine[key] == field[key], (field["name"], key, mine[key], field[key])
        assert set(mine) == set(field), field["name"]
    salutation = next(f for f in ours["fields"] if f["name"] == "Salutation")
    assert [p["value"] for p in salutation["picklistValues"]] == ["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."]
    assert len(ours["fields"]) >= 60
    assert {"Contact.ReportsToId", "OpportunityContactRole.ContactId"} <= {
        f"{c['childSObject']}.{c['field']}" for c in ours["childRelationships"]
    }
    assert [r["name"] for r in ours["recordTypeInfos"]] == ["Master"]
    assert ours["recordTypeInfos"][0]["recordTypeId"] == "012000000000000AAA"


@pytest.mark.parametrize(
    ("name", "minimum", "expected"),
    [
        ("Account", 55, {"ShippingAddress", "AccountNumber", "Sic", "Ownership", "Rating", "DunsNumber"}),
        ("Lead", 55, {"Address", "Rating", "IsUnreadByOwner", "CompanyDunsNumber", "LastTransferDate"}),
        ("Opportunity", 40, {"ExpectedRevenue", "ForecastCategory", "Pricebook2Id", "FiscalYear"}),
        ("User", 150, {"TimeZoneSidKey", "ProfileId", "ManagerId", "UserPreferencesActivityRemindersPopup"}),
        ("OpportunityContactRole", 11, {"OpportunityId", "ContactId", "Role", "IsPrimary", "IsDeleted"}),
    ],
)
def test_describes_list_the_full_standard_fields(
    sf: Any, name: str, minimum: int, expected: set[str]
) -> None:
    fields = {f["name"]: f for f in getattr(sf, name).describe()["fields"]}
    assert len(fields) >= minimum
    assert expected <= set(fields)
    if name == "Opportunity":
        revenue = fields["ExpectedRevenue"]
        assert revenue["calculated"] and revenue["calculatedFormula"] and not revenue["createable"]
    if name == "Lead":
        assert fields["OwnerId"]["referenceTo"] == ["Group", "User"]
        assert fields["OwnerId"]["polymorphicForeignKey"] is True


def test_standard_fields_without_data_answer_null_and_checkboxes_false(sf: Any) -> None:
    record = sf.query("SELECT Id, Fax, Birthdate, OtherCity, IsEmailBounced, DoNotCall FROM Contact LIMIT 1")[
        "records"
    ][0]
    assert record["Fax"] is None and record["Birthdate"] is None and record["OtherCity"] is None
    assert record["IsEmailBounced"] is False and record["DoNotCall"] is False


def test_parent_relationship_fields_nest_like_the_rest_api(sf: Any, sandbox: Sandbox) -> None:
    users = sandbox.salesforce.store["User"].frame()
    accounts = sandbox.salesforce.store["Account"].frame()
    contacts = sandbox.salesforce.store["Contact"].frame().filter(~pl.col("IsDeleted"))
    answer = sf.query_all(
        "SELECT Id, Owner.Email, Account.Name, CreatedBy.Name, AccountId FROM Contact ORDER BY Id LIMIT 300"
    )
    email_of = dict(zip(users["Id"], users["Email"], strict=True))
    live_accounts = accounts.filter(~pl.col("IsDeleted"))
    name_of = dict(zip(live_accounts["Id"], live_accounts["Name"], strict=True))
    first = answer["records"][0]
    assert list(first) == ["attributes", "Id", "Owner", "Account", "CreatedBy", "AccountId"]
    owner = first["Owner"]
    assert owner["attributes"]["type"] == "User"
    assert owner["attributes"]["url"].endswith(f"/sobjects/User/{contacts['OwnerId'][0]}")
    assert owner["Email"] == email_of[contacts["OwnerId"][0]]
    assert first["CreatedBy"]["Name"] == users["Name"][0]
    for record in answer["records"]:
        account = record["Account"]
        if record["AccountId"] in name_of:
            assert account["Name"] == name_of[record["AccountId"]]
        else:  # no account, or one in the recycle bin
            assert account is None
    orphan = contacts.filter(pl.col("AccountId").is_null())
    if orphan.height:
        got = sf.query(f"SELECT Account.Name FROM Contact WHERE Id = '{orphan['Id'][0]}'")["records"][0]
        assert got["Account"] is None
    by_owner = sf.query(
        f"SELECT COUNT() FROM Contact WHERE Owner.Email = '{email_of[contacts['OwnerId'][0]]}'"
    )
    assert by_owner["totalSize"] == contacts.filter(pl.col("OwnerId") == contacts["OwnerId"][0]).height


def test_bulk_csv_has_a_column_per_relationship_field(sandbox: Sandbox) -> None:
    session = _sf_session(sandbox)
    base = f"{sandbox.env['CRM_OPS_SF_INSTANCE_URL']}/services/data/v59.0/jobs/query"
    job = session.post(
        base, json={"operation": "query", "query": "SELECT Id, Owner.Email FROM Contact LIMIT 5"}
    ).json()
    text = session.get(f"{base}/{job['id']}/results").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["Id", "Owner.Email"]
    assert all("@" in r["Owner.Email"] for r in rows)


def test_unknown_fields_still_refuse_with_invalid_field(sf: Any) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id, Bogus__c FROM Contact")
    body = err.value.content[0]
    assert body["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Bogus__c' on entity 'Contact'" in body["message"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Owner.Bogus FROM Contact")
    assert "No such column 'Bogus' on entity 'User'" in err.value.content[0]["message"]


def test_recycle_bin_tombstones_are_seeded_and_in_the_manifest(sf: Any, sandbox: Sandbox) -> None:
    deleted = sandbox.data.manifest.deleted
    for name in ("Contact", "Lead"):
        truth = set(
            deleted.filter((pl.col("system") == "salesforce") & (pl.col("object") == name))["record_id"]
        )
        assert truth
        rows = sf.query_all(f"SELECT Id FROM {name} WHERE IsDeleted = true", include_deleted=True)["records"]
        found = {r["Id"] for r in rows}
        assert truth <= found
        live = {r["Id"] for r in sf.query_all(f"SELECT Id FROM {name}")["records"]}
        assert not truth & live


# ------------------------------------------------------------------------------------------ HubSpot


@pytest.mark.parametrize(
    ("object_type", "low", "high"), [("contacts", 400, 450), ("companies", 230, 270), ("deals", 170, 220)]
)
def test_property_lists_are_real_size_with_real_attributes(
    hs: HubSpot, object_type: str, low: int, high: int
) -> None:
    results = hs.crm.properties.core_api.get_all(object_type).results
    assert low <= len(results) <= high
    by_name = {p.name: p for p in results}
    assert len(by_name) == len(results)
    assert any(p.name.startswith("hs_analytics_") for p in results)
    source = by_name["hs_analytics_source"]
    assert source.type == "enumeration" and {"ORGANIC_SEARCH", "PAID_SEARCH"} <= {
        o.value for o in source.options
    }
    assert source.modification_metadata.read_only_value is True
    calculated = [p for p in results if p.calculated]
    assert calculated and all(p.calculation_formula for p in calculated)
    assert {p.hubspot_defined for p in results} == {True, False}
    assert by_name["hubspot_owner_id"].group_name
    if object_type == "contacts":
        assert {"hs_lead_status", "num_associated_deals", "hs_email_optout", "salesforcecontactid"} <= set(
            by_name
        )


def test_properties_without_data_answer_null(hs: HubSpot, sandbox: Sandbox) -> None:
    contact = hs.crm.contacts.basic_api.get_page(
        limit=1, properties=["hs_persona", "email", "hs_analytics_num_visits"]
    )
    props = contact.results[0].properties
    assert props["hs_persona"] is None and props["hs_analytics_num_visits"] is None and props["email"]


def test_writing_a_property_never_written_before_keeps_it(hs: HubSpot, sandbox: Sandbox) -> None:
    contact_id = hs.crm.contacts.basic_api.get_page(limit=1).results[0].id
    hs.crm.contacts.basic_api.update(
        contact_id, simple_public_object_input={"properties": {"hs_persona": "persona_2"}}
    )
    again = hs.crm.contacts.basic_api.get_by_id(contact_id, properties=["hs_persona"])
    assert again.properties["hs_persona"] == "persona_2"


def test_archived_records_are_seeded_and_listed_with_archived_at(hs: HubSpot, sandbox: Sandbox) -> None:
    deleted = sandbox.data.manifest.deleted.filter(pl.col("system") == "hubspot")
    for object_type in ("contacts", "companies"):
        truth = set(deleted.filter(pl.col("object") == object_type)["record_id"])
        assert truth
        api = getattr(hs.crm, object_type).basic_api
        archived, after = [], None
        while True:
            page = api.get_page(limit=100, archived=True, after=after)
            archived += page.results
            if page.paging is None:
                break
            after = page.paging.next.after
        # every seeded tombstone is listed; the session's sandbox is shared, so records other tests
        # archived since (an erasure archives a company) are listed too, as archived
        assert truth <= {r.id for r in archived}
        assert all(r.archived and r.archived_at is not None for r in archived)


def test_association_reads_answer_207_for_inputs_without_associations(sandbox: Sandbox) -> None:
    links = sandbox.data.hubspot_associations[("contacts", "companies")]
    linked = str(links["from_id"][0])
    lonely = next(
        str(i)
        for i in sandbox.data.hubspot["contacts"]["id"].to_list()
        if i not in set(links["from_id"].to_list())
    )
    session = _hs_session(sandbox)
    url = f"{sandbox.env['CRM_OPS_HUBSPOT_BASE_URL']}/crm/v4/associations/contacts/companies/batch/read"
    answer = session.post(url, json={"inputs": [{"id": linked}, {"id": lonely}]})
    assert answer.status_code == 207
    body = answer.json()
    assert body["status"] == "COMPLETE"
    assert [r["from"]["id"] for r in body["results"]] == [linked]
    assert body["numErrors"] == 1
    (error,) = body["errors"]
    assert error["category"] == "OBJECT_NOT_FOUND"
    assert error["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert error["context"]["fromObjectId"] == [lonely]
    assert error["message"] == f"No company is associated with contact {lonely}."
    everyone = session.post(url, json={"inputs": [{"id": linked}]})
    assert everyone.status_code == 200 and "errors" not in everyone.json()


def test_validation_errors_have_hubspots_v3_shape(sandbox: Sandbox) -> None:
    session = _hs_session(sandbox)
    answer = session.post(
        f"{sandbox.env['CRM_OPS_HUBSPOT_BASE_URL']}/crm/v3/objects/contacts",
        json={"properties": {"no_such_property": "x"}},
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: [{")
    assert json.loads(body["message"].split(": ", 1)[1])[0]["error"] == "PROPERTY_DOESNT_EXIST"
    assert body["errors"] == [
        {
            "message": 'Property "no_such_property" does not exist',
            "code": "PROPERTY_DOESNT_EXIST",
            "context": {"propertyName": ["no_such_property"]},
        }
    ]


# ------------------------------------------------------------------------------------------ plain org


@pytest.fixture(scope="module")
def plain() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(seed=SeedConfig(records=200, seed=3, org="plain"))) as sb:
        yield sb


def test_plain_org_has_no_crm_ops_custom_fields_and_hides_email_opt_out(plain: Sandbox) -> None:
    sf: Any = salesforce_client(plain.env)
    for name in ("Account", "Contact", "Lead", "Opportunity"):
        fields = {f["name"] for f in getattr(sf, name).describe()["fields"]}
        assert not {f for f in fields if f.endswith("__c")}, name
    contact_fields = {f["name"] for f in sf.Contact.describe()["fields"]}
    assert "HasOptedOutOfEmail" not in contact_fields and "DoNotCall" in contact_fields
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id, HasOptedOutOfEmail FROM Contact")
    body = err.value.content[0]
    assert body["errorCode"] == "INVALID_FIELD"
    assert "No such column 'HasOptedOutOfEmail' on entity 'Contact'" in body["message"]
    assert "HasOptedOutOfEmail" not in plain.data.salesforce["Contact"].columns
    assert sf.query("SELECT Id, HasOptedOutOfEmail FROM Lead LIMIT 1")["records"]  # hidden on Contact only


def test_plain_org_has_no_salesforce_integration_properties_but_keeps_the_pairs(plain: Sandbox) -> None:
    hs = hubspot_client(plain.env)
    for object_type in ("contacts", "companies", "deals"):
        names = {p.name for p in hs.crm.properties.core_api.get_all(object_type).results}
        assert not {n for n in names if n.startswith("salesforce")}, object_type
        assert "hs_analytics_source" in names
    assert plain.data.manifest.matches.height > 0
    assert "salesforcecontactid" not in plain.data.hubspot["contacts"].columns
