"""The Salesforce emulator driven by the unmodified simple-salesforce client, TLS verification on."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import polars as pl
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from crm_ops.sandbox.clients import salesforce_client
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.salesforce import SalesforceLimits
from crm_ops.sandbox.server import Sandbox, SandboxConfig

pytestmark = pytest.mark.integration


def _frame(sandbox: Sandbox, name: str) -> pl.DataFrame:
    """What the integration user may read of ``name``: every record but those hidden from it or purged
    (emptied from the recycle bin, whose queryAll window ended: the session's sandbox is shared with the
    erasure tests)."""
    return sandbox.salesforce.store[name].visible()


def _csv_rows(chunks: Any) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for chunk in chunks:
        rows.extend(csv.DictReader(io.StringIO(chunk)))
    return rows


def test_query_returns_records_in_salesforce_shape(sf: Any) -> None:
    result = sf.query(
        "SELECT Id, Email, MailingAddress, CreatedDate, HasOptedOutOfEmail FROM Contact LIMIT 5"
    )
    assert result["done"] is True
    assert result["totalSize"] == 5
    record = result["records"][0]
    assert list(record)[0] == "attributes"
    assert record["attributes"]["type"] == "Contact"
    assert record["attributes"]["url"].endswith(record["Id"])
    assert set(record) == {"attributes", "Id", "Email", "MailingAddress", "CreatedDate", "HasOptedOutOfEmail"}
    # Salesforce datetimes: milliseconds and +0000.
    assert datetime.strptime(record["CreatedDate"], "%Y-%m-%dT%H:%M:%S.%f%z").tzinfo is not None
    assert record["CreatedDate"].endswith("+0000")
    assert isinstance(record["HasOptedOutOfEmail"], bool)


def test_query_all_pages_through_every_live_record(sf: Any, sandbox: Sandbox) -> None:
    contacts = _frame(sandbox, "Contact")
    live = contacts.filter(~pl.col("IsDeleted"))
    result = sf.query_all("SELECT Id FROM Contact")
    assert result["totalSize"] == live.height > 2000  # more than one page
    assert sorted(r["Id"] for r in result["records"]) == sorted(live["Id"].to_list())


def test_query_all_iter_with_include_deleted_sees_soft_deleted_accounts(sf: Any, sandbox: Sandbox) -> None:
    accounts = _frame(sandbox, "Account")
    deleted = set(accounts.filter(pl.col("IsDeleted"))["Id"].to_list())
    assert deleted, "the generator deletes some accounts (orphan defects)"
    live_ids = {r["Id"] for r in sf.query_all_iter("SELECT Id FROM Account")}
    all_ids = {r["Id"] for r in sf.query_all_iter("SELECT Id, IsDeleted FROM Account", include_deleted=True)}
    assert live_ids.isdisjoint(deleted)
    assert all_ids == live_ids | deleted


def test_batch_size_header_sets_the_page_size(sf: Any) -> None:
    page = sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=500"})
    assert len(page["records"]) == 500
    assert page["done"] is False
    assert page["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    more = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    assert more["totalSize"] == page["totalSize"]
    assert {r["Id"] for r in more["records"]}.isdisjoint({r["Id"] for r in page["records"]})


def test_where_clause_filters_like_the_store(sf: Any, sandbox: Sandbox) -> None:
    opps = _frame(sandbox, "Opportunity").filter(~pl.col("IsDeleted"))
    expected = opps.filter(
        (pl.col("Amount") > 50_000) & pl.col("StageName").is_in(["Prospecting", "Closed Won"])
    )
    result = sf.query_all(
        "SELECT Id, Amount FROM Opportunity "
        "WHERE Amount > 50000 AND StageName IN ('Prospecting', 'Closed Won')"
    )
    assert sorted(r["Id"] for r in result["records"]) == sorted(expected["Id"].to_list())
    recent = sf.query("SELECT COUNT() FROM Contact WHERE LastModifiedDate = LAST_N_DAYS:30")
    assert isinstance(recent["totalSize"], int)
    assert recent["records"] == []


def test_count_forms(sf: Any, sandbox: Sandbox) -> None:
    live = _frame(sandbox, "Lead").filter(~pl.col("IsDeleted")).height
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == live
    agg = sf.query("SELECT COUNT(Id) FROM Lead")
    assert agg["records"] == [{"attributes": {"type": "AggregateResult"}, "expr0": live}]


def test_bulk2_query_streams_every_row_as_csv(sf: Any, sandbox: Sandbox) -> None:
    contacts = _frame(sandbox, "Contact")
    rows = _csv_rows(
        sf.bulk2.Contact.query_all("SELECT Id, Email, IsDeleted FROM Contact", max_records=700, wait=1)
    )
    assert len(rows) == contacts.height
    assert {r["Id"] for r in rows} == set(contacts["Id"].to_list())
    assert {r["IsDeleted"] for r in rows} <= {"true", "false"}
    live = _csv_rows(sf.bulk2.Contact.query("SELECT Id FROM Contact", max_records=1000, wait=1))
    assert len(live) == contacts.filter(~pl.col("IsDeleted")).height


def test_bulk2_results_headers(sandbox: Sandbox) -> None:
    env = sandbox.env
    session = requests.Session()
    session.verify = env["CRM_OPS_SF_CA_BUNDLE"]
    session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment overrides verify
    session.headers["Authorization"] = f"Bearer {env['CRM_OPS_SF_ACCESS_TOKEN']}"
    base = f"{env['CRM_OPS_SF_INSTANCE_URL']}/services/data/v59.0/jobs/query"
    job = session.post(base, json={"operation": "query", "query": "SELECT Id FROM User"}).json()
    assert job["state"] in ("UploadComplete", "InProgress", "JobComplete")
    assert session.get(f"{base}/{job['id']}").json()["state"] == "JobComplete"
    users = _frame(sandbox, "User").height
    first = session.get(f"{base}/{job['id']}/results", params={"maxRecords": 3})
    assert first.headers["Content-Type"].startswith("text/csv")
    assert first.headers["Sforce-NumberOfRecords"] == "3"
    assert first.headers["Sforce-Locator"] != "null"
    rest = session.get(f"{base}/{job['id']}/results", params={"locator": first.headers["Sforce-Locator"]})
    assert rest.headers["Sforce-Locator"] == "null"
    assert int(rest.headers["Sforce-NumberOfRecords"]) == users - 3


def test_bulk2_update_writes_and_reports_failures(sf: Any, sandbox: Sandbox) -> None:
    ids = _frame(sandbox, "Lead").filter(~pl.col("IsDeleted"))["Id"].head(3).to_list()
    records = [
        {"Id": ids[0], "Title": "Bulk Title A"},
        {"Id": ids[1], "Title": "Bulk Title B"},
        {"Id": ids[2], "Email": "not an email"},
    ]
    result = sf.bulk2.Lead.update(records=records)
    assert result[0]["numberRecordsProcessed"] == 3
    assert result[0]["numberRecordsFailed"] == 1
    failed = sf.bulk2.Lead.get_failed_records(result[0]["job_id"])
    assert "INVALID_EMAIL_ADDRESS" in failed
    ok = sf.bulk2.Lead.get_successful_records(result[0]["job_id"])
    assert ids[0] in ok and ids[1] in ok
    titles = sf.query(f"SELECT Id, Title FROM Lead WHERE Id IN ('{ids[0]}', '{ids[1]}') ORDER BY Title")
    assert [r["Title"] for r in titles["records"]] == ["Bulk Title A", "Bulk Title B"]


def test_bulk2_update_reads_na_as_null_and_a_blank_cell_as_unchanged(sf: Any, sandbox: Sandbox) -> None:
    """Salesforce's "Prepare CSV Files": empty values are ignored on update; #N/A sets null. Only Bulk
    reads it so: through REST the text is stored as given."""
    ids = _frame(sandbox, "Lead").filter(~pl.col("IsDeleted"))["Id"].slice(10, 3).to_list()
    for record_id in ids:
        sf.Lead.update(record_id, {"Title": "Before", "Description": "Kept"})
    records = [
        {"Id": ids[0], "Title": "#N/A", "Description": ""},
        {"Id": ids[1], "Title": "", "Description": "#N/A"},
    ]
    result = sf.bulk2.Lead.update(records=records)
    assert result[0]["numberRecordsFailed"] == 0
    sf.Lead.update(ids[2], {"Title": "#N/A"})
    listed = ", ".join(f"'{i}'" for i in ids)
    answer = sf.query(f"SELECT Id, Title, Description FROM Lead WHERE Id IN ({listed})")
    got = {r["Id"]: r for r in answer["records"]}
    assert (got[ids[0]]["Title"], got[ids[0]]["Description"]) == (None, "Kept")
    assert (got[ids[1]]["Title"], got[ids[1]]["Description"]) == ("Before", None)
    assert got[ids[2]]["Title"] == "#N/A"


def test_sobject_get_and_patch_persist_and_stamp(sf: Any, sandbox: Sandbox) -> None:
    contact_id = _frame(sandbox, "Contact").filter(~pl.col("IsDeleted"))["Id"][5]
    before = sf.Contact.get(contact_id)
    assert before["Id"] == contact_id
    assert "MailingAddress" in before and "SystemModstamp" in before
    status = sf.Contact.update(contact_id, {"Title": "Chief Hygiene Officer", "FirstName": "Ada"})
    assert status == 204
    after = sf.query(f"SELECT Title, Name, LastName, SystemModstamp FROM Contact WHERE Id = '{contact_id}'")
    record = after["records"][0]
    assert record["Title"] == "Chief Hygiene Officer"
    assert record["Name"] == f"Ada {record['LastName']}"
    assert record["SystemModstamp"] > before["SystemModstamp"]


def test_composite_update_save_results_in_order_and_all_or_none(sf: Any, sandbox: Sandbox) -> None:
    ids = _frame(sandbox, "Account").filter(~pl.col("IsDeleted"))["Id"].slice(10, 3).to_list()
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Account"}, "id": ids[0], "Industry": "Energy"},
            {"attributes": {"type": "Account"}, "id": ids[1], "NoSuchField__c": "x"},
            {"attributes": {"type": "Account"}, "id": ids[2], "Industry": "Media"},
        ],
    }
    results = sf.restful("composite/sobjects", method="PATCH", json=body)
    assert [r["success"] for r in results] == [True, False, True]
    assert results[0]["id"] == ids[0]
    assert "id" not in results[1]
    assert results[1]["errors"][0]["statusCode"] == "INVALID_FIELD"
    body["allOrNone"] = True
    body["records"][0]["Industry"] = "Retail"
    rolled = sf.restful("composite/sobjects", method="PATCH", json=body)
    assert not any(r["success"] for r in rolled)
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf.Account.get(ids[0])["Industry"] == "Energy"


def test_composite_rejects_more_than_200_records(sf: Any) -> None:
    body = {"records": [{"attributes": {"type": "Account"}, "id": "0018d0000000000AAA"}] * 201}
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.restful("composite/sobjects", method="PATCH", json=body)
    assert err.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_describe_reports_field_metadata(sf: Any) -> None:
    describe = sf.Contact.describe()
    fields = {f["name"]: f for f in describe["fields"]}
    for key in (
        "name",
        "type",
        "soapType",
        "calculated",
        "compoundFieldName",
        "updateable",
        "nillable",
        "length",
    ):
        assert key in fields["Email"]
    assert fields["MailingCity"]["compoundFieldName"] == "MailingAddress"
    assert fields["MailingAddress"]["type"] == "address"
    assert fields["Id"]["soapType"] == "tns:ID"
    assert fields["HubSpot_Contact_Id__c"]["custom"] is True
    assert fields["LastName"]["nillable"] is False
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Account", "Contact", "Lead", "Opportunity", "OpportunityContactRole", "User"} <= names


def test_api_usage_comes_from_sforce_limit_info(sf: Any) -> None:
    sf.query("SELECT Id FROM User LIMIT 1")
    usage = sf.api_usage["api-usage"]
    assert usage.used >= 1
    assert usage.total == SalesforceLimits().daily_api_requests
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == usage.total


def test_errors_come_back_as_the_client_raises_them(sf: Any, sandbox: Sandbox) -> None:
    with pytest.raises(SalesforceMalformedRequest) as malformed:
        sf.query("SELECT Id FORM Contact")
    assert malformed.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    assert "ERROR at Row:1:Column:" in malformed.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as invalid:
        sf.query("SELECT Id, Bogus FROM Contact")
    assert invalid.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.Contact.get("0038d0999999999AAA")
    assert missing.value.content[0]["errorCode"] == "NOT_FOUND"
    bad = salesforce_client({**sandbox.env, "CRM_OPS_SF_ACCESS_TOKEN": "00Dwrong!token"})
    with pytest.raises(SalesforceExpiredSession) as expired:
        bad.query("SELECT Id FROM Contact")
    assert expired.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_daily_limit_answers_request_limit_exceeded() -> None:
    config = SandboxConfig(
        seed=SeedConfig(records=100), salesforce_limits=SalesforceLimits(daily_api_requests=3)
    )
    with Sandbox(config) as small:
        sf = salesforce_client(small.env)
        for _ in range(3):
            sf.query("SELECT Id FROM User LIMIT 1")
        with pytest.raises(SalesforceRefusedRequest) as refused:
            sf.query("SELECT Id FROM User LIMIT 1")
        assert refused.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_oauth_token_endpoint_grants(sandbox: Sandbox) -> None:
    env = sandbox.env
    url = f"{env['CRM_OPS_SF_INSTANCE_URL']}/services/oauth2/token"
    ca = env["CRM_OPS_SF_CA_BUNDLE"]
    password = requests.post(
        url,
        verify=ca,
        data={
            "grant_type": "password",
            "client_id": env["CRM_OPS_SF_CLIENT_ID"],
            "client_secret": env["CRM_OPS_SF_CLIENT_SECRET"],
            "username": env["CRM_OPS_SF_USERNAME"],
            "password": env["CRM_OPS_SF_PASSWORD"] + env["CRM_OPS_SF_SECURITY_TOKEN"],
        },
    )
    assert password.status_code == 200
    token = password.json()
    assert token["instance_url"] == env["CRM_OPS_SF_INSTANCE_URL"]
    sf = Salesforce(
        instance_url=token["instance_url"], session_id=token["access_token"], session=_verified(ca)
    )
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] > 0
    client = requests.post(
        url,
        verify=ca,
        data={
            "grant_type": "client_credentials",
            "client_id": env["CRM_OPS_SF_CLIENT_ID"],
            "client_secret": env["CRM_OPS_SF_CLIENT_SECRET"],
        },
    )
    assert client.status_code == 200
    wrong = requests.post(
        url,
        verify=ca,
        data={
            "grant_type": "password",
            "client_id": env["CRM_OPS_SF_CLIENT_ID"],
            "client_secret": env["CRM_OPS_SF_CLIENT_SECRET"],
            "username": env["CRM_OPS_SF_USERNAME"],
            "password": "wrong",
        },
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"


def test_oauth_jwt_bearer_grant(sandbox: Sandbox) -> None:
    env = sandbox.env
    url = f"{env['CRM_OPS_SF_INSTANCE_URL']}/services/oauth2/token"
    key = Path(env["CRM_OPS_SF_JWT_KEY_FILE"]).read_bytes()
    claims = {
        "iss": env["CRM_OPS_SF_CLIENT_ID"],
        "sub": env["CRM_OPS_SF_USERNAME"],
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 300,
    }
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    good = requests.post(
        url,
        verify=env["CRM_OPS_SF_CA_BUNDLE"],
        data={"grant_type": grant, "assertion": jwt.encode(claims, key, algorithm="RS256")},
    )
    assert good.status_code == 200
    assert good.json()["access_token"]
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = requests.post(
        url,
        verify=env["CRM_OPS_SF_CA_BUNDLE"],
        data={"grant_type": grant, "assertion": jwt.encode(claims, other_key, algorithm="RS256")},
    )
    assert forged.status_code == 400
    assert forged.json()["error"] == "invalid_grant"


def _verified(ca: str) -> requests.Session:
    session = requests.Session()
    session.verify = ca
    session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment overrides verify
    return session


def test_tls_is_verified_against_the_local_ca(sandbox: Sandbox) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{sandbox.env['CRM_OPS_SF_INSTANCE_URL']}/services/data", timeout=10)


def test_datetime_literals_match_store_timestamps(sf: Any, sandbox: Sandbox) -> None:
    contacts = _frame(sandbox, "Contact").filter(~pl.col("IsDeleted"))
    cutoff = (datetime.now(UTC) - timedelta(days=200)).replace(microsecond=0)
    expected = contacts.filter(pl.col("SystemModstamp") > cutoff).height
    literal = cutoff.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    got = sf.query(f"SELECT COUNT() FROM Contact WHERE SystemModstamp > {literal}")["totalSize"]
    assert got == expected


def test_get_record_with_a_field_list(sf: Any, sandbox: Sandbox) -> None:
    contact_id = _frame(sandbox, "Contact")["Id"][7]
    record = sf.Contact.get(contact_id, params={"fields": "Id,Email, MailingAddress"})
    assert set(record) == {"attributes", "Id", "Email", "MailingAddress"}
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Contact.get(contact_id, params={"fields": "Id,Nope"})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
