"""The SOAP calls of Salesforce's partner API that the REST API lacks: ``merge``, ``undelete``,
``convertLead`` and ``emptyRecycleBin``.

``POST /services/Soap/u/{version}`` with a SOAP 1.1 envelope; the session id travels in the
``SessionHeader``. As in Salesforce:

- ``merge``: one master record and one or two records to merge into it (Account, Contact, Lead: the
  only objects the API's merge() takes; Salesforce merges cases on its Merge Cases page and in Apex,
  not through the API, so a Case is refused as INVALID_TYPE like any other object; all of one type,
  live; the master not among them). The merged records go to the recycle bin with ``MasterRecordId``
  set to the master; every record that pointed at a merged record through a lookup (contacts and
  opportunities of an account, contact roles of a contact) is re-parented to the master and listed in
  ``updatedRelatedIds``. A merged-away id is refused as deleted (ENTITY_IS_DELETED), the master among
  the merged ones as INVALID_ID_FIELD.
  The master record of a request may carry field values (API names as elements, ``fieldsToNull`` for
  the ones to clear): they are validated like an update and set on the master in the same transaction;
  a field the user cannot update fails the request. Other field values of the master are kept.
- ``undelete``: up to 200 ids out of the recycle bin. Re-parented children stay with the master, as in
  Salesforce; putting them back is the caller's job. What a delete reached comes back with the record
  (``sfrecycle``); a record emptied from the bin cannot be undeleted.
- ``emptyRecycleBin``: 1 to 200 ids deleted from the recycle bin for good (``sfrecycle.RecycleBin``:
  the refusals per id, and the ``queryAll`` window after it). No id is the MISSING_ARGUMENT fault
  ("emptyRecycleBin called with a batch of 0 ids to delete; must specify at least 1 id", Salesforce's
  words); more than 200, EXCEEDED_ID_LIMIT.
- ``convertLead``: up to 200 ``leadConverts``; each converts a live, unconverted lead with a converted
  lead status (``convertedStatus``). With ``contactId`` the lead goes into that existing contact, which
  must be on ``accountId`` (given); only the contact's empty fields take the lead's values (the
  standard lead-to-contact field mapping; a checkbox is never empty, so an opt-out is not carried over);
  ``LeadSource`` only with ``overwriteLeadSource``. Without ``contactId`` or ``accountId`` (a new account
  and contact) the call fails: the sandbox emulates conversions into existing records only. With
  ``doNotCreateOpportunity`` false an opportunity named after the company is created. The lead becomes
  ``IsConverted`` with ``ConvertedDate``, ``ConvertedContactId``, ``ConvertedAccountId``,
  ``ConvertedOpportunityId`` and the status; a converted lead cannot be converted again, edited or
  unconverted.

Errors come back per record in ``<errors>``; a bad session or a malformed envelope is a SOAP fault.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import polars as pl

from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.objects import SALESFORCE_OBJECTS, SfObject
from crm_ops.sandbox.sfrecycle import MAX_EMPTY, RecycleBin
from crm_ops.sandbox.sfwrite import SaveError, Writer
from crm_ops.sandbox.store import Store

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
SOBJECT = "urn:sobject.partner.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML = "text/xml; charset=utf-8"
MERGEABLE = ("Account", "Contact", "Lead")
MAX_CONVERT = 200
CONVERTED_STATUSES = ("Closed - Converted",)
# the standard lead-to-contact field mapping of a conversion (lead field, contact field)
LEAD_TO_CONTACT = (
    ("FirstName", "FirstName"), ("LastName", "LastName"), ("Salutation", "Salutation"),
    ("Email", "Email"), ("Phone", "Phone"), ("MobilePhone", "MobilePhone"), ("Fax", "Fax"),
    ("Title", "Title"), ("Street", "MailingStreet"), ("City", "MailingCity"), ("State", "MailingState"),
    ("PostalCode", "MailingPostalCode"), ("Country", "MailingCountry"), ("Description", "Description"),
    ("HasOptedOutOfEmail", "HasOptedOutOfEmail"), ("DoNotCall", "DoNotCall"),
    ("HasOptedOutOfFax", "HasOptedOutOfFax"),
)  # fmt: skip
MAX_MERGE = 2  # records merged into the master per request
MAX_UNDELETE = 200
NOT_REPARENTED = frozenset({"MasterRecordId", "OwnerId", "CreatedById", "LastModifiedById"})

ET.register_namespace("soapenv", ENV)
ET.register_namespace("", PARTNER)
ET.register_namespace("sf", SOBJECT)
ET.register_namespace("xsi", XSI)


def fault(code: str, message: str, status: int = 500) -> Response:
    """A SOAP fault, as Salesforce sends for a bad session or a malformed request."""
    envelope = ET.Element(f"{{{ENV}}}Envelope")
    body = ET.SubElement(envelope, f"{{{ENV}}}Body")
    node = ET.SubElement(body, f"{{{ENV}}}Fault")
    ET.SubElement(node, "faultcode").text = f"sf:{code}"
    ET.SubElement(node, "faultstring").text = f"{code}: {message}"
    return Response(
        status, ET.tostring(envelope, xml_declaration=True, encoding="utf-8"), {"Content-Type": XML}
    )


def _answer(name: str, results: list[dict[str, Any]], usage: tuple[int, int]) -> Response:
    envelope = ET.Element(f"{{{ENV}}}Envelope")
    header = ET.SubElement(envelope, f"{{{ENV}}}Header")
    info = ET.SubElement(ET.SubElement(header, f"{{{PARTNER}}}LimitInfoHeader"), f"{{{PARTNER}}}limitInfo")
    ET.SubElement(info, f"{{{PARTNER}}}current").text = str(usage[0])
    ET.SubElement(info, f"{{{PARTNER}}}limit").text = str(usage[1])
    ET.SubElement(info, f"{{{PARTNER}}}type").text = "API REQUESTS"
    body = ET.SubElement(envelope, f"{{{ENV}}}Body")
    response = ET.SubElement(body, f"{{{PARTNER}}}{name}Response")
    for result in results:
        node = ET.SubElement(response, f"{{{PARTNER}}}result")
        for error in result.get("errors", []):
            err = ET.SubElement(node, f"{{{PARTNER}}}errors")
            for f in error.fields:
                ET.SubElement(err, f"{{{PARTNER}}}fields").text = f
            ET.SubElement(err, f"{{{PARTNER}}}message").text = error.message
            ET.SubElement(err, f"{{{PARTNER}}}statusCode").text = error.status_code
        if name == "convertLead":
            for key in ("accountId", "contactId", "leadId", "opportunityId"):
                if result.get(key):
                    ET.SubElement(node, f"{{{PARTNER}}}{key}").text = result[key]
        if result.get("id"):
            ET.SubElement(node, f"{{{PARTNER}}}id").text = result["id"]
        for merged in result.get("mergedRecordIds", []):
            ET.SubElement(node, f"{{{PARTNER}}}mergedRecordIds").text = merged
        ET.SubElement(node, f"{{{PARTNER}}}success").text = "true" if result["success"] else "false"
        for related in result.get("updatedRelatedIds", []):
            ET.SubElement(node, f"{{{PARTNER}}}updatedRelatedIds").text = related
    return Response(200, ET.tostring(envelope, xml_declaration=True, encoding="utf-8"), {"Content-Type": XML})


class SoapApi:
    """``merge``, ``undelete``, ``convertLead`` and ``emptyRecycleBin`` over one Salesforce store."""

    def __init__(
        self,
        store: Store,
        *,
        valid_session: Callable[[str], bool],
        count_call: Callable[[], tuple[int, int] | None],
        user_id: str,
        now: Callable[[], datetime],
        objects: Mapping[str, SfObject] | None = None,
        recycle: RecycleBin | None = None,
    ) -> None:
        self.store = store
        self.objects = SALESFORCE_OBJECTS if objects is None else objects
        self.recycle = recycle or RecycleBin(store, self.objects, user_id, now)
        self.valid_session = valid_session
        self.count_call = count_call
        self.user_id = user_id
        self.now = now

    def handle(self, request: Request) -> Response:
        """One SOAP request."""
        try:
            envelope = ET.fromstring(request.body)  # noqa: S314 -- the emulator parses its own clients' XML
        except ET.ParseError as exc:
            return fault("INVALID_XML", f"the request is not XML: {exc}")
        session = envelope.findtext(f"{{{ENV}}}Header/{{{PARTNER}}}SessionHeader/{{{PARTNER}}}sessionId")
        if not session or not self.valid_session(session.strip()):
            return fault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session")
        usage = self.count_call()
        if usage is None:
            return fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        body = envelope.find(f"{{{ENV}}}Body")
        call = body[0] if body is not None and len(body) else None
        if call is None:
            return fault("INVALID_OPERATION", "the SOAP body holds no call")
        name = call.tag.rsplit("}", 1)[-1]
        self.recycle.expire()  # emptied records whose queryAll window has passed are purged
        if name == "merge":
            return _answer("merge", [self._merge(r) for r in call.findall(f"{{{PARTNER}}}request")], usage)
        if name == "undelete":
            ids = [(e.text or "").strip() for e in call.findall(f"{{{PARTNER}}}ids")]
            if len(ids) > MAX_UNDELETE:
                return fault("EXCEEDED_ID_LIMIT", f"undelete takes at most {MAX_UNDELETE} ids")
            return _answer("undelete", [self.recycle.undelete(i) for i in ids], usage)
        if name == "emptyRecycleBin":
            ids = [(e.text or "").strip() for e in call.findall(f"{{{PARTNER}}}ids")]
            if not ids:
                return fault(
                    "MISSING_ARGUMENT",
                    "emptyRecycleBin called with a batch of 0 ids to delete; must specify at least 1 id",
                )
            if len(ids) > MAX_EMPTY:
                return fault("EXCEEDED_ID_LIMIT", f"emptyRecycleBin takes at most {MAX_EMPTY} ids")
            return _answer("emptyRecycleBin", [self.recycle.empty(i) for i in ids], usage)
        if name == "convertLead":
            converts = call.findall(f"{{{PARTNER}}}leadConverts")
            if len(converts) > MAX_CONVERT:
                return fault("EXCEEDED_ID_LIMIT", f"convertLead takes at most {MAX_CONVERT} leadConverts")
            return _answer("convertLead", [self._convert(c) for c in converts], usage)
        return fault("INVALID_OPERATION", f"the sandbox does not emulate the SOAP call {name}")

    # ------------------------------------------------------------------ merge

    def _merge(self, request: ET.Element) -> dict[str, Any]:
        master = request.find(f"{{{PARTNER}}}masterRecord")
        kind = (master.findtext(f"{{{SOBJECT}}}type") or "").strip() if master is not None else ""
        master_id = (master.findtext(f"{{{SOBJECT}}}Id") or "").strip() if master is not None else ""
        losers = [(e.text or "").strip() for e in request.findall(f"{{{PARTNER}}}recordToMergeIds")]
        fields: dict[str, Any] = {}
        for node in list(master) if master is not None else []:
            tag = node.tag.rsplit("}", 1)[-1]
            if tag == "fieldsToNull":
                fields[(node.text or "").strip()] = None
            elif tag not in ("type", "Id"):
                nil = (node.get(f"{{{XSI}}}nil") or "").lower() == "true"
                fields[tag] = None if nil else (node.text or "")
        try:
            return self._do_merge(kind, master_id, losers, fields)
        except SaveError as error:
            return {"id": master_id or None, "success": False, "errors": [error]}

    def _do_merge(
        self, kind: str, master_id: str, losers: list[str], fields: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if kind not in MERGEABLE:
            raise SaveError("INVALID_TYPE", f"merge is not supported for {kind or 'a record without a type'}")
        obj = self.objects[kind]
        if not losers or len(losers) > MAX_MERGE:
            raise SaveError(
                "LIMIT_EXCEEDED", f"a merge request merges 1 to {MAX_MERGE} records into the master record"
            )
        if master_id in losers or len(set(losers)) != len(losers):
            raise SaveError("INVALID_ID_FIELD", "a record cannot be merged with itself")
        table = self.store[obj.name]
        writer = Writer(obj, table, self.store.tables, self.user_id)
        rows = []
        for record_id in (master_id, *losers):
            located = writer.locate(record_id)
            if isinstance(located, SaveError):
                raise located
            rows.append(located)
        changes = writer.convert(dict(fields or {}), from_csv=False, creating=False) if fields else {}
        now = self.now()
        stamps = {"SystemModstamp": now, "LastModifiedDate": now, "LastModifiedById": self.user_id}
        with table.lock:
            related = self._reparent(obj, losers, master_id, stamps)
            for row in rows[1:]:
                table.update(row, {"IsDeleted": True, "MasterRecordId": master_id, **stamps})
            current = table.row(rows[0]) or {}
            table.update(rows[0], {**changes, **writer.derived(current, changes, now), **stamps})
        return {"id": master_id, "success": True, "mergedRecordIds": losers, "updatedRelatedIds": related}

    def _reparent(
        self, obj: SfObject, losers: list[str], master_id: str, stamps: dict[str, Any]
    ) -> list[str]:
        """Point every live record that looks up a merged record at the master instead."""
        moved: list[str] = []
        for child in self.objects.values():
            if child.name not in self.store:
                continue
            refs = [
                f.name
                for f in child.fields
                if f.type == "reference" and obj.name in f.reference_to and f.name not in NOT_REPARENTED
            ]
            if not refs:
                continue
            table = self.store[child.name]
            touch = {k: v for k, v in stamps.items() if k in table.schema}
            frame = table.frame().with_row_index("__row")
            live = ~pl.col("IsDeleted") if "IsDeleted" in frame.columns else pl.lit(True)
            for ref in refs:
                hits = frame.filter(live & pl.col(ref).is_in(losers)).select("__row", "Id")
                for row, record_id in hits.iter_rows():
                    table.update(int(row), {ref: master_id, **touch})
                    moved.append(str(record_id))
        return moved

    # ------------------------------------------------------------------ convertLead

    def _convert(self, request: ET.Element) -> dict[str, Any]:
        def value(name: str) -> str:
            return (request.findtext(f"{{{PARTNER}}}{name}") or "").strip()

        lead_id = value("leadId")
        try:
            return self._do_convert(
                lead_id,
                value("contactId"),
                value("accountId"),
                value("convertedStatus"),
                create_opportunity=value("doNotCreateOpportunity").lower() != "true",
                overwrite_source=value("overwriteLeadSource").lower() == "true",
            )
        except SaveError as error:
            return {"leadId": lead_id or None, "success": False, "errors": [error]}

    def _do_convert(
        self,
        lead_id: str,
        contact_id: str,
        account_id: str,
        status: str,
        *,
        create_opportunity: bool,
        overwrite_source: bool,
    ) -> dict[str, Any]:
        if status not in CONVERTED_STATUSES:
            raise SaveError("INVALID_STATUS", f"invalid converted status: {status or '(none)'}")
        if not contact_id or not account_id:
            raise SaveError(
                "REQUIRED_FIELD_MISSING",
                "the sandbox converts leads into an existing account and contact only",
            )
        leads, contacts = self.store["Lead"], self.store["Contact"]
        lead_writer = Writer(self.objects["Lead"], leads, self.store.tables, self.user_id)
        contact_writer = Writer(self.objects["Contact"], contacts, self.store.tables, self.user_id)
        lead_row, contact_row = lead_writer.locate(lead_id), contact_writer.locate(contact_id)
        for located in (lead_row, contact_row):
            if isinstance(located, SaveError):
                raise located
        assert isinstance(lead_row, int)
        assert isinstance(contact_row, int)
        now = self.now()
        with leads.lock, contacts.lock:
            lead, contact = leads.row(lead_row) or {}, contacts.row(contact_row) or {}
            if lead.get("IsConverted"):
                raise SaveError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
            if contact.get("AccountId") != account_id:
                raise SaveError(
                    "INVALID_CROSS_REFERENCE_KEY",
                    f"contact {contact_id} is not associated with account {account_id}",
                )
            fill = {
                to: lead[frm]
                for frm, to in LEAD_TO_CONTACT
                if to in contacts.schema and frm in leads.schema and lead.get(frm) not in (None, "")
                and contact.get(to) in (None, "")
            }  # fmt: skip
            if overwrite_source and lead.get("LeadSource") and "LeadSource" in contacts.schema:
                fill["LeadSource"] = lead["LeadSource"]
            opportunity_id = None
            if create_opportunity and "Opportunity" in self.store:
                opportunity_id = Writer(
                    self.objects["Opportunity"], self.store["Opportunity"], self.store.tables, self.user_id
                ).insert(
                    {
                        "Name": lead.get("Company") or lead.get("LastName") or "Converted lead",
                        "AccountId": account_id,
                        "StageName": "Prospecting",
                        "CloseDate": now.date().isoformat(),
                    },
                    now,
                )
            stamps = {"SystemModstamp": now, "LastModifiedDate": now, "LastModifiedById": self.user_id}
            contacts.update(contact_row, {**fill, **contact_writer.derived(contact, fill, now), **stamps})
            leads.update(
                lead_row,
                {
                    "IsConverted": True,
                    "ConvertedDate": now.date(),
                    "ConvertedContactId": contact_id,
                    "ConvertedAccountId": account_id,
                    "ConvertedOpportunityId": opportunity_id,
                    "Status": status,
                    **stamps,
                },
            )
        return {
            "accountId": account_id,
            "contactId": contact_id,
            "leadId": lead_id,
            "opportunityId": opportunity_id,
            "success": True,
        }
