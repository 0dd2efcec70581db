"""``POST /crm/v3/objects/{type}/merge``: the primary record keeps its properties, fills its empty ones
from the merged record, and takes over the merged record's associations; merging contacts, the merged
one's address and secondary addresses become the primary's secondary ones (HubSpot keeps them: a new
contact with one of them is refused). Read-only properties (the opt-out among them) stay the primary's.

By default the primary keeps its id. With ``merge_new_id`` (``RealWorld.merge_new_id``), as HubSpot's
merges of contacts and companies now do, the merged record is a NEW record with a new id (created as
the primary was, ``hs_merged_object_ids`` naming both old ids): the answer carries it, both old records
are archived, their associations move to it, and both old ids answer it from then on (``merged_into``:
a GET, batch read or update of an old id is served by the new record, as HubSpot's merged ids are)."""

from __future__ import annotations

import polars as pl

from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.hubspot.channels import SECONDARY, emails
from crm_ops.sandbox.hubspot.common import JSON, HsError
from crm_ops.sandbox.hubspot.records import RecordModel
from crm_ops.sandbox.objects import PRIMARY_ASSOCIATION_TYPES


class MergeHandlers(RecordModel):
    """Merging two records of one type."""

    def merge(self, request: Request, object_type: str) -> Response:
        """POST merge: the primary keeps its id and fills its empty properties from the merged object."""
        obj, table = self._object(object_type)
        body = self._body(request)
        primary_id, merged_id = str(body.get("primaryObjectId", "")), str(body.get("objectIdToMerge", ""))
        primary, merged = self._row(obj, table, primary_id), self._row(obj, table, merged_id)
        if primary is None or merged is None or primary == merged:
            raise HsError(400, "VALIDATION_ERROR", f"Cannot merge {merged_id} into {primary_id}")
        now = self.now()
        with table.lock:
            p, m = table.row(primary), table.row(merged)
            assert p is not None
            assert m is not None
            fill = {
                k: v
                for k, v in m.items()
                if k in obj.by_name and p.get(k) is None and v is not None and not obj.by_name[k].read_only
            }
            if obj.name == "contacts" and SECONDARY in table.schema:
                mine = {str(p.get("email") or "").strip().lower()}
                have = emails(p.get(SECONDARY))
                seen = mine | {e.lower() for e in have}
                for address in [str(m.get("email") or "").strip(), *emails(m.get(SECONDARY))]:
                    if address and address.lower() not in seen:
                        seen.add(address.lower())
                        have.append(address)
                fill[SECONDARY] = ";".join(have) or None
            merged_ids = ";".join(x for x in (p.get("hs_merged_object_ids"), merged_id) if x)
            table.update(primary, {**fill, "hs_merged_object_ids": merged_ids, **self._modified(obj, now)})
            table.update(merged, {"archived": True, "archivedAt": now})
        pid, mid = int(primary_id), int(merged_id)
        self._move_associations(obj.name, mid, pid)
        if not self.merge_new_id:
            return Response.json(
                200, self._render(obj, table.rows([primary]), self._props(obj, None))[0], JSON
            )
        with self._create_lock, table.lock:
            p = table.row(primary)
            assert p is not None
            new_id = obj.id_base + len(table)
            ids = ";".join(x for x in (p.get("hs_merged_object_ids"), primary_id) if x)
            record = {**p, "id": new_id, "hs_merged_object_ids": ids, **self._modified(obj, now)}
            if "hs_object_id" in table.schema:
                record["hs_object_id"] = new_id
            row = table.append(record)
            table.update(primary, {"archived": True, "archivedAt": now})
            for old in (pid, mid):
                self.merged_into[(obj.name, old)] = new_id
            for key, target in list(self.merged_into.items()):  # ids merged earlier follow along
                if key[0] == obj.name and target in (pid, mid):
                    self.merged_into[key] = new_id
        self._move_associations(obj.name, pid, new_id)
        return Response.json(200, self._render(obj, table.rows([row]), self._props(obj, None))[0], JSON)

    def _move_associations(self, name: str, merged_id: int, primary_id: int) -> None:
        """The merged record's associations to the primary one (its primary company a plain link when the
        primary has one)."""
        for (frm, to), assoc in self.associations.items():
            for column, other in (("from_id", frm), ("to_id", to)):
                if other != name:
                    continue
                frame = assoc.frame()
                kind = PRIMARY_ASSOCIATION_TYPES.get((frm, to))
                if column == "from_id" and kind is not None:
                    # the primary record keeps its own primary link; the merged one's becomes a plain link
                    has_primary = frame.filter(
                        (pl.col("from_id") == primary_id) & (pl.col("type_id") == kind)
                    )
                    if has_primary.height:
                        frame = frame.filter(
                            ~((pl.col("from_id") == merged_id) & (pl.col("type_id") == kind))
                        )
                moved = frame.with_columns(
                    pl.when(pl.col(column) == merged_id)
                    .then(primary_id)
                    .otherwise(pl.col(column))
                    .alias(column)
                ).unique(maintain_order=True)
                assoc.replace(moved)
