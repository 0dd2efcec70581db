"""The write side of the Salesforce connector: updates (composite, or a Bulk 2.0 ingest job:
``sfingest``), merges (setting the survivor's values in the same call), lead conversions, undeletes,
re-pointed lookups, and erasure (deleted and emptied from the recycle bin: ``sferase``).

``SalesforceWrites`` is a mixin of ``SalesforceConnector``; it reads and calls through the connector's
plumbing (``_call``, ``_rest``, ``_records``, ``_map``, ``_bulk_client``), declared below for the type
checker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import requests
import structlog
from simple_salesforce.api import Salesforce
from simple_salesforce.bulk2 import _Bulk2Client

from crm_ops.config import SalesforceSettings
from crm_ops.connectors import sfsoap
from crm_ops.connectors.base import Change, Conversion, FieldInfo, Link, PushResult, Relink, invalid_text
from crm_ops.connectors.sferase import SalesforceErasure
from crm_ops.connectors.sfingest import SalesforceIngest, reads_specially
from crm_ops.connectors.sflanded import SalesforceLookups
from crm_ops.connectors.sfsaves import (
    DUPLICATE_HEADER,
    DUPLICATES,
    LOCK_ATTEMPTS,
    LOCKED,
    code_of,
    composite_result,
    still_locked,
)
from crm_ops.connectors.sfsoql import READ_BATCH, soql_datetime, soql_quote
from crm_ops.errors import ConfigError, RetriableApiError
from crm_ops.retry import GaveUpError, RetryPolicy, retrying
from crm_ops.schema.fieldmap import EntityMap, FieldMap

log = structlog.get_logger("crm_ops.salesforce")
T = TypeVar("T")
SYSTEM = "salesforce"
COMPOSITE_BATCH = 200
MERGE_BATCH = 2  # records merged into the master per merge call
UNDELETE_BATCH = 200
CONVERT_BATCH = 200  # leads a convertLead call converts
# What a merge re-parents: the lookups pointing at each mergeable object (those the sandbox holds),
# journaled with the merge and pointed back by its undo.
RELATIONS = {
    "Account": (("Contact", "AccountId"), ("Opportunity", "AccountId")),
    "Contact": (("OpportunityContactRole", "ContactId"),),
    "Lead": (),
}
# ... and the lookups of objects a profile may map or not (the shipped "cases" map): journaled and pointed
# back only when this profile maps the child object (so an org whose user cannot read cases merges as before)
MAPPED_RELATIONS = {
    "Account": (("Case", "AccountId"),),
    "Contact": (("Case", "ContactId"),),
}


class SalesforceWrites(SalesforceIngest, SalesforceLookups, SalesforceErasure):
    """Writing, merging and undoing merges, for ``SalesforceConnector`` (Bulk ingest jobs:
    ``SalesforceIngest``; what a write whose answer was lost did: ``SalesforceLookups``; erasure:
    ``SalesforceErasure``)."""

    settings: SalesforceSettings
    fmap: FieldMap
    policy: RetryPolicy
    session: requests.Session
    sf: Salesforce
    _sleep: Callable[[float], None]

    if TYPE_CHECKING:

        def _call(self, fn: Callable[[], T], landed: Callable[[], T | None] | None = None) -> T: ...
        def _rest(self, path: str, **kwargs: Any) -> Any: ...
        def _bulk_client(self, entity: str) -> _Bulk2Client: ...
        def describe(self, entity: str) -> list[FieldInfo]: ...

    # ------------------------------------------------------------------ writing

    def _source_field(self, emap: EntityMap, column: str, value: Any) -> tuple[str, Any]:
        src = emap.columns.get(column)
        if src is None and column.startswith("custom_"):
            return column.removeprefix("custom_"), value
        if src is None or not src.field:
            raise ConfigError(f"{emap.origin}: {emap.entity}.{column} does not map to a writable field")
        return src.field, src.to_crm(value)

    def _wire_pair(self, emap: EntityMap, column: str, value: Any) -> tuple[str, Any]:
        name, value = self._source_field(emap, column, value)
        return name, _wire(value)

    def moved_ids(self, entity: str) -> dict[str, str]:
        """Salesforce ids never move: a merged-away record stays in the recycle bin under its id."""
        return {}

    def write_batch(self, entity: str, total: int) -> int:
        """200 (one composite request) for small plans; a Bulk ingest job's worth above the threshold."""
        s = self.settings
        return s.bulk_write_batch if total > s.bulk_write_threshold else COMPOSITE_BATCH

    def push(self, entity: str, changes: Sequence[Change]) -> list[PushResult]:
        """Update records: through the composite sObject collections API, 200 a request, not all-or-none;
        more than 200 at once through one Bulk API 2.0 ingest job (update).

        A record whose change names a field this user cannot write (describe's ``updateable``: read-only,
        or hidden by field-level security), a person account's Name, or holds text no CRM stores (a lone
        UTF-16 surrogate, which fails a whole composite request), is refused here, alone, and never
        sent (in a Bulk job one such column would fail every row). A record whose value a Bulk CSV would
        read as something else (``#N/A``, Bulk's null: ``sfingest.reads_specially``) goes through
        composite. Records that meet a locked row are sent again, alone, with backoff; with
        ``allow_duplicate_saves`` composite requests carry the duplicate rule header, and records a Bulk
        job refused for duplicates go again through composite (``sfsaves``)."""
        emap = self._map(entity)
        out = self._refused_here(entity, emap, changes)
        todo = [i for i in range(len(changes)) if i not in out]
        allowed = self.settings.allow_duplicate_saves
        again = todo
        # a value Bulk would read as null is sent through composite, and so is all when few are left
        bulk = [i for i in todo if not reads_specially(changes[i])] if len(todo) > COMPOSITE_BATCH else []
        if len(bulk) > COMPOSITE_BATCH:
            special = sorted(set(todo) - set(bulk))
            if special:
                log.info("salesforce.bulk.special_values", entity=entity, records=len(special))
            sent = self._push_bulk(entity, emap, [changes[i] for i in bulk])
            out.update(zip(bulk, sent, strict=True))
            # a Bulk job's chunks lock each other's parents, and it cannot carry the duplicate header
            wanted = {LOCKED, DUPLICATES} if allowed else {LOCKED}
            resend = [i for i in bulk if code_of(out[i]) in wanted]
            if resend:
                log.info("salesforce.bulk.resend", entity=entity, records=len(resend))
            again = sorted(special + resend)
        if again:
            out.update(self._push_composite(emap, changes, again))
        return [out[i] for i in range(len(changes))]

    def _refused_here(self, entity: str, emap: EntityMap, changes: Sequence[Change]) -> dict[int, PushResult]:
        """The changes not to send, by index, each with why: a field the user cannot write, a person
        account's Name (Salesforce derives it from the person's first and last name)."""
        writable = {f.name for f in self.describe(entity) if f.updateable}
        refused: dict[int, PushResult] = {}
        named: list[int] = []
        for index, change in enumerate(changes):
            # a column the map cannot write is the caller's mistake, not the record's: ConfigError
            fields = [self._source_field(emap, k, v)[0] for k, v in change.values.items()]
            locked = [f for f in fields if f not in writable]
            bad = invalid_text(change.values)
            if bad:
                refused[index] = PushResult(change.record_id, False, bad, {"code": "INVALID_TEXT"})
            elif locked:
                error = (
                    f"{emap.object}.{', '.join(locked)}: not writable for this user (read-only, or hidden "
                    "by field-level security); not sent"
                )
                refused[index] = PushResult(change.record_id, False, error, {"code": "NOT_WRITABLE"})
            elif emap.object == "Account" and "Name" in fields:
                named.append(index)
        if named and "IsPersonAccount" in {f.name for f in self.describe(entity)}:
            ids = sorted({changes[i].record_id for i in named})
            people: set[str] = set()
            for start in range(0, len(ids), READ_BATCH):
                chunk = ", ".join(soql_quote(i) for i in ids[start : start + READ_BATCH])
                soql = f"SELECT Id FROM Account WHERE IsPersonAccount = true AND Id IN ({chunk})"
                people |= {str(r["Id"]) for r in self._records(soql)}
            for index in named:
                if changes[index].record_id in people:
                    error = (
                        "Account.Name of a person account is the person's first and last name: fix those "
                        "on the person account instead; not sent"
                    )
                    refused[index] = PushResult(
                        changes[index].record_id, False, error, {"code": "PERSON_ACCOUNT"}
                    )
        return refused

    def _push_composite(
        self, emap: EntityMap, changes: Sequence[Change], indices: Sequence[int]
    ) -> dict[int, PushResult]:
        """Composite, 200 a request; the records that meet a locked row are sent again, alone, with
        backoff (``LOCK_ATTEMPTS`` sends in all), then reported as still locked."""
        out: dict[int, PushResult] = {}
        pending = list(indices)
        policy = RetryPolicy(LOCK_ATTEMPTS, self.policy.initial_wait, self.policy.max_wait)
        try:
            for attempt in retrying(policy, sleep=self._sleep):
                with attempt:
                    try:
                        out.update(self._composite_once(emap, changes, pending))
                    except RetriableApiError as exc:  # the call's own retries are spent: not ours to repeat
                        raise GaveUpError(exc) from exc
                    pending = [i for i in pending if code_of(out[i]) == LOCKED]
                    if pending:
                        raise RetriableApiError(SYSTEM, f"{len(pending)} records locked", code=LOCKED)
        except GaveUpError as exc:
            raise exc.error from None
        except RetriableApiError:
            return {i: still_locked([r], LOCK_ATTEMPTS)[0] for i, r in out.items()}
        return out

    def _composite_once(
        self, emap: EntityMap, changes: Sequence[Change], indices: Sequence[int]
    ) -> dict[int, PushResult]:
        allowed = self.settings.allow_duplicate_saves
        headers = DUPLICATE_HEADER if allowed else {}
        out: dict[int, PushResult] = {}
        for start in range(0, len(indices), COMPOSITE_BATCH):
            batch = list(indices[start : start + COMPOSITE_BATCH])
            records = [
                {
                    "attributes": {"type": emap.object},
                    "id": changes[i].record_id,
                    **dict(self._wire_pair(emap, k, v) for k, v in changes[i].values.items()),
                }
                for i in batch
            ]
            payload = json.dumps({"allOrNone": False, "records": records})
            answer = self._call(
                partial(self._rest, "composite/sobjects", method="PATCH", data=payload, headers=headers)
            )
            for index, outcome in zip(batch, answer, strict=True):
                out[index] = composite_result(changes[index].record_id, outcome, allowed)
        return out

    # ------------------------------------------------------------------ merging

    def _soap(
        self,
        body: bytes,
        call: str,
        landed: Callable[[], list[sfsoap.SoapResult] | None],
    ) -> list[sfsoap.SoapResult]:
        """One SOAP call; none is safe to send twice, so after an attempt that got no answer ``landed``
        looks up whether it happened (``sflanded``) before it is sent again."""
        url = f"https://{self.sf.sf_instance}/services/Soap/u/{self.settings.api_version}"

        def post() -> list[sfsoap.SoapResult]:
            response = self.session.post(
                url, data=body, headers=sfsoap.HEADERS, timeout=self.settings.timeout_seconds
            )
            return sfsoap.parse_answer(response.status_code, response.content, call)

        return self._call(post, landed)

    def merge(
        self,
        entity: str,
        survivor: str,
        losers: Sequence[str],
        values: Mapping[str, Any] | None = None,
    ) -> list[PushResult]:
        """Merge through the SOAP ``merge`` call, two records a request, all into the same master; the
        survivor's ``values`` (canonical columns) are set on the master in the same calls. A column with
        no writable field in this org is not sent: it is named in each result's ``extra["unwritten"]``."""
        emap = self._map(entity)
        if emap.object not in RELATIONS:
            raise ConfigError(f"salesforce: {emap.object} records cannot be merged")
        fields, unwritten = self._master_fields(entity, emap, values or {})
        results: list[PushResult] = []
        for start in range(0, len(losers), MERGE_BATCH):
            chunk = list(losers[start : start + MERGE_BATCH])
            body = sfsoap.merge_request(self.sf.session_id, emap.object, survivor, chunk, fields)
            (answer,) = self._soap(body, "merge", self._merge_landed(emap.object, survivor, chunk))
            if not answer.success and self.merged_into(entity, survivor, chunk) == set(chunk):
                # refused as already merged (ENTITY_IS_DELETED): an earlier call of ours that landed
                answer = sfsoap.SoapResult(id=survivor, success=True, merged=tuple(chunk))
            for loser in chunk:
                ok = answer.success and loser in answer.merged
                error = "; ".join(answer.errors) or (None if ok else "not merged")
                extra = {"related": list(answer.related), "unwritten": unwritten, "id": survivor}
                results.append(PushResult(loser, ok, error, extra))
        return results

    def _master_fields(
        self, entity: str, emap: EntityMap, values: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The survivor's values as API fields the org lets us write, and the columns left out (why)."""
        if not values:
            return {}, {}
        writable = {f.name for f in self.describe(entity) if f.updateable}
        fields: dict[str, Any] = {}
        unwritten: dict[str, str] = {}
        for column, value in values.items():
            bad = invalid_text({column: value})
            if bad:
                unwritten[column] = bad
                continue
            try:
                name, wired = self._wire_pair(emap, column, value)
            except ConfigError:
                unwritten[column] = "no Salesforce field for it in the map"
                continue
            if name not in writable:
                unwritten[column] = f"{emap.object}.{name} is not writable for this user"
                continue
            fields[name] = wired
        return fields, unwritten

    def convert(self, conversions: Sequence[Conversion]) -> list[PushResult]:
        """Convert leads into existing contacts on their accounts through the SOAP ``convertLead`` call,
        200 a call; no opportunity is created. Salesforce fills the contact's empty fields from the lead;
        a converted lead cannot be unconverted."""
        results: list[PushResult] = []
        for start in range(0, len(conversions), CONVERT_BATCH):
            chunk = conversions[start : start + CONVERT_BATCH]
            requests_ = [
                {"leadId": c.lead_id, "contactId": c.contact_id, "accountId": c.account_id,
                 "convertedStatus": c.status}
                for c in chunk
            ]  # fmt: skip
            answers = self._soap(
                sfsoap.convert_request(self.sf.session_id, requests_),
                "convertLead",
                self._convert_landed(chunk),
            )
            if not all(a.success for a in answers):  # refused as converted already: ours, when as asked
                done = self._converted([c for c, a in zip(chunk, answers, strict=True) if not a.success])
                answers = [done.get(c.lead_id, a) for c, a in zip(chunk, answers, strict=True)]
            for conversion, answer in zip(chunk, answers, strict=True):
                error = "; ".join(answer.errors) or None
                results.append(PushResult(conversion.lead_id, answer.success, error, dict(answer.ids)))
        return results

    def links(self, entity: str, ids: Sequence[str]) -> list[Link]:
        """The live records whose lookups point at ``ids`` (what a merge re-parents: ``RELATIONS``,
        ``MAPPED_RELATIONS`` of the objects this profile maps, and every lookup its maps mark as a parent
        reference to ``entity``: ``_map_lookups``). A CRM error reading them fails the merge before it is
        sent (rather than a merge whose undo would leave children behind)."""
        emap = self._map(entity)
        mapped = {e.object for e in self.fmap.entities.values()}
        optional = [(c, k) for c, k in MAPPED_RELATIONS.get(emap.object, ()) if c in mapped]
        relations = dict.fromkeys([*RELATIONS.get(emap.object, ()), *optional, *self._map_lookups(entity)])
        out: list[Link] = []
        for child, lookup in relations:
            for start in range(0, len(ids), READ_BATCH):
                chunk = ", ".join(soql_quote(i) for i in ids[start : start + READ_BATCH])
                records = self._records(f"SELECT Id, {lookup} FROM {child} WHERE {lookup} IN ({chunk})")
                out += [Link(f"{child}.{lookup}", str(r["Id"]), str(r[lookup])) for r in records]
        return out

    def _map_lookups(self, entity: str) -> list[tuple[str, str]]:
        """(child object, lookup field) of every column of this profile's maps that holds an ``entity``
        record's id (``parent: Entity``: a task's contact, a campaign member's lead), as this org names
        the field: what a merge of ``entity`` re-parents besides ``RELATIONS``, journaled so its undo
        points them back. A map this org cannot serve (a required field missing) is left out."""
        out: list[tuple[str, str]] = []
        for name, child in self.fmap.entities.items():
            columns = [c for c, parent in child.parents().items() if parent == entity]
            if not columns:
                continue
            try:
                resolved = self._map(name)
            except ConfigError:
                continue  # a required field this org lacks: the entity is not pulled, nothing of it moves
            for column in columns:
                src = resolved.columns.get(column)
                if src is not None and src.field and not src.association:
                    out.append((resolved.object, src.field))
        return out

    def restore(self, entity: str, records: Sequence[dict[str, Any]]) -> list[PushResult]:
        """Undelete merged-away records from the recycle bin, 200 a call: same ids, same values. A record
        refused but out of the recycle bin (an earlier call's, whose answer was lost) is restored."""
        ids = [str(r["id"]) for r in records]
        object_name = self._map(entity).object
        results: list[PushResult] = []
        for start in range(0, len(ids), UNDELETE_BATCH):
            chunk = ids[start : start + UNDELETE_BATCH]
            answers = self._soap(
                sfsoap.undelete_request(self.sf.session_id, chunk),
                "undelete",
                self._undelete_landed(object_name, chunk),
            )
            refused = [i for i, a in zip(chunk, answers, strict=True) if not a.success]
            live = self._live(object_name, refused) if refused else set()
            answers = [
                sfsoap.SoapResult(id=i, success=True) if i in live else a
                for i, a in zip(chunk, answers, strict=True)
            ]
            for record_id, answer in zip(chunk, answers, strict=True):
                error = "; ".join(answer.errors) or None
                results.append(PushResult(record_id, answer.success, error, {"id": record_id}))
        return results

    def relink(self, moves: Sequence[Relink]) -> list[PushResult]:
        """Set each lookup to ``to_id`` where it still holds ``from_id`` (read, then composite, 200 a call).

        A lookup holds one value, so ``keep`` has no meaning here and is refused.
        """
        if any(m.keep for m in moves):
            raise ValueError("a Salesforce lookup points at one record: links cannot be kept on both")
        results: dict[int, PushResult] = {}
        by_relation: dict[str, list[tuple[int, Relink]]] = {}
        for index, move in enumerate(moves):
            by_relation.setdefault(move.link.relation, []).append((index, move))
        for relation, group in by_relation.items():
            child, lookup = relation.split(".", 1)
            for start in range(0, len(group), COMPOSITE_BATCH):
                part = group[start : start + COMPOSITE_BATCH]
                chunk = ", ".join(soql_quote(m.link.record_id) for _, m in part)
                records = self._records(f"SELECT Id, {lookup} FROM {child} WHERE Id IN ({chunk})")
                now = {str(r["Id"]): r.get(lookup) for r in records}
                movable = []
                for index, m in part:
                    held = now.get(m.link.record_id)
                    if held == m.to_id:
                        results[index] = PushResult(m.link.record_id, True)  # done by an earlier run
                    elif held == m.from_id:
                        movable.append((index, m))
                    else:
                        error = f"conflict: {child} {m.link.record_id} now points at {held!r}"
                        results[index] = PushResult(m.link.record_id, False, error)
                if not movable:
                    continue
                rows = [
                    {"attributes": {"type": child}, "id": m.link.record_id, lookup: m.to_id}
                    for _, m in movable
                ]
                payload = json.dumps({"allOrNone": False, "records": rows})
                answer = self._call(partial(self._rest, "composite/sobjects", method="PATCH", data=payload))
                for (index, m), outcome in zip(movable, answer, strict=True):
                    errors = outcome.get("errors") or []
                    message = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in errors) or None
                    results[index] = PushResult(m.link.record_id, bool(outcome.get("success")), message)
        return [results[i] for i in range(len(moves))]


def _wire(value: Any) -> Any:
    if isinstance(value, datetime):
        return soql_datetime(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
