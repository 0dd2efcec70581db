"""The pieces of erasure that need no CRM: the emptyRecycleBin envelope and its answer, an e-mail named
without being held, and a purged row of the sandbox's store."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import polars as pl

from crm_ops.connectors import sfsoap
from crm_ops.connectors.hserase import email_key
from crm_ops.sandbox.store import Table

P = "{urn:partner.soap.sforce.com}"


def test_the_empty_recycle_bin_envelope_carries_each_id_and_its_answer_reads_back() -> None:
    body = sfsoap.empty_recycle_bin_request("SESSION", ["003A", "003B"])
    root = ET.fromstring(body)  # noqa: S314 -- our own envelope
    call = root.find(f".//{P}emptyRecycleBin")
    assert call is not None
    assert [e.text for e in call.findall(f"{P}ids")] == ["003A", "003B"]
    assert root.findtext(f".//{P}SessionHeader/{P}sessionId") == "SESSION"
    answer = (
        b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/'
        b'soap/envelope/" xmlns="urn:partner.soap.sforce.com"><soapenv:Body><emptyRecycleBinResponse>'
        b"<result><id>003A</id><success>true</success></result><result><errors><message>insufficient access"
        b"</message><statusCode>INSUFFICIENT_ACCESS_OR_READONLY</statusCode></errors><id>003B</id>"
        b"<success>false</success></result></emptyRecycleBinResponse></soapenv:Body></soapenv:Envelope>"
    )
    ok, refused = sfsoap.parse_answer(200, answer, "emptyRecycleBin")
    assert ok.success and ok.id == "003A" and not ok.errors
    assert not refused.success and refused.errors == ("INSUFFICIENT_ACCESS_OR_READONLY: insufficient access",)


def test_an_email_is_named_by_its_hash_case_and_spaces_aside() -> None:
    key = email_key(" Ada.Lovelace@Example.ORG ")
    assert key == email_key("ada.lovelace@example.org")
    assert key.startswith("sha256:") and len(key) == len("sha256:") + 64
    assert "lovelace" not in key


def test_a_purged_row_keeps_only_what_was_asked_and_is_served_by_no_read() -> None:
    table = Table(
        "Contact", pl.DataFrame({"Id": ["a", "b"], "IsDeleted": [True, False], "Email": ["x@y", "z@w"]})
    )
    table.purge(0, keep=("Id", "IsDeleted"))
    assert table.row(0) is None
    assert table.visible()["Id"].to_list() == ["b"]
    assert table.frame().row(0, named=True) == {"Id": "a", "IsDeleted": True, "Email": None}
    table.hidden = frozenset()  # revealing hidden rows does not bring a purged one back
    assert table.row(0) is None
