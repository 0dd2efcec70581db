"""What the activity generators share: how many rows get a defect, the defect record, and archiving a
share of HubSpot engagements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox.generator.columns import _where, rows_but
from crm_ops.sandbox.generator.common import GenState

ORPHAN, DELETED = 0.002, 0.01  # of a kind's records: on a deleted contact; deleted themselves
DAY_MS = 86_400_000


class ActivityState(GenState):
    """The helpers of ``Activities`` and ``Engagements``."""

    @staticmethod
    def _who_what(
        rng: np.random.Generator,
        sf: dict[str, pl.DataFrame],
        n: int,
        on_lead_share: float,
        on_opp_share: float,
    ) -> tuple[pl.Series, pl.Series, pl.Series, np.ndarray]:
        """Who and What of ``n`` Salesforce activities, with their AccountId and which are on a lead: a
        live contact (and its account), or a live lead (``on_lead_share``, no account); the What is the
        account, or an opportunity of it (``on_opp_share`` of those on a contact). Columns gathered by
        polars: no Python object a row."""
        live = sf["Contact"].select("Id", "AccountId").filter(~sf["Contact"]["IsDeleted"])
        leads = sf["Lead"]["Id"].filter(~sf["Lead"]["IsDeleted"])
        who_row = rng.integers(0, max(1, live.height), n)
        if live.height:
            who, account = live["Id"].gather(who_row), live["AccountId"].gather(who_row)
        else:
            who, account = (pl.repeat(None, n, dtype=pl.String, eager=True) for _ in range(2))
        on_lead = (rng.random(n) < on_lead_share) & (len(leads) > 0)
        if on_lead.any():
            rows = np.flatnonzero(on_lead)
            who = who.scatter(rows, leads.gather(rng.integers(0, len(leads), len(rows))))
            account = _where(on_lead, None, account)
        opps = sf["Opportunity"].select("Id", "AccountId").filter(~sf["Opportunity"]["IsDeleted"])
        on_opp = (rng.random(n) < on_opp_share) & ~on_lead & (opps.height > 0)
        what = account.clone()  # scatter writes in place
        if on_opp.any():
            rows = np.flatnonzero(on_opp)
            picked = rng.integers(0, opps.height, len(rows))
            what = what.scatter(rows, opps["Id"].gather(picked))
            account = account.scatter(rows, opps["AccountId"].gather(picked))
        return who.rename("WhoId"), what.rename("WhatId"), account.rename("AccountId"), on_lead

    def _orphans(
        self,
        rng: np.random.Generator,
        dead: pl.DataFrame,
        rows: np.ndarray,
        columns: tuple[pl.Series, pl.Series, pl.Series],
    ) -> tuple[pl.Series, pl.Series, pl.Series]:
        """Who, What and AccountId with ``rows`` moved to a contact of ``dead`` (each drawn in turn), the
        What its account."""
        if not len(rows):
            return columns
        picks = [int(rng.integers(0, dead.height)) for _ in range(len(rows))]
        who, what, account = columns
        dead_account = dead["AccountId"].gather(picks)
        return (
            who.scatter(rows, dead["Id"].gather(picks)),
            what.scatter(rows, dead_account),
            account.scatter(rows, dead_account),
        )

    def _archive(
        self, rng: np.random.Generator, name: str, frame: pl.DataFrame, keep: set[int]
    ) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
        """``frame`` (HubSpot engagements ``name``) with ``DELETED`` of its rows not in ``keep`` (rows with
        a defect) archived in the last weeks, and those as deleted records."""
        n = frame.height
        ids = frame["id"].to_numpy()
        free = rows_but(n, keep)
        rows = self._rows(rng, free, n, DELETED) if len(free) else np.asarray([], dtype=np.int64)
        days = rng.integers(1, 20, len(rows))
        stop = datetime.combine(self.today, datetime.min.time(), tzinfo=UTC)
        stamps = [stop - timedelta(days=int(d)) for d in days.tolist()]
        archived = np.zeros(n, dtype=bool)
        archived[rows] = True
        at = np.full(n, np.datetime64("NaT"), dtype="datetime64[ms]")
        at[rows] = np.datetime64(stop.replace(tzinfo=None), "ms") - (days * DAY_MS).astype("timedelta64[ms]")
        frame = frame.with_columns(
            pl.Series("archived", archived, dtype=pl.Boolean),
            pl.Series("archivedAt", at).dt.replace_time_zone("UTC"),
        )
        return frame, [
            {"system": "hubspot", "object": name, "record_id": str(ids[r]), "deleted_at": s}
            for r, s in zip(rows.tolist(), stamps, strict=True)
        ]

    def _sf_owners(self, rng: np.random.Generator, n: int) -> pl.Series:
        """``n`` records' owners: active users, drawn at random."""
        rows = self.active_owners[rng.integers(0, len(self.active_owners), n)]
        return pl.Series(self.user_ids.tolist(), dtype=pl.String).gather(rows)

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
