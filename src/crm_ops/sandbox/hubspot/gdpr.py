"""``POST /crm/v3/objects/contacts/gdpr-delete``: a contact deleted for good, as HubSpot documents it.

- Body ``{"objectId": "...", "idProperty": "email"}``; without ``idProperty`` the objectId is the record
  id (HubSpot's API reference, "Permanently delete a contact (GDPR-compliant)"); 204 without a body.
  ``idProperty`` must name a property whose values are unique (``email``, ``hs_object_id``); a missing
  or empty objectId, or another property, answers 400 VALIDATION_ERROR in the v3 error body (``context``
  naming the input, as HubSpot's reference shows for this endpoint).
- The contact is deleted "and any associations between the contact record and other CRM objects"
  (HubSpot's changelog, "GDPR deletion"): no read, batch read, list (archived ones included), search,
  association or merge look-up serves it again, and its values are gone from the store
  (``Table.purge``). Records merged into it (kept archived by the sandbox's merge) go with it: in HubSpot
  they are one record. Engagements associated with it stay, unassociated (the changelog names only the
  contact and its associations).
- Its addresses, primary and additional, are blocklisted: "once a contact is GDPR-deleted, you will not
  be able to add their email (primary or additional) back to your account" (HubSpot's knowledge base,
  "Perform a GDPR delete in HubSpot"). With ``idProperty`` email naming no contact, "the email address
  will be added to a blocklist and prevent it from being used in the future" (the API reference).
  A create, batch create, update or secondary-address add with a blocklisted address answers 400
  VALIDATION_ERROR in v3's validation shape: the docs say the address cannot be added back, not what
  the API answers, so the code (INVALID_EMAIL) and message are the sandbox's. The message does not
  repeat the address. The blocklist keeps hashes (``email_hash``), as HubSpot's "anonymized data".
- An id no live contact has answers 404 (an archived contact, HubSpot's restorable delete, too: the
  docs do not say GDPR delete reaches the recycle bin, so the sandbox assumes it does not).
HubSpot's forms and connected inboxes, which bring a blocklisted person back, are not emulated.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.hubspot.channels import SECONDARY, emails
from crm_ops.sandbox.hubspot.common import HsError, email_hash
from crm_ops.sandbox.hubspot.records import RecordModel

UNIQUE_ID_PROPERTIES = ("email", "hs_object_id")


def _invalid(field: str, problem: str) -> HsError:
    """A GDPR delete input refused, in the body HubSpot's reference shows for it."""
    context = {field: [problem]}
    return HsError(
        400,
        "VALIDATION_ERROR",
        f"Invalid input: {field} {problem}",
        context=context,
        errors=[{"message": f"{field} {problem}", "code": "400", "context": context}],
    )


class GdprHandlers(RecordModel):
    """The GDPR delete of contacts, and the blocklist it keeps."""

    def gdpr_delete(self, request: Request) -> Response:
        """POST gdpr-delete: the contact deleted for good, or the address blocklisted; 204."""
        body = self._body(request)
        object_id, id_property = body.get("objectId"), body.get("idProperty")
        if not isinstance(object_id, str) or not object_id.strip():
            raise _invalid("objectId", "must not be empty")
        obj, table = self._object("contacts")
        if id_property is not None and id_property not in UNIQUE_ID_PROPERTIES:
            if not isinstance(id_property, str) or id_property not in obj.by_name:
                raise HsError(400, "VALIDATION_ERROR", f"Property {id_property} does not exist")
            raise _invalid("idProperty", f"{id_property} is not a property with unique values")
        by_email = id_property == "email"
        row = self._row(obj, table, object_id.strip(), id_property)
        if row is None:
            if by_email:
                self.gdpr_blocklist.add(email_hash(object_id))
                return Response(204)
            raise HsError(404, "OBJECT_NOT_FOUND", f"resource not found: {object_id.strip()}")
        self._purge_contact(row)
        return Response(204)

    def _purge_contact(self, row: int) -> None:
        obj, table = self._object("contacts")
        with table.lock:
            record: dict[str, Any] = table.row(row) or {}
            contact_id = int(record["id"])
            merged = [int(m) for m in str(record.get("hs_merged_object_ids") or "").split(";") if m.isdigit()]
            ids = {contact_id, *merged}
            ids |= {old for (kind, old), new in self.merged_into.items() if kind == obj.name and new in ids}
            for address in [record.get("email"), *emails(record.get(SECONDARY))]:
                if isinstance(address, str) and address.strip():
                    self.gdpr_blocklist.add(email_hash(address))
            for gone in sorted(ids):
                gone_row = gone - obj.id_base
                if gone_row == row or table.row(gone_row) is not None:
                    table.update(gone_row, {"archived": True})
                    table.purge(gone_row, keep=("id", "archived"))
            stale = [k for k, v in self.merged_into.items() if k[0] == obj.name and (k[1] in ids or v in ids)]
            for key in stale:
                del self.merged_into[key]
        for (frm, to), assoc in self.associations.items():
            if obj.name not in (frm, to):
                continue
            with assoc.lock:
                frame = assoc.frame()
                keep = pl.lit(True)
                if frm == obj.name:
                    keep &= ~pl.col("from_id").is_in(sorted(ids))
                if to == obj.name:
                    keep &= ~pl.col("to_id").is_in(sorted(ids))
                assoc.replace(frame.filter(keep))
