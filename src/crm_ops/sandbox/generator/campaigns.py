"""Salesforce campaigns and their members (issue 26): ``Campaign`` and ``CampaignMember``, with seeded
defects. HubSpot's campaigns live in its Marketing API, not among the CRM objects, and are not emulated.

Volume: a campaign for every ``CONTACTS_PER_CAMPAIGN`` live contacts (at least ``MIN_CAMPAIGNS``), and
about ``MEMBERS_PER_PERSON`` memberships a live contact or lead (webinars, e-mail sends and events add
the same people again and again), each person at most once in a campaign, as Salesforce allows.

Built from a random stream of its own (the seed plus ``STREAM``) after the tombstones are chosen, so every
other table and ground truth of a seed stays exactly what it was without them. Deleting a campaign, a
contact or a lead deletes its members in Salesforce; the seeded defects are members left behind:

- ``campaign_dates``: a campaign whose ``EndDate`` is before its ``StartDate`` (Salesforce accepts it);
- ``campaign_member_orphan`` on ``ContactId``, ``LeadId`` or ``CampaignId``: a live member whose contact,
  lead or campaign is in the recycle bin.

A few campaigns (with their members) and members are deleted and listed with the other deleted records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox.generator.columns import _pick, _where
from crm_ops.sandbox.generator.common import GenState, _frame, blank_defect, sf_audit
from crm_ops.sandbox.objects import SALESFORCE_OBJECTS, sf_ids

STREAM = 2604
CONTACTS_PER_CAMPAIGN = 40
MIN_CAMPAIGNS = 8
MEMBERS_PER_PERSON = 1.5
ON_LEAD = 0.35  # of the members, leads
BACKWARDS = 0.05  # of the campaigns: the end date before the start date
ORPHAN = 0.003  # of the members, for each of the contact, the lead and the campaign
DELETED_CAMPAIGNS, DELETED_MEMBERS = 0.04, 0.01
DAY_MS = 86_400_000
KINDS = ("Webinar", "Email", "Conference", "Trade Show", "Direct Mail", "Advertisement", "Partners")
TOPICS = ("Product launch", "Customer summit", "Q{} newsletter", "Pricing webinar", "Partner day", "Nurture")


class Campaigns(GenState):
    """Salesforce campaigns and campaign members."""

    def campaigns(self, sf: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
        """``Campaign`` and ``CampaignMember`` into ``sf``; returns the deleted ones as deleted records."""
        rng = np.random.default_rng(self.cfg.seed + STREAM)
        live_contacts = int((~sf["Contact"]["IsDeleted"]).sum())
        n = max(MIN_CAMPAIGNS, live_contacts // CONTACTS_PER_CAMPAIGN)
        sf["Campaign"] = self._campaigns(rng, n)
        sf["CampaignMember"] = self._members(rng, sf)
        return [
            {"system": "salesforce", "object": name, "record_id": i, "deleted_at": m}
            for name in ("Campaign", "CampaignMember")
            for i, m in sf[name].filter(pl.col("IsDeleted")).select("Id", "SystemModstamp").iter_rows()
        ]

    def _campaigns(self, rng: np.random.Generator, n: int) -> pl.DataFrame:
        ids = sf_ids(SALESFORCE_OBJECTS["Campaign"].key_prefix, 0, n).to_numpy()
        today = np.datetime64(self.today, "D")
        start = today - rng.integers(-90, 1000, n).astype("timedelta64[D]")
        end = start + rng.integers(1, 120, n).astype("timedelta64[D]")
        status = np.where(end < today, "Completed", np.where(start > today, "Planned", "In Progress")).astype(
            object
        )
        aborted = rng.random(n) < 0.05
        status[aborted] = "Aborted"
        backwards = self._pick_rows(rng, np.arange(n), n, BACKWARDS)
        for row in backwards.tolist():  # the dates typed the wrong way round
            start[row], end[row] = end[row], start[row]
            self.defects.append(
                {
                    **blank_defect(
                        "campaign_dates", "salesforce", "Campaign", str(ids[row]), "EndDate", None
                    ),
                    "bad_value": str(end[row]),
                }
            )
        gone = self._pick_rows(rng, np.setdiff1d(np.arange(n), backwards), n, DELETED_CAMPAIGNS)
        is_deleted = np.zeros(n, dtype=bool)
        is_deleted[gone] = True
        midnight = np.datetime64(datetime.combine(self.today, datetime.min.time()), "ms")
        created = np.minimum(
            start.astype("datetime64[ms]") - (rng.uniform(1, 60, n) * DAY_MS).astype("timedelta64[ms]"),
            midnight,
        )
        modified = _later(rng, created, 30, midnight)
        deleted_at = midnight - (rng.uniform(1, 20, n) * DAY_MS).astype("timedelta64[ms]")
        modified = np.where(is_deleted, np.maximum(deleted_at, created), modified)
        budget = np.round(rng.lognormal(8.5, 1.0, n), -2)
        kind = _pick(rng, KINDS, n)
        topic = _pick(rng, TOPICS, n)
        names = [
            f"{t.format(1 + (int(str(s)[5:7]) - 1) // 3)} {k} {str(s)[:4]}"
            for t, k, s in zip(topic, kind, start, strict=True)
        ]
        owners = self.user_ids[self.active_owners[rng.integers(0, len(self.active_owners), n)]]
        return _frame(
            SALESFORCE_OBJECTS["Campaign"].schema(),
            {
                "Id": ids,
                "IsDeleted": is_deleted,
                "Name": np.asarray(names, dtype=object),
                "Type": kind,
                "Status": status,
                "StartDate": start,
                "EndDate": end,
                "BudgetedCost": budget,
                "ActualCost": np.where(
                    status == "Completed",
                    np.round(budget * rng.uniform(0.6, 1.2, n), 2).astype(object),
                    np.array(None),
                ),
                "ExpectedRevenue": np.round(budget * rng.uniform(2, 8, n), -2),
                "ExpectedResponse": np.round(rng.uniform(1, 15, n), 1),
                "IsActive": (status == "In Progress") | (status == "Planned"),
                "OwnerId": owners,
                **sf_audit(created, modified, self.user_ids[0]),
            },
            n,
        ).with_columns(pl.col(pl.Boolean).fill_null(False))

    def _members(self, rng: np.random.Generator, sf: dict[str, pl.DataFrame]) -> pl.DataFrame:
        campaigns = sf["Campaign"]
        live_campaigns = campaigns.filter(~pl.col("IsDeleted"))
        contacts, leads = sf["Contact"], sf["Lead"]
        people = {
            "ContactId": contacts["Id"].filter(~contacts["IsDeleted"]),
            "LeadId": leads["Id"].filter(~leads["IsDeleted"]),
        }
        m = int((len(people["ContactId"]) + len(people["LeadId"])) * MEMBERS_PER_PERSON)
        on_lead = (rng.random(m) < ON_LEAD) & (len(people["LeadId"]) > 0)
        campaign = live_campaigns["Id"].gather(rng.integers(0, live_campaigns.height, m))
        contact = pl.repeat(None, m, dtype=pl.String, eager=True)
        lead = pl.repeat(None, m, dtype=pl.String, eager=True)
        for column, target, chosen in (("ContactId", contact, ~on_lead), ("LeadId", lead, on_lead)):
            pool = people[column]
            if len(pool):  # scatter writes into ``target``
                rows = np.flatnonzero(chosen)
                target.scatter(rows, pool.gather(rng.integers(0, len(pool), len(rows))))
        # a person is in a campaign once: drop repeated pairs
        pairs = pl.DataFrame({"c": campaign, "p": _where(on_lead, lead, contact)})
        keep = (
            pairs.with_row_index().unique(["c", "p"], keep="first", maintain_order=True)["index"].to_numpy()
        )
        campaign, contact, lead = campaign.gather(keep), contact.gather(keep), lead.gather(keep)
        m = len(keep)
        ids = sf_ids(SALESFORCE_OBJECTS["CampaignMember"].key_prefix, 0, m)
        # members left behind by deletes: a contact, a lead or a campaign in the recycle bin
        taken = np.zeros(m, dtype=bool)
        for column, parents, values in (
            ("ContactId", contacts, contact),
            ("LeadId", leads, lead),
            ("CampaignId", campaigns, campaign),
        ):
            dead = parents["Id"].filter(parents["IsDeleted"])
            has = ~taken if column == "CampaignId" else values.is_not_null().to_numpy() & ~taken
            rows = (
                self._pick_rows(rng, np.flatnonzero(has), m, ORPHAN)
                if len(dead)
                else np.asarray([], dtype=np.int64)
            )
            if not len(rows):
                continue
            left = dead.gather([int(rng.integers(0, len(dead))) for _ in range(len(rows))])
            values.scatter(rows, left)  # in place: the column itself
            taken[rows] = True
            self.defects += [
                {
                    **blank_defect(
                        "campaign_member_orphan", "salesforce", "CampaignMember", record_id, column, None
                    ),
                    "bad_value": bad,
                }
                for record_id, bad in zip(ids.gather(rows).to_list(), left.to_list(), strict=True)
            ]
        person = _where(lead.is_not_null().to_numpy(), lead, contact)
        statuses = ("Sent", "Sent", "Received", "Responded")
        status = rng.integers(0, len(statuses), m)
        responded = status == statuses.index("Responded")
        starts = campaign.replace_strict(campaigns["Id"], campaigns["StartDate"], return_dtype=pl.Date)
        first_response = _where(responded, starts, None)
        midnight = np.datetime64(datetime.combine(self.today, datetime.min.time()), "ms")
        created = np.minimum(starts.to_numpy().astype("datetime64[ms]"), midnight) - (
            rng.uniform(0.1, 20, m) * DAY_MS
        ).astype("timedelta64[ms]")  # added before the campaign starts
        modified = _later(rng, created, 30, midnight)
        gone = self._pick_rows(rng, np.flatnonzero(~taken), m, DELETED_MEMBERS)
        is_deleted = np.zeros(m, dtype=bool)
        is_deleted[gone] = True
        # deleting a campaign, contact or lead deletes its members (all but the seeded ones left behind)
        gone_ids = pl.concat([f["Id"].filter(f["IsDeleted"]) for f in (campaigns, contacts, leads)]).implode()
        dead_parent = (campaign.is_in(gone_ids) | person.is_in(gone_ids)).to_numpy()
        is_deleted |= dead_parent & ~taken
        deleted_at = midnight - (rng.uniform(1, 20, m) * DAY_MS).astype("timedelta64[ms]")
        modified = np.where(is_deleted, np.maximum(deleted_at, created), modified)
        return _frame(
            SALESFORCE_OBJECTS["CampaignMember"].schema(),
            {
                "Id": ids,
                "IsDeleted": is_deleted,
                "CampaignId": campaign,
                "LeadId": lead,
                "ContactId": contact,
                "Status": pl.Series(statuses).gather(status),
                "HasResponded": responded,
                "FirstRespondedDate": first_response,
                "LeadOrContactId": person,
                "Type": _where(lead.is_not_null().to_numpy(), "Lead", "Contact"),
                **sf_audit(created, modified, self.user_ids[0]),
            },
            m,
        ).with_columns(pl.col(pl.Boolean).fill_null(False))

    def _pick_rows(self, rng: np.random.Generator, pool: np.ndarray, n: int, share: float) -> np.ndarray:
        """``share`` of ``n`` rows drawn from ``pool`` (none when the seed asks for no defects)."""
        k = min(len(pool), self._seeded(n, share))
        return np.sort(rng.choice(pool, k, replace=False)) if k else np.asarray([], dtype=np.int64)


def _later(rng: np.random.Generator, since: np.ndarray, days: float, until: np.datetime64) -> np.ndarray:
    """A time after each of ``since`` (up to ``days`` later) and before ``until``, spread over that span
    rather than piled at ``until``."""
    span = np.minimum(since + np.timedelta64(int(days * DAY_MS), "ms"), until) - since
    later: np.ndarray = since + (span.astype(np.int64) * rng.uniform(0, 1, len(since))).astype(
        "timedelta64[ms]"
    )
    return later
