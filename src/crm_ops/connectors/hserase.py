"""Erasure on HubSpot (issue 31): a person's records deleted through HubSpot's permanent path.

- Contacts: the GDPR delete (``POST /crm/v3/objects/contacts/gdpr-delete``, hubspot-api-client's
  ``crm.contacts.basic_api.purge``), one call a contact: HubSpot deletes the contact and its associations
  for good and blocklists its addresses, primary and additional, so no later create brings them back.
  204 is done. 404 is a contact already gone (an earlier run's, whose reply was lost, or never in the
  portal), unless the contact is archived (HubSpot's restorable delete, its recycle bin for 90 days):
  the docs do not say GDPR delete reaches it, so it is reported not permanently deleted, for a person to
  delete it from the recycle bin.
- Every other object type: HubSpot's GDPR delete is the contacts API's (the v3 reference documents it
  for contacts, and hubspot-api-client has it there only), so the record is archived (the normal delete,
  restorable for 90 days) and reported ``hard_deleted`` False.
- ``gdpr_delete_email``: the GDPR delete by e-mail (``idProperty`` email): a contact holding the address
  is deleted; an address no contact holds is blocklisted (HubSpot's API reference).

Each result's ``extra``: ``hard_deleted`` (True: HubSpot keeps nothing of it; False: it is deleted but
kept restorable, or could not be reached, ``note`` says which) and ``note``, in words for the run's
report. No value of a record, nor the e-mail, is put in an error, a note or a log line.

Retries follow the connector's policy; a reply lost after HubSpot did the delete is harmless: sent again,
the GDPR delete answers 404 and the archive does nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from crm_ops.connectors.base import PushResult
from crm_ops.connectors.hsapi import UPDATE_BATCH, HubSpotApis
from crm_ops.errors import FatalApiError
from crm_ops.schema.fieldmap import EntityMap

GDPR_DONE = (
    "GDPR-deleted: HubSpot deleted the contact and its associations for good and blocklists its addresses"
)
GONE = "not found: GDPR-deleted already (an earlier run's), or never in this portal"
IN_BIN = (
    "archived earlier (HubSpot's recycle bin keeps it restorable for 90 days) and the GDPR delete does not "
    "reach it: permanently delete it from HubSpot's recycle bin"
)
ARCHIVED = (
    "archived: HubSpot offers a permanent (GDPR) delete for contacts only, so this record stays restorable "
    "in HubSpot's recycle bin for 90 days"
)
BY_EMAIL = (
    "GDPR-deleted by e-mail: a contact holding the address is deleted for good, and the address is "
    "blocklisted so no later create brings it back"
)


def email_key(address: str) -> str:
    """How a result names an e-mail without holding it: ``sha256:`` and the SHA-256 of the address,
    case and surrounding spaces aside."""
    return "sha256:" + hashlib.sha256(address.strip().lower().encode()).hexdigest()


class HubSpotErasure:
    """``erase`` and ``gdpr_delete_email`` for ``HubSpotConnector`` (through its ``_call`` and ``_map``)."""

    api: HubSpotApis

    if TYPE_CHECKING:

        def _call(self, fn: Callable[..., Any], *args: Any, search: bool = False, **kwargs: Any) -> Any: ...
        def _map(self, entity: str) -> EntityMap: ...

    def erase(self, entity: str, ids: Sequence[str]) -> list[PushResult]:
        """Delete ``ids`` of ``entity`` through HubSpot's permanent path, one result per id, in order
        (see the module): GDPR delete for contacts, archive for the rest."""
        emap = self._map(entity)
        unique = list(dict.fromkeys(str(i) for i in ids))
        if emap.object == "contacts":
            done = {i: self._gdpr_delete(i) for i in unique}
        else:
            done = self._archive(emap.object, unique)
        return [done[str(i)] for i in ids]

    def gdpr_delete_email(self, email: str) -> PushResult:
        """The GDPR delete by e-mail: the contact holding ``email`` deleted for good, or, when none does,
        the address blocklisted. The result's ``record_id`` is ``email_key(email)``, never the address."""
        key = email_key(email)
        if "@" not in email or not email.strip():
            return PushResult(key, False, "not an e-mail address; nothing sent", {"hard_deleted": False})
        try:
            self._call(
                self.api.gdpr.purge,
                public_gdpr_delete_input={"objectId": email.strip(), "idProperty": "email"},
            )
        except FatalApiError as exc:
            return PushResult(key, False, _refusal(exc), {"hard_deleted": False})
        return PushResult(key, True, None, {"hard_deleted": True, "note": BY_EMAIL})

    def _gdpr_delete(self, record_id: str) -> PushResult:
        if not record_id.isdigit():
            return PushResult(
                record_id, False, "not a HubSpot record id; nothing sent", {"hard_deleted": False}
            )
        try:
            self._call(self.api.gdpr.purge, public_gdpr_delete_input={"objectId": record_id})
        except FatalApiError as exc:
            if exc.status != 404:
                return PushResult(record_id, False, _refusal(exc), {"hard_deleted": False})
            if self._archived("contacts", record_id):
                return PushResult(record_id, True, None, {"hard_deleted": False, "note": IN_BIN})
            return PushResult(record_id, True, None, {"hard_deleted": True, "note": GONE})
        return PushResult(record_id, True, None, {"hard_deleted": True, "note": GDPR_DONE})

    def _archived(self, object_type: str, record_id: str) -> bool:
        """Whether the record is archived (in HubSpot's recycle bin)."""
        try:
            self._call(
                self.api.objects.get_by_id, object_type, record_id, properties=["hs_object_id"], archived=True
            )
        except FatalApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _archive(self, object_type: str, ids: list[str]) -> dict[str, PushResult]:
        """Archive in batches of 100, then read back: a record still live is not ok."""
        out: dict[str, PushResult] = {}
        for start in range(0, len(ids), UPDATE_BATCH):
            chunk = ids[start : start + UPDATE_BATCH]
            bad = [i for i in chunk if not i.isdigit()]
            out.update(
                {
                    i: PushResult(i, False, "not a HubSpot record id; nothing sent", {"hard_deleted": False})
                    for i in bad
                }
            )
            chunk = [i for i in chunk if i not in bad]
            if not chunk:
                continue
            inputs = {"inputs": [{"id": i} for i in chunk]}
            try:
                self._call(self.api.batch.archive, object_type, batch_input_simple_public_object_id=inputs)
                live = self._live(object_type, chunk)
            except FatalApiError as exc:
                out.update({i: PushResult(i, False, _refusal(exc), {"hard_deleted": False}) for i in chunk})
                continue
            for record_id in chunk:
                if record_id in live:
                    error = f"still live after the archive call ({object_type} {record_id})"
                    out[record_id] = PushResult(record_id, False, error, {"hard_deleted": False})
                else:
                    out[record_id] = PushResult(
                        record_id, True, None, {"hard_deleted": False, "note": ARCHIVED}
                    )
        return out

    def _live(self, object_type: str, ids: list[str]) -> set[str]:
        request = {"inputs": [{"id": i} for i in ids], "properties": ["hs_object_id"]}
        body = self._call(
            self.api.batch.read, object_type, batch_read_input_simple_public_object_id=request, archived=False
        )
        return {str(r.get("id")) for r in body.get("results") or []}


def _refusal(exc: FatalApiError) -> str:
    """HubSpot's refusal in words: its status and category (its message may quote what was sent)."""
    return f"HubSpot refused it ({exc.status} {exc.code or ''}); not deleted".replace(" )", ")")
