"""Clean records: owners, accounts, contacts, leads, opportunities and their contact roles."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox import wordlists as w
from crm_ops.sandbox.generator.addresses import _countries, _phones, _places
from crm_ops.sandbox.generator.columns import _pick
from crm_ops.sandbox.generator.common import GenState, _ascii, _frame, _timestamps
from crm_ops.sandbox.objects import (
    CONTACT_ROLES,
    INDUSTRIES,
    LEAD_SOURCES,
    LEAD_STATUSES,
    OPPORTUNITY_STAGES,
    OWNERS_SCHEMA,
    SALESFORCE_OBJECTS,
    sf_ids,
)

_SF_STAGE_TO_HS = {
    "Prospecting": "appointmentscheduled",
    "Qualification": "qualifiedtobuy",
    "Needs Analysis": "qualifiedtobuy",
    "Value Proposition": "presentationscheduled",
    "Id. Decision Makers": "decisionmakerboughtin",
    "Perception Analysis": "decisionmakerboughtin",
    "Proposal/Price Quote": "contractsent",
    "Negotiation/Review": "contractsent",
    "Closed Won": "closedwon",
    "Closed Lost": "closedlost",
}


class People(GenState):
    # ---------------------------------------------------------------- people and companies

    def owners(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        n = self.sizes["owners"]
        rng = self.rng
        first = _pick(rng, w.FIRST_NAMES, n)
        last = _pick(rng, w.LAST_NAMES, n)
        ids = sf_ids("005", 0, n)
        emails = [
            f"{_ascii(f).lower()}.{_ascii(la).lower()}{i}@crm-ops-demo.com"
            for i, (f, la) in enumerate(zip(first, last, strict=True))
        ]
        active = np.ones(n, dtype=bool)
        active[-max(2, n // 10) :] = False  # the last tenth have left the company
        created = _timestamps(rng, self.today, n, 1500, 400)
        users = _frame(
            SALESFORCE_OBJECTS["User"].schema(),
            {
                "Id": ids,
                "Username": pl.Series(emails),
                "FirstName": first,
                "LastName": last,
                "Name": np.char.add(np.char.add(first.astype(str), " "), last.astype(str)),
                "Email": pl.Series(emails),
                "Alias": pl.Series(
                    [
                        (_ascii(f)[:1] + _ascii(la)[:4]).lower() or "user"
                        for f, la in zip(first, last, strict=True)
                    ]
                ),
                "IsActive": active,
                "Title": _pick(rng, ("Account Executive", "Sales Manager", "SDR"), n),
                "Department": "Sales",
                "CreatedDate": created,
                "CreatedById": ids[0],
                "LastModifiedDate": created,
                "LastModifiedById": ids[0],
                "SystemModstamp": created,
            },
            n,
        )
        hs_owners = _frame(
            OWNERS_SCHEMA,
            {
                "id": np.arange(n) + 10_000_000,
                "email": pl.Series(emails),
                "firstName": first,
                "lastName": last,
                "userId": np.arange(n) + 20_000_000,
                "createdAt": created,
                "updatedAt": created,
                "archived": ~active,
            },
            n,
        )
        self.active_owners = np.flatnonzero(active)
        self.inactive_owners = np.flatnonzero(~active)
        self.user_ids = ids.to_numpy()
        return users, hs_owners

    def accounts(self) -> pl.DataFrame:
        n = self.sizes["accounts"]
        rng = self.rng
        p, c, s = len(w.COMPANY_PREFIXES), len(w.COMPANY_CORES), len(w.COMPANY_SECTORS)
        combos = rng.choice(p * c * s, n, replace=False)
        prefix = np.asarray(w.COMPANY_PREFIXES, dtype=object)[combos // (c * s)]
        core = np.asarray(w.COMPANY_CORES, dtype=object)[(combos // s) % c]
        sector = np.asarray(w.COMPANY_SECTORS, dtype=object)[combos % s]
        country = _countries(rng, n)
        suffix = np.asarray(
            [w.LEGAL_SUFFIXES[k][i % len(w.LEGAL_SUFFIXES[k])] for i, k in enumerate(country)], dtype=object
        )
        base = [f"{a}{b.capitalize()} {d}" for a, b, d in zip(prefix, core, sector, strict=True)]
        name = np.asarray([f"{b} {x}" for b, x in zip(base, suffix, strict=True)], dtype=object)
        domain = np.asarray(
            [
                f"{a.lower()}{b}{d.lower()}.{w.TLDS[k]}"
                for a, b, d, k in zip(prefix, core, sector, country, strict=True)
            ],
            dtype=object,
        )
        places = _places(rng, country)
        created = _timestamps(rng, self.today, n, 1400, 200)
        modified = _timestamps(rng, self.today, n, 180)
        owner = self.user_ids[self.active_owners[rng.integers(0, len(self.active_owners), n)]]
        self.acc: dict[str, Any] = {
            "name": name,
            "domain": domain,
            "country": country,
            "places": places,
            "owner": owner,
            "n": n,
            "ids": sf_ids("001", 0, n).to_numpy(),
            "phone": _phones(rng, country),
        }
        return _frame(
            SALESFORCE_OBJECTS["Account"].schema(),
            {
                "Id": self.acc["ids"],
                "IsDeleted": False,
                "Name": name,
                "Type": _pick(rng, ("Prospect", "Customer - Direct", "Customer - Channel", "Partner"), n),
                "BillingStreet": places["street"],
                "BillingCity": places["city"],
                "BillingState": places["state"],
                "BillingPostalCode": places["postal"],
                "BillingCountry": country,
                "Phone": self.acc["phone"],
                "Website": domain,
                "Industry": _pick(rng, INDUSTRIES, n),
                "AnnualRevenue": np.round(rng.lognormal(15, 1.5, n), -3),
                "NumberOfEmployees": rng.integers(5, 20_000, n),
                "OwnerId": owner,
                "CreatedDate": created,
                "CreatedById": self.user_ids[0],
                "LastModifiedDate": modified,
                "LastModifiedById": self.user_ids[0],
                "SystemModstamp": modified,
                "LastActivityDate": None,
                "Account_Tier__c": _pick(rng, ("Tier 1", "Tier 2", "Tier 3"), n),
            },
            n,
        )

    def contacts(self) -> pl.DataFrame:
        n = self.sizes["contacts"]
        rng = self.rng
        n_acc = self.acc["n"]
        account_index = np.concatenate([np.arange(min(n, n_acc)), rng.integers(0, n_acc, max(0, n - n_acc))])
        rng.shuffle(account_index)
        p = self.people(n, account_index)
        email = self._unique_emails(p["local"], p["domain"])
        created = _timestamps(rng, self.today, n, 1200, 60)
        modified = _timestamps(rng, self.today, n, 50)
        owner = self.acc["owner"][account_index]
        self.con: dict[str, Any] = {
            "n": n,
            "ids": sf_ids("003", 0, n).to_numpy(),
            "account": account_index,
            "email": email,
            **p,
        }
        return _frame(
            SALESFORCE_OBJECTS["Contact"].schema(),
            {
                "Id": self.con["ids"],
                "IsDeleted": False,
                "AccountId": self.acc["ids"][account_index],
                "Salutation": None,
                "FirstName": p["first"],
                "LastName": p["last"],
                "Name": np.char.add(np.char.add(p["first"].astype(str), " "), p["last"].astype(str)),
                "MailingStreet": p["places"]["street"],
                "MailingCity": p["places"]["city"],
                "MailingState": p["places"]["state"],
                "MailingPostalCode": p["places"]["postal"],
                "MailingCountry": p["country"],
                "Phone": p["phone"],
                "MobilePhone": p["mobile"],
                "Email": email,
                "Title": p["title"],
                "Department": _pick(rng, w.DEPARTMENTS, n),
                "LeadSource": _pick(rng, LEAD_SOURCES, n),
                "HasOptedOutOfEmail": rng.random(n) < 0.05,
                "OwnerId": owner,
                "CreatedDate": created,
                "CreatedById": self.user_ids[0],
                "LastModifiedDate": modified,
                "LastModifiedById": self.user_ids[0],
                "SystemModstamp": modified,
                "Preferred_Language__c": _pick(rng, ("English", "German", "French", "Spanish"), n),
            },
            n,
        )

    def leads(self) -> pl.DataFrame:
        n = self.sizes["leads"]
        rng = self.rng
        p = self.people(n, None)
        # Leads' companies are not (yet) accounts: their own names and domains.
        comp = rng.integers(0, 10**9, n)
        company, domain = _lead_companies(comp, p["country"])
        email = self._unique_emails(p["local"], domain)
        status = _pick(rng, LEAD_STATUSES[:2] + LEAD_STATUSES[3:], n)
        created = _timestamps(rng, self.today, n, 700, 30)
        modified = _timestamps(rng, self.today, n, 29)
        owner = self.user_ids[self.active_owners[rng.integers(0, len(self.active_owners), n)]]
        self.lead: dict[str, Any] = {
            "n": n,
            "ids": sf_ids("00Q", 0, n).to_numpy(),
            "email": email,
            "status": status,
            "company": company,
            **p,
        }
        return _frame(
            SALESFORCE_OBJECTS["Lead"].schema(),
            {
                "Id": self.lead["ids"],
                "IsDeleted": False,
                "FirstName": p["first"],
                "LastName": p["last"],
                "Name": np.char.add(np.char.add(p["first"].astype(str), " "), p["last"].astype(str)),
                "Company": company,
                "Title": p["title"],
                "Street": p["places"]["street"],
                "City": p["places"]["city"],
                "State": p["places"]["state"],
                "PostalCode": p["places"]["postal"],
                "Country": p["country"],
                "Phone": p["phone"],
                "Email": email,
                "Website": domain,
                "LeadSource": _pick(rng, LEAD_SOURCES, n),
                "Status": status,
                "Industry": _pick(rng, INDUSTRIES, n),
                "OwnerId": owner,
                "IsConverted": False,
                "CreatedDate": created,
                "CreatedById": self.user_ids[0],
                "LastModifiedDate": modified,
                "LastModifiedById": self.user_ids[0],
                "SystemModstamp": modified,
            },
            n,
        )

    def opportunities(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        n = self.sizes["opportunities"]
        rng = self.rng
        # Opportunities go to accounts that have contacts, so every one can get a contact role.
        with_contacts = np.unique(self.con["account"])
        account_index = with_contacts[rng.integers(0, len(with_contacts), n)]
        stages = np.asarray(list(OPPORTUNITY_STAGES), dtype=object)
        stage = stages[
            rng.choice(len(stages), n, p=[0.12, 0.1, 0.1, 0.1, 0.08, 0.08, 0.08, 0.08, 0.14, 0.12])
        ]
        closed = np.asarray([OPPORTUNITY_STAGES[s][1] for s in stage])
        won = np.asarray([OPPORTUNITY_STAGES[s][2] for s in stage])
        prob = np.asarray([float(OPPORTUNITY_STAGES[s][0]) for s in stage])
        offset = np.where(closed, -rng.integers(1, 700, n), rng.integers(1, 240, n))
        close = np.datetime64(self.today, "D") + offset.astype("timedelta64[D]")
        amount = np.round(rng.lognormal(10, 1.0, n), -2)
        product = _pick(rng, w.PRODUCTS, n)
        name = np.asarray(
            [
                f"{a.split(' ')[0]} - {pr}"
                for a, pr in zip(self.acc["name"][account_index], product, strict=True)
            ],
            dtype=object,
        )
        created = _timestamps(rng, self.today, n, 900, 30)
        modified = _timestamps(rng, self.today, n, 29)
        ids = sf_ids("006", 0, n).to_numpy()
        self.opp: dict[str, Any] = {
            "n": n,
            "ids": ids,
            "account": account_index,
            "stage": stage,
            "amount": amount,
            "close": close,
            "name": name,
            "prob": prob,
        }
        opps = _frame(
            SALESFORCE_OBJECTS["Opportunity"].schema(),
            {
                "Id": ids,
                "IsDeleted": False,
                "AccountId": self.acc["ids"][account_index],
                "Name": name,
                "Amount": amount,
                "CloseDate": pl.Series(close),
                "StageName": stage,
                "Probability": prob,
                "Type": _pick(rng, ("New Business", "Existing Business"), n),
                "LeadSource": _pick(rng, LEAD_SOURCES, n),
                "IsClosed": closed,
                "IsWon": won,
                "OwnerId": self.acc["owner"][account_index],
                "CreatedDate": created,
                "CreatedById": self.user_ids[0],
                "LastModifiedDate": modified,
                "LastModifiedById": self.user_ids[0],
                "SystemModstamp": modified,
            },
            n,
        )
        # Each opportunity gets one contact role: a contact of its own account.
        order = np.argsort(self.con["account"], kind="stable")
        sorted_acc = self.con["account"][order]
        first = np.searchsorted(sorted_acc, account_index, side="left")
        count = np.searchsorted(sorted_acc, account_index, side="right") - first
        pick = order[first + (rng.random(n) * count).astype(int)]
        self.opp["contact"] = pick
        ocr = _frame(
            SALESFORCE_OBJECTS["OpportunityContactRole"].schema(),
            {
                "Id": sf_ids("00K", 0, n),
                "IsDeleted": False,
                "OpportunityId": ids,
                "ContactId": self.con["ids"][pick],
                "Role": _pick(rng, CONTACT_ROLES, n),
                "IsPrimary": True,
                "CreatedDate": created,
                "CreatedById": self.user_ids[0],
                "LastModifiedDate": created,
                "LastModifiedById": self.user_ids[0],
                "SystemModstamp": created,
            },
            n,
        )
        return opps, ocr


def _lead_companies(comp: np.ndarray, country: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leads' company names (a prefix and a sector drawn from ``comp``, the country's legal form) and
    domains (the name's first two words folded to ASCII, ``comp`` modulo 9973, the country's TLD), built
    as columns: each prefix and sector pair's words are folded once."""
    prefixes, sectors = w.COMPANY_PREFIXES, w.COMPANY_SECTORS
    prefix = comp % 100 % len(prefixes)
    sector = (comp // 100) % len(sectors)
    countries = pl.Series(country.tolist(), dtype=pl.String)
    company = pl.select(
        pl.concat_str(
            pl.lit(pl.Series(np.asarray(prefixes, dtype=object)[prefix].tolist(), dtype=pl.String)),
            pl.lit(" "),
            pl.lit(pl.Series(np.asarray(sectors, dtype=object)[sector].tolist(), dtype=pl.String)),
            pl.lit(" "),
            pl.lit(countries.replace_strict({k: v[0] for k, v in w.LEGAL_SUFFIXES.items()})),
        )
    ).to_series()
    words = np.asarray(
        ["".join(_ascii(word).lower() for word in f"{p} {s}".split()[:2]) for p in prefixes for s in sectors],
        dtype=object,
    )
    domain = pl.select(
        pl.concat_str(
            pl.lit(pl.Series(words[prefix * len(sectors) + sector].tolist(), dtype=pl.String)),
            pl.lit(pl.Series(comp % 9973).cast(pl.String)),
            pl.lit("."),
            pl.lit(countries.replace_strict(w.TLDS)),
        )
    ).to_series()
    return company.to_numpy(), domain.to_numpy()
