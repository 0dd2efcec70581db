"""The activity kinds besides tasks and calls (issue 26): Salesforce ``Event`` (calendar events, most of
them meetings) and HubSpot's ``emails``, ``meetings`` and ``notes``, with their seeded defects. Sizes and
the random stream come from ``generator.activities``, which also associates the HubSpot ones with
contacts, companies and deals.

Ground truth in the manifest's defects:

- ``activity_orphan``: a live Salesforce event whose ``WhoId`` is a contact in the recycle bin (as on
  Task: left behind, e.g. by an integration's delete);
- ``activity_event_order``: a HubSpot meeting whose ``hs_meeting_end_time`` is before its
  ``hs_meeting_start_time`` (the API and imports accept it; Salesforce refuses such an event, so none is
  seeded there);
- ``activity_email_unlinked``: a sent HubSpot e-mail associated with no contact (every other e-mail has
  one);
- ``activity_note_blank``: a HubSpot note whose body is empty or only spaces.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox.generator.activity_common import DELETED, ORPHAN, ActivityState
from crm_ops.sandbox.generator.columns import _pick, _pick_series, _where
from crm_ops.sandbox.generator.common import _frame, sf_audit
from crm_ops.sandbox.objects import HUBSPOT_OBJECTS, SALESFORCE_OBJECTS, sf_ids

EVENT_ON_LEAD = 0.1  # of Salesforce's events, with a lead rather than a contact
ALL_DAY = 0.03
BACKWARDS, UNLINKED, BLANK = 0.01, 0.01, 0.02  # meetings ending before they start; e-mails; notes
DAY_MS = 86_400_000
MEETINGS = ("Meeting", "Demo", "Quarterly business review", "Onboarding session", "Discovery meeting")
EVENT_PLACES = ("Zoom", "Microsoft Teams", "Customer office", "Our office")
DURATIONS = (15, 30, 30, 45, 60, 60, 90, 120)  # minutes
EMAIL_SUBJECTS = (
    "Following up",
    "Re: pricing question",
    "Proposal attached",
    "Quick question",
    "Meeting recap",
    "Re: renewal",
    "Introduction",
)
NOTE_BODIES = (
    "Spoke with the buyer: budget approved for Q3.",
    "Prefers e-mail over calls; send the security questionnaire.",
    "Champion is leaving the company next month.",
    "Asked for a discount on multi-year terms.",
    "Using a competitor for the EU entity.",
)


class Engagements(ActivityState):
    """Salesforce events and HubSpot e-mails, meetings and notes."""

    def engagements(
        self,
        rng: np.random.Generator,
        sf: dict[str, pl.DataFrame],
        hs: dict[str, pl.DataFrame],
        n_event: int,
        sizes: dict[str, int],
        owners: np.ndarray,
    ) -> list[dict[str, Any]]:
        """``Event`` into ``sf`` (``n_event`` of them), ``emails``, ``meetings`` and ``notes`` into ``hs``
        (``sizes``; no associations yet); returns the deleted ones as deleted records."""
        sf["Event"], deleted = self._sf_events(rng, sf, n_event)
        for name, make in (("emails", self._emails), ("meetings", self._meetings), ("notes", self._notes)):
            n = sizes[name]
            obj = HUBSPOT_OBJECTS[name]
            ids = np.arange(obj.id_base, obj.id_base + n, dtype=np.int64)
            end = self._midnight()
            when = end - (rng.uniform(0.01, 730, n) * DAY_MS).astype("timedelta64[ms]")
            values: dict[str, Any] = {
                "id": ids,
                "hubspot_owner_id": _pick_series(rng, owners, n) if len(owners) else None,
                "archived": False,
            }
            bad = make(rng, ids, when, values)
            created = np.minimum(when, end) - (rng.uniform(0.01, 20, n) * DAY_MS).astype("timedelta64[ms]")
            values["hs_timestamp"] = when
            values["hs_createdate"] = created
            values["hs_lastmodifieddate"] = np.minimum(
                created + (rng.uniform(0, 5, n) * DAY_MS).astype("timedelta64[ms]"), end
            )
            hs[name], gone = self._archive(rng, name, _frame(obj.schema(), values, n), bad)
            deleted += gone
        return deleted

    def _midnight(self) -> np.datetime64:
        return np.datetime64(datetime.combine(self.today, datetime.min.time()), "ms")

    # ------------------------------------------------------------------------------------ HubSpot

    def _emails(
        self, rng: np.random.Generator, ids: np.ndarray, when: np.ndarray, values: dict[str, Any]
    ) -> set[int]:
        n = len(ids)
        directions = ("EMAIL", "EMAIL", "EMAIL", "INCOMING_EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL")
        direction = rng.integers(0, len(directions), n)
        # HubSpot keeps a send status on the e-mails it sent; a logged incoming one has none
        sends = ("SENT",) * 18 + ("BOUNCED", "FAILED")
        sent = rng.integers(0, len(sends), n)
        incoming = np.asarray([d == "INCOMING_EMAIL" for d in directions])[direction]
        status = pl.Series([*sends, None], dtype=pl.String).gather(np.where(incoming, len(sends), sent))
        rows = self._rows(rng, np.flatnonzero(~incoming & (sent < sends.count("SENT"))), n, UNLINKED)
        for row in rows.tolist():
            self.defects.append(
                self._activity_defect("hubspot", "emails", str(ids[row]), "contacts", "email_unlinked")
            )
        values.update(
            hs_email_subject=_pick_series(rng, EMAIL_SUBJECTS, n),
            hs_email_direction=pl.Series(directions).gather(direction),
            hs_email_status=status,
        )
        return set(rows.tolist())

    def _meetings(
        self, rng: np.random.Generator, ids: np.ndarray, when: np.ndarray, values: dict[str, Any]
    ) -> set[int]:
        n = len(ids)
        # booked from two years ago to two months ahead, on the hour or half hour
        when[:] = self._midnight() - (rng.integers(-60, 730, n) * DAY_MS).astype("timedelta64[ms]")
        when[:] = when + (rng.integers(16, 36, n) * 1_800_000).astype("timedelta64[ms]")
        end = when + (_pick(rng, DURATIONS, n).astype(np.int64) * 60_000).astype("timedelta64[ms]")
        past = when < self._midnight()
        outcome = _where(
            past,
            _pick_series(rng, ("COMPLETED",) * 7 + ("NO_SHOW", "CANCELED", "RESCHEDULED"), n),
            _pick_series(rng, ("SCHEDULED",) * 9 + ("RESCHEDULED",), n),
        )
        rows = self._rows(rng, np.arange(n), n, BACKWARDS)
        for row in rows.tolist():  # the end typed before the start (an import's swapped columns)
            end[row] = when[row] - np.timedelta64(int(rng.integers(1, 5)) * 900_000, "ms")
            self.defects.append(
                self._activity_defect(
                    "hubspot", "meetings", str(ids[row]), "hs_meeting_end_time", "event_order"
                )
            )
        values.update(
            hs_meeting_title=_pick_series(rng, MEETINGS, n),
            hs_meeting_location=_pick_series(rng, ("Zoom", "Google Meet", "Microsoft Teams", "On site"), n),
            hs_meeting_start_time=when,
            hs_meeting_end_time=end,
            hs_meeting_outcome=outcome,
        )
        return set(rows.tolist())

    def _notes(
        self, rng: np.random.Generator, ids: np.ndarray, when: np.ndarray, values: dict[str, Any]
    ) -> set[int]:
        n = len(ids)
        body = rng.integers(0, len(NOTE_BODIES), n)  # an index into the bodies, and the blanks after them
        rows = self._rows(rng, np.arange(n), n, BLANK)
        blanks = (None, "", " ")  # saved with only an attachment, or a space
        body[rows] = len(NOTE_BODIES) + np.arange(len(rows)) % len(blanks)
        for row in rows.tolist():
            self.defects.append(
                self._activity_defect("hubspot", "notes", str(ids[row]), "hs_note_body", "note_blank")
            )
        values["hs_note_body"] = pl.Series([*NOTE_BODIES, *blanks], dtype=pl.String).gather(body)
        return set(rows.tolist())

    # ------------------------------------------------------------------------------------ Salesforce

    def _sf_events(
        self, rng: np.random.Generator, sf: dict[str, pl.DataFrame], n: int
    ) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
        contacts = sf["Contact"]
        ids = sf_ids(SALESFORCE_OBJECTS["Event"].key_prefix, 0, n)
        who, what, account, on_lead = self._who_what(rng, sf, n, EVENT_ON_LEAD, 0.3)
        midnight = self._midnight()
        day = midnight - (rng.integers(-60, 730, n) * DAY_MS).astype("timedelta64[ms]")
        all_day = rng.random(n) < ALL_DAY
        minutes = np.where(
            all_day, 1440, np.asarray(DURATIONS, dtype=np.int64)[rng.integers(0, len(DURATIONS), n)]
        )
        start = np.where(all_day, day, day + (rng.integers(16, 36, n) * 1_800_000).astype("timedelta64[ms]"))
        end = start + (minutes * 60_000).astype("timedelta64[ms]")
        # booked days to weeks before it starts, and never after today
        created = np.minimum(start, midnight) - (rng.uniform(0.1, 21, n) * DAY_MS).astype("timedelta64[ms]")
        modified = np.minimum(created + (rng.uniform(0, 3, n) * DAY_MS).astype("timedelta64[ms]"), midnight)
        gone_rows = self._rows(rng, np.arange(n), n, DELETED)
        is_deleted = np.zeros(n, dtype=bool)
        is_deleted[gone_rows] = True
        modified = np.where(
            is_deleted, np.minimum(modified + np.timedelta64(DAY_MS, "ms"), midnight), modified
        )
        dead = contacts.select("Id", "AccountId").filter(contacts["IsDeleted"])
        pool = np.flatnonzero(~is_deleted & ~on_lead)
        orphans = self._rows(rng, pool, n, ORPHAN) if dead.height else np.asarray([], dtype=np.int64)
        who, what, account = self._orphans(rng, dead, orphans, (who, what, account))
        for row in orphans.tolist():
            self.defects.append(
                self._activity_defect("salesforce", "Event", str(ids[row]), "WhoId", "orphan")
            )
        owners = self._sf_owners(rng, n)
        frame = _frame(
            SALESFORCE_OBJECTS["Event"].schema(),
            {
                "Id": ids,
                "WhoId": who,
                "WhatId": what,
                "WhoCount": who.is_not_null().cast(pl.Int64),
                "WhatCount": what.is_not_null().cast(pl.Int64),
                "Subject": _pick_series(rng, MEETINGS, n),
                "Location": _pick_series(
                    rng, ("Zoom", "Microsoft Teams", "Customer office", "Our office"), n
                ),
                "IsAllDayEvent": all_day,
                "ActivityDateTime": start,
                "ActivityDate": start.astype("datetime64[D]"),
                "DurationInMinutes": minutes,
                "StartDateTime": start,
                "EndDateTime": end,
                "EndDate": end.astype("datetime64[D]"),
                "AccountId": account,
                "OwnerId": owners,
                "Type": _pick_series(rng, ("Meeting", "Meeting", "Meeting", "Call", "Other"), n),
                "ShowAs": "Busy",
                "IsDeleted": is_deleted,
                **sf_audit(created, modified, self.user_ids[0]),
                "EventSubtype": "Event",
            },
            n,
        ).with_columns(pl.col(pl.Boolean).fill_null(False))
        deleted = [
            {"system": "salesforce", "object": "Event", "record_id": i, "deleted_at": m}
            for i, m in frame.select("Id", "SystemModstamp").filter(frame["IsDeleted"]).iter_rows()
        ]
        return frame, deleted
