"""The answers of the erasure calls held to what the CRMs show, over raw HTTP.

There are no recorded fixtures of HubSpot's GDPR delete or of Salesforce's ``emptyRecycleBin`` in
shared/fixtures/recorded, so those shapes are held to the vendors' references: HubSpot's "Permanently
delete a contact (GDPR-compliant)" (204 without a body; the v3 error body with ``category``,
``context`` naming the input and ``errors``), Salesforce's SOAP API reference (``emptyRecycleBin``: at
most 200 ids, one ``EmptyRecycleBinResult`` ``{errors, id, success}`` per id in order, errors as the
partner WSDL's ``Error`` ``{statusCode, message}``; the 0-id refusal in Salesforce's words). The
composite delete is held to its recording (``composite_sobjects_delete.json``: ``{id, success,
errors}`` in request order).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce.api import Salesforce

from crm_ops.connectors import sfsoap
from crm_ops.sandbox.server import Sandbox
from tests.erasing import hubspot_session, hubspot_url, own_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """This module's own sandbox (``tests.erasing.own_sandbox``)."""
    yield from own_sandbox()


RECORDED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "recorded" / "salesforce"
P = "{urn:partner.soap.sforce.com}"


def _hubspot(sandbox: Sandbox, body: Any) -> requests.Response:
    url = hubspot_url(sandbox, "/crm/v3/objects/contacts/gdpr-delete")
    return hubspot_session(sandbox).post(url, json=body)


def test_hubspot_gdpr_delete_answers_as_documented(sandbox: Sandbox) -> None:
    done = _hubspot(sandbox, {"objectId": "shape.check@example.org", "idProperty": "email"})
    assert done.status_code == 204
    assert done.content == b""
    missing = _hubspot(sandbox, {"idProperty": "email"})
    assert missing.status_code == 400
    body = missing.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert body["context"] == {"objectId": ["must not be empty"]}
    assert body["errors"][0]["context"] == {"objectId": ["must not be empty"]}
    assert {"status", "message", "correlationId"} <= set(body)
    unknown = _hubspot(sandbox, {"objectId": "1", "idProperty": "no_such_property"})
    assert unknown.status_code == 400 and unknown.json()["category"] == "VALIDATION_ERROR"
    not_unique = _hubspot(sandbox, {"objectId": "Grace", "idProperty": "firstname"})
    assert not_unique.status_code == 400 and "idProperty" in not_unique.json()["context"]
    nobody = _hubspot(sandbox, {"objectId": "999999999999"})
    assert nobody.status_code == 404 and nobody.json()["category"] == "OBJECT_NOT_FOUND"


def _soap(sandbox: Sandbox, ids: list[str]) -> tuple[int, ET.Element]:
    envelope = sfsoap.empty_recycle_bin_request(sandbox.env["CRM_OPS_SF_ACCESS_TOKEN"], ids)
    answer = requests.post(
        f"{sandbox.env['CRM_OPS_SF_INSTANCE_URL']}/services/Soap/u/59.0",
        data=envelope,
        headers=sfsoap.HEADERS,
        verify=sandbox.env["CRM_OPS_SF_CA_BUNDLE"],
    )
    return answer.status_code, ET.fromstring(answer.content)  # noqa: S314 -- the sandbox's own answer


def test_salesforce_empty_recycle_bin_answers_as_documented(sandbox: Sandbox, sf: Salesforce) -> None:
    api: Any = sf
    deleted = api.Contact.create({"LastName": "Shape check"})["id"]
    live = api.Contact.create({"LastName": "Shape check live"})["id"]
    api.Contact.delete(deleted)
    status, root = _soap(sandbox, [deleted, live])
    assert status == 200
    results = root.findall(f".//{P}emptyRecycleBinResponse/{P}result")
    assert len(results) == 2
    ok, refused = results
    assert [child.tag.removeprefix(P) for child in ok] == ["id", "success"]
    assert ok.findtext(f"{P}id") == deleted and ok.findtext(f"{P}success") == "true"
    # the WSDL's order: errors, id, success; an Error carries its statusCode and message
    assert [child.tag.removeprefix(P) for child in refused] == ["errors", "id", "success"]
    assert refused.findtext(f"{P}success") == "false"
    assert refused.findtext(f"{P}errors/{P}statusCode") and refused.findtext(f"{P}errors/{P}message")
    status, root = _soap(sandbox, [])
    assert root.findtext(".//faultcode") == "sf:MISSING_ARGUMENT"
    assert "0 ids" in (root.findtext(".//faultstring") or "")
    status, root = _soap(sandbox, [deleted] * 201)
    assert root.findtext(".//faultcode") == "sf:EXCEEDED_ID_LIMIT"


@pytest.mark.skipif(not RECORDED.is_dir(), reason="recorded fixtures not found")
def test_salesforce_composite_delete_answers_as_recorded(sandbox: Sandbox, sf: Salesforce) -> None:
    api: Any = sf
    recorded = json.loads((RECORDED / "composite_sobjects_delete.json").read_text())["response"]["body"]
    one = api.Contact.create({"LastName": "Composite delete shape"})["id"]
    answer = api.restful("composite/sobjects", method="DELETE", params={"ids": one, "allOrNone": "false"})
    assert [sorted(r) for r in answer] == [sorted(r) for r in recorded]
    again = api.restful("composite/sobjects", method="DELETE", params={"ids": one, "allOrNone": "false"})
    assert again[0]["success"] is False and again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    # allOrNone: one refusal deletes nothing
    other = api.Contact.create({"LastName": "Composite delete shape"})["id"]
    rolled = api.restful(
        "composite/sobjects", method="DELETE", params={"ids": f"{one},{other}", "allOrNone": "true"}
    )
    assert [r["errors"][0]["statusCode"] for r in rolled] == [
        "ENTITY_IS_DELETED",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    ]
    assert api.query(f"SELECT Id FROM Contact WHERE Id = '{other}'")["totalSize"] == 1
