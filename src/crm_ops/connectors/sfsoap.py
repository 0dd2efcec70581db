"""The few SOAP calls of Salesforce's partner API that REST lacks (``merge``, ``undelete``,
``convertLead``, ``emptyRecycleBin``).

simple-salesforce speaks REST and Bulk only; these envelopes are small enough to write with the
standard library. Values go in as element text (escaped by ElementTree), never spliced into markup.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from crm_ops.errors import ApiError, FatalApiError, RetriableApiError

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
SOBJECT = "urn:sobject.partner.soap.sforce.com"
HEADERS = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'}
SYSTEM = "salesforce"


@dataclass(frozen=True)
class SoapResult:
    """One ``<result>`` of a merge, undelete, convertLead or emptyRecycleBin answer (``errors``:
    ``statusCode: message`` each)."""

    id: str | None
    success: bool
    errors: tuple[str, ...] = ()
    merged: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    ids: dict[str, str] = field(default_factory=dict)  # a conversion's leadId, contactId, accountId


def _value(value: Any) -> str:
    """A field value as SOAP element text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _serialised(envelope: ET.Element) -> bytes:
    """The envelope as bytes. A carriage return in a value is written as ``&#13;``: a parser turns a
    raw one into a line feed (XML's end-of-line handling), so ``"a\r\nb"`` would be stored as
    ``"a\nb"``; ElementTree escapes it only in attributes. Markup holds no CR of its own."""
    return bytes(ET.tostring(envelope, xml_declaration=True, encoding="utf-8")).replace(b"\r", b"&#13;")


def _envelope(session_id: str) -> tuple[ET.Element, ET.Element]:
    envelope = ET.Element(f"{{{ENV}}}Envelope")
    header = ET.SubElement(envelope, f"{{{ENV}}}Header")
    session = ET.SubElement(header, f"{{{PARTNER}}}SessionHeader")
    ET.SubElement(session, f"{{{PARTNER}}}sessionId").text = session_id
    return envelope, ET.SubElement(envelope, f"{{{ENV}}}Body")


def merge_request(
    session_id: str,
    object_name: str,
    master_id: str,
    losers: Sequence[str],
    fields: Mapping[str, Any] | None = None,
) -> bytes:
    """A ``merge`` call: ``losers`` (at most two) merged into ``master_id``, whose ``fields`` (API names)
    are set in the same call (the master record of the request carries them; None clears a field
    through ``fieldsToNull``)."""
    envelope, body = _envelope(session_id)
    request = ET.SubElement(ET.SubElement(body, f"{{{PARTNER}}}merge"), f"{{{PARTNER}}}request")
    master = ET.SubElement(request, f"{{{PARTNER}}}masterRecord")
    ET.SubElement(master, f"{{{SOBJECT}}}type").text = object_name
    for name, value in sorted((fields or {}).items()):
        if value is None:
            ET.SubElement(master, f"{{{SOBJECT}}}fieldsToNull").text = name
    ET.SubElement(master, f"{{{SOBJECT}}}Id").text = master_id
    for name, value in sorted((fields or {}).items()):
        if value is not None:
            ET.SubElement(master, f"{{{SOBJECT}}}{name}").text = _value(value)
    for loser in losers:
        ET.SubElement(request, f"{{{PARTNER}}}recordToMergeIds").text = loser
    return _serialised(envelope)


def undelete_request(session_id: str, ids: Sequence[str]) -> bytes:
    """An ``undelete`` call for ``ids`` (at most 200)."""
    envelope, body = _envelope(session_id)
    call = ET.SubElement(body, f"{{{PARTNER}}}undelete")
    for record_id in ids:
        ET.SubElement(call, f"{{{PARTNER}}}ids").text = record_id
    return _serialised(envelope)


def empty_recycle_bin_request(session_id: str, ids: Sequence[str]) -> bytes:
    """An ``emptyRecycleBin`` call for ``ids`` (1 to 200): deleted from the recycle bin for good; the
    answer is one EmptyRecycleBinResult (``errors``, ``id``, ``success``) per id, in order."""
    envelope, body = _envelope(session_id)
    call = ET.SubElement(body, f"{{{PARTNER}}}emptyRecycleBin")
    for record_id in ids:
        ET.SubElement(call, f"{{{PARTNER}}}ids").text = record_id
    return _serialised(envelope)


def convert_request(session_id: str, conversions: Sequence[Mapping[str, str]]) -> bytes:
    """A ``convertLead`` call (at most 200): each lead (``leadId``) converted into an existing contact
    (``contactId``) on its account (``accountId``) with ``convertedStatus``; no opportunity is created,
    the contact's lead source is kept, nobody is e-mailed."""
    envelope, body = _envelope(session_id)
    call = ET.SubElement(body, f"{{{PARTNER}}}convertLead")
    for c in conversions:
        node = ET.SubElement(call, f"{{{PARTNER}}}leadConverts")
        # the WSDL's element order
        ET.SubElement(node, f"{{{PARTNER}}}accountId").text = c["accountId"]
        ET.SubElement(node, f"{{{PARTNER}}}contactId").text = c["contactId"]
        ET.SubElement(node, f"{{{PARTNER}}}convertedStatus").text = c["convertedStatus"]
        ET.SubElement(node, f"{{{PARTNER}}}doNotCreateOpportunity").text = "true"
        ET.SubElement(node, f"{{{PARTNER}}}leadId").text = c["leadId"]
        ET.SubElement(node, f"{{{PARTNER}}}overwriteLeadSource").text = "false"
        ET.SubElement(node, f"{{{PARTNER}}}sendNotificationEmail").text = "false"
    return _serialised(envelope)


def parse_answer(status: int, content: bytes, call: str) -> list[SoapResult]:
    """The results of a SOAP answer, or the ``ApiError`` its fault or status means."""
    if status == 429 or (status >= 500 and b"Fault" not in content):
        raise RetriableApiError(SYSTEM, f"SOAP {call} failed ({status})", status=status)
    try:
        root = ET.fromstring(content)  # noqa: S314 -- expat refuses external entities; the answer is small
    except ET.ParseError:
        raise RetriableApiError(
            SYSTEM, f"SOAP {call}: the answer is not XML ({status})", status=status
        ) from None
    fault = root.find(f"{{{ENV}}}Body/{{{ENV}}}Fault")
    if fault is not None:
        code = (fault.findtext("faultcode") or "").split(":")[-1]
        message = fault.findtext("faultstring") or code
        error: ApiError = (
            RetriableApiError(SYSTEM, f"SOAP {call}: {message}", status=status, code=code)
            if code in ("SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG")
            else FatalApiError(SYSTEM, f"SOAP {call}: {message}", status=status or 500, code=code)
        )
        if code == "REQUEST_LIMIT_EXCEEDED":
            error = FatalApiError(SYSTEM, f"SOAP {call}: {message}", status=403, code=code)
        raise error
    if status != 200:
        raise FatalApiError(SYSTEM, f"SOAP {call} failed ({status})", status=status)
    answer = root.find(f"{{{ENV}}}Body/{{{PARTNER}}}{call}Response")
    if answer is None:
        raise FatalApiError(SYSTEM, f"SOAP {call}: the answer has no {call}Response")
    out = []
    for node in answer.findall(f"{{{PARTNER}}}result"):
        errors = tuple(
            f"{e.findtext(f'{{{PARTNER}}}statusCode')}: {e.findtext(f'{{{PARTNER}}}message')}"
            for e in node.findall(f"{{{PARTNER}}}errors")
        )
        out.append(
            SoapResult(
                id=node.findtext(f"{{{PARTNER}}}id"),
                success=(node.findtext(f"{{{PARTNER}}}success") or "") == "true",
                errors=errors,
                merged=tuple(e.text or "" for e in node.findall(f"{{{PARTNER}}}mergedRecordIds")),
                related=tuple(e.text or "" for e in node.findall(f"{{{PARTNER}}}updatedRelatedIds")),
                ids={
                    name: text
                    for name in ("leadId", "contactId", "accountId", "opportunityId")
                    if (text := node.findtext(f"{{{PARTNER}}}{name}"))
                },
            )
        )
    return out
