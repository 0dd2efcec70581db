"""The Salesforce emulator refuses what Salesforce refuses, in its error shape, and is never left broken
by a bad write: a lone UTF-16 surrogate is a 400 JSON_PARSER_ERROR (REST and composite), a Bulk upload
that is not UTF-8 fails its job, and the object reads as before."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from crm_ops.sandbox.server import Sandbox

pytestmark = pytest.mark.integration
LONE = '{"Title": "Buyer \\ud800"}'  # the JSON text a client sends for a lone surrogate


def _http(sandbox: Sandbox) -> tuple[requests.Session, str]:
    session = requests.Session()
    session.verify = sandbox.env["CRM_OPS_SF_CA_BUNDLE"]
    session.trust_env = False
    session.headers.update(
        {
            "Authorization": f"Bearer {sandbox.env['CRM_OPS_SF_ACCESS_TOKEN']}",
            "Content-Type": "application/json",
        }
    )
    return session, f"{sandbox.env['CRM_OPS_SF_INSTANCE_URL']}/services/data/v59.0"


def test_a_lone_surrogate_is_refused_and_reads_still_work(sandbox: Sandbox, sf: Any) -> None:
    session, base = _http(sandbox)
    record = sf.query("SELECT Id, Title FROM Contact WHERE IsDeleted = false ORDER BY Id DESC LIMIT 1")
    contact: dict[str, Any] = record["records"][0]
    one = session.patch(f"{base}/sobjects/Contact/{contact['Id']}", data=LONE, timeout=30)
    assert one.status_code == 400
    (body,) = one.json()
    assert body["errorCode"] == "JSON_PARSER_ERROR" and "at [line:1, column:" in body["message"]
    # json.dumps escapes it as \ud800, as simple-salesforce sends it
    records = [{"attributes": {"type": "Contact"}, "id": contact["Id"], "Title": "Buyer \ud800"}]
    composite = json.dumps({"allOrNone": False, "records": records})
    many = session.patch(f"{base}/composite/sobjects", data=composite, timeout=30)
    assert many.status_code == 400 and many.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    # never broken: the record and the whole object read as before
    assert sf.Contact.get(contact["Id"])["Title"] == contact["Title"]
    assert sf.query("SELECT Id, Title FROM Contact")["totalSize"] > 0
    # a valid pair is a character like any other
    pair = session.patch(
        f"{base}/sobjects/Contact/{contact['Id']}", data='{"Title": "Buyer \\ud83d\\ude00"}', timeout=30
    )
    assert pair.status_code == 204, pair.text
    assert sf.Contact.get(contact["Id"])["Title"] == "Buyer \U0001f600"


def test_a_bulk_upload_that_is_not_utf8_fails_its_job_not_the_emulator(sandbox: Sandbox, sf: Any) -> None:
    session, base = _http(sandbox)
    contact = sf.query("SELECT Id FROM Contact WHERE IsDeleted = false ORDER BY Id DESC LIMIT 1")["records"][
        0
    ]
    job = session.post(
        f"{base}/jobs/ingest", data=json.dumps({"object": "Contact", "operation": "update"}), timeout=30
    ).json()
    upload = f"Id,Title\n{contact['Id']},Buyer \xe9\n".encode("cp1252")
    put = session.put(
        f"{base}/jobs/ingest/{job['id']}/batches",
        data=upload,
        headers={"Content-Type": "text/csv"},
        timeout=30,
    )
    assert put.status_code == 201, put.text
    closed = session.patch(f"{base}/jobs/ingest/{job['id']}", data='{"state": "UploadComplete"}', timeout=30)
    assert closed.status_code == 200, closed.text
    info = session.get(f"{base}/jobs/ingest/{job['id']}", timeout=30).json()
    assert info["state"] == "Failed" and info["errorMessage"].startswith("InvalidBatch : Failed to parse CSV")
    assert sf.query("SELECT Id, Title FROM Contact")["totalSize"] > 0
