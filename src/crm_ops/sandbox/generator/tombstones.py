"""Deleted records, as a real org has them: Salesforce's recycle bin (``IsDeleted``, seen by ``queryAll``)
and HubSpot's archived records (``archived=true`` list pulls, with ``archivedAt``).

Only records that carry no other truth are deleted (no defect, no duplicate, no cross-CRM pair, no
association, no contact role), so every other ground truth stays as it was; each one is noted in the
manifest's ``deleted`` table.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from crm_ops.sandbox.generator.common import GenState
from crm_ops.sandbox.store import scatter

# The share of eligible records of each kind that is deleted.
SALESFORCE_SHARE = {"Contact": 0.01, "Lead": 0.02}
HUBSPOT_SHARE = {"contacts": 0.03, "companies": 0.03}


class Tombstones(GenState):
    def _taken(self) -> set[str]:
        taken = {d["record_id"] for d in self.defects}
        taken |= {d["record_id"] for d in self.duplicates}
        taken |= {m[1] for m in self.matches} | {m[3] for m in self.matches}
        return taken

    def _deleted_at(self, modified: pl.Series) -> list[datetime]:
        """A moment after each record's last change and before today."""
        end = datetime.combine(self.today, datetime.min.time(), tzinfo=UTC)
        out = []
        for stamp, share in zip(modified.to_list(), self.rng.uniform(0.1, 0.9, modified.len()), strict=True):
            start = stamp if stamp is not None else end - timedelta(days=30)
            out.append(start + (end - start) * float(share))
        return [t.replace(microsecond=t.microsecond // 1000 * 1000) for t in out]

    def tombstones(
        self,
        sf: dict[str, pl.DataFrame],
        hs: dict[str, pl.DataFrame],
        associations: dict[tuple[str, str], pl.DataFrame],
    ) -> list[dict[str, Any]]:
        taken = self._taken()
        deleted: list[dict[str, Any]] = []
        with_role = sf["OpportunityContactRole"]["ContactId"].unique().implode()
        taken_ids = pl.Series(list(taken), dtype=pl.String).implode()
        for name, share in SALESFORCE_SHARE.items():
            frame = sf[name]
            ids = frame["Id"].to_list()
            free = ~frame["IsDeleted"] & ~frame["Id"].is_in(taken_ids) & ~frame["Id"].is_in(with_role)
            eligible = free.arg_true().to_list()
            k = int(len(eligible) * share)
            if not k:
                continue
            rows = sorted(self.rng.choice(eligible, k, replace=False).tolist())
            stamps = self._deleted_at(frame["SystemModstamp"].gather(rows))
            sf[name] = scatter(
                frame,
                {
                    "IsDeleted": dict.fromkeys(rows, True),
                    "SystemModstamp": dict(zip(rows, stamps, strict=True)),
                    "LastModifiedDate": dict(zip(rows, stamps, strict=True)),
                },
            )
            deleted += [
                {"system": "salesforce", "object": name, "record_id": ids[r], "deleted_at": s}
                for r, s in zip(rows, stamps, strict=True)
            ]
        ends = [frame[c].cast(pl.Int64) for frame in associations.values() for c in ("from_id", "to_id")]
        linked = pl.concat([pl.Series([], dtype=pl.Int64), *ends]).unique().implode()
        for name, share in HUBSPOT_SHARE.items():
            frame = hs[name]
            ids = frame["id"].to_list()
            free = ~frame["id"].cast(pl.String).is_in(taken_ids) & ~frame["id"].cast(pl.Int64).is_in(linked)
            eligible = free.arg_true().to_list()
            k = int(len(eligible) * share)
            if not k:
                continue
            rows = sorted(self.rng.choice(eligible, k, replace=False).tolist())
            stamps = self._deleted_at(frame["hs_lastmodifieddate"].gather(rows))
            hs[name] = scatter(
                frame,
                {"archived": dict.fromkeys(rows, True), "archivedAt": dict(zip(rows, stamps, strict=True))},
            )
            deleted += [
                {"system": "hubspot", "object": name, "record_id": str(ids[r]), "deleted_at": s}
                for r, s in zip(rows, stamps, strict=True)
            ]
        return deleted
