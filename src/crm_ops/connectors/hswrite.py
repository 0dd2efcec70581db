"""The write side of the HubSpot connector: batch updates, primary associations written as links, the
read-only opt-out and secondary e-mails through their own APIs, merges (the survivor's values written
just after), merged-away records created again, and associations moved between records.

``HubSpotWrites`` is a mixin of ``HubSpotConnector``; it calls through the connector's plumbing
(``_call``, ``_map``, ``_associations``, ``describe``), declared below for the type checker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import polars as pl
from hubspot import HubSpot

from crm_ops.connectors import answers
from crm_ops.connectors.base import Change, Conversion, FieldInfo, Link, PushResult, Relink, invalid_text
from crm_ops.connectors.hsapi import ASSOC_BATCH, UPDATE_BATCH, HubSpotApis, RawFailureError
from crm_ops.connectors.hserase import HubSpotErasure
from crm_ops.connectors.hsrestore import HubSpotRestores
from crm_ops.errors import ConfigError, FatalApiError
from crm_ops.schema.fieldmap import EntityMap, FieldMap

# What a merge moves to the survivor: the associations of each mergeable object.
RELATIONS = {
    "contacts": ("companies", "deals"),
    "companies": ("contacts", "deals"),
    "deals": ("companies", "contacts"),
    "tickets": ("contacts", "companies"),
}
# ... and the associations of object types a profile may map or not (tickets: the shipped "cases" map),
# moved back by undo only when this profile maps them (a portal without ticket scopes merges as before)
MAPPED_RELATIONS = {"contacts": ("tickets",), "companies": ("tickets",)}
# contact columns HubSpot keeps read-only, written through their own endpoints
OWN_ENDPOINTS = {"contacts": ("email_opt_out", "additional_emails")}
SECONDARY_EMAILS = "/contacts/v1/secondary-email/{id}/email/{email}"
UNSUBSCRIBE_ALL = "/communication-preferences/v4/statuses/{email}/unsubscribe-all?channel=EMAIL"
NO_RESUBSCRIBE = "HubSpot does not resubscribe an opted-out address by API (crm-ops leaves it opted out)"
INTEGRATION_REFUSAL = "salesforce integration"  # what HubSpot's refusal of company merges says
COMPANY_MERGE_HINT = (
    "HubSpot refuses company merges while its Salesforce integration is on: merge the accounts in "
    "Salesforce (the integration brings the survivor over) or delete the duplicate company in HubSpot; "
    "not retried"
)


class HubSpotWrites(HubSpotRestores, HubSpotErasure):
    """Writing, merging and undoing merges, for ``HubSpotConnector`` (bringing merged-away records back:
    ``HubSpotRestores``; deleting a person's records for good: ``HubSpotErasure``)."""

    client: HubSpot
    fmap: FieldMap
    api: HubSpotApis
    _merges_refused: dict[str, str]  # object types HubSpot refuses to merge in this portal, and why

    if TYPE_CHECKING:

        def _call(self, fn: Callable[..., Any], *args: Any, search: bool = False, **kwargs: Any) -> Any: ...
        def _map(self, entity: str) -> EntityMap: ...
        def describe(self, entity: str) -> list[FieldInfo]: ...
        def _associations(
            self, source: str, target: str, ids: Sequence[str]
        ) -> dict[str, list[tuple[str, bool]]]: ...
        def read(self, entity: str, ids: Sequence[str]) -> pl.DataFrame: ...
        def _send(self, method: str, path: str, body: Any, timeout: float | tuple[float, float]) -> Any: ...

    # ------------------------------------------------------------------ writing

    def push(self, entity: str, changes: Sequence[Change]) -> list[PushResult]:
        """Update records through batch update, 100 a call; a rejected batch is retried one by one.

        A column that is an association (a contact's or deal's primary company) is written as one: the
        record's links to other records of that type are archived and a default (primary) link to the new
        one is made; a null value only archives. A change holding text no CRM stores (a lone UTF-16
        surrogate: HubSpot refuses the whole batch) is refused here, alone, and never sent.
        """
        refused = {c.record_id: invalid_text(c.values) for c in changes}
        if any(refused.values()):
            ok = self.push(entity, [c for c in changes if not refused[c.record_id]])
            done = {r.record_id: r for r in ok}
            return [
                done.get(c.record_id)
                or PushResult(c.record_id, False, refused[c.record_id], {"code": "INVALID_TEXT"})
                for c in changes
            ]
        emap = self._map(entity)
        linked = {c: s.association for c, s in emap.columns.items() if s.association}
        special = OWN_ENDPOINTS.get(emap.object, ())
        plain = [
            Change(c.record_id, {k: v for k, v in c.values.items() if k not in linked and k not in special})
            for c in changes
        ]
        results = self._update(emap, [c for c in plain if c.values])
        by_id = {r.record_id: r for r in results}
        if special and any(k in c.values for c in changes for k in special):
            for result in self._contact_channels(entity, changes):
                earlier = by_id.get(result.record_id)
                if earlier is None or earlier.ok:
                    by_id[result.record_id] = result
        for column, target in linked.items():
            moves = [(c.record_id, c.values[column]) for c in changes if column in c.values]
            if moves:
                for result in self._set_association(emap.object, target, moves):
                    earlier = by_id.get(result.record_id)
                    if earlier is None or earlier.ok:
                        by_id[result.record_id] = result
        return [by_id[c.record_id] for c in changes]

    def write_batch(self, entity: str, total: int) -> int:
        """A batch update carries 100 records."""
        return UPDATE_BATCH

    def _raw(self, method: str, path: str) -> None:
        """One call outside the client library (the legacy and v4 endpoints it lacks), with the same
        rate limit, retries and errors as every other call."""

        def send(*, _preload_content: bool, _request_timeout: tuple[float, float]) -> Any:
            r = self._send(method, path, None, _request_timeout)
            if r.status_code >= 400:
                raise RawFailureError(r.status_code, r.reason, r.content, r.headers)
            answers.check("hubspot", r)  # the body is not read, but a proxy's page is no answer
            return SimpleNamespace(data=b"{}")

        self._call(send)

    def _contact_channels(self, entity: str, changes: Sequence[Change]) -> list[PushResult]:
        """A contact's opt-out (``email_opt_out``: true unsubscribes its address from all e-mail; false is
        refused, HubSpot does not resubscribe by API) and secondary e-mails (``additional_emails``: the
        addresses added and removed one by one), read-only as properties."""
        wanted = [c for c in changes if "email_opt_out" in c.values or "additional_emails" in c.values]
        now = {str(r["id"]): r for r in self.read(entity, [c.record_id for c in wanted]).to_dicts()}
        out = []
        for change in wanted:
            row = now.get(change.record_id)
            if row is None:
                out.append(PushResult(change.record_id, False, "the contact is gone"))
                continue
            errors = []
            try:
                if "additional_emails" in change.values:
                    have = {e.lower(): e for e in _items(row.get("additional_emails"))}
                    want = {e.lower(): e for e in _items(change.values["additional_emails"])}
                    for key in [k for k in want if k not in have]:
                        self._raw("PUT", _secondary(change.record_id, want[key]))
                    for key in [k for k in have if k not in want]:
                        self._raw("DELETE", _secondary(change.record_id, have[key]))
                opt_out = change.values.get("email_opt_out")
                if "email_opt_out" in change.values and _truthy(opt_out) != _truthy(row.get("email_opt_out")):
                    if not _truthy(opt_out):
                        errors.append(NO_RESUBSCRIBE)
                    elif not row.get("email"):
                        errors.append("the contact has no e-mail address to unsubscribe")
                    else:
                        self._raw("POST", UNSUBSCRIBE_ALL.format(email=quote(str(row["email"]), safe="")))
            except FatalApiError as exc:
                errors.append(str(exc))
            out.append(PushResult(change.record_id, not errors, "; ".join(errors) or None))
        return out

    def _set_association(
        self, source: str, target: str, moves: Sequence[tuple[str, Any]]
    ) -> list[PushResult]:
        ids = [record_id for record_id, _ in moves]
        current = self._associations(source, target, ids)
        # Only the link the column shows (the primary one, else the first) is replaced; the record's other
        # associations stay. A target already linked but not shown is linked again, to become primary.
        shown = {
            r: next((to for to, primary in links if primary), links[0][0])
            for r, links in current.items()
            if links
        }
        wanted = {record_id: None if value is None else str(value) for record_id, value in moves}
        dropped: dict[str, set[str]] = {}
        for record_id, value in wanted.items():
            linked = {to for to, _ in current.get(record_id, [])}
            drop = {shown[record_id]} if record_id in shown and shown[record_id] != value else set()
            if value in linked and shown.get(record_id) != value:
                drop.add(value)
            if drop:
                dropped[record_id] = drop
        stale = [{"from": {"id": r}, "to": [{"id": to} for to in sorted(d)]} for r, d in dropped.items()]
        self._archive_links(source, target, stale)
        new = [
            {"from": {"id": record_id}, "to": {"id": value}}
            for record_id, value in wanted.items()
            if value is not None and shown.get(record_id) != value
        ]
        failed = {new[i]["from"]["id"]: error for i, error in self._create_links(source, target, new).items()}
        # a record whose new link was refused gets its old one back
        back = [
            {"from": {"id": r}, "to": {"id": to}}
            for r in failed
            for to in sorted(dropped.get(r, set()) - {wanted[r]})
        ]
        self._create_links(source, target, back)
        return [PushResult(r, r not in failed, failed.get(r)) for r, _ in moves]

    def _create_links(self, source: str, target: str, inputs: list[dict[str, Any]]) -> dict[int, str]:
        """Default (primary where none) associations, ``{"from": {"id"}, "to": {"id"}}`` inputs; the
        errors by input index. A batch HubSpot refuses is retried one input at a time, so one bad target
        (say, a company deleted since) does not sink the others."""
        api = self.api.associations
        errors: dict[int, str] = {}
        for start in range(0, len(inputs), ASSOC_BATCH):
            part = inputs[start : start + ASSOC_BATCH]
            try:
                self._call(
                    api.create_default,
                    source,
                    target,
                    batch_input_public_default_association_multi_post={"inputs": part},
                )
            except FatalApiError:
                for offset, item in enumerate(part):
                    try:
                        self._call(
                            api.create_default,
                            source,
                            target,
                            batch_input_public_default_association_multi_post={"inputs": [item]},
                        )
                    except FatalApiError as exc:
                        errors[start + offset] = str(exc)
        return errors

    def _archive_links(self, source: str, target: str, inputs: list[dict[str, Any]]) -> None:
        """Remove associations, ``{"from": {"id"}, "to": [{"id"}, ...]}`` inputs."""
        api = self.api.associations
        for start in range(0, len(inputs), ASSOC_BATCH):
            part = {"inputs": inputs[start : start + ASSOC_BATCH]}
            self._call(api.archive, source, target, batch_input_public_association_multi_archive=part)

    def _update(self, emap: EntityMap, changes: Sequence[Change]) -> list[PushResult]:
        results: list[PushResult] = []
        for start in range(0, len(changes), UPDATE_BATCH):
            batch = changes[start : start + UPDATE_BATCH]
            inputs = [{"id": c.record_id, "properties": self._properties_of(emap, c)} for c in batch]
            try:
                body = self._call(
                    self.api.batch.update,
                    emap.object,
                    batch_input_simple_public_object_batch_input={"inputs": inputs},
                )
                failed: dict[str, str] = {}
                for error in body.get("errors") or []:
                    for record_id in (error.get("context") or {}).get("ids") or []:
                        failed[str(record_id)] = f"{error.get('category')}: {error.get('message')}"
                results += [
                    PushResult(c.record_id, c.record_id not in failed, failed.get(c.record_id)) for c in batch
                ]
            except FatalApiError:
                for c in batch:
                    try:
                        self._call(
                            self.api.objects.update,
                            emap.object,
                            c.record_id,
                            simple_public_object_input={"properties": self._properties_of(emap, c)},
                        )
                        results.append(PushResult(c.record_id, True))
                    except FatalApiError as exc:
                        results.append(PushResult(c.record_id, False, str(exc)))
        return results

    @staticmethod
    def _properties_of(emap: EntityMap, change: Change) -> dict[str, Any]:
        out = {}
        for column, given in change.values.items():
            src = emap.columns.get(column)
            name = column.removeprefix("custom_") if src is None and column.startswith("custom_") else None
            value = given
            if src is not None and src.field:
                name, value = src.field, src.to_crm(given)
            if name is None:
                raise ConfigError(
                    f"{emap.origin}: {emap.entity}.{column} does not map to a writable property"
                )
            out[name] = "" if value is None else (value.isoformat() if hasattr(value, "isoformat") else value)
        return out

    # ------------------------------------------------------------------ merging

    def merge(
        self,
        entity: str,
        survivor: str,
        losers: Sequence[str],
        values: Mapping[str, Any] | None = None,
    ) -> list[PushResult]:
        """Merge each loser into ``survivor`` through the object's merge endpoint, one call each; then
        write the survivor's ``values`` (HubSpot's merge cannot carry them). A value HubSpot refuses is
        named in each result's ``extra["unwritten"]``; the merges stand."""
        emap = self._map(entity)
        if emap.object not in RELATIONS:
            raise ConfigError(f"hubspot: {emap.object} records cannot be merged here")
        api = self.api.merge[emap.object]
        results = []
        current = survivor  # each merge may answer a new id: the next one merges into it
        for loser in losers:
            refused = self._merges_refused.get(emap.object)
            if refused:
                results.append(PushResult(loser, False, refused))
                continue
            try:
                body = self._call(
                    api.merge,
                    public_merge_input={"primaryObjectId": current, "objectIdToMerge": loser},
                    landed=partial(self._merge_landed, emap.object, current, loser),
                )
                current = str(body.get("id") or current)
                results.append(PushResult(loser, True))
            except FatalApiError as exc:
                earlier = self._merge_landed(emap.object, current, loser)
                if earlier is not None:  # refused as merged already: an earlier call of ours that landed
                    current = str(earlier["id"])
                    results.append(PushResult(loser, True))
                    continue
                if emap.object == "companies" and INTEGRATION_REFUSAL in str(exc).lower():
                    # never retried, nor tried again for other companies: HubSpot refuses every one
                    self._merges_refused[emap.object] = f"{exc} ({COMPANY_MERGE_HINT})"
                    results.append(PushResult(loser, False, self._merges_refused[emap.object]))
                    continue
                results.append(PushResult(loser, False, str(exc)))
        unwritten: dict[str, str] = {}
        if values and any(r.ok for r in results):
            unwritten = self._survivor_values(entity, emap, current, values)
        return [
            PushResult(
                r.record_id, r.ok, r.error, {"unwritten": unwritten, **({"id": current} if r.ok else {})}
            )
            for r in results
        ]

    def merged_into(self, entity: str, survivor: str, losers: Sequence[str]) -> set[str]:
        """The ``losers`` the portal shows merged into ``survivor`` (or the record it became): named in
        the survivor's ``hs_merged_object_ids``."""
        emap = self._map(entity)
        (found,) = self._by_id(emap.object, [survivor], ["hs_merged_object_ids"]) or [{}]
        merged = set(str((found.get("properties") or {}).get("hs_merged_object_ids") or "").split(";"))
        return {loser for loser in losers if loser in merged}

    def _merge_landed(self, object_type: str, survivor: str, loser: str) -> dict[str, Any] | None:
        """The survivor as a merge call answers it (its id: HubSpot may have made a new record), when
        ``loser`` is merged into it; None when not."""
        (found,) = self._by_id(object_type, [survivor], ["hs_merged_object_ids"]) or [{}]
        merged = str((found.get("properties") or {}).get("hs_merged_object_ids") or "").split(";")
        return {"id": str(found["id"])} if loser in merged else None

    def _survivor_values(
        self, entity: str, emap: EntityMap, survivor: str, values: Mapping[str, Any]
    ) -> dict[str, str]:
        """Write the survivor's values after a merge; the columns that could not be written, and why."""
        writable = {f.name for f in self.describe(entity) if f.updateable}
        special = OWN_ENDPOINTS.get(emap.object, ())
        unwritten: dict[str, str] = {}
        kept: dict[str, Any] = {}
        for column, value in values.items():
            src = emap.columns.get(column)
            name = src.field if src is not None else column.removeprefix("custom_")
            if column in special or (src is not None and src.association):
                kept[column] = value
            elif src is None and not column.startswith("custom_"):
                unwritten[column] = "no HubSpot property for it in the map"
            elif name not in writable:
                unwritten[column] = f"{emap.object}.{name} is read-only"
            else:
                kept[column] = value
        if kept:
            (result,) = self.push(entity, [Change(survivor, kept)])
            if not result.ok:
                unwritten.update(dict.fromkeys(kept, result.error or "refused"))
        return unwritten

    def convert(self, conversions: Sequence[Conversion]) -> list[PushResult]:
        """HubSpot has no leads to convert."""
        raise ConfigError("hubspot: lead conversion is a Salesforce call; HubSpot has no lead records")

    def links(self, entity: str, ids: Sequence[str]) -> list[Link]:
        """The records associated with ``ids`` (what a merge moves to the survivor: ``RELATIONS``,
        ``MAPPED_RELATIONS`` of the object types this profile maps, and every type its maps associate
        with ``entity`` as a parent)."""
        emap = self._map(entity)
        mapped = {e.object for e in self.fmap.entities.values()}
        optional = tuple(t for t in MAPPED_RELATIONS.get(emap.object, ()) if t in mapped)
        # and every object type this profile's maps associate with ``entity`` as its parent (a deal's
        # line items and quotes, a contact's e-mails and meetings): HubSpot moves them all
        owned = tuple(
            child.object
            for child in self.fmap.entities.values()
            if any(
                parent == entity and child.columns[c].association == emap.object
                for c, parent in child.parents().items()
            )
        )
        out = []
        for target in dict.fromkeys((*RELATIONS.get(emap.object, ()), *optional, *owned)):
            for record_id, linked in self._associations(emap.object, target, ids).items():
                out += [Link(f"{emap.object}->{target}", to, record_id) for to, _ in linked]
        return out

    def relink(self, moves: Sequence[Relink]) -> list[PushResult]:
        """Associate each move's record with ``to_id`` and, unless ``keep``, archive its link to
        ``from_id``: only where that link still exists (a conflict otherwise; already done is done).
        Associations are read, created and archived in batches."""
        results: dict[int, PushResult] = {}
        by_relation: dict[str, list[tuple[int, Relink]]] = {}
        for index, move in enumerate(moves):
            by_relation.setdefault(move.link.relation, []).append((index, move))
        for relation, group in by_relation.items():
            source, target = relation.split("->", 1)
            ids = sorted({x for _, m in group for x in (m.from_id, m.to_id)})
            found = {k: {to for to, _ in v} for k, v in self._associations(source, target, ids).items()}
            create: list[tuple[int, dict[str, Any]]] = []
            archive: dict[str, list[dict[str, str]]] = {}
            for index, m in group:
                record = m.link.record_id
                on_from, on_to = record in found.get(m.from_id, set()), record in found.get(m.to_id, set())
                if on_to and (m.keep or not on_from):
                    results[index] = PushResult(record, True)
                    continue
                if not on_from:
                    error = f"conflict: {target} {record} is no longer associated with {m.from_id}"
                    results[index] = PushResult(record, False, error)
                    continue
                if not on_to:
                    create.append((index, {"from": {"id": m.to_id}, "to": {"id": record}}))
                if not m.keep:
                    archive.setdefault(m.from_id, []).append({"id": record})
                results[index] = PushResult(record, True)
            for position, error in self._create_links(source, target, [item for _, item in create]).items():
                index, item = create[position]
                results[index] = PushResult(item["to"]["id"], False, error)
                kept = archive.get(moves[index].from_id, [])
                if {"id": item["to"]["id"]} in kept:  # not linked to the restored record: keep the old link
                    kept.remove({"id": item["to"]["id"]})
            self._archive_links(
                source, target, [{"from": {"id": k}, "to": v} for k, v in archive.items() if v]
            )
        return [results[i] for i in range(len(moves))]


def _items(value: Any) -> list[str]:
    return [p.strip() for p in str(value or "").split(";") if p.strip()]


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def _secondary(record_id: str, email: str) -> str:
    return SECONDARY_EMAILS.format(id=quote(record_id, safe=""), email=quote(email, safe=""))
