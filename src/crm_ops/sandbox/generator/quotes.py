"""Quotes (issue 26): Salesforce ``Quote`` on opportunities and HubSpot ``quotes`` associated with deals,
with a few seeded defects.

Volume: 1 or 2 quotes on ``QUOTED`` of the live opportunities and deals that have an amount. A quote
expires ``VALID_DAYS`` after it is made; its total is its opportunity's amount.

Built from random streams of their own (the seed plus ``STREAM``) after the tombstones are chosen, so
every other table and ground truth of a seed stays exactly what it was without them.

Clean data: a quote still open (Salesforce Draft, Needs Review, In Review, Approved or Presented;
HubSpot DRAFT, PENDING_APPROVAL, or published, APPROVAL_NOT_NEEDED or APPROVED, and not signed) expires
after today; an expired quote was accepted, denied or rejected (HubSpot: rejected, or signed). Ground truth
(``quote_expired_open`` defects): expired quotes left open. A few quotes of each side are deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox.generator.columns import _pick, free_rows, numbered
from crm_ops.sandbox.generator.common import GenState, _frame, _timestamps, defect
from crm_ops.sandbox.objects import ASSOCIATION_TYPES, HUBSPOT_OBJECTS, SALESFORCE_OBJECTS, sf_ids

STREAM = 2628
QUOTED = 0.4
VALID_DAYS = 30
EXPIRED_OPEN, DELETED = 0.05, 0.02
KIND = "quote_expired_open"
SF_OPEN = ("Draft", "Needs Review", "In Review", "Approved", "Presented")
SF_FINAL = ("Accepted", "Accepted", "Denied", "Rejected")
HS_OPEN = ("DRAFT", "PENDING_APPROVAL", "APPROVAL_NOT_NEEDED", "APPROVED")
HS_PUBLISHED = ("APPROVAL_NOT_NEEDED", "APPROVED")


class Quotes(GenState):
    """The quotes of both CRMs."""

    def quotes(
        self,
        sf: dict[str, pl.DataFrame],
        hs: dict[str, pl.DataFrame],
        associations: dict[tuple[str, str], pl.DataFrame],
    ) -> list[dict[str, Any]]:
        """``Quote`` into ``sf``, ``quotes`` (associated with their deals) into ``hs``; returns the deleted
        quotes of both sides."""
        rng = np.random.default_rng(self.cfg.seed + STREAM)
        sf["Quote"] = self._sf_quotes(rng, sf["Opportunity"])
        hs["quotes"], deals = self._hs_quotes(rng, hs["deals"])
        key = ("quotes", "deals")
        associations[key] = pl.DataFrame(
            {
                "from_id": hs["quotes"]["id"],
                "to_id": deals,
                "type_id": np.full(len(deals), ASSOCIATION_TYPES[key]),
            },
            schema={"from_id": pl.Int64, "to_id": pl.Int64, "type_id": pl.Int32},
        )
        return self._deleted_pair(rng, sf, hs, ("Quote", "quotes"), DELETED)

    def _made(
        self, rng: np.random.Generator, parents: pl.DataFrame, amount: str
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Which parents get quotes (row of each quote), with when each was made and expires, and whether
        it expired before today."""
        quoted = parents.filter(pl.Series(rng.random(parents.height) < QUOTED))
        rows = np.repeat(np.arange(quoted.height), rng.integers(1, 3, quoted.height))
        n = len(rows)
        created = _timestamps(rng, self.today, n, 400, 0.5)
        expires = (created.astype("datetime64[D]") + np.timedelta64(VALID_DAYS, "D")).astype("datetime64[D]")
        expired = expires <= np.datetime64(self.today)
        end = np.datetime64(datetime.combine(self.today, datetime.min.time()), "ms")
        modified = np.minimum(created + (rng.uniform(0, 20, n) * 86_400_000).astype("timedelta64[ms]"), end)
        return rows, {
            "parents": quoted,
            "n": n,
            "created": created,
            "modified": modified,
            "expires": expires,
            "expired": expired,
            "total": quoted[amount].to_numpy()[rows],
        }

    def _left_open(self, rng: np.random.Generator, expired: np.ndarray, n: int) -> list[int]:
        pool = np.flatnonzero(expired)
        k = min(len(pool), self._seeded(n, EXPIRED_OPEN)) if n else 0
        return sorted(rng.choice(pool, k, replace=False).tolist()) if k else []

    def _sf_quotes(self, rng: np.random.Generator, opportunities: pl.DataFrame) -> pl.DataFrame:
        live = opportunities.filter(~pl.col("IsDeleted") & (pl.col("Amount").fill_null(0) >= 100))
        rows, q = self._made(rng, live, "Amount")
        n, parents = q["n"], q["parents"]
        ids = sf_ids(SALESFORCE_OBJECTS["Quote"].key_prefix, 0, n).to_numpy()
        status = np.where(
            q["expired"], _pick(rng, SF_FINAL, n), _pick(rng, SF_OPEN + SF_FINAL[:1], n)
        ).astype(object)
        for row in self._left_open(rng, q["expired"], n):
            status[row] = SF_OPEN[int(rng.integers(0, len(SF_OPEN)))]
            self.defects.append(
                defect(KIND, "salesforce", "Quote", str(ids[row]), "Status", status[row], None)
            )
        taken = {d["record_id"] for d in self.defects}
        free = free_rows(ids, taken)
        deleted = np.zeros(n, dtype=bool)
        if len(free) and n:
            deleted[rng.choice(free, min(len(free), max(1, int(n * DELETED))), replace=False)] = True
        return _frame(
            SALESFORCE_OBJECTS["Quote"].schema(),
            {
                "Id": ids,
                "IsDeleted": deleted,
                "Name": np.asarray([f"{p} Quote" for p in parents["Name"].to_numpy()[rows]], dtype=object),
                "OpportunityId": parents["Id"].to_numpy()[rows],
                "AccountId": parents["AccountId"].to_numpy()[rows],
                "QuoteNumber": numbered("{}", 1, n, 8),
                "Status": status,
                "ExpirationDate": q["expires"],
                "Subtotal": q["total"],
                "TotalPrice": q["total"],
                "GrandTotal": q["total"],
                "IsSyncing": False,
                "CreatedDate": q["created"],
                "CreatedById": self.user_ids[0],
                "LastModifiedDate": q["modified"],
                "LastModifiedById": self.user_ids[0],
                "SystemModstamp": q["modified"],
            },
            n,
        )

    def _hs_quotes(self, rng: np.random.Generator, deals: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
        live = deals.filter(~pl.col("archived").fill_null(False) & (pl.col("amount").fill_null(0) >= 100))
        rows, q = self._made(rng, live, "amount")
        n, parents = q["n"], q["parents"]
        obj = HUBSPOT_OBJECTS["quotes"]
        ids = np.arange(obj.id_base, obj.id_base + n, dtype=np.int64)
        expired = q["expired"]
        # an expired quote was rejected or signed; an open one may be anywhere in its approval
        rejected = expired & (rng.random(n) < 0.3)
        status = np.where(rejected, "REJECTED", _pick(rng, HS_OPEN, n)).astype(object)
        status = np.where(expired & ~rejected, _pick(rng, HS_PUBLISHED, n), status).astype(object)
        unsigned = np.where(rng.random(n) < 0.5, "NOT_SIGNED", np.full(n, None, dtype=object))
        signed = np.where(expired & ~rejected, "SIGNED", unsigned).astype(object)
        for row in self._left_open(rng, expired, n):
            status[row] = HS_OPEN[int(rng.integers(0, len(HS_OPEN)))]
            signed[row] = "NOT_SIGNED"
            self.defects.append(
                defect(KIND, "hubspot", "quotes", str(ids[row]), "hs_status", status[row], None)
            )
        frame = _frame(
            obj.schema(),
            {
                "id": ids,
                "hs_title": np.asarray(
                    [f"{p} quote" for p in parents["dealname"].to_numpy()[rows]], dtype=object
                ),
                "hs_status": status,
                "hs_sign_status": signed,
                "hs_expiration_date": q["expires"],
                "hs_quote_amount": q["total"],
                "hs_quote_number": numbered("{}", 20260001, n, 1),
                "hubspot_owner_id": parents["hubspot_owner_id"].to_numpy()[rows],
                "hs_createdate": q["created"],
                "hs_lastmodifieddate": q["modified"],
                "archived": False,
            },
            n,
        )
        return frame, parents["id"].to_numpy()[rows]
