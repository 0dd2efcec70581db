"""Salesforce write semantics for the emulator: value coercion, validation and the fields a save sets.

Every write path (sObject PATCH/POST, composite collections, Bulk 2.0 ingest) goes through
``prepare_update`` / ``prepare_insert`` so that they agree on errors and side effects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from crm_ops.sandbox.objects import (
    OPPORTUNITY_STAGES,
    SALESFORCE_OBJECTS,
    SF_SYSTEM_FIELDS,
    SfField,
    SfObject,
    sf_id,
    sf_row,
)
from crm_ops.sandbox.store import Table

# What Salesforce accepts as an email address (it is stricter than RFC 5322 but looser than a mail server).
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2})$")
BULK_NULL = "#N/A"
SURROGATE = re.compile("[\ud800-\udfff]")  # a lone one: a valid pair decodes to one character


@dataclass
class SaveError(Exception):
    """One Salesforce save error, as composite and Bulk results report it."""

    status_code: str
    message: str
    fields: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. a duplicate rule's ``duplicateResult``

    def __str__(self) -> str:
        return f"{self.status_code}: {self.message}"

    def as_json(self) -> dict[str, Any]:
        """The ``errors[]`` entry of a SaveResult."""
        return {
            "statusCode": self.status_code,
            "message": self.message,
            "fields": list(self.fields),
            **self.extra,
        }

    def as_bulk(self) -> str:
        """The ``sf__Error`` column of a Bulk 2.0 failed result."""
        suffix = f":{','.join(self.fields)}" if self.fields else ":--"
        return f"{self.status_code}:{self.message}{suffix}"


def parse_datetime(text: str) -> datetime:
    """A Salesforce datetime (``2024-01-31T10:00:00.000+0000``, ``...Z``, ``...+02:00``) in UTC."""
    if not _DATETIME.match(text):
        raise ValueError(text)
    value = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", value):
        value = value[:-2] + ":" + value[-2:]
    return datetime.fromisoformat(value).astimezone(UTC)


def coerce(f: SfField, raw: Any, *, from_csv: bool) -> Any:
    """Turn a wire value into the store's type for field ``f``; raises SaveError when it does not fit."""
    if raw is None or (from_csv and raw == BULK_NULL):
        return None
    bad_type = SaveError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{f.label or f.name}: value not of required type: {raw}",
        (f.name,),
    )
    t = f.type
    if t == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise bad_type
    if t in ("currency", "double", "percent", "int"):
        if isinstance(raw, bool):
            raise bad_type
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise bad_type from None
        if t == "int":
            if not number.is_integer():
                raise bad_type
            return int(number)
        return number
    if t == "date":
        if not isinstance(raw, str) or len(raw) != 10:
            raise bad_type
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise bad_type from None
    if t == "datetime":
        try:
            return parse_datetime(str(raw))
        except ValueError:
            raise bad_type from None
    if not isinstance(raw, str):
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise bad_type
        raw = str(raw)
    if from_csv and raw == "":
        return None
    if SURROGATE.search(raw):  # no stored string can hold one (whichever API wrote it)
        raise SaveError("INVALID_FIELD", f"{f.label or f.name}: invalid UTF-16 surrogate in value", (f.name,))
    if f.length and len(raw) > f.length:
        raise SaveError(
            "STRING_TOO_LONG",
            f"{f.label or f.name}: data value too large: {raw[:50]} (max length={f.length})",
            (f.name,),
        )
    if t == "email" and raw and not _EMAIL.match(raw):
        raise SaveError(
            "INVALID_EMAIL_ADDRESS", f"{f.label or f.name}: invalid email address: {raw}", (f.name,)
        )
    return raw


# What an org refuses beyond the emulator's own validation (``realsaves.SaveRules.check`` bound to what the
# request carried): the object, the record as it is, the typed changes; the refusal or None.
SaveGuard = Callable[[SfObject, Mapping[str, Any], Mapping[str, Any]], "SaveError | None"]


class Writer:
    """Validates and applies saves to one Salesforce object's table (``guard``: the org's own rules)."""

    def __init__(
        self,
        obj: SfObject,
        table: Table,
        tables: dict[str, Table],
        user_id: str,
        guard: SaveGuard | None = None,
    ) -> None:
        self.obj = obj
        self.table = table
        self.tables = tables
        self.user_id = user_id
        self.guard = guard

    def locate(self, record_id: Any) -> int | SaveError:
        """The row of a live record, or the error Salesforce gives for that id."""
        if not isinstance(record_id, str) or sf_row(record_id, self.obj.key_prefix) is None:
            return SaveError(
                "MALFORMED_ID", f"{self.obj.name} ID: id value of incorrect type: {record_id}", ("Id",)
            )
        row = sf_row(record_id, self.obj.key_prefix)
        assert row is not None
        current = self.table.row(row)
        if current is None:
            return SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if current.get("IsDeleted"):
            return SaveError("ENTITY_IS_DELETED", "entity is deleted")
        return row

    def refuse_record(self, current: dict[str, Any], changes: dict[str, Any]) -> SaveError | None:
        """What Salesforce refuses about this record whatever the values: a converted lead takes no edit;
        a person account's Name is its contact's name (FirstName, LastName), not a field to write; an
        event cannot end before it starts (``event_times``)."""
        if self.obj.name == "Lead" and current.get("IsConverted"):
            return SaveError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        if self.obj.name == "Event" and EVENT_TIMES & set(changes):
            times = event_times(current, changes)
            if isinstance(times, SaveError):
                return times
        if self.obj.name == "Account" and current.get("IsPersonAccount") and "Name" in changes:
            return SaveError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                "Account: bad field names on insert/update call: Name",
                ("Name",),
            )
        return None

    def convert(self, values: dict[str, Any], *, from_csv: bool, creating: bool) -> dict[str, Any]:
        """Validate field names, writability and values; the typed values, or raise SaveError."""
        out: dict[str, Any] = {}
        for name, raw in values.items():
            if name in ("attributes", "Id", "id") and not creating:
                continue
            f = self.obj.field(name)
            if f is None:
                raise SaveError(
                    "INVALID_FIELD", f"No such column '{name}' on sobject of type {self.obj.name}", (name,)
                )
            if from_csv and raw == "" and not creating:
                continue  # Bulk API: a blank cell leaves the value as it is; #N/A clears it
            writable = (f.createable if creating else f.updateable) and f.name not in SF_SYSTEM_FIELDS
            if not writable:
                raise SaveError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {f.name}. Please check the security settings of this "
                    "field and verify that it is read/write for your profile or permission set.",
                    (f.name,),
                )
            value = coerce(f, raw, from_csv=from_csv)
            if value is None and not f.nillable:
                raise SaveError(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{f.name}]", (f.name,)
                )
            if value is not None and f.type == "reference":
                self._check_reference(f, value)
            out[f.name] = value
        return out

    def _check_reference(self, f: SfField, value: str) -> None:
        for target in f.reference_to:
            table = self.tables.get(target)
            prefix = _PREFIXES.get(target)
            row = sf_row(value, prefix) if prefix else None
            if table is not None and row is not None:
                record = table.row(row)
                if record is not None and not record.get("IsDeleted"):
                    return
        raise SaveError(
            "INVALID_CROSS_REFERENCE_KEY",
            f"{f.label or f.name}: id value of incorrect type: {value}",
            (f.name,),
        )

    def derived(self, row: dict[str, Any], changes: dict[str, Any], now: datetime) -> dict[str, Any]:
        """The fields a save sets besides those written: audit stamps, Name, IsClosed/IsWon, a case's
        IsClosed/ClosedDate, an event's times, a campaign member's response (or a SaveError raised)."""
        extra: dict[str, Any] = {
            "LastModifiedDate": now,
            "SystemModstamp": now,
            "LastModifiedById": self.user_id,
        }
        merged = {**row, **changes}
        if self.obj.field("Name") is not None and self.obj.field("FirstName") is not None:
            first, last = merged.get("FirstName"), merged.get("LastName")
            extra["Name"] = " ".join(p for p in (first, last) if p) or None
        if self.obj.name == "Opportunity" and "StageName" in changes:
            _, closed, won = OPPORTUNITY_STAGES.get(changes["StageName"], (0, False, False))
            extra["IsClosed"], extra["IsWon"] = closed, won
        if self.obj.name == "Case" and "Status" in changes:  # the org keeps a case's close from its status
            extra["IsClosed"] = changes["Status"] == "Closed"
            extra["ClosedDate"] = (row.get("ClosedDate") or now) if extra["IsClosed"] else None
        if self.obj.name == "Task" and "Status" in changes:  # the org closes a task by its status
            extra["IsClosed"] = changes["Status"] == "Completed"
            extra["CompletedDateTime"] = (row.get("CompletedDateTime") or now) if extra["IsClosed"] else None
        if self.obj.name == "Event" and EVENT_TIMES & set(changes):
            times = event_times(row, changes)
            if isinstance(times, SaveError):
                raise times
            extra.update(times)
        if self.obj.name == "CampaignMember" and "Status" in changes:  # "Responded" counts as responded
            extra["HasResponded"] = changes["Status"] == "Responded"
            first = row.get("FirstRespondedDate") or (now.date() if extra["HasResponded"] else None)
            extra["FirstRespondedDate"] = first
        if self.obj.name == LINE_ITEM:
            extra.update(_line_prices(merged, changes))
        return extra

    def roll_up(self, opportunity_id: Any, now: datetime) -> None:
        """After a save of a line item: the org keeps its opportunity's Amount to the sum of the live line
        items' TotalPrice (while it has any)."""
        if (
            self.obj.name != LINE_ITEM
            or not isinstance(opportunity_id, str)
            or "Opportunity" not in self.tables
        ):
            return
        lines = self.table.frame().filter((pl.col("OpportunityId") == opportunity_id) & ~pl.col("IsDeleted"))
        row = sf_row(opportunity_id, _PREFIXES["Opportunity"])
        opportunities = self.tables["Opportunity"]
        if row is None or lines.is_empty():
            return
        with opportunities.lock:
            opportunities.update(
                row,
                {
                    "Amount": round(float(lines["TotalPrice"].fill_null(0).sum()), 2),
                    "LastModifiedDate": now,
                    "SystemModstamp": now,
                },
            )

    def update(
        self,
        record_id: Any,
        values: dict[str, Any],
        now: datetime,
        *,
        from_csv: bool = False,
        guarded: bool = True,
    ) -> str:
        """Update one record; its id, or raise SaveError (``guarded=False``: the org's rules were put to
        it already, by ``validate_update``)."""
        located = self.locate(record_id)
        if isinstance(located, SaveError):
            raise located
        changes = self.convert(values, from_csv=from_csv, creating=False)
        with self.table.lock:
            current = self.table.row(located)
            assert current is not None
            refused = self.refuse_record(current, changes)
            if refused is None and guarded and self.guard is not None:
                refused = self.guard(self.obj, current, changes)
            if refused is not None:
                raise refused
            self.table.update(located, {**changes, **self.derived(current, changes, now)})
        self.roll_up(current.get("OpportunityId"), now)
        return str(current["Id"])

    def validate_update(
        self, record_id: Any, values: dict[str, Any], *, from_csv: bool = False
    ) -> SaveError | None:
        """The error an update would raise, without writing (for allOrNone)."""
        located = self.locate(record_id)
        if isinstance(located, SaveError):
            return located
        try:
            changes = self.convert(values, from_csv=from_csv, creating=False)
        except SaveError as error:
            return error
        current = self.table.row(located)
        if current is None:
            return None
        refused = self.refuse_record(current, changes)
        if refused is None and self.guard is not None:
            refused = self.guard(self.obj, current, changes)
        return refused

    def insert(self, values: dict[str, Any], now: datetime, *, from_csv: bool = False) -> str:
        """Create a record; its new id, or raise SaveError."""
        changes = self.convert(
            {k: v for k, v in values.items() if k not in ("attributes",)}, from_csv=from_csv, creating=True
        )
        missing = [
            f.name
            for f in self.obj.fields
            if not f.nillable
            and f.createable
            and not f.defaulted_on_create
            and f.name not in changes
            and f.type not in ("boolean",)
            and f.name not in ("OwnerId",)
        ]
        if missing:
            raise SaveError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                tuple(missing),
            )
        with self.table.lock:
            row = len(self.table)
            new_id = sf_id(self.obj.key_prefix, row)
            record: dict[str, Any] = {f.name: False for f in self.obj.stored_fields if f.type == "boolean"}
            record.update(changes)
            record.update(
                Id=new_id,
                CreatedDate=now,
                CreatedById=self.user_id,
                OwnerId=changes.get("OwnerId", self.user_id),
            )
            if self.obj.field("OwnerId") is None:
                record.pop("OwnerId")
            record.update(self.derived(record, changes, now))
            self.table.append(record)
        self.roll_up(record.get("OpportunityId"), now)
        return new_id

    def delete(self, record_id: Any, now: datetime) -> str:
        """Soft-delete a record (to the recycle bin: ``queryAll`` still sees it)."""
        located = self.locate(record_id)
        if isinstance(located, SaveError):
            raise located
        if self.obj.field("IsDeleted") is None:
            raise SaveError("DELETE_FAILED", f"{self.obj.name} records cannot be deleted")
        with self.table.lock:
            self.table.update(located, {"IsDeleted": True, "SystemModstamp": now, "LastModifiedDate": now})
            current = self.table.row(located) or {}
        self.roll_up(current.get("OpportunityId"), now)
        return str(record_id)


_PREFIXES = {name: o.key_prefix for name, o in SALESFORCE_OBJECTS.items()}


EVENT_TIMES = frozenset({"StartDateTime", "ActivityDateTime", "EndDateTime", "DurationInMinutes"})


def event_times(row: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any] | SaveError:
    """An event's times after a save, kept consistent as Salesforce keeps them: ActivityDateTime is the
    StartDateTime, DurationInMinutes the minutes to EndDateTime (a new end sets the duration, a new
    duration or start moves the end), ActivityDate and EndDate their dates. An end before the start (or
    over a day later: multiday events are off in the emulated org) is refused as the org refuses it."""
    start = changes.get("StartDateTime") or changes.get("ActivityDateTime") or row.get("StartDateTime")
    if not isinstance(start, datetime):
        return {}
    if changes.get("EndDateTime") is not None:
        end = changes["EndDateTime"]
        minutes = int((end - start).total_seconds() // 60)
    else:
        minutes = int(changes.get("DurationInMinutes", row.get("DurationInMinutes")) or 0)
        end = start + timedelta(minutes=minutes)
    if not 0 <= minutes <= 1440:
        return SaveError(
            "FIELD_INTEGRITY_EXCEPTION",
            "Duration must be between 0 and 1440 minutes: Duration",
            ("DurationInMinutes",),
        )
    return {
        "StartDateTime": start,
        "ActivityDateTime": start,
        "EndDateTime": end,
        "DurationInMinutes": minutes,
        "ActivityDate": start.date(),
        "EndDate": end.date(),
    }


LINE_ITEM = "OpportunityLineItem"


def _line_prices(merged: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """What the org computes on a line item's save: TotalPrice from Quantity, UnitPrice and Discount (or
    UnitPrice from a TotalPrice given instead), and the Subtotal before the discount."""
    quantity, unit, discount = merged.get("Quantity"), merged.get("UnitPrice"), merged.get("Discount") or 0
    if quantity is None:
        return {}
    if (
        "TotalPrice" in changes
        and "UnitPrice" not in changes
        and changes["TotalPrice"] is not None
        and quantity
    ):
        unit = round(changes["TotalPrice"] / quantity / (1 - discount / 100), 2) if discount < 100 else 0.0
        return {"UnitPrice": unit, "Subtotal": round(quantity * unit, 2)}
    if unit is None or not {"Quantity", "UnitPrice", "Discount"} & set(changes):
        return {}
    subtotal = round(quantity * unit, 2)
    return {"Subtotal": subtotal, "TotalPrice": round(subtotal * (1 - discount / 100), 2)}
