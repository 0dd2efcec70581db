"""Erasure on Salesforce (issue 31): a person's records deleted, then emptied from the recycle bin.

1. Delete: ``DELETE /composite/sobjects?ids=...&allOrNone=false``, 200 ids a call. The records go to the
   recycle bin (with what Salesforce deletes with them: a contact's or lead's activities, contact roles,
   campaign memberships), where anyone with the right could undelete them for 15 days.
2. Empty: the partner API's ``emptyRecycleBin`` for those ids, 200 a call ("Delete records from the
   recycle bin immediately"; the records deleted with them go too). Afterwards ``queryAll`` may still
   return them for about a day, "typically 24 hours, but can be shorter or longer"; they cannot be
   undeleted.

One result per id, in order, with ``extra``: ``hard_deleted`` (True: emptied from the bin, or already
gone from the org; False: deleted, but still in the recycle bin) and ``note`` saying which, in words for
the run's report; ``code``, Salesforce's status code, when emptying was refused. Idempotent, so a resumed
erasure is safe and a lost reply is harmless (the call is sent again):

- a record already in the recycle bin (ENTITY_IS_DELETED on delete) is emptied;
- a record ``queryAll`` no longer knows is reported ``hard_deleted`` (already purged, or never in this org);
- emptied already (ENTITY_IS_DELETED on ``emptyRecycleBin``: the reference only says "an error occurs",
  this is how the sandbox answers) counts as emptied;
- a refusal to empty (INSUFFICIENT_ACCESS...: a user without Modify All Data may empty only the records it
  deleted itself, or its subordinates did) leaves the record deleted but in the bin: ``ok`` with
  ``hard_deleted`` False and Salesforce's status code, for the caller to report; so does any other refusal.

A record Salesforce would not delete (a trigger, a permission) is ``ok=False`` with Salesforce's status
codes. No value of a record goes into an error, a note or a log line: Salesforce's messages are left
out (an org's own trigger may quote the record in one), its status codes kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from simple_salesforce.api import Salesforce

from crm_ops.config import SalesforceSettings
from crm_ops.connectors import sfsoap
from crm_ops.connectors.base import PushResult
from crm_ops.errors import FatalApiError
from crm_ops.schema.fieldmap import EntityMap

ERASE_BATCH = 200  # ids a composite delete, and an emptyRecycleBin call, take
_SF_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
ALREADY_DELETED = "ENTITY_IS_DELETED"
GONE_CODES = ("INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND", "INVALID_ID_FIELD")
EMPTIED = (
    "deleted and emptied from the recycle bin: it can no longer be undeleted (queryAll may show it for "
    "about a day)"
)
EMPTIED_BEFORE = (
    "emptied from the recycle bin earlier (an earlier run's); queryAll may show it for about a day"
)
GONE = "not in the org: permanently deleted already, or never here"


def _code(error: str) -> str:
    """The status code of a ``statusCode: message`` error."""
    return error.split(":", 1)[0].strip()


class SalesforceErasure:
    """``erase`` for ``SalesforceConnector`` (through its ``_call``, ``_rest``, ``_soap``, ``_map`` and
    ``_read_all``)."""

    settings: SalesforceSettings
    sf: Salesforce

    if TYPE_CHECKING:

        def _call(self, fn: Callable[[], Any], landed: Callable[[], Any] | None = None) -> Any: ...
        def _rest(self, path: str, **kwargs: Any) -> Any: ...
        def _map(self, entity: str) -> EntityMap: ...
        def _read_all(
            self, object_name: str, ids: Sequence[str], fields: str
        ) -> dict[str, dict[str, Any]]: ...
        def _soap(
            self, body: bytes, call: str, landed: Callable[[], list[sfsoap.SoapResult] | None]
        ) -> list[sfsoap.SoapResult]: ...

    def erase(self, entity: str, ids: Sequence[str]) -> list[PushResult]:
        """Delete ``ids`` of ``entity`` and empty them from the recycle bin (see the module); one result per
        id, in order."""
        object_name = self._map(entity).object
        unique = list(dict.fromkeys(str(i) for i in ids))
        out: dict[str, PushResult] = {
            i: PushResult(i, False, "not a Salesforce record id; nothing sent", {"hard_deleted": False})
            for i in unique
            if not _SF_ID.fullmatch(i)
        }
        todo = [i for i in unique if i not in out]
        in_bin, unsure, refused = self._delete(todo)
        out.update(refused)
        if unsure:  # refused as unknown: gone already, or deleted under another answer
            found = self._read_all(object_name, list(unsure), "IsDeleted")
            for record_id in unsure:
                if record_id not in found:
                    out[record_id] = PushResult(record_id, True, None, {"hard_deleted": True, "note": GONE})
                elif found[record_id].get("IsDeleted"):
                    in_bin.append(record_id)
                else:
                    error = f"not deleted: {unsure[record_id]}"
                    out[record_id] = PushResult(record_id, False, error, {"hard_deleted": False})
        out.update(self._empty(object_name, in_bin))
        return [out[str(i)] for i in ids]

    def _delete(self, ids: list[str]) -> tuple[list[str], dict[str, str], dict[str, PushResult]]:
        """Composite deletes: the ids now in the recycle bin, those refused as unknown (and why), and the
        results of those Salesforce would not delete."""
        in_bin: list[str] = []
        unsure: dict[str, str] = {}
        refused: dict[str, PushResult] = {}
        for start in range(0, len(ids), ERASE_BATCH):
            chunk = ids[start : start + ERASE_BATCH]
            params = {"ids": ",".join(chunk), "allOrNone": "false"}
            try:
                answer = self._call(partial(self._rest, "composite/sobjects", method="DELETE", params=params))
            except FatalApiError as exc:
                for record_id in chunk:
                    why = f"not deleted: {exc.code or exc.status}"
                    refused[record_id] = PushResult(record_id, False, why, {"hard_deleted": False})
                continue
            for record_id, outcome in zip(chunk, answer, strict=True):
                errors = outcome.get("errors") or []
                codes = [str(e.get("statusCode")) for e in errors]
                if outcome.get("success") or ALREADY_DELETED in codes:
                    in_bin.append(record_id)
                    continue
                why = ", ".join(codes) or "refused"
                if any(c in GONE_CODES for c in codes):
                    unsure[record_id] = why
                else:
                    refused[record_id] = PushResult(
                        record_id, False, f"not deleted: {why}", {"hard_deleted": False}
                    )
        return in_bin, unsure, refused

    def _empty(self, object_name: str, ids: list[str]) -> dict[str, PushResult]:
        """``emptyRecycleBin`` for records in the bin, 200 a call; a result each (see the module)."""
        out: dict[str, PushResult] = {}
        for start in range(0, len(ids), ERASE_BATCH):
            chunk = ids[start : start + ERASE_BATCH]
            body = sfsoap.empty_recycle_bin_request(self.sf.session_id, chunk)
            try:  # sent again after a lost reply: the ones emptied already answer ENTITY_IS_DELETED
                answers = self._soap(body, "emptyRecycleBin", lambda: None)
            except FatalApiError as exc:
                note = f"deleted, but emptying the recycle bin failed ({exc.code or exc.status})"
                out.update(
                    {i: PushResult(i, True, None, {"hard_deleted": False, "note": note}) for i in chunk}
                )
                continue
            gone_check = [i for i, a in zip(chunk, answers, strict=True) if not a.success and _gone(a)]
            found = self._read_all(object_name, gone_check, "IsDeleted") if gone_check else {}
            for record_id, answer in zip(chunk, answers, strict=True):
                out[record_id] = _emptied(
                    record_id, answer, record_id in found or record_id not in gone_check
                )
        return out


def _gone(answer: sfsoap.SoapResult) -> bool:
    return any(_code(e) in GONE_CODES for e in answer.errors)


def _emptied(record_id: str, answer: sfsoap.SoapResult, known: bool) -> PushResult:
    """The result of one record deleted, by its ``emptyRecycleBin`` answer (``known``: ``queryAll``
    still returns it)."""
    if answer.success:
        return PushResult(record_id, True, None, {"hard_deleted": True, "note": EMPTIED})
    codes = [_code(e) for e in answer.errors]
    if ALREADY_DELETED in codes:
        return PushResult(record_id, True, None, {"hard_deleted": True, "note": EMPTIED_BEFORE})
    if not known:
        return PushResult(record_id, True, None, {"hard_deleted": True, "note": GONE})
    reason = ", ".join(codes) or "refused"
    note = (
        f"deleted, but still in the recycle bin, where it can be undeleted for 15 days: emptying it was "
        f"refused ({reason})"
    )
    return PushResult(
        record_id, True, None, {"hard_deleted": False, "note": note, "code": codes[0] if codes else ""}
    )
