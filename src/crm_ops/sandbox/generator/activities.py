"""Activities (issue 26), the largest tables of an org: about ``SeedConfig.activities_per_contact`` records
a live contact on each CRM, split across the kinds as ``SF_SHARES`` and ``HS_SHARES`` say. Salesforce
``Task`` (calls and e-mails logged as tasks among them) and ``Event`` (meetings); HubSpot's engagements
``tasks``, ``calls``, ``emails``, ``meetings`` and ``notes``. This module makes the tasks and calls and the
associations of every engagement; ``generator.engagements`` makes events, e-mails, meetings and notes.

Built from a random stream of its own (the seed plus ``STREAM``; the other kinds on ``STREAM + 1``) after
the tombstones are chosen, so every other table and ground truth of a seed stays exactly what it was
without them. Ground truth in the manifest's defects: ``activity_overdue`` (an open task due more than a
year ago: no other open task is due before ``OVERDUE_DAYS`` ago) and, on Salesforce, ``activity_orphan``
(a live task or event whose ``WhoId`` is a contact in the recycle bin); the other kinds' in
``generator.engagements``. A few activities are deleted (recycle bin, archived) and listed with the other
deleted records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox.generator.activity_common import DELETED, ORPHAN
from crm_ops.sandbox.generator.columns import _pick_series, _where, rows_but
from crm_ops.sandbox.generator.common import _frame, _timestamps
from crm_ops.sandbox.generator.engagements import Engagements
from crm_ops.sandbox.objects import ASSOCIATION_TYPES, HUBSPOT_OBJECTS, SALESFORCE_OBJECTS, sf_ids

STREAM = 27
OVERDUE_DAYS = 365  # an open task due longer ago than this is a defect (and only seeded ones are)
# How an org's activities split across the kinds. Salesforce: most logged work is tasks (calls and e-mails
# logged as tasks among them), a quarter calendar events. HubSpot: logged e-mails lead, then tasks, calls,
# notes and meetings (a sales team's sequence sends many e-mails a booked meeting).
SF_SHARES = {"Task": 0.75, "Event": 0.25}
HS_SHARES = {"tasks": 0.25, "calls": 0.2, "emails": 0.3, "meetings": 0.1, "notes": 0.15}
# the share of each HubSpot kind associated with a company and with a deal (every one has a contact)
LINK_SHARES = {"contacts": 1.0, "companies": 0.7, "deals": 0.3}
CALL_SHARE = 0.3  # of Salesforce's tasks, logged calls (TaskSubtype Call)
ON_LEAD = 0.1  # of Salesforce's tasks, on a lead rather than a contact
OVERDUE = 0.002
SUBJECTS = ("Follow up", "Call back", "Send proposal", "Check in", "Demo", "Renewal call", "Intro email")
TASK_OPEN = ("Not Started", "In Progress", "Waiting on someone else")
CALL_TITLES = ("Discovery call", "Follow-up call", "Support call", "Call")
HS_OPEN = ("NOT_STARTED", "IN_PROGRESS", "WAITING")


class Activities(Engagements):
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
        n_sf = int(int((~contacts["IsDeleted"]).sum()) * per)
        sf["Task"], deleted = self._sf_tasks(rng, sf, int(n_sf * SF_SHARES["Task"]))
        live = hs["contacts"]["id"].filter(~hs["contacts"]["archived"].fill_null(False)).to_numpy()
        n_hs = int(len(live) * per)
        owners = hs["companies"]["hubspot_owner_id"].drop_nulls().unique().sort().to_numpy()
        pools = {
            target: hs[target]["id"].filter(~hs[target]["archived"].fill_null(False)).to_numpy()
            for target in LINK_SHARES
        }
        for name in ("tasks", "calls"):
            frame, gone = self._hs_engagements(rng, name, int(n_hs * HS_SHARES[name]), owners)
            hs[name] = frame
            deleted += gone
            self._link(rng, name, frame["id"].to_numpy(), pools, associations)
        # events, e-mails, meetings and notes: a stream of their own, so tasks and calls stay as they were
        other = np.random.default_rng(self.cfg.seed + STREAM + 1)
        n_event = n_sf - int(n_sf * SF_SHARES["Task"])
        sizes = {name: int(n_hs * HS_SHARES[name]) for name in ("emails", "meetings", "notes")}
        deleted += self.engagements(other, sf, hs, n_event, sizes, owners)
        for name in sizes:
            unlinked = {d["record_id"] for d in self.defects if d["kind"] == "activity_email_unlinked"}
            ids = hs[name]["id"].to_numpy()
            self._link(other, name, ids, pools, associations, skip=unlinked)
        self._bad_values(sf, hs)
        return deleted

    def _link(
        self,
        rng: np.random.Generator,
        name: str,
        ids: np.ndarray,
        pools: dict[str, np.ndarray],
        associations: dict[tuple[str, str], pl.DataFrame],
        skip: set[str] | None = None,
    ) -> None:
        """Associate engagements ``ids`` of type ``name`` with live contacts, companies and deals (the
        shares of ``LINK_SHARES`` that HubSpot defines associations for); ``skip``: ids left without a
        contact."""
        for target, share in LINK_SHARES.items():
            pair = (name, target)
            pool = pools[target]
            if pair not in ASSOCIATION_TYPES or not len(pool) or not len(ids):
                continue
            chosen = rng.random(len(ids)) < share
            if target == "contacts" and skip:
                chosen &= ~np.isin(ids, np.asarray(sorted(int(i) for i in skip), dtype=np.int64))
            linked = ids[chosen]
            associations[pair] = pl.DataFrame(
                {
                    "from_id": linked,
                    "to_id": pool[rng.integers(0, len(pool), len(linked))],
                    "type_id": np.full(len(linked), ASSOCIATION_TYPES[pair]),
                },
                schema={"from_id": pl.Int64, "to_id": pl.Int64, "type_id": pl.Int32},
            )

    def _bad_values(self, sf: dict[str, pl.DataFrame], hs: dict[str, pl.DataFrame]) -> None:
        """Each activity defect's bad value: the record's value as served (the due date, the WhoId); a
        defect on an association (an e-mail without a contact) has none."""
        mine = [d for d in self.defects if str(d["kind"]).startswith("activity_")]
        for system, obj, field in {(d["system"], d["object"], d["field"]) for d in mine}:
            frame, key = (sf[obj], "Id") if system == "salesforce" else (hs[obj], "id")
            if field not in frame.columns:
                continue
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
        ids = sf_ids(SALESFORCE_OBJECTS["Task"].key_prefix, 0, n)
        who, what, account, on_lead = self._who_what(rng, sf, n, ON_LEAD, 0.25)
        call = rng.random(n) < CALL_SHARE
        # due dates from two years ago to a month ahead; calls are logged when made, so in the past
        due = (np.datetime64(self.today) - rng.integers(-30, 730, n).astype("timedelta64[D]")).astype(
            "datetime64[D]"
        )
        due = np.where(call, due - np.timedelta64(31, "D"), due)
        age = (np.datetime64(self.today) - due).astype(int)
        # what is due: mostly done when past, open when ahead; nothing open due over a year ago
        done = np.where(age > 0, rng.random(n) < 0.9, rng.random(n) < 0.1) | call | (age > OVERDUE_DAYS)
        statuses = (*TASK_OPEN, "Completed")  # a status is its index here
        status = np.where(done, len(TASK_OPEN), rng.integers(0, len(TASK_OPEN), n))
        overdue = self._rows(rng, np.flatnonzero(~call & ~on_lead), n, OVERDUE)
        for row in overdue.tolist():
            due[row] = np.datetime64(self.today) - np.timedelta64(
                int(rng.integers(OVERDUE_DAYS + 5, 900)), "D"
            )
            status[row] = int(rng.integers(0, len(TASK_OPEN)))
            self.defects.append(
                self._activity_defect("salesforce", "Task", str(ids[row]), "ActivityDate", "overdue")
            )
        closed = status == len(TASK_OPEN)
        now = np.datetime64(datetime.combine(self.today, datetime.min.time()), "ms")  # nothing later
        created = np.minimum(
            _timestamps(rng, self.today, n, 40, 1)
            - (np.maximum(age, 0) * 86_400_000).astype("timedelta64[ms]"),
            now,
        )
        modified = np.minimum(created + (rng.uniform(0, 5, n) * 86_400_000).astype("timedelta64[ms]"), now)
        subtype = _where(call, "Call", _pick_series(rng, ("Task", "Task", "Email"), n))
        free = rows_but(n, overdue)
        gone_rows = self._rows(rng, free, n, DELETED) if len(free) else np.asarray([], dtype=np.int64)
        is_deleted = np.zeros(n, dtype=bool)
        is_deleted[gone_rows] = True
        # tasks whose contact is in the recycle bin (the Who left behind, e.g. by an integration's delete)
        dead = contacts.select("Id", "AccountId").filter(contacts["IsDeleted"])
        not_overdue = np.ones(n, dtype=bool)
        not_overdue[overdue] = False
        orphan_pool = np.flatnonzero(~is_deleted & ~on_lead & not_overdue)
        orphans = self._rows(rng, orphan_pool, n, ORPHAN) if dead.height else np.asarray([], dtype=np.int64)
        who, what, account = self._orphans(rng, dead, orphans, (who, what, account))
        for row in orphans.tolist():
            self.defects.append(self._activity_defect("salesforce", "Task", str(ids[row]), "WhoId", "orphan"))
        modified = np.where(
            is_deleted, np.minimum(modified + np.timedelta64(86_400_000, "ms"), now), modified
        )
        owners = self._sf_owners(rng, n)
        frame = _frame(
            SALESFORCE_OBJECTS["Task"].schema(),
            {
                "Id": ids,
                "WhoId": who,
                "WhatId": what,
                "WhoCount": who.is_not_null().cast(pl.Int64),
                "WhatCount": what.is_not_null().cast(pl.Int64),
                "Subject": _where(call, "Call", _pick_series(rng, SUBJECTS, n)),
                "ActivityDate": due,
                "Status": pl.Series(statuses).gather(status),
                "Priority": _pick_series(rng, ("Normal", "Normal", "Normal", "High", "Low"), n),
                "OwnerId": owners,
                "Type": _where(call, "Call", _pick_series(rng, ("Email", "Meeting", "Other"), n)),
                "IsDeleted": is_deleted,
                "AccountId": account,
                "IsClosed": closed,
                "CreatedDate": created,
                "CreatedById": self.user_ids[0],
                "LastModifiedDate": modified,
                "LastModifiedById": self.user_ids[0],
                "SystemModstamp": modified,
                "CallDurationInSeconds": np.where(call, rng.integers(20, 3600, n), 0),
                "CallType": _where(call, _pick_series(rng, ("Inbound", "Outbound", "Outbound"), n), None),
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
            for i, m in frame.select("Id", "SystemModstamp").filter(frame["IsDeleted"]).iter_rows()
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
            "hubspot_owner_id": _pick_series(rng, owners, n) if len(owners) else None,
            "archived": False,
        }
        if name == "tasks":
            done = np.where(age > 0, rng.random(n) < 0.9, rng.random(n) < 0.1) | (age > OVERDUE_DAYS)
            status = np.where(done, len(HS_OPEN), rng.integers(0, len(HS_OPEN), n))  # index: HS_OPEN, done
            overdue = self._rows(rng, np.arange(n), n, OVERDUE)
            for row in overdue.tolist():
                days = int(rng.integers(OVERDUE_DAYS + 5, 900))
                when[row] = end - np.timedelta64(days * 86_400_000, "ms")
                status[row] = int(rng.integers(0, len(HS_OPEN)))
                self.defects.append(
                    self._activity_defect("hubspot", name, str(ids[row]), "hs_timestamp", "overdue")
                )
            values.update(
                hs_task_subject=_pick_series(rng, SUBJECTS, n),
                hs_task_status=pl.Series([*HS_OPEN, "COMPLETED"]).gather(status),
                hs_task_priority=_pick_series(rng, ("NONE", "LOW", "MEDIUM", "MEDIUM", "HIGH"), n),
                hs_task_type=_pick_series(rng, ("TODO", "TODO", "CALL", "EMAIL"), n),
            )
        else:
            overdue = np.asarray([], dtype=np.int64)
            values.update(
                hs_call_title=_pick_series(
                    rng, ("Discovery call", "Follow-up call", "Support call", "Call"), n
                ),
                hs_call_status=_pick_series(rng, ("COMPLETED",) * 8 + ("BUSY", "FAILED"), n),
                hs_call_direction=_pick_series(rng, ("INBOUND", "OUTBOUND", "OUTBOUND"), n),
                hs_call_duration=rng.integers(20_000, 3_600_000, n).astype(float),
            )
        created = np.minimum(when, end) - (rng.uniform(0.01, 20, n) * 86_400_000).astype("timedelta64[ms]")
        values["hs_timestamp"] = when
        values["hs_createdate"] = created
        values["hs_lastmodifieddate"] = np.minimum(
            created + (rng.uniform(0, 5, n) * 86_400_000).astype("timedelta64[ms]"), end
        )
        frame = _frame(obj.schema(), values, n)
        return self._archive(rng, name, frame, set(overdue.tolist()))
