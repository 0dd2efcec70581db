"""Activities (issue 26), the largest tables of an org: Salesforce ``Task`` (calls logged as tasks among
them) and HubSpot's engagements ``tasks`` and ``calls``, about ``SeedConfig.activities_per_contact``
records a contact on each CRM, with a few seeded defects.

Built from a random stream of its own (the seed plus ``STREAM``) after the tombstones are chosen, so every
other table and ground truth of a seed stays exactly what it was without them. Ground truth in the
manifest's defects: ``activity_overdue`` (an open task due more than a year ago: no other open task is
due before ``OVERDUE_DAYS`` ago) and, on Salesforce, ``activity_orphan`` (a live task whose ``WhoId`` is
a contact in the recycle bin). A few activities are deleted (recycle bin, archived) and listed with the
other deleted records.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox.generator.common import GenState, _frame, _pick, _timestamps
from crm_ops.sandbox.objects import ASSOCIATION_TYPES, HUBSPOT_OBJECTS, SALESFORCE_OBJECTS, sf_ids

STREAM = 27
OVERDUE_DAYS = 365  # an open task due longer ago than this is a defect (and only seeded ones are)
HS_TASK_SHARE = 0.6  # of HubSpot's activities, tasks; the rest are calls
CALL_SHARE = 0.3  # of Salesforce's tasks, logged calls (TaskSubtype Call)
ON_LEAD = 0.1  # of Salesforce's tasks, on a lead rather than a contact
OVERDUE, ORPHAN, DELETED = 0.002, 0.002, 0.01
SUBJECTS = ("Follow up", "Call back", "Send proposal", "Check in", "Demo", "Renewal call", "Intro email")
TASK_OPEN = ("Not Started", "In Progress", "Waiting on someone else")
HS_OPEN = ("NOT_STARTED", "IN_PROGRESS", "WAITING")


class Activities(GenState):
    """The activities of both CRMs."""

    def activities(
        self,
        sf: dict[str, pl.DataFrame],
        hs: dict[str, pl.DataFrame],
        associations: dict[tuple[str, str], pl.DataFrame],
    ) -> list[dict[str, Any]]:
        """``Task`` into ``sf``, ``tasks`` and ``calls`` into ``hs`` with their associations to contacts
        and companies; returns the deleted ones as deleted records."""
        rng = np.random.default_rng(self.cfg.seed + STREAM)
        per = self.cfg.activities_per_contact
        contacts = sf["Contact"]
        n_sf = int(contacts.filter(~pl.col("IsDeleted")).height * per)
        sf["Task"], deleted = self._sf_tasks(rng, sf, n_sf)
        live = hs["contacts"].filter(~pl.col("archived").fill_null(False))["id"].to_numpy()
        n_hs = int(len(live) * per)
        n_tasks = int(n_hs * HS_TASK_SHARE)
        owners = hs["companies"]["hubspot_owner_id"].drop_nulls().unique().sort().to_numpy()
        companies = hs["companies"].filter(~pl.col("archived").fill_null(False))["id"].to_numpy()
        for name, n in (("tasks", n_tasks), ("calls", n_hs - n_tasks)):
            frame, gone = self._hs_engagements(rng, name, n, owners)
            hs[name] = frame
            deleted += gone
            ids = frame["id"].to_numpy()
            for target, pool, share in (("contacts", live, 1.0), ("companies", companies, 0.7)):
                if not len(pool) or not len(ids):
                    continue
                linked = ids[rng.random(len(ids)) < share]
                pair = (name, target)
                associations[pair] = pl.DataFrame(
                    {
                        "from_id": linked,
                        "to_id": pool[rng.integers(0, len(pool), len(linked))],
                        "type_id": np.full(len(linked), ASSOCIATION_TYPES[pair]),
                    },
                    schema={"from_id": pl.Int64, "to_id": pl.Int64, "type_id": pl.Int32},
                )
        self._bad_values(sf, hs)
        return deleted

    def _bad_values(self, sf: dict[str, pl.DataFrame], hs: dict[str, pl.DataFrame]) -> None:
        """Each activity defect's bad value: the record's value as served (the due date, the WhoId)."""
        mine = [d for d in self.defects if str(d["kind"]).startswith("activity_")]
        for system, obj, field in {(d["system"], d["object"], d["field"]) for d in mine}:
            frame, key = (sf[obj], "Id") if system == "salesforce" else (hs[obj], "id")
            ids = [
                d["record_id"] for d in mine if (d["system"], d["object"], d["field"]) == (system, obj, field)
            ]
            rows = frame.select(pl.col(key).cast(pl.String), field).filter(pl.col(key).is_in(ids))
            values = {i: None if v is None else str(v) for i, v in rows.iter_rows()}
            for d in mine:
                if (d["system"], d["object"], d["field"]) == (system, obj, field):
                    d["bad_value"] = values[d["record_id"]]

    # ------------------------------------------------------------------------------------ Salesforce

    def _sf_tasks(
        self, rng: np.random.Generator, sf: dict[str, pl.DataFrame], n: int
    ) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
        contacts = sf["Contact"]
        live = contacts.filter(~pl.col("IsDeleted"))
        leads = sf["Lead"].filter(~pl.col("IsDeleted"))["Id"].to_numpy()
        ids = sf_ids(SALESFORCE_OBJECTS["Task"].key_prefix, 0, n).to_numpy()
        who_row = rng.integers(0, max(1, live.height), n)
        who = live["Id"].to_numpy()[who_row].astype(object) if live.height else np.full(n, None, object)
        account = live["AccountId"].to_numpy()[who_row].astype(object) if live.height else who.copy()
        on_lead = (rng.random(n) < ON_LEAD) & (len(leads) > 0)
        if on_lead.any():
            who[on_lead] = leads[rng.integers(0, len(leads), int(on_lead.sum()))]
            account[on_lead] = None
        opps = sf["Opportunity"].filter(~pl.col("IsDeleted")).select("Id", "AccountId")
        on_opp = (rng.random(n) < 0.25) & ~on_lead & (opps.height > 0)
        what = account.copy()
        if on_opp.any():
            picked = rng.integers(0, opps.height, int(on_opp.sum()))
            what[on_opp] = opps["Id"].to_numpy()[picked]
            account[on_opp] = opps["AccountId"].to_numpy()[picked]
        call = rng.random(n) < CALL_SHARE
        # due dates from two years ago to a month ahead; calls are logged when made, so in the past
        due = (np.datetime64(self.today) - rng.integers(-30, 730, n).astype("timedelta64[D]")).astype(
            "datetime64[D]"
        )
        due = np.where(call, due - np.timedelta64(31, "D"), due)
        age = (np.datetime64(self.today) - due).astype(int)
        # what is due: mostly done when past, open when ahead; nothing open due over a year ago
        done = np.where(age > 0, rng.random(n) < 0.9, rng.random(n) < 0.1) | call | (age > OVERDUE_DAYS)
        status = np.where(done, "Completed", _pick(rng, TASK_OPEN, n)).astype(object)
        overdue = self._rows(rng, np.flatnonzero(~call & ~on_lead), n, OVERDUE)
        for row in overdue.tolist():
            due[row] = np.datetime64(self.today) - np.timedelta64(
                int(rng.integers(OVERDUE_DAYS + 5, 900)), "D"
            )
            status[row] = TASK_OPEN[int(rng.integers(0, len(TASK_OPEN)))]
            self.defects.append(
                self._activity_defect("salesforce", "Task", str(ids[row]), "ActivityDate", "overdue")
            )
        closed = status == "Completed"
        now = np.datetime64(datetime.combine(self.today, datetime.min.time()), "ms")  # nothing later
        created = np.minimum(
            _timestamps(rng, self.today, n, 40, 1)
            - (np.maximum(age, 0) * 86_400_000).astype("timedelta64[ms]"),
            now,
        )
        modified = np.minimum(created + (rng.uniform(0, 5, n) * 86_400_000).astype("timedelta64[ms]"), now)
        subtype = np.where(call, "Call", _pick(rng, ("Task", "Task", "Email"), n)).astype(object)
        taken = set(overdue.tolist())
        free = np.asarray([r for r in range(n) if r not in taken], dtype=np.int64)
        gone_rows = self._rows(rng, free, n, DELETED) if len(free) else np.asarray([], dtype=np.int64)
        is_deleted = np.zeros(n, dtype=bool)
        is_deleted[gone_rows] = True
        # tasks whose contact is in the recycle bin (the Who left behind, e.g. by an integration's delete)
        dead = contacts.filter(pl.col("IsDeleted")).select("Id", "AccountId")
        orphan_pool = np.flatnonzero(~is_deleted & ~on_lead & ~np.isin(np.arange(n), overdue))
        orphans = self._rows(rng, orphan_pool, n, ORPHAN) if dead.height else np.asarray([], dtype=np.int64)
        for row in orphans.tolist():
            pick = int(rng.integers(0, dead.height))
            who[row], account[row] = dead["Id"][pick], dead["AccountId"][pick]
            what[row] = account[row]
            self.defects.append(self._activity_defect("salesforce", "Task", str(ids[row]), "WhoId", "orphan"))
        modified = np.where(
            is_deleted, np.minimum(modified + np.timedelta64(86_400_000, "ms"), now), modified
        )
        owners = self.user_ids[self.active_owners[rng.integers(0, len(self.active_owners), n)]]
        frame = _frame(
            SALESFORCE_OBJECTS["Task"].schema(),
            {
                "Id": ids,
                "WhoId": who,
                "WhatId": what,
                "WhoCount": (who != None).astype(np.int64),  # noqa: E711 - elementwise
                "WhatCount": (what != None).astype(np.int64),  # noqa: E711 - elementwise
                "Subject": np.where(call, "Call", _pick(rng, SUBJECTS, n)).astype(object),
                "ActivityDate": due,
                "Status": status,
                "Priority": _pick(rng, ("Normal", "Normal", "Normal", "High", "Low"), n),
                "OwnerId": owners,
                "Type": np.where(call, "Call", _pick(rng, ("Email", "Meeting", "Other"), n)).astype(object),
                "IsDeleted": is_deleted,
                "AccountId": account,
                "IsClosed": closed,
                "CreatedDate": created,
                "CreatedById": self.user_ids[0],
                "LastModifiedDate": modified,
                "LastModifiedById": self.user_ids[0],
                "SystemModstamp": modified,
                "CallDurationInSeconds": np.where(call, rng.integers(20, 3600, n), 0),
                "CallType": np.where(
                    call, _pick(rng, ("Inbound", "Outbound", "Outbound"), n), np.array(None)
                ),
                "TaskSubtype": subtype,
                "CompletedDateTime": np.where(closed, modified, np.datetime64("NaT", "ms")),
            },
            n,
        )
        frame = frame.with_columns(
            (pl.col("Priority") == "High").alias("IsHighPriority"),
            pl.when(pl.col("TaskSubtype") == "Call")
            .then(pl.col("CallDurationInSeconds"))
            .otherwise(None)
            .alias("CallDurationInSeconds"),
        ).with_columns(pl.col(pl.Boolean).fill_null(False))
        deleted = [
            {"system": "salesforce", "object": "Task", "record_id": i, "deleted_at": m}
            for i, m in frame.filter(pl.col("IsDeleted")).select("Id", "SystemModstamp").iter_rows()
        ]
        return frame, deleted

    # ------------------------------------------------------------------------------------ HubSpot

    def _hs_engagements(
        self, rng: np.random.Generator, name: str, n: int, owners: np.ndarray
    ) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
        obj = HUBSPOT_OBJECTS[name]
        ids = np.arange(obj.id_base, obj.id_base + n, dtype=np.int64)  # a row is its id less the base
        end = np.datetime64(datetime.combine(self.today, datetime.min.time()), "ms")
        if name == "calls":
            when = _timestamps(rng, self.today, n, 730, 0.01)
        else:
            when = end - (rng.uniform(-30, 730, n) * 86_400_000).astype("timedelta64[ms]")
        age = (end - when).astype("timedelta64[D]").astype(int)
        values: dict[str, Any] = {
            "id": ids,
            "hs_timestamp": when,
            "hubspot_owner_id": rng.choice(owners, n) if len(owners) else None,
            "archived": False,
        }
        if name == "tasks":
            done = np.where(age > 0, rng.random(n) < 0.9, rng.random(n) < 0.1) | (age > OVERDUE_DAYS)
            status = np.where(done, "COMPLETED", _pick(rng, HS_OPEN, n)).astype(object)
            overdue = self._rows(rng, np.arange(n), n, OVERDUE)
            for row in overdue.tolist():
                days = int(rng.integers(OVERDUE_DAYS + 5, 900))
                when[row] = end - np.timedelta64(days * 86_400_000, "ms")
                status[row] = HS_OPEN[int(rng.integers(0, len(HS_OPEN)))]
                self.defects.append(
                    self._activity_defect("hubspot", name, str(ids[row]), "hs_timestamp", "overdue")
                )
            values.update(
                hs_task_subject=_pick(rng, SUBJECTS, n),
                hs_task_status=status,
                hs_task_priority=_pick(rng, ("NONE", "LOW", "MEDIUM", "MEDIUM", "HIGH"), n),
                hs_task_type=_pick(rng, ("TODO", "TODO", "CALL", "EMAIL"), n),
            )
        else:
            overdue = np.asarray([], dtype=np.int64)
            values.update(
                hs_call_title=_pick(rng, ("Discovery call", "Follow-up call", "Support call", "Call"), n),
                hs_call_status=_pick(rng, ("COMPLETED",) * 8 + ("BUSY", "FAILED"), n),
                hs_call_direction=_pick(rng, ("INBOUND", "OUTBOUND", "OUTBOUND"), n),
                hs_call_duration=rng.integers(20_000, 3_600_000, n).astype(float),
            )
        created = np.minimum(when, end) - (rng.uniform(0.01, 20, n) * 86_400_000).astype("timedelta64[ms]")
        values["hs_timestamp"] = when
        values["hs_createdate"] = created
        values["hs_lastmodifieddate"] = np.minimum(
            created + (rng.uniform(0, 5, n) * 86_400_000).astype("timedelta64[ms]"), end
        )
        frame = _frame(obj.schema(), values, n)
        taken = set(overdue.tolist())
        free = [r for r in range(n) if r not in taken]
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

    # ------------------------------------------------------------------------------------ shared

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
