"""Harder duplicates, and records that look like duplicates and are not (issue 28).

People's copies are rarely one slip away from their original: a form filled the wrong way round swaps the
first and last names; a hurried entry mistypes the name and the e-mail, or the name and the phone's
format, at once. And two records alike are not always one: another person of the same name at another
company, or a namesake at the same company with a mailbox of their own; two people of one household
(one surname and address, often one phone, two first names); two companies of one name in two countries; two
colleagues reporting one outage as two cases; two deals of one company, one amount and one quarter, for
two products. A merge of any of these is wrong.

This stage adds, in every object a CRM can merge (Salesforce Account, Contact, Lead and Case; HubSpot
contacts, companies, deals and tickets), harder copies on top of the ones seeded before (``HARDER``: a
third as many as there were, each pair a cluster in the manifest's duplicates) and as many look-alikes
(``LOOKALIKES``: each pair a row of the manifest's ``lookalikes``, with the other CRM's record when the
original is matched there, since a cross-CRM link to it is as wrong). A difference that is itself a
defect (a phone's format, a website's form) is noted as one, on the copy. Made last, after the deals'
copies, on a random stream of its own: every other table, id and truth of a seed stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import phonenumbers
import polars as pl

from crm_ops.sandbox import wordlists as w
from crm_ops.sandbox.generator.addresses import _phones, _places
from crm_ops.sandbox.generator.common import GenState, _ascii
from crm_ops.sandbox.generator.duplicates import _free_address, _other_legal_form, _typo
from crm_ops.sandbox.objects import (
    ASSOCIATION_TYPES,
    HUBSPOT_OBJECTS,
    PRIMARY_ASSOCIATION_TYPES,
    SALESFORCE_OBJECTS,
    sf_id_at,
)

STREAM = 2828  # issue 28: the stream is np.random.default_rng([seed, STREAM])
SHARE = 1 / 3  # harder copies, and look-alikes, per copy seeded before in the object
HARDER = {
    "Contact": ("swapped_names", "multi_typo"),
    "Lead": ("swapped_names", "multi_typo"),
    "contacts": ("swapped_names", "multi_typo"),
    "Account": ("multi_typo",),
    "companies": ("multi_typo",),
    "Case": ("reply_other_channel",),
    "tickets": ("reply_other_channel",),
    "deals": ("multi_typo",),
}
# namesakes: another person of the name elsewhere, or a colleague with a mailbox and a line of their own;
# a household: another first name and job, the surname and address shared, the phone in half of them
LOOKALIKES = {
    "Contact": ("same_name", "same_name_same_company", "household"),
    "Lead": ("same_name", "household"),
    "contacts": ("same_name", "same_name_same_company", "household"),
    "Account": ("same_name_other_country",),
    "companies": ("same_name_other_country",),
    "Case": ("same_subject_colleague",),
    "tickets": ("same_subject_colleague",),
    "deals": ("same_company_other_product",),
}
# what a copy or look-alike does not share with its original: the other CRM's id (nobody synced it)
UNSYNCED = {
    "Contact": ("HubSpot_Contact_Id__c",),
    "Lead": ("HubSpot_Contact_Id__c",),
    "Account": ("HubSpot_Company_Id__c",),
    "contacts": ("salesforcecontactid", "salesforceleadid", "hs_additional_emails"),
    "companies": ("salesforceaccountid",),
    "deals": ("salesforceopportunityid", "hs_salesforceopportunityid", "hs_merged_object_ids"),
    "Case": (),
    "tickets": (),
}
# a country's top-level domain, for a namesake company's own website
TLD = {"US": "com", "CA": "ca", "GB": "co.uk", "DE": "de", "FR": "fr", "ES": "es", "NL": "nl", "AU": "com.au"}

Row = dict[str, Any]


@dataclass(frozen=True)
class _Defect:
    """A copy's value that is a defect too (``kind``), and its original's (correct) value."""

    kind: str
    bad: str
    correct: Any


def _local(first: str, last: str) -> str:
    """The mailbox ``first.last`` as the generator makes it."""
    return f"{_ascii(first).lower()}.{_ascii(last).lower().replace('.', '')}"


def _national(e164: str) -> str:
    """``e164`` as people write it at home (the national format)."""
    return phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.NATIONAL)


class HardCopies(GenState):
    """Harder copies and look-alikes in every mergeable object."""

    def hard_copies(
        self,
        sf: dict[str, pl.DataFrame],
        hs: dict[str, pl.DataFrame],
        associations: dict[tuple[str, str], pl.DataFrame],
    ) -> list[Row]:
        """Append harder copies and look-alikes to each mergeable table (the HubSpot ones' associations to
        ``associations``), their duplicate pairs to the manifest's; return the look-alike pairs."""
        lookalikes: list[Row] = []
        if self.cfg.defect_rate <= 0:
            return lookalikes
        maker = _Maker(self, np.random.default_rng([self.cfg.seed, STREAM]), sf, hs, associations)
        for obj in ("Contact", "Lead", "Account", "Case"):
            sf[obj] = maker.harden("salesforce", obj, sf[obj], lookalikes)
        for obj in ("contacts", "companies", "deals", "tickets"):
            hs[obj] = maker.harden("hubspot", obj, hs[obj], lookalikes)
        return lookalikes


class _Maker:
    """One seed's harder copies and look-alikes, made on their own stream ``rng``."""

    def __init__(
        self,
        state: GenState,
        rng: np.random.Generator,
        sf: dict[str, pl.DataFrame],
        hs: dict[str, pl.DataFrame],
        associations: dict[tuple[str, str], pl.DataFrame],
    ) -> None:
        self.state, self.rng, self.sf, self.associations = state, rng, sf, associations
        self.emails = set(hs["contacts"]["email"].drop_nulls().str.to_lowercase().to_list())
        live = hs["contacts"]["id"].filter(~hs["contacts"]["archived"].fill_null(False))
        # a live contact's company (its last link), and each company's staff in the order of their ids
        employer = (
            associations[("contacts", "companies")]
            .filter(pl.col("from_id").is_in(live.implode()))
            .unique("from_id", keep="last", maintain_order=True)
        )
        self.company_of = dict(zip(employer["from_id"].to_list(), employer["to_id"].to_list(), strict=True))
        staff = employer.group_by("to_id").agg(pl.col("from_id").sort())
        self.staff: dict[int, list[int]] = dict(
            zip(staff["to_id"].to_list(), staff["from_id"].to_list(), strict=True)
        )
        people = sf["Contact"].filter(~pl.col("IsDeleted") & pl.col("AccountId").is_not_null())
        mates = people.group_by("AccountId").agg(pl.col("Id").sort())
        self.colleagues = dict(zip(mates["AccountId"].to_list(), mates["Id"].to_list(), strict=True))
        tickets = associations.get(("tickets", "contacts"))
        self.ticket_contact = (
            dict(zip(tickets["from_id"].to_list(), tickets["to_id"].to_list(), strict=True))
            if tickets is not None
            else {}
        )
        # a record's match in the other CRM: (its object, its id)
        sf_side = [(m[0], m[1]) for m in state.matches]
        hs_side = [(m[2], m[3]) for m in state.matches]
        self.matched = dict(zip(sf_side, hs_side, strict=True))
        self.matched |= dict(zip(hs_side, sf_side, strict=True))
        self.contact_of: dict[int, int] = {}  # a new ticket's contact, when not its original's
        self.truth: set[str] = set()  # the records the truth names so far (``_in_truth``)
        self.read = (0, 0)  # how many of the state's defects and duplicates are in it

    def _in_truth(self) -> set[str]:
        """Every record a defect or duplicate of the truth names, and every orphan's right account (it has
        no copy: its truth stays one account, not either of two); read on from where it was last read."""
        defects, duplicates = self.state.defects, self.state.duplicates
        start_defects, start_duplicates = self.read
        for d in defects[start_defects:]:
            self.truth.add(d["record_id"])
            if d["field"] == "AccountId" and d["correct_value"]:
                self.truth.add(d["correct_value"])
        self.truth.update(d["record_id"] for d in duplicates[start_duplicates:])
        self.read = (len(defects), len(duplicates))
        return self.truth

    def harden(self, system: str, obj: str, frame: pl.DataFrame, lookalikes: list[Row]) -> pl.DataFrame:
        """``frame`` with its harder copies and look-alikes appended."""
        state, rng = self.state, self.rng
        sfs = system == "salesforce"
        key = "Id" if sfs else "id"
        ids = frame[key].cast(pl.String)
        before = sum(1 for d in state.duplicates if d["object"] == obj and not d["is_original"])
        k = max(1, round(before * SHARE))
        truth = self._in_truth() | {d["other_id"] for d in lookalikes}
        free = ~frame["IsDeleted"] if sfs else ~frame["archived"].fill_null(False)
        free = free & ~ids.is_in(pl.Series(list(truth), dtype=pl.String).implode())
        if obj == "Lead":
            free = free & ~frame["IsConverted"]
        if obj in ("Contact", "contacts", "Lead"):  # people with an address and a phone
            free = free & frame["Email" if sfs else "email"].is_not_null()
            free = free & frame["Phone" if sfs else "phone"].is_not_null()
        clean = free.arg_true().to_numpy()
        if len(clean) < 4:
            return frame
        chosen = rng.choice(clean, min(len(clean) // 2, 2 * k), replace=False)
        half = len(chosen) // 2
        new: list[Row] = []
        of: dict[Any, Any] = {}  # original id -> new id (for the HubSpot associations)
        for duplicate, rows, kinds in (
            (True, chosen[:half], HARDER[obj]),
            (False, chosen[half:], LOOKALIKES[obj]),
        ):
            for i, original in enumerate(frame[np.sort(rows).tolist()].iter_rows(named=True)):
                kind = kinds[i % len(kinds)]
                if duplicate:
                    record: Row | None = self._harder(system, obj, dict(original), kind)
                else:
                    record = self._lookalike(system, obj, dict(original), kind, frame, clean)
                if record is None:
                    continue
                new_id = self._add(system, obj, frame.height, new, record)
                of[original[key]] = new_id
                oid, nid = str(original[key]), str(new_id)
                if duplicate:
                    state.duplicates += [
                        {
                            "system": system,
                            "object": obj,
                            "cluster_id": f"{system}-{obj}-hard-{oid}",
                            "record_id": rid,
                            "kind": kind,
                            "is_original": is_original,
                        }
                        for is_original, rid in ((True, oid), (False, nid))
                    ]
                    continue
                pair = {"system": system, "object": obj, "record_id": nid, "kind": kind}
                lookalikes.append({**pair, "other_system": system, "other_object": obj, "other_id": oid})
                twin = self.matched.get((obj, oid))
                if twin is not None:  # its original's record in the other CRM: a link to it is as wrong
                    there = "hubspot" if sfs else "salesforce"
                    lookalikes.append(
                        {**pair, "other_system": there, "other_object": twin[0], "other_id": twin[1]}
                    )
        if not new:
            return frame
        added = pl.DataFrame(new, schema=frame.schema, orient="row")
        if not sfs:
            self._associate(obj, added, of)
        return pl.concat([frame, added])

    def _add(self, system: str, obj: str, height: int, new: list[Row], record: Row) -> Any:
        """Give ``record`` the id of its row (after ``height`` rows and ``new``), note its defects, keep
        it in ``new``; its id."""
        row = height + len(new)
        if system == "salesforce":
            new_id: Any = sf_id_at(SALESFORCE_OBJECTS[obj].key_prefix, row)
            record["Id"] = new_id
            if obj == "Case":
                record["CaseNumber"] = f"{row + 1:08d}"
        else:
            new_id = HUBSPOT_OBJECTS[obj].id_base + row
            record["id"] = new_id
            contact = record.pop("_contact", None)
            if contact is not None:
                self.contact_of[new_id] = contact
        for column in UNSYNCED[obj]:
            if column in record:
                record[column] = None
        # a difference that is a defect: noted on the copy
        for column, value in [(c, v) for c, v in record.items() if type(v) is _Defect]:
            record[column] = value.bad
            self.state.defects.append(
                {
                    "system": system,
                    "object": obj,
                    "record_id": str(new_id),
                    "field": column,
                    "kind": value.kind,
                    "bad_value": value.bad,
                    "correct_value": None if value.correct is None else str(value.correct),
                }
            )
        new.append(record)
        return new_id

    def _associate(self, obj: str, added: pl.DataFrame, of: dict[Any, Any]) -> None:
        """The new HubSpot records' associations: a contact with its company; a deal or ticket with its
        original's company and contacts (a colleague's ticket with the colleague)."""
        associations = self.associations
        if obj == "contacts":
            rows = added.filter(pl.col("associatedcompanyid").is_not_null()).select(
                pl.col("id").alias("from_id"), pl.col("associatedcompanyid").cast(pl.Int64).alias("to_id")
            )
            pair = ("contacts", "companies")
            types = [ASSOCIATION_TYPES[pair], PRIMARY_ASSOCIATION_TYPES.get(pair)]
            extra = [rows.with_columns(type_id=pl.lit(t, dtype=pl.Int32)) for t in types if t is not None]
            associations[pair] = pl.concat([associations[pair], *extra])
            return
        if obj not in ("deals", "tickets"):
            return
        for target in ("companies", "contacts"):
            links = associations.get((obj, target))
            if links is None:
                continue
            mine = links.filter(pl.col("from_id").is_in(list(of)))
            moved = mine.with_columns(
                pl.col("from_id").replace_strict(of, return_dtype=links.schema["from_id"])
            )
            if target == "contacts" and self.contact_of:
                colleague = pl.col("from_id").replace_strict(
                    self.contact_of, default=None, return_dtype=pl.Int64
                )
                moved = moved.with_columns(pl.coalesce(colleague, pl.col("to_id")).alias("to_id"))
            associations[(obj, target)] = pl.concat([links, moved.select(links.columns)])

    # ---------------------------------------------------------------- what a copy or look-alike is

    def _harder(self, system: str, obj: str, r: Row, kind: str) -> Row:
        """The copy of ``r`` (``kind``: ``HARDER``), made after it."""
        rng = self.rng
        sfs = system == "salesforce"
        created, modified = (
            ("CreatedDate", "LastModifiedDate") if sfs else ("createdate", "hs_lastmodifieddate")
        )
        if obj in ("Case", "tickets"):  # the customer writes again, by another channel, within two days,
            # before the first was answered
            subject = "Subject" if sfs else "subject"
            r[subject] = f"RE: {_typo(rng, str(r[subject] or 'Help'))}"
            channel = "Origin" if sfs else "source_type"
            options = ("Phone", "Web", "Email") if sfs else ("PHONE", "FORM", "CHAT", "EMAIL")
            r[channel] = next(o for o in options if o != r[channel])
            waited = timedelta(hours=float(rng.uniform(1, 40)))
            closed = r["ClosedDate" if sfs else "closed_date"]
            if closed is not None:  # written before the answer came (case_copies.before_answer)
                waited = min(waited, (closed - r[created]) / 2)
            return self._opened(sfs, r, r[created] + waited)
        if obj == "deals":  # a mistyped name and a close date a few days off, entered after the original
            r["dealname"] = _typo(rng, str(r["dealname"]))
            r["closedate"] = r["closedate"] + timedelta(days=int(rng.choice([-4, -2, 2, 4])))
            r["createdate"] = r["hs_lastmodifieddate"]
            return r
        # made after its original, before the original's last change
        r[created] = r[created] + (r[modified] - r[created]) * float(rng.uniform(0.1, 0.9))
        phone = "Phone" if sfs else "phone"
        if obj in ("Account", "companies"):  # a mistyped name and the website or phone written otherwise
            name = "Name" if sfs else "name"
            head, _, tail = str(r[name]).partition(" ")
            r[name] = f"{_typo(rng, head)} {tail}".strip()
            site = "Website" if sfs else "domain"
            if rng.random() < 0.5 and r[site]:
                form = ("https://www.{}/", "http://{}/about", "www.{}")[int(rng.integers(0, 3))]
                r[site] = _Defect("website_format", form.format(r[site]), r[site])
            elif r[phone]:
                r[phone] = _Defect("phone_format", _national(str(r[phone])), r[phone])
            return r
        first_f, last_f = ("FirstName", "LastName") if sfs else ("firstname", "lastname")
        email_f = "Email" if sfs else "email"
        first, last = str(r[first_f]), str(r[last_f])
        local, _, domain = str(r[email_f]).partition("@")
        if kind == "swapped_names":  # a form filled the wrong way round
            r[first_f], r[last_f] = last, first
            if obj == "contacts":  # HubSpot wants an address of its own: the person's private one
                domain = w.FREEMAIL[int(rng.integers(0, len(w.FREEMAIL)))]
                r["associatedcompanyid"] = None
        elif rng.random() < 0.5:  # the surname and the e-mail mistyped
            r[last_f] = _typo(rng, last)
            local = _typo(rng, local)
        else:  # the first name mistyped and the phone written as at home
            r[first_f] = _typo(rng, first)
            r[phone] = _Defect("phone_format", _national(str(r[phone])), r[phone])
            if obj == "contacts":  # HubSpot: an address of its own, mistyped too
                local = _typo(rng, local)
        r[email_f] = self._address(obj, local, domain)
        if sfs:
            r["Name"] = f"{r[first_f]} {r[last_f]}"
        return r

    def _address(self, obj: str, local: str, domain: str) -> str:
        """``local@domain``; on HubSpot, which refuses an address another contact holds, numbered when
        held."""
        return _free_address(local, domain, self.emails) if obj == "contacts" else f"{local}@{domain}".lower()

    @staticmethod
    def _opened(sfs: bool, r: Row, at: Any) -> Row:
        """Case or ticket ``r`` as newly opened at ``at``."""
        if sfs:
            r.update(CreatedDate=at, LastModifiedDate=at, SystemModstamp=at)
            r.update(Status="New", IsClosed=False, IsEscalated=False, ClosedDate=None)
        else:
            r.update(createdate=at, hs_lastmodifieddate=at, hs_pipeline_stage="1", closed_date=None)
        return r

    def _lookalike(
        self, system: str, obj: str, r: Row, kind: str, frame: pl.DataFrame, clean: np.ndarray
    ) -> Row | None:
        """A record like ``r`` that is not it (``kind``: ``LOOKALIKES``), or None when none can be made."""
        rng = self.rng
        sfs = system == "salesforce"
        if obj in ("Case", "tickets"):
            return self._colleague_case(sfs, r)
        if obj == "deals":  # another product sold to the same company: same amount, same fortnight
            head, _, product = str(r["dealname"]).partition(" - ")
            others = [p for p in w.PRODUCTS if p != product]
            r["dealname"] = f"{head} - {others[int(rng.integers(0, len(others)))]}"
            r["closedate"] = r["closedate"] + timedelta(days=int(rng.integers(-6, 7)))
            r["createdate"] = r["hs_lastmodifieddate"]
            return r
        donor = dict(frame.row(int(clean[int(rng.integers(0, len(clean)))]), named=True))
        if obj in ("Account", "companies"):
            return self._namesake_company(sfs, r, donor)
        return self._namesake_person(sfs, obj, r, kind, donor)

    def _namesake_person(self, sfs: bool, obj: str, r: Row, kind: str, donor: Row) -> Row | None:
        """Another person of ``r``'s name (elsewhere: at ``donor``'s company; or at ``r``'s), or of
        ``r``'s household (``kind``)."""
        rng = self.rng
        first_f, last_f = ("FirstName", "LastName") if sfs else ("firstname", "lastname")
        email_f, phone_f = ("Email", "Phone") if sfs else ("email", "phone")
        created, modified = (
            ("CreatedDate", "LastModifiedDate") if sfs else ("createdate", "hs_lastmodifieddate")
        )
        first, last = str(r[first_f]), str(r[last_f])
        if kind == "same_name":  # a namesake at another company: the donor's company, office and owner
            at = {"Contact": "AccountId", "Lead": "Company"}.get(obj, "associatedcompanyid")
            if donor[at] == r[at] or donor[last_f] == last:
                return None
            out = donor
            out[first_f], out[last_f] = first, last
            domain = str(donor[email_f]).partition("@")[2]
            local = _local(first, last)
        elif kind == "same_name_same_company":  # a namesake colleague: a mailbox and a line of their own
            out = dict(r)
            out["Title" if sfs else "jobtitle"] = donor["Title" if sfs else "jobtitle"]
            domain = str(r[email_f]).partition("@")[2]
            base = _local(first, last)
            middle = w.FIRST_NAMES[int(rng.integers(0, len(w.FIRST_NAMES)))][0].lower()
            local = (
                base.replace(".", f".{middle}.", 1),
                f"{base}2",
                f"{base.partition('.')[2]}.{base.partition('.')[0]}",
            )[int(rng.integers(0, 3))]
        else:  # household: another first name and job; the surname and address shared (the phone: above)
            out = dict(r)
            out["Title" if sfs else "jobtitle"] = donor["Title" if sfs else "jobtitle"]
            start = int(rng.integers(0, len(w.FIRST_NAMES)))
            other = next(
                f
                for f in w.FIRST_NAMES[start:] + w.FIRST_NAMES
                if f != first and first not in (w.NICKNAMES.get(f), f[:1]) and w.NICKNAMES.get(first) != f
            )
            out[first_f] = other
            domain = str(r[email_f]).partition("@")[2]
            local = _local(other, last)
        # a mobile of their own, and a line of their own but in half the households
        country = out[{"Contact": "MailingCountry", "Lead": "Country"}.get(obj, "country")] or "US"
        fresh = _phones(rng, np.asarray([country, country], dtype=object))
        if kind != "household" or rng.random() < 0.5:
            out[phone_f] = str(fresh[0])
        mobile = "MobilePhone" if sfs else "mobilephone"
        if out.get(mobile) is not None:
            out[mobile] = str(fresh[1])
        out[email_f] = self._address(obj, local, domain)
        if sfs:
            out["Name"] = f"{out[first_f]} {out[last_f]}"
        # entered after the record it looks like
        out[created] = max(r[created], out[created]) + timedelta(days=float(rng.uniform(1, 60)))
        out[modified] = max(out[modified], out[created])
        if sfs:
            out["SystemModstamp"] = out[modified]
        return out

    def _namesake_company(self, sfs: bool, r: Row, donor: Row) -> Row:
        """A company of ``r``'s name in another country, with a website, phone and address of its own
        (the rest ``donor``'s)."""
        rng = self.rng
        name_f, site_f, phone_f = ("Name", "Website", "Phone") if sfs else ("name", "domain", "phone")
        country_f = "BillingCountry" if sfs else "country"
        home = str(r[country_f])
        options = sorted(c for c in TLD if c != home)
        country = options[int(rng.integers(0, len(options)))]
        stem = _other_legal_form(str(r[name_f]), home)
        if len(stem) > len(str(r[name_f])):  # it had no legal form: the name itself
            stem = str(r[name_f])
        out = dict(donor)
        out[name_f] = f"{stem} {w.LEGAL_SUFFIXES.get(country, ('Inc',))[0]}"
        site = str(r[site_f] or "").split(".")[0] or _ascii(stem).lower()
        out[site_f] = f"{site}.{TLD[country]}"
        if not sfs:
            out["website"] = out[site_f]
        out[phone_f] = str(_phones(rng, np.asarray([country], dtype=object))[0])
        places = _places(rng, np.asarray([country], dtype=object))
        street, city, state, postal = (
            ("BillingStreet", "BillingCity", "BillingState", "BillingPostalCode")
            if sfs
            else ("address", "city", "state", "zip")
        )
        out.update(
            {
                street: str(places["street"][0]),
                city: places["city"][0],
                state: places["state"][0],
                postal: places["postal"][0],
                country_f: country,
            }
        )
        return out

    def _colleague_case(self, sfs: bool, r: Row) -> Row | None:
        """``r``'s case as a colleague at its account opens it hours later, or None without one."""
        rng = self.rng
        if sfs:
            mates = [c for c in self.colleagues.get(str(r["AccountId"]), []) if c != r["ContactId"]]
            if not mates:
                return None
            r["ContactId"] = mates[int(rng.integers(0, len(mates)))]
            return self._opened(sfs, r, r["CreatedDate"] + timedelta(hours=float(rng.uniform(0.2, 6))))
        contact = self.ticket_contact.get(int(r["id"]))
        company = self.company_of.get(contact) if contact is not None else None
        mates = [c for c in self.staff.get(company, []) if c != contact] if company is not None else []
        if not mates:
            return None
        r["_contact"] = mates[int(rng.integers(0, len(mates)))]
        return self._opened(sfs, r, r["createdate"] + timedelta(hours=float(rng.uniform(0.2, 6))))
