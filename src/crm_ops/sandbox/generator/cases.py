"""Support cases on each side (issue 26): Salesforce ``Case`` (on a contact and its account) and HubSpot
``tickets`` (associated with a contact and its company), with a few seeded defects.

Volume: 0.6 cases per contact. A B2B support desk opens a case for a minority of its contacts in a year
while a few contacts open many, and orgs keep two or three years of them, so Case tables of the same
order as, and smaller than, Contact tables are the usual shape.

Built from random streams of their own (the seed plus ``STREAM``), so the core tables, the custom
objects and every other ground truth stay exactly those of a seed without them. The Salesforce table is
made with the others; the HubSpot tickets' associations are added after the tombstones are chosen
(``case_links``), so which contacts and companies are deleted does not change either.

Ground truth (``case_blank`` defects in the manifest): cases and tickets with a blank subject, and closed
tickets (the default pipeline's stage 4) with no close date. Salesforce keeps ``IsClosed`` and
``ClosedDate`` itself from the status, so its closed cases always have one. A few records of each side
are deleted (recycle bin, archived) and listed with the other deleted records. A few live, clean cases
of each side are opened twice (``case_copies``, on a stream of their own), each pair a cluster in the
manifest's duplicates; a copied ticket is on its original's contact and company, and never archived.
The independent draws are kept from making such copies by chance, with no truth to say so: a contact's
case on the subject of their case opened under two days before and still open takes the next subject
(``resubject``), so the manifest's duplicates are every pair a person would call one case opened twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox.generator.case_copies import CaseTimes, case_copies
from crm_ops.sandbox.generator.columns import _pick, _pick_series, free_rows, numbered
from crm_ops.sandbox.generator.common import GenState, _frame, _timestamps, blank_defect
from crm_ops.sandbox.objects import ASSOCIATION_TYPES, HUBSPOT_OBJECTS, SALESFORCE_OBJECTS, sf_ids

STREAM = 2601
SF_OBJECT, HS_OBJECT = "Case", "tickets"
PER_CONTACT = 0.6
BLANK_SUBJECT = 0.03
CLOSED_NO_DATE = 0.04
DELETED = 0.02
KIND = "case_blank"
SUBJECTS = (
    "Cannot log in after password reset",
    "Invoice shows the wrong amount",
    "Export to CSV times out",
    "Request to add seats",
    "Integration sync stopped",
    "Question about renewal terms",
    "Error 500 on the dashboard",
    "How do I change the account owner?",
    "Data missing after import",
    "Feature request: bulk edit",
    "Single sign-on fails for new users",
    "Report totals do not match",
)
SF_STATUSES = ("New", "Working", "Escalated", "Closed", "Closed", "Closed", "Closed", "Closed")
HS_STAGES = ("1", "2", "3", "4", "4", "4", "4", "4")


class Cases(GenState):
    """The support cases of both CRMs."""

    def cases(self, sf: dict[str, pl.DataFrame], hs: dict[str, pl.DataFrame]) -> None:
        """``Case`` into ``sf`` and ``tickets`` (no associations yet) into ``hs``."""
        rng = np.random.default_rng(self.cfg.seed + STREAM)
        contacts = sf["Contact"].select("Id", "AccountId").filter(~sf["Contact"]["IsDeleted"])
        sf[SF_OBJECT] = self._sf_cases(rng, contacts)
        owners = hs["companies"]["hubspot_owner_id"].drop_nulls().unique().sort().to_numpy()
        hs[HS_OBJECT] = self._hs_tickets(rng, max(1, int(hs["contacts"].height * PER_CONTACT)), owners)
        if self.cfg.defect_rate > 0:  # cases opened twice, on a stream of their own
            copies = np.random.default_rng(self.cfg.seed + STREAM + 2)
            end = np.datetime64(datetime.combine(self.today, datetime.min.time()), "ms")
            taken = {d["record_id"] for d in self.defects}
            for system, frames, name in (("salesforce", sf, SF_OBJECT), ("hubspot", hs, HS_OBJECT)):
                frames[name], truth = case_copies(copies, system, frames[name], taken, end)
                self.duplicates += truth
            sf[SF_OBJECT] = self._resubjected(
                "salesforce", sf[SF_OBJECT], sf[SF_OBJECT]["ContactId"].to_numpy()
            )

    def _times(self, rng: np.random.Generator, n: int, closed: np.ndarray) -> dict[str, np.ndarray]:
        """Creation, close (closed ones: hours to weeks later, never after today) and last change."""
        created = _timestamps(rng, self.today, n, 730, 1)
        end = np.datetime64(datetime.combine(self.today, datetime.min.time()), "ms")
        took = (rng.exponential(3.0, n) * 86_400_000 + 3_600_000).astype("timedelta64[ms]")
        close = np.minimum(created + took, end)
        closed_at = np.where(closed, close, np.datetime64("NaT", "ms"))
        modified = np.where(closed, close, np.minimum(created + took // 3, end))
        return {"created": created, "closed": closed_at, "modified": modified}

    def _sf_cases(self, rng: np.random.Generator, contacts: pl.DataFrame) -> pl.DataFrame:
        n = max(1, int(contacts.height * PER_CONTACT))
        ids = sf_ids(SALESFORCE_OBJECTS[SF_OBJECT].key_prefix, 0, n).to_numpy()
        on = rng.integers(0, contacts.height, n)
        status = _pick(rng, SF_STATUSES, n)
        is_closed = status == "Closed"
        t = self._times(rng, n, is_closed)
        subject = _pick(rng, SUBJECTS, n).astype(object)
        for row in rng.choice(n, self._seeded(n, BLANK_SUBJECT), replace=False).tolist():
            self.defects.append(
                blank_defect(KIND, "salesforce", SF_OBJECT, str(ids[row]), "Subject", subject[row])
            )
            subject[row] = None
        taken = {d["record_id"] for d in self.defects}
        free = free_rows(ids, taken)
        deleted = np.zeros(n, dtype=bool)
        deleted[rng.choice(free, max(1, int(n * DELETED)), replace=False)] = True
        owners = self.user_ids[self.active_owners[rng.integers(0, len(self.active_owners), n)]]
        return _frame(
            SALESFORCE_OBJECTS[SF_OBJECT].schema(),
            {
                "Id": ids,
                "IsDeleted": deleted,
                "CaseNumber": numbered("{}", 1, n, 8),
                "ContactId": contacts["Id"].to_numpy()[on],
                "AccountId": contacts["AccountId"].to_numpy()[on],
                "Type": _pick(rng, ("Question", "Problem", "Feature Request"), n),
                "Status": status,
                "Origin": _pick(rng, ("Email", "Email", "Web", "Phone"), n),
                "Subject": subject,
                "Priority": _pick(rng, ("Medium", "Medium", "Low", "High"), n),
                "IsClosed": is_closed,
                "ClosedDate": t["closed"],
                "IsEscalated": status == "Escalated",
                "OwnerId": owners,
                "CreatedDate": t["created"],
                "CreatedById": self.user_ids[0],
                "LastModifiedDate": t["modified"],
                "LastModifiedById": self.user_ids[0],
                "SystemModstamp": t["modified"],
            },
            n,
        )

    def _hs_tickets(self, rng: np.random.Generator, n: int, owners: np.ndarray) -> pl.DataFrame:
        obj = HUBSPOT_OBJECTS[HS_OBJECT]
        ids = np.arange(obj.id_base, obj.id_base + n, dtype=np.int64)  # a row is its id less the base
        stage = _pick(rng, HS_STAGES, n)
        t = self._times(rng, n, stage == "4")
        subject = _pick(rng, SUBJECTS, n).astype(object)
        closed = t["closed"].copy()
        for row in rng.choice(n, self._seeded(n, BLANK_SUBJECT), replace=False).tolist():
            self.defects.append(
                blank_defect(KIND, "hubspot", HS_OBJECT, str(ids[row]), "subject", subject[row])
            )
            subject[row] = None
        taken = {d["record_id"] for d in self.defects}
        shut = np.intersect1d(np.flatnonzero(stage == "4"), free_rows(ids, taken))
        for row in rng.choice(shut, min(len(shut), self._seeded(n, CLOSED_NO_DATE)), replace=False).tolist():
            self.defects.append(blank_defect(KIND, "hubspot", HS_OBJECT, str(ids[row]), "closed_date", None))
            closed[row] = np.datetime64("NaT", "ms")
        return _frame(
            obj.schema(),
            {
                "id": ids,
                "subject": subject,
                "hs_pipeline": "0",
                "hs_pipeline_stage": stage,
                "hs_ticket_priority": _pick(rng, ("MEDIUM", "MEDIUM", "LOW", "HIGH", "URGENT"), n),
                "source_type": _pick(rng, ("EMAIL", "EMAIL", "CHAT", "FORM", "PHONE"), n),
                "createdate": t["created"],
                "hs_lastmodifieddate": t["modified"],
                "closed_date": closed,
                "hubspot_owner_id": _pick_series(rng, owners, n) if len(owners) else None,
                "archived": False,
            },
            n,
        )

    def _resubjected(self, system: str, frame: pl.DataFrame, contact: np.ndarray) -> pl.DataFrame:
        """``frame`` (``Case`` or ``tickets``, with its seeded copies) with no unlabelled copy among the
        independent cases (``resubject``), ``contact`` each one's contact: the copies and their
        originals keep their subjects."""
        sfs = system == "salesforce"
        key, subject_f = ("Id", "Subject") if sfs else ("id", "subject")
        created_f, closed_f = ("CreatedDate", "ClosedDate") if sfs else ("createdate", "closed_date")
        seeded = {d["record_id"] for d in self.duplicates if d["system"] == system}
        kept = frame[key].cast(pl.String).is_in(pl.Series(sorted(seeded), dtype=pl.String).implode())
        subject = resubject(
            contact,
            np.asarray(frame[subject_f].to_list(), dtype=object),
            frame[created_f].to_numpy().astype("datetime64[ms]"),
            frame[closed_f].to_numpy().astype("datetime64[ms]"),
            kept.to_numpy(),
        )
        return frame.with_columns(pl.Series(subject_f, subject.tolist(), dtype=pl.String))

    def case_links(
        self,
        sf: dict[str, pl.DataFrame],
        hs: dict[str, pl.DataFrame],
        associations: dict[tuple[str, str], pl.DataFrame],
    ) -> list[dict[str, Any]]:
        """Each HubSpot ticket associated with a live contact and that contact's company (a few
        archived): the links put in ``associations``, the deleted cases of both sides returned."""
        rng = np.random.default_rng(self.cfg.seed + STREAM + 1)
        people = hs["contacts"]["id"].filter(~hs["contacts"]["archived"].fill_null(False)).to_numpy()
        tickets = hs[HS_OBJECT]
        ids = tickets["id"].to_numpy()
        # a ticket opened twice (``case_copies``: after the others) is on its original's contact
        mine = [d for d in self.duplicates if d["object"] == HS_OBJECT]
        original = {d["cluster_id"]: int(d["record_id"]) for d in mine if d["is_original"]}
        copied = {int(d["record_id"]): original[d["cluster_id"]] for d in mine if not d["is_original"]}
        drawn = people[rng.integers(0, len(people), len(ids) - len(copied))]
        base = HUBSPOT_OBJECTS[HS_OBJECT].id_base  # a row is its id less the base
        contact = np.concatenate([drawn, [drawn[copied[i] - base] for i in sorted(copied)]]).astype(
            drawn.dtype
        )
        tickets = hs[HS_OBJECT] = self._resubjected("hubspot", tickets, contact)
        live_companies = hs["companies"]["id"].filter(~hs["companies"]["archived"].fill_null(False))
        employer = (
            associations[("contacts", "companies")]
            .filter(pl.col("to_id").is_in(live_companies.implode()))
            .unique("from_id", keep="first", maintain_order=True)
        )
        of = dict(zip(employer["from_id"].to_list(), employer["to_id"].to_list(), strict=True))
        with_company = [(t, of[c]) for t, c in zip(ids.tolist(), contact.tolist(), strict=True) if c in of]
        schema = {"from_id": pl.Int64, "to_id": pl.Int64, "type_id": pl.Int32}
        for target, pairs in (
            ("contacts", list(zip(ids.tolist(), contact.tolist(), strict=True))),
            ("companies", with_company),
        ):
            key = (HS_OBJECT, target)
            associations[key] = pl.DataFrame(
                {
                    "from_id": [a for a, _ in pairs],
                    "to_id": [b for _, b in pairs],
                    "type_id": [ASSOCIATION_TYPES[key]] * len(pairs),
                },
                schema=schema,
            )
        # a case opened twice is never archived: the truth's pairs stay live
        keep = {d["record_id"] for d in mine}
        return self._deleted_pair(rng, sf, hs, (SF_OBJECT, HS_OBJECT), DELETED, keep=keep)


def resubject(
    contact: np.ndarray, subject: np.ndarray, created: np.ndarray, closed: np.ndarray, kept: np.ndarray
) -> np.ndarray:
    """``subject`` with each unlabelled copy among the independently drawn cases (``unlabelled_copies``)
    given the next of ``SUBJECTS`` (and the next, until none is left): ``kept`` rows keep theirs."""
    out = subject.copy()
    cases = CaseTimes(contact, created, closed, kept)
    for _ in SUBJECTS:
        rows = cases.unlabelled_copies(out)
        if not len(rows):
            return out
        for row in rows.tolist():
            out[row] = SUBJECTS[(SUBJECTS.index(out[row]) + 1) % len(SUBJECTS)]
    return out
