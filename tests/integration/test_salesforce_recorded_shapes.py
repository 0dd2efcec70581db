"""The Salesforce emulator answers in the shapes of real recorded Salesforce responses (shared/fixtures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from crm_ops.sandbox.server import Sandbox

pytestmark = pytest.mark.integration

RECORDED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "recorded" / "salesforce"
if not RECORDED.is_dir():  # a checkout without shared/ beside it
    pytest.skip(f"recorded fixtures not found at {RECORDED}", allow_module_level=True)


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return data


def shape(value: Any) -> Any:
    """A value's structure: dict keys and their shapes, the first list item's shape, scalar type names."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if value is None:
        return None
    return (
        "number" if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__
    )


@pytest.fixture
def api(sandbox: Sandbox) -> requests.Session:
    session = requests.Session()
    session.verify = sandbox.env["CRM_OPS_SF_CA_BUNDLE"]
    session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment overrides verify
    session.headers["Authorization"] = f"Bearer {sandbox.env['CRM_OPS_SF_ACCESS_TOKEN']}"
    return session


def url(sandbox: Sandbox, path: str) -> str:
    return f"{sandbox.env['CRM_OPS_SF_INSTANCE_URL']}/services/data/v59.0/{path}"


def test_query_pages_match_recorded_paging(api: requests.Session, sandbox: Sandbox) -> None:
    first_rec = recorded("query_page1_not_done.json")["response"]
    last_rec = recorded("query_more_last_page.json")["response"]
    first = api.get(url(sandbox, "query"), params={"q": "SELECT Id, Name, Email, CreatedDate FROM Contact"})
    assert first.headers["Content-Type"] == first_rec["headers"]["content-type"]
    assert "Sforce-Limit-Info" in first.headers
    body = first.json()
    assert list(body) == list(first_rec["body"])  # totalSize, done, nextRecordsUrl, records
    assert body["nextRecordsUrl"].startswith("/services/data/")  # host-relative, as recorded
    record, rec_record = body["records"][0], first_rec["body"]["records"][0]
    assert shape(record["attributes"]) == shape(rec_record["attributes"])
    assert list(record)[0] == "attributes"
    host = sandbox.env["CRM_OPS_SF_INSTANCE_URL"]
    last = api.get(host + body["nextRecordsUrl"]).json()
    while not last["done"]:
        last = api.get(host + last["nextRecordsUrl"]).json()
    assert set(last) == set(last_rec["body"])  # no nextRecordsUrl key at all on the last page
    assert last["totalSize"] == body["totalSize"]


def test_count_id_matches_recorded_aggregate(api: requests.Session, sandbox: Sandbox) -> None:
    rec = recorded("query_count_id_aggregate.json")["response"]["body"]
    got = api.get(url(sandbox, "query/"), params={"q": "select count(Id) from Account"}).json()
    assert shape(got) == shape(rec)


def test_get_record_and_404_match_recorded(api: requests.Session, sandbox: Sandbox) -> None:
    rec = recorded("sobject_get_contact.json")["response"]
    contact_id = sandbox.salesforce.store["Contact"].frame()["Id"][0]
    got = api.get(url(sandbox, f"sobjects/Contact/{contact_id}"))
    assert got.headers["Content-Type"] == rec["headers"]["Content-Type"]
    body = got.json()
    assert shape(body["attributes"]) == shape(rec["body"]["attributes"])
    assert body["CreatedDate"][-5:] == rec["body"]["CreatedDate"][-5:] == "+0000"
    missing_rec = recorded("sobject_get_not_found_404.json")["response"]
    missing = api.get(url(sandbox, "sobjects/Contact/0038d0999999999AAA"))
    assert missing.status_code == missing_rec["status"]
    assert missing.json() == missing_rec["body"]


def test_patch_matches_recorded_204(api: requests.Session, sandbox: Sandbox) -> None:
    rec = recorded("sobject_update_204.json")["response"]
    lead_id = sandbox.salesforce.store["Lead"].frame()["Id"][1]
    got = api.patch(url(sandbox, f"sobjects/Lead/{lead_id}"), json={"Title": "Shape Check"})
    assert got.status_code == rec["status"] == 204
    assert got.content == b""
    assert "Content-Type" not in got.headers


def test_composite_partial_failure_matches_recorded(api: requests.Session, sandbox: Sandbox) -> None:
    rec = recorded("composite_sobjects_update_partial_failure.json")["response"]
    ids = sandbox.salesforce.store["Contact"].frame()["Id"].slice(20, 2).to_list()
    got = api.patch(
        url(sandbox, "composite/sobjects"),
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Contact"}, "id": ids[0], "Title": "Ok"},
                {"attributes": {"type": "Contact"}, "id": ids[1], "Email": "badone"},
            ],
        },
    )
    assert got.status_code == rec["status"] == 200
    assert shape(got.json()) == shape(rec["body"][:1])
    assert shape(got.json()[1]) == shape(rec["body"][1])
    assert got.json()[1]["errors"][0]["statusCode"] == rec["body"][1]["errors"][0]["statusCode"]


def test_describe_fields_carry_every_recorded_key(api: requests.Session, sandbox: Sandbox) -> None:
    rec = recorded("describe_contact.json")["response"]["body"]
    got = api.get(url(sandbox, "sobjects/Contact/describe")).json()
    assert set(got["fields"][0]) == set(rec["fields"][0])
    by_name = {f["name"]: f for f in got["fields"]}
    rec_by_name = {f["name"]: f for f in rec["fields"]}
    for name in ("Id", "Email", "AccountId", "MailingAddress", "FirstName", "Name"):
        for key in ("type", "soapType", "calculated", "compoundFieldName", "nillable"):
            assert by_name[name][key] == rec_by_name[name][key], (name, key)
    assert {k for k in rec if k != "fields"} <= set(got)


def test_describe_global_and_limits_match_recorded(api: requests.Session, sandbox: Sandbox) -> None:
    rec = recorded("sobjects_describe_global.json")["response"]["body"]
    got = api.get(url(sandbox, "sobjects")).json()
    assert set(got) == set(rec)
    assert set(got["sobjects"][0]) == set(rec["sobjects"][0])
    limits_rec = recorded("limits.json")["response"]["body"]
    limits = api.get(url(sandbox, "limits")).json()
    assert shape(limits["DailyApiRequests"]) == shape(limits_rec["DailyApiRequests"])


def test_bulk_query_job_info_matches_recorded(api: requests.Session, sandbox: Sandbox) -> None:
    rec = recorded("bulk2_query_job_info.json")["response"]["body"]
    job = api.post(
        url(sandbox, "jobs/query"), json={"operation": "queryAll", "query": "SELECT Id FROM Account"}
    )
    got = api.get(url(sandbox, f"jobs/query/{job.json()['id']}")).json()
    assert set(rec) <= set(got)
    assert isinstance(got["apiVersion"], float)
    assert got["createdDate"].endswith("+0000")


def test_soap_answers_match_the_recorded_partner_envelope(api: requests.Session, sandbox: Sandbox) -> None:
    """merge and undelete answer like the recorded partner-API login: a soapenv envelope whose body
    holds ``<call>Response/result`` in the partner namespace, as text/xml."""
    import xml.etree.ElementTree as ET

    from crm_ops.connectors import sfsoap

    rec = recorded("soap_login_partner.json")["response"]
    want = ET.fromstring(rec["body"])  # noqa: S314 -- a fixture of ours
    want_result = want.find(
        f"{{{sfsoap.ENV}}}Body/{{{sfsoap.PARTNER}}}loginResponse/{{{sfsoap.PARTNER}}}result"
    )
    assert want_result is not None
    token = sandbox.env["CRM_OPS_SF_ACCESS_TOKEN"]
    soap = f"{sandbox.env['CRM_OPS_SF_INSTANCE_URL']}/services/Soap/u/59.0"
    ids = sandbox.salesforce.store["Lead"].frame()["Id"].to_list()[5:8]
    for call, body in (
        ("merge", sfsoap.merge_request(token, "Lead", ids[0], ids[1:3])),
        ("undelete", sfsoap.undelete_request(token, ids[1:2])),
    ):
        got = api.post(soap, data=body, headers=sfsoap.HEADERS)
        assert got.status_code == rec["status"] == 200
        assert got.headers["Content-Type"].lower() == rec["headers"]["Content-Type"].lower()
        root = ET.fromstring(got.content)  # noqa: S314
        assert root.tag == want.tag
        result = root.find(
            f"{{{sfsoap.ENV}}}Body/{{{sfsoap.PARTNER}}}{call}Response/{{{sfsoap.PARTNER}}}result"
        )
        assert result is not None and result.findtext(f"{{{sfsoap.PARTNER}}}success") == "true", got.text
    merged = sfsoap.parse_answer(
        200,
        api.post(
            soap, data=sfsoap.merge_request(token, "Lead", ids[0], ids[2:3]), headers=sfsoap.HEADERS
        ).content,
        "merge",
    )
    # ids[2] is still merged away (undelete brought back ids[1] only): an error on the record, no fault
    assert not merged[0].success
    assert merged[0].errors == ("ENTITY_IS_DELETED: entity is deleted",)
    bad = api.post(soap, data=sfsoap.undelete_request("not-a-session", ids[:1]), headers=sfsoap.HEADERS)
    assert bad.status_code == 500
    with pytest.raises(Exception, match="INVALID_SESSION_ID"):
        sfsoap.parse_answer(bad.status_code, bad.content, "undelete")
