"""The two SOAP calls of Salesforce's partner API that the REST API lacks: ``merge`` and ``undelete``.

``POST /services/Soap/u/{version}`` with a SOAP 1.1 envelope; the session id travels in the
``SessionHeader``. As in Salesforce:

- ``merge``: one master record and one or two records to merge into it (Account, Contact, Lead; all of
  one type, live). The merged records go to the recycle bin with ``MasterRecordId`` set to the master;
  every record that pointed at a merged record through a lookup (contacts and opportunities of an
  account, contact roles of a contact) is re-parented to the master and listed in ``updatedRelatedIds``.
  Field values of the master are kept (a merge that also sets fields on the master is not emulated).
- ``undelete``: up to 200 ids out of the recycle bin. Re-parented children stay with the master, as in
  Salesforce; putting them back is the caller's job.

Errors come back per record in ``<errors>``; a bad session or a malformed envelope is a SOAP fault.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import polars as pl

from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.objects import SALESFORCE_OBJECTS, SfObject, sf_row
from crm_ops.sandbox.sfwrite import SaveError, Writer
from crm_ops.sandbox.store import Store

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
SOBJECT = "urn:sobject.partner.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML = "text/xml; charset=utf-8"
MERGEABLE = ("Account", "Contact", "Lead")
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
        if result.get("id"):
            ET.SubElement(node, f"{{{PARTNER}}}id").text = result["id"]
        for merged in result.get("mergedRecordIds", []):
            ET.SubElement(node, f"{{{PARTNER}}}mergedRecordIds").text = merged
        ET.SubElement(node, f"{{{PARTNER}}}success").text = "true" if result["success"] else "false"
        for related in result.get("updatedRelatedIds", []):
            ET.SubElement(node, f"{{{PARTNER}}}updatedRelatedIds").text = related
    return Response(200, ET.tostring(envelope, xml_declaration=True, encoding="utf-8"), {"Content-Type": XML})


class SoapApi:
    """``merge`` and ``undelete`` over one Salesforce store."""

    def __init__(
        self,
        store: Store,
        *,
        valid_session: Callable[[str], bool],
        count_call: Callable[[], tuple[int, int] | None],
        user_id: str,
        now: Callable[[], datetime],
        objects: Mapping[str, SfObject] | None = None,
    ) -> None:
        self.store = store
        self.objects = SALESFORCE_OBJECTS if objects is None else objects
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
        if name == "merge":
            return _answer("merge", [self._merge(r) for r in call.findall(f"{{{PARTNER}}}request")], usage)
        if name == "undelete":
            ids = [(e.text or "").strip() for e in call.findall(f"{{{PARTNER}}}ids")]
            if len(ids) > MAX_UNDELETE:
                return fault("EXCEEDED_ID_LIMIT", f"undelete takes at most {MAX_UNDELETE} ids")
            return _answer("undelete", [self._undelete(i) for i in ids], usage)
        return fault("INVALID_OPERATION", f"the sandbox does not emulate the SOAP call {name}")

    # ------------------------------------------------------------------ merge

    def _merge(self, request: ET.Element) -> dict[str, Any]:
        master = request.find(f"{{{PARTNER}}}masterRecord")
        kind = (master.findtext(f"{{{SOBJECT}}}type") or "").strip() if master is not None else ""
        master_id = (master.findtext(f"{{{SOBJECT}}}Id") or "").strip() if master is not None else ""
        losers = [(e.text or "").strip() for e in request.findall(f"{{{PARTNER}}}recordToMergeIds")]
        try:
            return self._do_merge(kind, master_id, losers)
        except SaveError as error:
            return {"id": master_id or None, "success": False, "errors": [error]}

    def _do_merge(self, kind: str, master_id: str, losers: list[str]) -> dict[str, Any]:
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
        now = self.now()
        stamps = {"SystemModstamp": now, "LastModifiedDate": now, "LastModifiedById": self.user_id}
        with table.lock:
            related = self._reparent(obj, losers, master_id, stamps)
            for row in rows[1:]:
                table.update(row, {"IsDeleted": True, "MasterRecordId": master_id, **stamps})
            table.update(rows[0], stamps)
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

    # ------------------------------------------------------------------ undelete

    def _undelete(self, record_id: str) -> dict[str, Any]:
        obj = next((o for o in self.objects.values() if record_id.startswith(o.key_prefix)), None)
        row = sf_row(record_id, obj.key_prefix) if obj is not None else None
        if obj is None or row is None or obj.name not in self.store:
            return {
                "id": None,
                "success": False,
                "errors": [SaveError("MALFORMED_ID", f"malformed id {record_id}")],
            }
        table = self.store[obj.name]
        with table.lock:
            current = table.row(row)
            if current is None:
                error = SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
                return {"id": None, "success": False, "errors": [error]}
            if not current.get("IsDeleted"):
                error = SaveError("UNDELETE_FAILED", "Entity is not in the recycle bin")
                return {"id": record_id, "success": False, "errors": [error]}
            now = self.now()
            values: dict[str, Any] = {"IsDeleted": False, "SystemModstamp": now, "LastModifiedDate": now}
            if "MasterRecordId" in table.schema:
                values["MasterRecordId"] = None
            table.update(row, values)
        return {"id": record_id, "success": True}
