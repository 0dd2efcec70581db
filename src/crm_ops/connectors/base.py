"""The one contract both connectors satisfy.

A connector pulls an entity as a stream of ``Page``s: canonical polars frames, each with the cursor to
resume from once that page is safely written. The pull engine (``crm_ops.pull``) owns snapshots,
watermarks and resumption; a connector owns talking to its CRM: paging, retries, rate limits, types.

``push`` writes field changes back (fix plans) and ``read`` re-reads current values by id (conflict
checks before a write); both speak canonical column names. A column that is an association in the CRM
(HubSpot's primary company) is written by ``push`` as an association; HubSpot's read-only opt-out and
secondary e-mails through their own APIs. ``merge``, ``links``, ``restore`` and ``relink`` are what
merging duplicates, and undoing a merge, need; ``convert`` turns leads into existing contacts; ``erase``
deletes a person's records through the CRM's permanent path (issue 31).

Every write is safe to repeat after a reply lost on the way back (the CRM did it, the client heard
nothing): updates and relinks are idempotent; a merge, create, undelete or conversion is looked up
before it is sent again (``merged_into``, ``sflanded``, ``hsrestore``), and its earlier landing taken
for the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import polars as pl
import structlog

from crm_ops.schema.fieldmap import EntityMap, Resolved

log = structlog.get_logger("crm_ops.connectors")
_SURROGATE = re.compile("[\ud800-\udfff]")  # in a str, a surrogate is always a lone one


def invalid_text(values: Mapping[str, Any]) -> str | None:
    """Why a change cannot be sent, when a value is text no CRM stores: a lone UTF-16 surrogate (which
    JSON can spell, ``"\\ud800"``, and neither CRM accepts: one fails a whole request). None when all
    are fine. Refused before sending, its record alone."""
    for column, value in values.items():
        if isinstance(value, str) and (found := _SURROGATE.search(value)) is not None:
            return (
                f"{column}: the value holds a lone UTF-16 surrogate (U+{ord(found.group()):04X} at "
                f"character {found.start() + 1}), which is not text a CRM stores; not sent"
            )
    return None


def resolve_map(
    emap: EntityMap, available: Mapping[str, pl.DataType], *, ignore: Iterable[str] = ()
) -> Resolved:
    """``emap`` held against the fields an org has, each optional field it lacks logged once."""
    resolved = emap.resolve(available, ignore=ignore)
    for warning in resolved.warnings:
        log.warning("map.field_missing", system=emap.system, entity=emap.entity, detail=warning)
    return resolved


@dataclass(frozen=True)
class Page:
    """Rows of one entity in canonical form, and where to resume once they are written.

    ``cursor`` is JSON-serialisable; ``None`` means the pull is complete after this page.
    """

    frame: pl.DataFrame
    cursor: dict[str, Any] | None


@dataclass(frozen=True)
class FieldInfo:
    """One field of a CRM object, as the CRM's metadata describes it."""

    name: str
    type: str
    label: str = ""
    custom: bool = False
    updateable: bool = False
    canonical: str | None = None  # the canonical column it fills, if mapped
    calculated: bool = False  # a formula: its value can change without the record's change stamp moving


@dataclass(frozen=True)
class Change:
    """New values for one record, by canonical column."""

    record_id: str
    values: dict[str, Any]


@dataclass(frozen=True)
class PushResult:
    """What the CRM said about one record of a push."""

    record_id: str
    ok: bool
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Link:
    """A record that points at another: a lookup field (Salesforce) or an association (HubSpot).

    ``relation`` is the connector's own name for the relation (``OpportunityContactRole.ContactId``,
    ``contacts->deals``); callers store it and give it back to ``relink``, they do not parse it.
    """

    relation: str
    record_id: str  # the related record
    target_id: str  # the record it points at


@dataclass(frozen=True)
class Relink:
    """Point ``link``'s record at ``to_id`` instead of ``from_id`` (with ``keep``, associations only, at
    both)."""

    link: Link
    from_id: str
    to_id: str
    keep: bool = False


@dataclass(frozen=True)
class Conversion:
    """Convert lead ``lead_id`` into the existing contact ``contact_id`` on account ``account_id``, the
    lead taking the converted lead status ``status``."""

    lead_id: str
    contact_id: str
    account_id: str
    status: str


class CursorExpiredError(Exception):
    """A saved cursor can no longer be resumed (say, a Bulk job that the org purged): start the pull over."""


@runtime_checkable
class Connector(Protocol):
    """What the pull engine and the applier need from a CRM."""

    system: str

    def entities(self) -> tuple[str, ...]:
        """The canonical entities this CRM can give."""
        ...

    def describe(self, entity: str) -> list[FieldInfo]:
        """The CRM's fields of the object behind ``entity``."""
        ...

    def incremental(self, entity: str) -> bool:
        """Whether ``entity`` can be pulled since a watermark (else every pull is full)."""
        ...

    def count(self, entity: str, since: datetime | None) -> int:
        """How many records (deleted ones included) changed since ``since`` (all when None)."""
        ...

    def pull(
        self,
        entity: str,
        *,
        since: datetime | None,
        until: datetime,
        cursor: dict[str, Any] | None,
    ) -> Iterator[Page]:
        """Records changed in [since, until] (all when since is None), deletions as tombstones."""
        ...

    def read(self, entity: str, ids: Sequence[str]) -> pl.DataFrame:
        """Current values of the given records, in canonical form (missing ids are absent)."""
        ...

    def moved_ids(self, entity: str) -> Mapping[str, str]:
        """Ids that ``read`` was asked for and that the CRM answered under another id, old to new (a
        HubSpot merge makes a new record, and the merged ids answer it); empty where ids never move."""
        ...

    def push(self, entity: str, changes: Sequence[Change]) -> list[PushResult]:
        """Write field changes; one result per change, in order."""
        ...

    def write_batch(self, entity: str, total: int) -> int:
        """How many changes one ``push`` should carry when ``total`` are to be written."""
        ...

    def merge(
        self,
        entity: str,
        survivor: str,
        losers: Sequence[str],
        values: Mapping[str, Any] | None = None,
    ) -> list[PushResult]:
        """Merge ``losers`` into ``survivor`` with the CRM's own merge, and set the survivor's ``values``
        (canonical columns: in the merge call where the CRM can, else just after); one result per loser,
        in order (``extra["unwritten"]``: the columns that could not be written, and why; ``extra["id"]``
        on a merged one: the survivor's id after all the merges, a new one where the CRM makes one)."""
        ...

    def merged_into(self, entity: str, survivor: str, losers: Sequence[str]) -> set[str]:
        """The ``losers`` the CRM shows merged into ``survivor`` (Salesforce: in the recycle bin with
        ``MasterRecordId`` = the survivor; HubSpot: named in the survivor's merged ids): how a merge whose
        answer was lost, or that a killed run left ``pending``, is known to have landed."""
        ...

    def convert(self, conversions: Sequence[Conversion]) -> list[PushResult]:
        """Convert leads into existing contacts (Salesforce); one result per conversion, in order."""
        ...

    def links(self, entity: str, ids: Sequence[str]) -> list[Link]:
        """The live records that point at ``ids`` and that a merge moves to the survivor."""
        ...

    def restore(self, entity: str, records: Sequence[dict[str, Any]]) -> list[PushResult]:
        """Bring back merged-away records (canonical values as read before the merge), one result each.

        ``extra["id"]`` is the restored record's id: the same one where the CRM can undelete
        (Salesforce), a new one where it cannot (HubSpot). A record carrying ``__merged_at`` may have
        been restored by an interrupted run: the CRM is searched for it first.
        """
        ...

    def relink(self, moves: Sequence[Relink]) -> list[PushResult]:
        """Point each move's record at its ``to_id`` where it still points at its ``from_id`` (a result
        with ``ok=False`` otherwise; one already at ``to_id`` is done); one result per move."""
        ...

    def erase(self, entity: str, ids: Sequence[str]) -> list[PushResult]:
        """Delete the records ``ids`` of ``entity`` through the CRM's permanent path (Salesforce: deleted,
        then emptied from the recycle bin; HubSpot: the GDPR delete for contacts, archived for other
        types); one result per id, in order. ``ok``: the record is deleted (or was gone already).
        ``extra["hard_deleted"]``: True when the CRM keeps nothing of it, False when it is deleted but
        restorable (a recycle bin the user may not empty, a type without a permanent delete);
        ``extra["note"]`` says which, for the report. Idempotent: a resumed erasure, or a call sent again
        after a lost reply, ends the same. A source is read-only: every id is refused."""
        ...

    def formula_columns(self, entity: str) -> list[str]:
        """The columns of ``entity`` the CRM computes (formulas) whose values change without moving the
        record's change stamp, so an incremental pull misses them; refreshed by ``pull_columns``."""
        ...

    def pull_columns(
        self, entity: str, columns: Sequence[str], *, until: datetime, cursor: dict[str, Any] | None
    ) -> Iterator[Page]:
        """Every record's ``id`` and ``columns`` only (a formula refresh), as resumable pages."""
        ...

    def warnings(self, entity: str) -> list[str]:
        """What the org's metadata made this connector leave out of ``entity``: each optional mapped
        field the org lacks (its column stays empty), in words an admin can act on."""
        ...

    @property
    def api_calls(self) -> int:
        """API calls made so far by this connector."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
