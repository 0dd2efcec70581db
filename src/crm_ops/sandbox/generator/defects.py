"""Defect injection: one known defect in each chosen record, each noted in the manifest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import phonenumbers
import polars as pl

from crm_ops.sandbox import wordlists as w
from crm_ops.sandbox.generator.common import GenState
from crm_ops.sandbox.objects import OPPORTUNITY_STAGES, sf_ids
from crm_ops.sandbox.store import scatter

DEFECT_KINDS = (
    "email_malformed",
    "email_format",
    "placeholder",
    "phone_format",
    "country_alias",
    "state_alias",
    "missing_required",
    "name_format",
    "website_format",
    "freemail_account",
    "email_domain_mismatch",
    "orphan",
    "opp_negative_amount",
    "opp_past_close_open",
    "stage_probability_mismatch",
    "opp_no_contact_role",
    "inactive_owner",
    "stale",
)


class Defects(GenState):
    # ---------------------------------------------------------------- defects

    def _defect(
        self, system: str, obj: str, record_id: str, fld: str, kind: str, bad: Any, correct: Any
    ) -> None:
        self.defects.append(
            {
                "system": system,
                "object": obj,
                "record_id": str(record_id),
                "field": fld,
                "kind": kind,
                "bad_value": None if bad is None else str(bad),
                "correct_value": None if correct is None else str(correct),
            }
        )

    def inject(self, sf: dict[str, pl.DataFrame], hs: dict[str, pl.DataFrame]) -> None:
        rate = self.cfg.defect_rate
        if rate <= 0:
            return
        person_kinds = (
            "email_malformed",
            "email_format",
            "placeholder",
            "phone_format",
            "country_alias",
            "state_alias",
            "missing_required",
            "name_format",
            "inactive_owner",
            "stale",
        )
        plans = {
            ("salesforce", "Contact"): (*person_kinds, "email_domain_mismatch", "orphan"),
            ("salesforce", "Lead"): person_kinds,
            ("salesforce", "Account"): (
                "phone_format",
                "country_alias",
                "state_alias",
                "missing_required",
                "name_format",
                "website_format",
                "freemail_account",
                "inactive_owner",
                "stale",
            ),
            ("salesforce", "Opportunity"): (
                "opp_negative_amount",
                "opp_past_close_open",
                "stage_probability_mismatch",
                "opp_no_contact_role",
                "orphan",
                "missing_required",
                "inactive_owner",
            ),
            ("hubspot", "contacts"): (
                "email_malformed",
                "email_format",
                "placeholder",
                "phone_format",
                "country_alias",
                "name_format",
                "missing_required",
            ),
            ("hubspot", "companies"): ("phone_format", "country_alias", "website_format", "name_format"),
        }
        self.deleted_accounts: list[int] = []
        for (system, obj), kinds in plans.items():
            frame = sf[obj] if system == "salesforce" else hs[obj]
            eligible = np.arange(frame.height)
            if obj == "Opportunity":
                eligible = eligible[~frame["IsClosed"].to_numpy()]  # open ones, so every kind applies
            k = round(len(eligible) * rate)
            chosen = self.rng.choice(eligible, min(k, len(eligible)), replace=False)
            kinds_for = np.asarray(kinds, dtype=object)[self.rng.integers(0, len(kinds), len(chosen))]
            updates: dict[str, dict[int, Any]] = {}
            records = frame[chosen.tolist()].iter_rows(named=True)  # as seeded: updates land after
            for row, kind, record in zip(chosen.tolist(), kinds_for.tolist(), records, strict=True):
                for fld, value in self._apply(system, obj, record, kind).items():
                    updates.setdefault(fld, {})[row] = value
            frame = scatter(frame, updates)
            if system == "salesforce":
                sf[obj] = frame
            else:
                hs[obj] = frame
        if self.deleted_accounts:
            sf["Account"] = scatter(sf["Account"], {"IsDeleted": dict.fromkeys(self.deleted_accounts, True)})
        if any(d["kind"] == "opp_no_contact_role" for d in self.defects):
            gone = {d["record_id"] for d in self.defects if d["kind"] == "opp_no_contact_role"}
            roles = sf["OpportunityContactRole"].filter(~pl.col("OpportunityId").is_in(gone))
            # numbered again: a sandbox id encodes its row, and the store serves a record by id from it
            sf["OpportunityContactRole"] = roles.with_columns(Id=sf_ids("00K", 0, roles.height))

    def _apply(self, system: str, obj: str, r: dict[str, Any], kind: str) -> dict[str, Any]:
        rng = self.rng
        rid = r["Id"] if system == "salesforce" else str(r["id"])
        sfs = system == "salesforce"
        email_f = "Email" if sfs else "email"
        phone_f = "Phone" if sfs else "phone"
        country_f = {"Contact": "MailingCountry", "Lead": "Country", "Account": "BillingCountry"}.get(
            obj, "country"
        )
        state_f = {"Contact": "MailingState", "Lead": "State", "Account": "BillingState"}.get(obj, "state")
        name_f = {"Account": "Name", "companies": "name"}.get(obj, "LastName" if sfs else "lastname")
        country = str(r.get(country_f))

        def note(fld: str, bad: Any, correct: Any) -> dict[str, Any]:
            self._defect(system, obj, rid, fld, kind, bad, correct)
            return {fld: bad}

        if kind == "email_malformed":
            e = r[email_f]
            local, _, dom = e.partition("@")
            bad = [
                f"{local}{dom}",
                f"{local}@@{dom}",
                f"{local}@{dom.replace('.', ',', 1)}",
                f"{local} @{dom}",
            ][int(rng.integers(0, 4))]
            return note(email_f, bad, e)
        if kind == "email_format":
            e = r[email_f]
            bad = [e.upper(), f"  {e}", f"{e} ", f" {e[0].upper()}{e[1:]} "][int(rng.integers(0, 4))]
            return note(email_f, bad, e)
        if kind == "placeholder":
            fld = [email_f, phone_f, "Title" if sfs else "jobtitle"][int(rng.integers(0, 3))]
            bad = (w.PLACEHOLDER_EMAILS if fld == email_f else w.PLACEHOLDERS)[
                int(rng.integers(0, len(w.PLACEHOLDER_EMAILS if fld == email_f else w.PLACEHOLDERS)))
            ]
            return note(fld, bad, None)
        if kind == "phone_format":
            e164 = r[phone_f]
            num = phonenumbers.parse(e164, None)
            national = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
            intl = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            digits = "".join(c for c in national if c.isdigit())
            variants = [national, intl, national.replace(" ", "-"), national.replace(" ", "."), digits]
            if country in ("US", "CA"):
                variants += [
                    f"{digits[:3]}.{digits[3:6]}.{digits[6:]}",
                    f"{digits[:3]}-{digits[3:6]}-{digits[6:]}",
                ]
            else:
                variants += ["00" + intl[1:]]
            return note(phone_f, variants[int(rng.integers(0, len(variants)))], e164)
        if kind == "country_alias":
            aliases = w.COUNTRY_ALIASES[country]
            return note(country_f, aliases[int(rng.integers(0, len(aliases)))], country)
        if kind == "state_alias":
            state = str(r.get(state_f))
            state_aliases = w.STATE_ALIASES.get((country, state))
            if not state_aliases:
                return self._apply(system, obj, r, "country_alias")
            return note(state_f, state_aliases[int(rng.integers(0, len(state_aliases)))], state)
        if kind == "missing_required":
            fld = {
                "Contact": "Email",
                "Lead": "Email",
                "Account": "Name",
                "Opportunity": "Amount",
                "contacts": "email",
            }[obj]
            return note(fld, None, None)
        if kind == "name_format":
            name = r[name_f]
            bad = [
                name.lower(),
                name.upper(),
                f" {name}",
                f"{name}  ",
                name.replace(" ", "  ", 1) if " " in name else f"{name} ",
            ][int(rng.integers(0, 5))]
            if bad == name:
                bad = name.upper() if name.upper() != name else f" {name}"
            out = note(name_f, bad, name)
            if sfs and obj in ("Contact", "Lead"):
                out["Name"] = f"{r['FirstName']} {bad}"
            return out
        if kind == "website_format":
            fld = "Website" if sfs else "domain"
            d = r[fld]
            bad = [f"https://www.{d}/", f"http://{d}/about", f"WWW.{d.upper()}", f"www.{d}"][
                int(rng.integers(0, 4))
            ]
            return note(fld, bad, d)
        if kind == "freemail_account":
            return note("Website", w.FREEMAIL[int(rng.integers(0, len(w.FREEMAIL)))], r["Website"])
        if kind == "email_domain_mismatch":
            other = self.acc["domain"][int(rng.integers(0, self.acc["n"]))]
            local, _, dom = r["Email"].partition("@")
            if other == dom:
                other = "elsewhere-" + other
            return note("Email", f"{local}@{other}", r["Email"])
        if kind == "orphan":
            if rng.random() < 0.5:
                return note("AccountId", None, r["AccountId"])
            # Point at an account that is deleted: a dedicated one, so no clean record is orphaned with it.
            row = self._deleted_account()
            return note("AccountId", self.acc["ids"][row], r["AccountId"])
        if kind == "opp_negative_amount":
            return note("Amount", -abs(r["Amount"]), abs(r["Amount"]))
        if kind == "opp_past_close_open":
            past = self.today - timedelta(days=int(rng.integers(5, 400)))
            return note("CloseDate", past, None)
        if kind == "stage_probability_mismatch":
            right = float(OPPORTUNITY_STAGES[r["StageName"]][0])
            wrong = float((right + 40) % 100) or 5.0
            return note("Probability", wrong, int(right))
        if kind == "opp_no_contact_role":
            self._defect(system, obj, rid, "Id", kind, None, None)
            return {}
        if kind == "inactive_owner":
            owner = self.user_ids[self.inactive_owners[int(rng.integers(0, len(self.inactive_owners)))]]
            return note("OwnerId", owner, None)
        if kind == "stale":
            old = datetime.combine(self.today, datetime.min.time(), tzinfo=UTC) - timedelta(
                days=int(rng.integers(800, 1500))
            )
            out = note("LastModifiedDate", old, None)
            out["SystemModstamp"] = old
            if r["CreatedDate"] > old:
                out["CreatedDate"] = old - timedelta(days=30)
            return out
        raise AssertionError(kind)

    def _deleted_account(self) -> int:
        """Accounts made only to be deleted: orphans point at them."""
        if not self.deleted_accounts or self.rng.random() < 0.3:
            # Reuse an account whose contacts and opportunities all become orphans is not clean; instead the
            # generator reserves the last accounts, which no contact or opportunity was given (see run()).
            pool = self.reserved_accounts
            self.deleted_accounts.append(int(pool[len(self.deleted_accounts) % len(pool)]))
        return self.deleted_accounts[int(self.rng.integers(0, len(self.deleted_accounts)))]
