"""Salesforce's recycle bin: what a delete does to a person's related records, ``undelete``,
``emptyRecycleBin`` and the ``queryAll`` window after it.

As Salesforce documents it (and where it is silent, the conservative choice, named):

- A delete (REST, composite, Bulk) puts the record in the recycle bin: ``IsDeleted``, seen by ``queryAll``
  only. Deleting a Contact or a Lead also deletes (to the bin, with it) the children its describe marks
  ``cascadeDelete`` (OpportunityContactRole, CampaignMember) and its activities, the Tasks and Events
  whose ``WhoId`` it is (Salesforce's Mass Delete help: deleting contacts or leads deletes "all activities
  associated" with them; the describe's ActivityHistories and OpenActivities are cascadeDelete). Other
  lookups to it that a user may edit (Case.ContactId, Contact.ReportsToId, Opportunity.ContactId) are
  cleared, the record staying (cascadeDelete false; the Apex guide's "Referential Integrity When
  Deleting and Restoring Records" lists lookups that undelete restores "if they have not been
  replaced"); read-only ones (Lead.ConvertedContactId) are left as they are. Other objects' deletes touch
  no other record (their cascades are not modelled).
- ``undelete`` brings the record back with the records deleted with it, and the lookups cleared by the
  delete where nothing replaced them. A record deleted with its parent is not in the bin itself:
  undeleting it alone answers UNDELETE_FAILED "Entity is not in the recycle bin" (undelete the parent).
- ``emptyRecycleBin`` (the partner API; at most 200 ids a call; one EmptyRecycleBinResult ``{errors, id,
  success}`` per id, in order) deletes records from the bin for good, with the records deleted with them.
  They can no longer be undeleted (UNDELETE_FAILED "Entity is not in the recycle bin", as for a record
  hard deleted), and ``queryAll`` still returns them "for some time. Typically this time is 24 hours, but
  can be shorter or longer" (the call's reference): ``window``, ended early by ``end_window``; after it
  the row's values are nulled (``Table.purge``) and no query returns it. Refused per id, the codes our
  choice where the reference only says "an error occurs": an id not in the bin (a live record, one deleted
  with its parent: INVALID_ID_FIELD "Entity is not in the recycle bin"), one emptied already
  (ENTITY_IS_DELETED), one unknown or purged (INVALID_CROSS_REFERENCE_KEY), and one the user may not
  empty: "The logged in user can delete any record that they can query in their Recycle Bin, or the
  recycle bins of any subordinates. If the logged in user has Modify All Data permission, they can ...
  delete records from any Recycle Bin" (INSUFFICIENT_ACCESS_OR_READONLY, Salesforce's refusal of a
  record the user has no rights on). ``modify_all_data`` is the integration user's permission (granted
  by default); ``delete`` with another ``user_id`` is a colleague's delete in the UI.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from crm_ops.sandbox.objects import SfObject, sf_row
from crm_ops.sandbox.sfwrite import SaveError
from crm_ops.sandbox.store import Store

WINDOW = timedelta(hours=24)  # how long queryAll still returns an emptied record
MAX_EMPTY = 200
PEOPLE = ("Contact", "Lead")  # the objects whose deletes reach their related records here
ACTIVITIES = (("Task", "WhoId"), ("Event", "WhoId"))  # deleted with the person they are about
NOT_IN_BIN = "Entity is not in the recycle bin"


@dataclass
class BinEntry:
    """One record the user deleted, and what its delete did to the records about it."""

    object_name: str
    row: int
    deleted_by: str
    cascaded: list[tuple[str, int, str]] = field(default_factory=list)  # (object, row, id) deleted with it
    cleared: list[tuple[str, int, str]] = field(default_factory=list)  # (object, row, lookup) it emptied


class RecycleBin:
    """The recycle bin of one emulated org (shared by the REST, composite, Bulk and SOAP handlers)."""

    def __init__(
        self,
        store: Store,
        objects: Mapping[str, SfObject],
        user_id: str,
        now: Callable[[], datetime],
        window: timedelta = WINDOW,
    ) -> None:
        self.store = store
        self.objects = objects
        self.user_id = user_id
        self.now = now
        self.window = window
        self.modify_all_data = True  # the integration user's permission (empties anyone's bin)
        self.entries: dict[str, BinEntry] = {}
        self.with_parent: dict[str, str] = {}  # a record deleted with another -> that record's id
        self.emptied: dict[str, tuple[str, int, datetime]] = {}  # id -> (object, row, when): in queryAll
        self._lock = threading.RLock()

    def _locate(self, record_id: str) -> tuple[SfObject, int] | None:
        obj = next((o for o in self.objects.values() if record_id.startswith(o.key_prefix)), None)
        row = sf_row(record_id, obj.key_prefix) if obj is not None else None
        if obj is None or row is None or obj.name not in self.store:
            return None
        return obj, row

    # ------------------------------------------------------------------ delete

    def deleted(self, obj: SfObject, ids: Sequence[str], now: datetime, user_id: str | None = None) -> None:
        """Remember records just soft-deleted by ``user_id`` (the integration user when None), and for a
        person (``PEOPLE``) delete the records deleted with it and clear the lookups to it."""
        if not ids:
            return
        by = user_id or self.user_id
        with self._lock:
            for record_id in ids:
                row = sf_row(record_id, obj.key_prefix)
                if row is not None:
                    self.entries[record_id] = BinEntry(obj.name, row, by)
            if obj.name in PEOPLE:
                self._reach_related(obj, list(ids), now)

    def _reach_related(self, obj: SfObject, ids: list[str], now: datetime) -> None:
        stamps = {"SystemModstamp": now, "LastModifiedDate": now}
        rules = {(child, lookup): cascade for child, lookup, _, cascade in obj.children}
        rules |= dict.fromkeys(ACTIVITIES, True)  # the describe says cascadeDelete false for these
        for (child_name, lookup), cascade in rules.items():
            child = self.objects.get(child_name)
            if child is None or child.name not in self.store:
                continue
            f = child.field(lookup)
            if f is None or obj.name not in f.reference_to:
                continue
            if not cascade and not f.updateable:
                continue  # a read-only lookup (Lead.ConvertedContactId): Salesforce keeps it
            table = self.store[child.name]
            frame = table.frame().with_row_index("__row")
            live = ~pl.col("IsDeleted") if "IsDeleted" in frame.columns else pl.lit(True)
            hits = frame.filter(live & pl.col(lookup).is_in(ids)).select("__row", "Id", lookup)
            touch = {k: v for k, v in stamps.items() if k in table.schema}
            for row, child_id, parent in hits.iter_rows():
                entry = self.entries[str(parent)]
                if cascade and "IsDeleted" in table.schema:
                    table.update(int(row), {"IsDeleted": True, **touch})
                    entry.cascaded.append((child.name, int(row), str(child_id)))
                    self.with_parent[str(child_id)] = str(parent)
                elif not cascade:
                    table.update(int(row), {lookup: None, **touch})
                    entry.cleared.append((child.name, int(row), lookup))

    # ------------------------------------------------------------------ undelete

    def undelete(self, record_id: str) -> dict[str, Any]:
        """One ``undelete`` result: the record out of the bin, with what its delete reached."""
        located = self._locate(record_id)
        if located is None:
            return _failed(None, "MALFORMED_ID", f"malformed id {record_id}")
        obj, row = located
        table = self.store[obj.name]
        with self._lock, table.lock:
            if record_id in self.emptied or row in table.purged or record_id in self.with_parent:
                return _failed(record_id, "UNDELETE_FAILED", NOT_IN_BIN)
            current = table.row(row)
            if current is None:
                return _failed(None, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            if not current.get("IsDeleted"):
                return _failed(record_id, "UNDELETE_FAILED", NOT_IN_BIN)
            now = self.now()
            values: dict[str, Any] = {"IsDeleted": False, "SystemModstamp": now, "LastModifiedDate": now}
            if "MasterRecordId" in table.schema:
                values["MasterRecordId"] = None
            table.update(row, values)
            entry = self.entries.pop(record_id, None)
            if entry is not None:
                self._restore_related(record_id, entry, now)
        return {"id": record_id, "success": True}

    def _restore_related(self, record_id: str, entry: BinEntry, now: datetime) -> None:
        for name, row, child_id in entry.cascaded:
            self.with_parent.pop(child_id, None)
            table = self.store[name]
            stamps = {"SystemModstamp": now, "LastModifiedDate": now}
            touch = {k: v for k, v in stamps.items() if k in table.schema}
            table.update(row, {"IsDeleted": False, **touch})
        for name, row, lookup in entry.cleared:
            table = self.store[name]
            current = table.row(row)
            if current is not None and current.get(lookup) is None:  # not replaced since
                table.update(row, {lookup: record_id})

    # ------------------------------------------------------------------ emptyRecycleBin

    def empty(self, record_id: str) -> dict[str, Any]:
        """One ``emptyRecycleBin`` result (see the module for the refusals)."""
        located = self._locate(record_id)
        if located is None:
            return _failed(None, "MALFORMED_ID", f"malformed id {record_id}")
        obj, row = located
        table = self.store[obj.name]
        with self._lock:
            if record_id in self.emptied:
                return _failed(record_id, "ENTITY_IS_DELETED", "entity is deleted")
            current = table.row(row)
            if current is None:
                return _failed(record_id, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            if not current.get("IsDeleted") or record_id in self.with_parent:
                return _failed(record_id, "INVALID_ID_FIELD", NOT_IN_BIN)
            entry = self.entries.get(record_id)
            deleted_by = entry.deleted_by if entry is not None else current.get("LastModifiedById")
            if not self.modify_all_data and deleted_by != self.user_id:
                return _failed(
                    record_id, "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id"
                )
            now = self.now()
            self.emptied[record_id] = (obj.name, row, now)
            if entry is not None:
                del self.entries[record_id]
                for name, child_row, child_id in entry.cascaded:
                    self.with_parent.pop(child_id, None)
                    self.emptied[child_id] = (name, child_row, now)
        return {"id": record_id, "success": True}

    def expire(self) -> int:
        """Purge the emptied records whose ``queryAll`` window has passed; how many."""
        cutoff = self.now() - self.window
        with self._lock:
            due = [i for i, (_, _, when) in self.emptied.items() if when <= cutoff]
            return self._purge(due)

    def end_window(self) -> int:
        """End the ``queryAll`` window of every emptied record now (a test's control): their values are
        nulled and no query returns them again; how many."""
        with self._lock:
            return self._purge(list(self.emptied))

    def _purge(self, ids: list[str]) -> int:
        for record_id in ids:
            name, row, _ = self.emptied.pop(record_id)
            self.store[name].purge(row, keep=("Id", "IsDeleted"))
        return len(ids)


def _failed(record_id: str | None, code: str, message: str) -> dict[str, Any]:
    return {"id": record_id, "success": False, "errors": [SaveError(code, message)]}
