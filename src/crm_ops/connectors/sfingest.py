"""Salesforce Bulk API 2.0 ingest (update jobs) for the connector's writes, and which changes must not
go through one.

Bulk ingest reads a CSV, and two cells mean something else there than the text they hold: a blank cell
leaves the field as it is, and ``#N/A`` sets it to null (Salesforce's "Prepare CSV Files": "To set a
field value to null, use a field value of #N/A"). A null or empty value is therefore sent as ``#N/A``;
a value that *is* the text ``#N/A`` (a title typed as ``#N/A``, an old value of ``#N/A`` that undo puts
back) cannot be said in a Bulk CSV at all, so ``reads_specially`` picks those changes out and
``SalesforceWrites.push`` sends them through composite, where a value is a JSON string.

``SalesforceIngest`` is a mixin of ``SalesforceWrites``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from simple_salesforce.bulk2 import Operation, _Bulk2Client

from crm_ops import csvio
from crm_ops.config import SalesforceSettings
from crm_ops.connectors.base import Change, PushResult
from crm_ops.connectors.sfsaves import bulk_result
from crm_ops.errors import RetriableApiError
from crm_ops.schema.fieldmap import EntityMap

log = structlog.get_logger("crm_ops.salesforce")
T = TypeVar("T")
SYSTEM = "salesforce"
BULK_UPLOADS = 3  # Bulk ingest jobs started for one push when their data uploads go unanswered
BULK_NULL = "#N/A"  # the Bulk CSV cell that sets a field to null


def reads_specially(change: Change) -> bool:
    """Whether a Bulk CSV cannot carry ``change``: one of its values is the text ``#N/A`` (any case:
    what Bulk reads as null is not ours to guess at the edges), which Bulk would store as null."""
    return any(isinstance(v, str) and v.casefold() == BULK_NULL.casefold() for v in change.values.values())


class SalesforceIngest:
    """One Bulk 2.0 update job per call, for ``SalesforceWrites``."""

    settings: SalesforceSettings
    _sleep: Callable[[float], None]

    if TYPE_CHECKING:

        def _call(self, fn: Callable[[], T], landed: Callable[[], T | None] | None = None) -> T: ...
        def _bulk_client(self, entity: str) -> _Bulk2Client: ...
        def _wire_pair(self, emap: EntityMap, column: str, value: Any) -> tuple[str, Any]: ...

    def _push_bulk(self, entity: str, emap: EntityMap, changes: Sequence[Change]) -> list[PushResult]:
        """One Bulk 2.0 update job: CSV of Id plus every field written (blank leaves a field as it is,
        ``#N/A`` clears it), then each record's outcome from the job's successful and failed results.
        The caller keeps out the changes ``reads_specially`` picks."""
        rows = [
            {"Id": c.record_id, **dict(self._wire_pair(emap, k, v) for k, v in c.values.items())}
            for c in changes
        ]
        columns = ["Id", *sorted({k for r in rows for k in r if k != "Id"})]
        # quoted wherever a value holds a separator, quote, LF or a lone CR; never neutralised: the CRM
        # stores what it is given
        upload = csvio.format_rows(
            columns, ([_bulk_cell(row[k]) if k in row else "" for k in columns] for row in rows)
        )
        client = self._bulk_client(entity)
        for _ in range(BULK_UPLOADS):
            job = self._call(lambda: client.create_job(Operation.update))
            job_id = str(job["id"])
            log.info("salesforce.bulk.ingest", entity=entity, job=job_id, records=len(rows))
            try:  # data uploaded twice would be processed twice: a lost answer starts a new job instead
                self._call(partial(client.upload_job_data, job_id, upload), _upload_lost)
            except _UploadLostError:
                log.warning("salesforce.bulk.upload_lost", job=job_id)
                self._call(partial(client.abort_job, job_id, False))
                continue
            # closing runs the job: after a lost answer, a job no longer Open was closed
            self._call(partial(client.close_job, job_id), partial(self._closed, client, job_id))
            break
        else:
            raise RetriableApiError(SYSTEM, f"Bulk job data upload unanswered {BULK_UPLOADS} times")
        wait = 0.2
        while True:
            info = self._call(lambda: client.get_job(job_id, False))
            if info.get("state") in ("JobComplete", "Failed", "Aborted"):
                break
            self._sleep(wait)
            wait = min(wait * 1.5, 5.0)
        outcome: dict[str, PushResult] = {}
        allowed = self.settings.allow_duplicate_saves
        for kind in ("successfulResults", "failedResults"):
            text = self._call(partial(client.get_ingest_results, job_id, kind))
            if not text.strip():
                continue
            for record in csvio.read_text(text, f"Bulk job {job_id} {kind}"):
                record_id = record.get("Id") or record.get("sf__Id") or ""
                error = record.get("sf__Error") or None
                ok = kind == "successfulResults"
                outcome[record_id] = (
                    PushResult(record_id, True) if ok else bulk_result(record_id, error or "", allowed)
                )
        missing = (
            f"not processed by Bulk job {job_id} ({info.get('state')}: {info.get('errorMessage') or ''})"
        )
        return [outcome.get(c.record_id, PushResult(c.record_id, False, missing)) for c in changes]

    def _closed(self, client: _Bulk2Client, job_id: str) -> dict[str, Any] | None:
        """The job's info when it is closed (no longer Open): a close whose answer was lost landed."""
        info = self._call(lambda: client.get_job(job_id, False))
        return dict(info) if info.get("state") != "Open" else None


def _upload_lost() -> None:
    raise _UploadLostError


class _UploadLostError(Exception):
    """A Bulk job's data upload got no answer: whether the data is in the job is unknown."""


def _bulk_cell(value: Any) -> str:
    """A Bulk CSV cell: ``#N/A`` sets null (a blank cell would leave the field as it is)."""
    if value is None or value == "":
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
