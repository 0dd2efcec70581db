"""A custom object on each side (issue 26): Salesforce ``Subscription__c`` (a lookup to Account) and the
HubSpot custom object type ``p_subscriptions`` (associated with companies), with a few seeded defects.

Built from a random stream of its own (the seed plus ``STREAM``), so the core tables, and every other
ground truth, stay exactly those of a seed without it. The Salesforce table is made with the others;
the HubSpot associations are added after the tombstones are chosen (``subscription_links``), so which
companies are deleted does not change either. Ground truth: blank statuses and subscriptions with no
account are ``custom_blank`` defects in the manifest; a few records are deleted (recycle bin, archived)
and listed with the other deleted records. A few live, clean subscriptions are entered twice (a stream
of their own again, ``STREAM + 2``): the copy has the next name number, was made after its original and
has its account (association), plan, seats and MRR, its start and end dates the same or a day or two off
(``COPY_KINDS``); each pair is a cluster in the manifest's duplicates. Neither is deleted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox.generator.columns import _pick, _pick_series, free_rows, numbered
from crm_ops.sandbox.generator.common import GenState, _frame, _timestamps, blank_defect, copy_pairs
from crm_ops.sandbox.objects import ASSOCIATION_TYPES, HUBSPOT_OBJECTS, SALESFORCE_OBJECTS, sf_ids

STREAM = 26
SF_OBJECT, HS_OBJECT = "Subscription__c", "p_subscriptions"
PER_ACCOUNT = 0.8  # subscriptions per account (and per company)
BLANK_STATUS = 0.04
NO_ACCOUNT = 0.02
DELETED = 0.02
KIND = "custom_blank"
DUPLICATED = 0.03  # the share of subscriptions entered twice
COPY_KINDS = ("exact", "dates_off")
PLANS = {"Starter": (49.0, 5), "Professional": (199.0, 20), "Enterprise": (899.0, 100)}


class Subscriptions(GenState):
    """The custom objects of both CRMs."""

    def subscriptions(self, sf: dict[str, pl.DataFrame], hs: dict[str, pl.DataFrame]) -> None:
        """``Subscription__c`` into ``sf`` and ``p_subscriptions`` (no associations yet) into ``hs``."""
        rng = np.random.default_rng(self.cfg.seed + STREAM)
        accounts = sf["Account"]["Id"].filter(~sf["Account"]["IsDeleted"]).to_numpy()
        reserved = set(getattr(self, "reserved_accounts", np.array([], dtype=np.int64)).tolist())
        accounts = np.asarray([a for i, a in enumerate(accounts) if i not in reserved], dtype=object)
        sf[SF_OBJECT] = self._sf_subscriptions(rng, accounts)
        owners = hs["companies"]["hubspot_owner_id"].drop_nulls().unique().sort().to_numpy()
        hs[HS_OBJECT] = self._hs_subscriptions(rng, max(1, int(hs["companies"].height * PER_ACCOUNT)), owners)
        if self.cfg.defect_rate > 0:
            copies = np.random.default_rng(self.cfg.seed + STREAM + 2)
            sf[SF_OBJECT] = self._copies(copies, "salesforce", sf[SF_OBJECT])
            hs[HS_OBJECT] = self._copies(copies, "hubspot", hs[HS_OBJECT])

    def _copies(self, rng: np.random.Generator, system: str, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with a few of its live, clean records entered again (``COPY_KINDS``), in the
        manifest's duplicates."""
        sfs = system == "salesforce"
        obj = SF_OBJECT if sfs else HS_OBJECT
        key, name = ("Id", "Name") if sfs else ("id", "subscription_name")
        created, modified = (
            ("CreatedDate", "LastModifiedDate") if sfs else ("hs_createdate", "hs_lastmodifieddate")
        )
        start, end = ("Start_Date__c", "End_Date__c") if sfs else ("start_date", "end_date")
        ids = frame[key].cast(pl.String)
        taken = pl.Series([d["record_id"] for d in self.defects], dtype=pl.String).implode()
        live = ~frame["IsDeleted"] if sfs else pl.Series([True] * frame.height)
        clean = (live & ~ids.is_in(taken)).arg_true().to_numpy()
        k = min(len(clean), max(1, int(frame.height * DUPLICATED)))
        rows = np.sort(rng.choice(clean, k, replace=False))
        kinds = np.asarray(COPY_KINDS, dtype=object)[rng.integers(0, len(COPY_KINDS), k)]
        shift = np.where(kinds == "dates_off", rng.choice([-2, -1, 1, 2], k), 0)
        n = frame.height
        if sfs:
            new_ids: list[Any] = sf_ids(SALESFORCE_OBJECTS[SF_OBJECT].key_prefix, n, k).to_list()
        else:
            new_ids = (HUBSPOT_OBJECTS[HS_OBJECT].id_base + n + np.arange(k)).tolist()
        days = pl.lit(pl.Series(shift.tolist(), dtype=pl.Int64))
        copies = frame[rows.tolist()].with_columns(
            pl.Series(key, new_ids, dtype=frame.schema[key]),
            pl.Series(name, [f"SUB-{n + j + 1:06d}" for j in range(k)], dtype=pl.String),
            pl.col(modified).alias(created),  # entered again after the original's last change
            pl.col(start) + pl.duration(days=days),
            pl.col(end) + pl.duration(days=days),
        )
        self.duplicates += copy_pairs(system, obj, rows.tolist(), kinds.tolist(), ids, new_ids)
        out: pl.DataFrame = pl.concat([frame, copies])
        return out

    def _values(self, rng: np.random.Generator, n: int) -> dict[str, Any]:
        plan = _pick(rng, tuple(PLANS), n)
        seats = np.asarray([rng.integers(1, PLANS[p][1] + 1) for p in plan], dtype=float)
        mrr = np.round(np.asarray([PLANS[p][0] for p in plan]) * seats, 2)
        start = _timestamps(rng, self.today, n, 900, 10).astype("datetime64[D]")
        end = start + np.timedelta64(365, "D")
        status = _pick(rng, ("Active", "Active", "Active", "Trial", "Past Due", "Cancelled"), n)
        created = _timestamps(rng, self.today, n, 900, 30)
        modified = _timestamps(rng, self.today, n, 25)
        return {
            "plan": plan,
            "seats": seats,
            "mrr": mrr,
            "start": start,
            "end": end,
            "status": status,
            "created": created,
            "modified": modified,
        }

    def _sf_subscriptions(self, rng: np.random.Generator, accounts: np.ndarray) -> pl.DataFrame:
        n = max(1, int(len(accounts) * PER_ACCOUNT))
        v = self._values(rng, n)
        ids = sf_ids(SALESFORCE_OBJECTS[SF_OBJECT].key_prefix, 0, n).to_numpy()
        account = accounts[rng.integers(0, len(accounts), n)].astype(object)
        status = v["status"].astype(object)
        deleted = np.zeros(n, dtype=bool)
        for row in rng.choice(n, self._seeded(n, BLANK_STATUS), replace=False).tolist():
            self.defects.append(
                blank_defect(KIND, "salesforce", SF_OBJECT, str(ids[row]), "Status__c", status[row])
            )
            status[row] = None
        free = [r for r in range(n) if status[r] is not None]
        for row in rng.choice(free, self._seeded(n, NO_ACCOUNT), replace=False).tolist():
            self.defects.append(
                blank_defect(KIND, "salesforce", SF_OBJECT, str(ids[row]), "Account__c", None)
            )
            account[row] = None
        taken = {d["record_id"] for d in self.defects}
        deleted[rng.choice(free_rows(ids, taken), max(1, int(n * DELETED)), replace=False)] = True
        owners = self.user_ids[self.active_owners[rng.integers(0, len(self.active_owners), n)]]
        return _frame(
            SALESFORCE_OBJECTS[SF_OBJECT].schema(),
            {
                "Id": ids,
                "OwnerId": owners,
                "IsDeleted": deleted,
                "Name": numbered("SUB-{}", 1, n, 6),
                "CreatedDate": v["created"],
                "CreatedById": self.user_ids[0],
                "LastModifiedDate": v["modified"],
                "LastModifiedById": self.user_ids[0],
                "SystemModstamp": v["modified"],
                "Account__c": account,
                "Status__c": status,
                "Plan__c": v["plan"],
                "MRR__c": v["mrr"],
                "Seats__c": v["seats"],
                "Start_Date__c": v["start"],
                "End_Date__c": v["end"],
            },
            n,
        )

    def _hs_subscriptions(self, rng: np.random.Generator, n: int, owners: np.ndarray) -> pl.DataFrame:
        v = self._values(rng, n)
        obj = HUBSPOT_OBJECTS[HS_OBJECT]
        ids = np.arange(obj.id_base, obj.id_base + n, dtype=np.int64)  # a row is its id less the base
        status = np.asarray([s.lower().replace(" ", "_") for s in v["status"]], dtype=object)
        for row in rng.choice(n, self._seeded(n, BLANK_STATUS), replace=False).tolist():
            self.defects.append(
                blank_defect(KIND, "hubspot", HS_OBJECT, str(ids[row]), "status", status[row])
            )
            status[row] = None
        return _frame(
            obj.schema(),
            {
                "id": ids,
                "hs_createdate": v["created"],
                "hs_lastmodifieddate": v["modified"],
                "hubspot_owner_id": _pick_series(rng, owners, n) if len(owners) else None,
                "subscription_name": numbered("SUB-{}", 1, n, 6),
                "status": status,
                "plan": np.asarray([p.lower() for p in v["plan"]], dtype=object),
                "mrr": v["mrr"],
                "seats": v["seats"],
                "start_date": v["start"],
                "end_date": v["end"],
                "archived": False,
            },
            n,
        )

    def subscription_links(
        self,
        sf: dict[str, pl.DataFrame],
        hs: dict[str, pl.DataFrame],
        associations: dict[tuple[str, str], pl.DataFrame],
    ) -> list[dict[str, Any]]:
        """Each HubSpot subscription associated with a live company (a few archived): the links put in
        ``associations``, the archived ones returned as deleted records."""
        rng = np.random.default_rng(self.cfg.seed + STREAM + 1)
        companies = hs["companies"]
        live = companies.filter(~pl.col("archived").fill_null(False))["id"].to_numpy()
        subs = hs[HS_OBJECT]
        ids = subs["id"].to_numpy()
        pair = (HS_OBJECT, "companies")
        to_id = live[rng.integers(0, len(live), len(ids))]
        # a copy is at its original's company
        mine = [d for d in self.duplicates if d["object"] == HS_OBJECT]
        original = {d["cluster_id"]: int(d["record_id"]) for d in mine if d["is_original"]}
        base = HUBSPOT_OBJECTS[HS_OBJECT].id_base  # a row is its id less the base
        for d in mine:
            if not d["is_original"]:
                to_id[int(d["record_id"]) - base] = to_id[original[d["cluster_id"]] - base]
        associations[pair] = pl.DataFrame(
            {
                "from_id": ids,
                "to_id": to_id,
                "type_id": np.full(len(ids), ASSOCIATION_TYPES[pair]),
            },
            schema={"from_id": pl.Int64, "to_id": pl.Int64, "type_id": pl.Int32},
        )
        # a seeded duplicate is never archived: the truth's pairs stay live on both sides
        return self._deleted_pair(
            rng, sf, hs, (SF_OBJECT, HS_OBJECT), DELETED, keep={d["record_id"] for d in mine}
        )
