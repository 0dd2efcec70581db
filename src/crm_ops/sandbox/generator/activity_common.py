"""What the activity generators share: how many rows get a defect, the defect record, and archiving a
share of HubSpot engagements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox.generator.common import GenState

ORPHAN, DELETED = 0.002, 0.01  # of a kind's records: on a deleted contact; deleted themselves


class ActivityState(GenState):
    """The helpers of ``Activities`` and ``Engagements``."""

    @staticmethod
    def _who_what(
        rng: np.random.Generator,
        sf: dict[str, pl.DataFrame],
        n: int,
        on_lead_share: float,
        on_opp_share: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Who and What of ``n`` Salesforce activities, with their AccountId and which are on a lead: a
        live contact (and its account), or a live lead (``on_lead_share``, no account); the What is the
        account, or an opportunity of it (``on_opp_share`` of those on a contact)."""
        live = sf["Contact"].filter(~pl.col("IsDeleted"))
        leads = sf["Lead"].filter(~pl.col("IsDeleted"))["Id"].to_numpy()
        who_row = rng.integers(0, max(1, live.height), n)
        who = live["Id"].to_numpy()[who_row].astype(object) if live.height else np.full(n, None, object)
        account = live["AccountId"].to_numpy()[who_row].astype(object) if live.height else who.copy()
        on_lead = (rng.random(n) < on_lead_share) & (len(leads) > 0)
        if on_lead.any():
            who[on_lead] = leads[rng.integers(0, len(leads), int(on_lead.sum()))]
            account[on_lead] = None
        opps = sf["Opportunity"].filter(~pl.col("IsDeleted")).select("Id", "AccountId")
        on_opp = (rng.random(n) < on_opp_share) & ~on_lead & (opps.height > 0)
        what = account.copy()
        if on_opp.any():
            picked = rng.integers(0, opps.height, int(on_opp.sum()))
            what[on_opp] = opps["Id"].to_numpy()[picked]
            account[on_opp] = opps["AccountId"].to_numpy()[picked]
        return who, what, account, on_lead

    def _archive(
        self, rng: np.random.Generator, name: str, frame: pl.DataFrame, keep: set[int]
    ) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
        """``frame`` (HubSpot engagements ``name``) with ``DELETED`` of its rows not in ``keep`` (rows with
        a defect) archived in the last weeks, and those as deleted records."""
        n = frame.height
        ids = frame["id"].to_numpy()
        free = [r for r in range(n) if r not in keep]
        rows = sorted(self._rows(rng, np.asarray(free, dtype=np.int64), n, DELETED).tolist()) if free else []
        stop = datetime.combine(self.today, datetime.min.time(), tzinfo=UTC)
        stamps = [stop - timedelta(days=int(d)) for d in rng.integers(1, 20, len(rows))]
        archived = np.zeros(n, dtype=bool)
        archived[rows] = True
        at: list[datetime | None] = [None] * n
        for r, s in zip(rows, stamps, strict=True):
            at[r] = s
        frame = frame.with_columns(
            pl.Series("archived", archived, dtype=pl.Boolean),
            pl.Series("archivedAt", at, dtype=pl.Datetime("ms", "UTC")),
        )
        return frame, [
            {"system": "hubspot", "object": name, "record_id": str(ids[r]), "deleted_at": s}
            for r, s in zip(rows, stamps, strict=True)
        ]

    def _rows(self, rng: np.random.Generator, pool: np.ndarray, n: int, share: float) -> np.ndarray:
        """``share`` of ``n`` rows drawn from ``pool`` (none when the seed asks for no defects)."""
        k = min(len(pool), max(1, int(n * share))) if self.cfg.defect_rate > 0 and n else 0
        return np.sort(rng.choice(pool, k, replace=False)) if k else np.asarray([], dtype=np.int64)

    @staticmethod
    def _activity_defect(system: str, obj: str, record_id: str, field: str, kind: str) -> dict[str, Any]:
        return {
            "system": system,
            "object": obj,
            "record_id": record_id,
            "field": field,
            "kind": f"activity_{kind}",
            "bad_value": None,
            "correct_value": None,
        }
