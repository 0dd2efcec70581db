"""Bringing merged-away HubSpot records back (HubSpot cannot unmerge): each is created again from its
values before the merge, a new id; a mixin of ``HubSpotWrites``.

Two things real portals do that this has to live with (issue 15):

- search lags behind writes: for seconds after a record is created, a search for it answers
  ``{"total": 1, "results": []}``. Whether an interrupted undo created the record already is asked of
  the batch read API by the unique e-mail (``idProperty``), which is consistent at once, for contacts;
  for companies, deals and tickets (no unique property) of search, asked again while it counts a record
  it does not show, a bounded number of times (``retry.retrying``);
- e-mail addresses are unique among contacts, secondary ones included: a contact whose address
  another holds is refused with 409 CONFLICT "Contact already exists. Existing ID: N". That contact is
  the one an interrupted undo created when it was created since the merge with this address; otherwise
  the refusal says which contact holds the address and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from crm_ops.connectors.base import Change, FieldInfo, PushResult, invalid_text
from crm_ops.connectors.hsapi import HubSpotApis, epoch_ms, parse_stamp
from crm_ops.errors import FatalApiError, RetriableApiError
from crm_ops.retry import GaveUpError, RetryPolicy, retrying
from crm_ops.schema.fieldmap import EntityMap

EXISTING = re.compile(r"Existing ID:\s*(\d+)")
# search counting a record it does not show yet is asked again every LAG_WAIT seconds, LAG_POLICY's
# attempts in all (14 s: a fixed wait, not a random backoff that could give up within the lag)
LAG_WAIT = 2.0
LAG_POLICY = RetryPolicy(attempts=8, initial_wait=LAG_WAIT, max_wait=LAG_WAIT)
CLOCK_SKEW = timedelta(minutes=2)  # how far HubSpot's clock may be behind ours
# what tells a record created again from others, most telling first (a search takes at most 6 filters)
IDENTITY = (
    "domain", "name", "dealname", "subject", "firstname", "lastname", "phone", "mobilephone", "jobtitle",
    "city", "website", "amount", "closedate", "hs_pipeline_stage",
)  # fmt: skip


class HubSpotRestores:
    """Creating merged-away records again, for ``HubSpotWrites``."""

    api: HubSpotApis
    _sleep: Callable[[float], None]

    if TYPE_CHECKING:

        def _call(self, fn: Callable[..., Any], *args: Any, search: bool = False, **kwargs: Any) -> Any: ...
        def _map(self, entity: str) -> EntityMap: ...
        def describe(self, entity: str) -> list[FieldInfo]: ...
        def _properties_of(self, emap: EntityMap, change: Change) -> dict[str, Any]: ...

    def restore(self, entity: str, records: Sequence[dict[str, Any]]) -> list[PushResult]:
        """Create merged-away records again from their values before the merge (HubSpot cannot unmerge):
        new ids, one call each.

        Every mapped property the CRM lets us write is restored; read-only ones (create date, merged ids)
        cannot be.
        """
        emap = self._map(entity)
        writable = {f.name for f in self.describe(entity) if f.updateable}
        return [self._restore_one(emap, writable, record) for record in records]

    def _restore_one(self, emap: EntityMap, writable: set[str], record: dict[str, Any]) -> PushResult:
        values = {}
        for column, value in record.items():
            src = emap.columns.get(column)
            if src is not None and src.field:
                name: str | None = src.field
            else:
                name = column.removeprefix("custom_") if column.startswith("custom_") else None
            if value is not None and name in writable:
                values[column] = value
        bad = invalid_text(values)
        if bad:
            return PushResult(str(record.get("id")), False, bad, {"code": "INVALID_TEXT"})
        properties = self._properties_of(emap, Change("", values))
        since = record.get("__merged_at")
        try:
            earlier = self._restored_before(emap.object, properties, since)
        except SearchLagError as exc:  # unknown whether it landed: not sent again now
            return PushResult(str(record.get("id")), False, str(exc), {"code": "SEARCH_LAG"})
        if earlier is not None:  # a restore that landed before the last run stopped
            return PushResult(str(record.get("id")), True, None, {"id": earlier})
        # a create whose answer is lost is looked for (created since just before it was sent) before
        # it is sent again: sent twice, it would make the record twice
        sent = since or (datetime.now(UTC) - CLOCK_SKEW).isoformat()

        def landed() -> dict[str, Any] | None:
            found = self._restored_before(emap.object, properties, sent)
            return None if found is None else {"id": found}

        try:
            body = self._call(
                self.api.objects.create,
                emap.object,
                simple_public_object_input_for_create={"properties": properties, "associations": []},
                landed=landed,
            )
        except FatalApiError as exc:
            return self._refused(emap.object, record, properties, since, exc)
        return PushResult(str(record.get("id")), True, None, {"id": str(body["id"])})

    def _refused(
        self,
        object_type: str,
        record: dict[str, Any],
        properties: dict[str, Any],
        since: Any,
        exc: FatalApiError,
    ) -> PushResult:
        """A create HubSpot refused: a 409 on an address another contact holds says which one; it is ours
        when it was created since the merge with this very address (an interrupted undo's)."""
        found = EXISTING.search(str(exc))
        if exc.status != 409 or found is None:
            return PushResult(str(record.get("id")), False, str(exc))
        holder, email = found.group(1), str(properties.get("email") or "")
        if since:
            (row,) = self._by_id(object_type, [holder], ["email", "createdate"]) or [{}]
            props = row.get("properties") or {}
            created = props.get("createdate")
            mine = str(props.get("email") or "").lower() == email.lower()
            if mine and created and parse_stamp(str(created)) >= parse_stamp(str(since)):
                return PushResult(str(record.get("id")), True, None, {"id": holder})
        error = (
            f"{exc} — contact {holder} holds {email} (as its address or a secondary one): remove it from "
            f"contact {holder}, or merge {holder} into the survivor, then undo again"
        )
        return PushResult(str(record.get("id")), False, error, {"code": "CONFLICT", "holder": holder})

    def _by_id(
        self, object_type: str, ids: list[str], props: list[str], id_property: str | None = None
    ) -> list[dict[str, Any]]:
        request: dict[str, Any] = {"inputs": [{"id": i} for i in ids], "properties": props}
        if id_property:
            request["idProperty"] = id_property
        body = self._call(
            self.api.batch.read, object_type, batch_read_input_simple_public_object_id=request, archived=False
        )
        return list(body.get("results") or [])

    def _restored_before(self, object_type: str, properties: dict[str, Any], since: Any) -> str | None:
        """A record created since ``since`` with the same identity: the e-mail (unique among contacts),
        else the values of up to five identity properties (``IDENTITY``: domain, name, a deal's name, a
        ticket's subject, first and last name, phone...) all equal."""
        if not since:
            return None
        after = parse_stamp(str(since))
        if properties.get("email"):  # unique among contacts, and read by it at once (search lags)
            for r in self._by_id(object_type, [str(properties["email"])], ["email", "createdate"], "email"):
                created = (r.get("properties") or {}).get("createdate") or r.get("createdAt")
                if created and parse_stamp(str(created)) >= after:
                    return str(r["id"])
            return None
        keys = [k for k in IDENTITY if properties.get(k) not in (None, "")][:5]
        if not keys:
            return None
        filters = [{"propertyName": k, "operator": "EQ", "value": str(properties[k])} for k in keys]
        request = {
            "filterGroups": [
                {
                    "filters": [
                        *filters,
                        {"propertyName": "createdate", "operator": "GTE", "value": epoch_ms(after)},
                    ]
                }
            ],
            "properties": keys,
            "limit": 1,
        }
        try:
            for attempt in retrying(LAG_POLICY, sleep=self._sleep):
                with attempt:
                    try:
                        body = self._call(
                            self.api.search.do_search,
                            object_type,
                            public_object_search_request=request,
                            search=True,
                        )
                    except RetriableApiError as exc:  # the call's own retries are spent
                        raise GaveUpError(exc) from exc
                    results = body.get("results") or []
                    if results:
                        return str(results[0]["id"])
                    if int(body.get("total") or 0) > 0:  # counted but not shown yet: the index lags
                        raise _LaggingError(
                            "hubspot", "search counts a record it does not show yet", retry_after=LAG_WAIT
                        )
                    return None
        except GaveUpError as exc:
            raise exc.error from None
        except _LaggingError:
            # still counted and not shown: it may be the record made before; making it again could make it
            # twice, so this record waits for the next run
            waited = LAG_WAIT * (LAG_POLICY.attempts - 1)
            raise SearchLagError(
                "hubspot",
                f"{object_type}: search still counts a record like this one but has not shown it after "
                f"{waited:g} s; not created again (it may be the one made before): the next apply or undo "
                "looks again",
            ) from None
        return None


class _LaggingError(RetriableApiError):
    """Search counts a record its results do not show yet."""


class SearchLagError(RetriableApiError):
    """Search kept counting a matching record without showing it: whether a restore landed is unknown."""
