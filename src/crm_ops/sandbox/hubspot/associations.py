"""Associations: v4 batch read (207 with NO_ASSOCIATIONS_FOUND for inputs without any), batch
associate/default (the unlabeled link, plus the primary one where the pair has one), batch archive,
and one object's associations; and the lookup the v3 list's ``associations`` parameter shares."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.hubspot.common import JSON, HsError, iso
from crm_ops.sandbox.hubspot.records import RecordModel
from crm_ops.sandbox.objects import ASSOCIATION_TYPES, PRIMARY_ASSOCIATION_TYPES
from crm_ops.sandbox.store import Table

MAX_ASSOC_BATCH = 1000


def associated(
    associations: dict[tuple[str, str], Table], frm: str, to: str, ids: list[int]
) -> dict[int, list[tuple[int, list[int]]]]:
    """For each id of ``frm``, the ``to`` ids associated with it and the type ids of each link."""
    try:
        key, flipped = association_table(associations, frm, to)
    except HsError:
        return {}
    frame = associations[key].frame()
    src, dst = ("to_id", "from_id") if flipped else ("from_id", "to_id")
    forward = not flipped
    pair = (frm, to)
    hits = frame.filter(pl.col(src).is_in(ids))
    grouped: dict[int, dict[int, list[int]]] = {}
    for s, d, t in hits.select(src, dst, "type_id").iter_rows():
        type_id = int(t)
        if not forward:  # answer with the type ids of this direction
            type_id = (
                PRIMARY_ASSOCIATION_TYPES.get(pair)
                if type_id in PRIMARY_ASSOCIATION_TYPES.values()
                else ASSOCIATION_TYPES.get(pair)
            ) or type_id
        grouped.setdefault(int(s), {}).setdefault(int(d), []).append(type_id)
    return {s: sorted(v.items()) for s, v in grouped.items()}


def association_table(
    associations: dict[tuple[str, str], Table], from_type: str, to_type: str
) -> tuple[tuple[str, str], bool]:
    """The stored pair behind a request's (from, to), and whether the request runs against it."""
    frm, to = from_type.lower(), to_type.lower()
    if (frm, to) in associations:
        return (frm, to), False
    if (to, frm) in associations:
        return (to, frm), True
    raise HsError(400, "VALIDATION_ERROR", f"Unknown association {from_type} -> {to_type}")


class AssociationHandlers(RecordModel):
    """The v4 association endpoints."""

    def _pairs(self, inputs: list[dict[str, Any]], frm: str, to: str) -> list[tuple[int, list[int]]]:
        """(from id, [to ids]) of association inputs, each id checked to be a live record."""
        (fobj, ftable), (tobj, ttable) = self._object(frm), self._object(to)
        out = []
        for item in inputs:
            source = str((item.get("from") or {}).get("id", ""))
            targets = item.get("to")
            targets = targets if isinstance(targets, list) else [targets or {}]
            target_ids = [str((t or {}).get("id", "")) for t in targets]
            if self._row(fobj, ftable, source) is None:
                raise HsError(400, "VALIDATION_ERROR", f"{frm} {source} does not exist")
            for target in target_ids:
                if self._row(tobj, ttable, target) is None:
                    raise HsError(400, "VALIDATION_ERROR", f"{to} {target} does not exist")
            out.append((int(source), [int(t) for t in target_ids]))
        return out

    def _complete(
        self, results: list[dict[str, Any]], started: datetime, errors: list[dict[str, Any]] | None = None
    ) -> Response:
        """A v4 association batch answer: 200, or 207 with ``numErrors`` and ``errors`` when some failed."""
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        body.update(startedAt=iso(started), completedAt=iso(self.now()))
        return Response.json(207 if errors else 200, body, JSON)

    def association_batch_default(self, request: Request, from_type: str, to_type: str) -> Response:
        """POST /crm/v4/associations/{from}/{to}/batch/associate/default: the default (unlabeled) link,
        plus the primary one where the pair has a primary and the record has none yet."""
        from_type, to_type = self._type_name(from_type), self._type_name(to_type)
        key, flipped = association_table(self.associations, from_type, to_type)
        started = self.now()
        pairs = self._pairs(self._batch_inputs(self._body(request), MAX_ASSOC_BATCH), from_type, to_type)
        table = self.associations[key]
        primary = PRIMARY_ASSOCIATION_TYPES.get(key)
        request_pair = (from_type.lower(), to_type.lower())
        results = []
        with table.lock:
            frame = table.frame()
            has_primary = (
                set(frame.filter(pl.col("type_id") == primary)["from_id"].to_list()) if primary else set()
            )
            rows = []
            for source, targets in pairs:
                for target in targets:
                    s, d = (target, source) if flipped else (source, target)
                    types = [ASSOCIATION_TYPES[key]]
                    if primary is not None and s not in has_primary:
                        types.append(primary)
                        has_primary.add(s)
                    rows += [(s, d, t) for t in types]
                    for t in types:
                        answer = (
                            t
                            if not flipped
                            else (
                                PRIMARY_ASSOCIATION_TYPES.get(request_pair)
                                if t == primary
                                else ASSOCIATION_TYPES.get(request_pair)
                            )
                            or t
                        )
                        results.append(
                            {
                                "from": {"id": str(source)},
                                "to": {"id": str(target)},
                                "associationSpec": {
                                    "associationCategory": "HUBSPOT_DEFINED",
                                    "associationTypeId": answer,
                                },
                            }
                        )
            if rows:
                extra = pl.DataFrame(rows, schema=frame.schema, orient="row")
                table.replace(pl.concat([frame, extra]).unique(maintain_order=True))
        return self._complete(results, started)

    def association_batch_archive(self, request: Request, from_type: str, to_type: str) -> Response:
        """POST /crm/v4/associations/{from}/{to}/batch/archive: remove every link type between the
        pairs; 204."""
        from_type, to_type = self._type_name(from_type), self._type_name(to_type)
        key, flipped = association_table(self.associations, from_type, to_type)
        inputs = self._batch_inputs(self._body(request), MAX_ASSOC_BATCH)
        gone = []
        for item in inputs:
            source = str((item.get("from") or {}).get("id", ""))
            targets = item.get("to")
            targets = targets if isinstance(targets, list) else [targets or {}]
            for t in targets:
                target = str((t or {}).get("id", ""))
                if source.isdigit() and target.isdigit():
                    a, b = int(source), int(target)
                    gone.append((b, a) if flipped else (a, b))
        if gone:
            table = self.associations[key]
            with table.lock:
                drop = pl.DataFrame(gone, schema={"from_id": pl.Int64, "to_id": pl.Int64}, orient="row")
                table.replace(table.frame().join(drop, on=["from_id", "to_id"], how="anti"))
        return Response(204)

    def association_batch_read(self, request: Request, from_type: str, to_type: str) -> Response:
        """POST /crm/v4/associations/{from}/{to}/batch/read."""
        frm, to = self._type_name(from_type), self._type_name(to_type)
        if frm not in self.types or to not in self.types:
            raise HsError(400, "VALIDATION_ERROR", f"Unknown association {from_type} -> {to_type}")
        started = self.now()
        inputs = self._batch_inputs(self._body(request), MAX_ASSOC_BATCH)
        ids = [int(i["id"]) for i in inputs if str(i.get("id", "")).isdigit()]
        found = associated(self.associations, frm, to, ids)
        results, errors = [], []
        for object_id in ids:
            links = found.get(object_id)
            if not links:
                errors.append(self._no_associations(frm, to, object_id))
                continue
            results.append(
                {
                    "from": {"id": str(object_id)},
                    "to": [
                        {
                            "toObjectId": target,
                            "associationTypes": [
                                {
                                    "category": "HUBSPOT_DEFINED",
                                    "typeId": t,
                                    "label": "Primary" if t in PRIMARY_ASSOCIATION_TYPES.values() else None,
                                }
                                for t in types
                            ],
                        }
                        for target, types in links
                    ],
                }
            )
        # As HubSpot answers: 207, with one OBJECT_NOT_FOUND / NO_ASSOCIATIONS_FOUND error for each input
        # that has none, and status COMPLETE.
        return self._complete(results, started, errors)

    @staticmethod
    def _no_associations(frm: str, to: str, object_id: int) -> dict[str, Any]:
        source, target = frm.removesuffix("s").replace("companie", "company"), to.removesuffix("s")
        target = target.replace("companie", "company")
        return {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
            "context": {
                "fromObjectId": [str(object_id)],
                "fromObjectType": [source],
                "toObjectType": [target],
            },
            "message": f"No {target} is associated with {source} {object_id}.",
        }

    def object_associations(self, request: Request, from_type: str, object_id: str, to_type: str) -> Response:
        """GET /crm/v4/objects/{from}/{id}/associations/{to}."""
        if not object_id.isdigit():
            raise HsError(400, "VALIDATION_ERROR", f"invalid id {object_id}")
        frm, to = self._type_name(from_type), self._type_name(to_type)
        links = associated(self.associations, frm, to, [int(object_id)]).get(int(object_id), [])
        results = [
            {
                "toObjectId": target,
                "associationTypes": [
                    {"category": "HUBSPOT_DEFINED", "typeId": t, "label": None} for t in types
                ],
            }
            for target, types in links
        ]
        return Response.json(200, {"results": results}, JSON)
