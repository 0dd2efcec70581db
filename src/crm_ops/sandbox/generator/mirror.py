"""HubSpot's side: a share of the Salesforce records mirrored, cross ids set, plus HubSpot-only ones."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox import wordlists as w
from crm_ops.sandbox.generator.addresses import _countries, _phones, _places
from crm_ops.sandbox.generator.columns import _pick
from crm_ops.sandbox.generator.common import GenState, _ascii, _frame, _timestamps
from crm_ops.sandbox.generator.people import _SF_STAGE_TO_HS
from crm_ops.sandbox.objects import (
    ASSOCIATION_TYPES,
    DEAL_STAGES,
    HUBSPOT_OBJECTS,
    INDUSTRIES,
    PRIMARY_ASSOCIATION_TYPES,
)


class HubSpotMirror(GenState):
    # ---------------------------------------------------------------- HubSpot mirror

    def hubspot(
        self, sf: dict[str, pl.DataFrame]
    ) -> tuple[dict[str, pl.DataFrame], dict[tuple[str, str], pl.DataFrame]]:
        rng = self.rng
        overlap = self.cfg.overlap
        hs_objects = HUBSPOT_OBJECTS

        def owner_ids(sf_owner: np.ndarray) -> np.ndarray:
            index = {u: i for i, u in enumerate(self.user_ids)}
            return np.asarray([str(10_000_000 + index[o]) for o in sf_owner], dtype=object)

        # Companies: a share of accounts mirrored, plus HubSpot-only companies.
        acc_n = self.acc["n"]
        mirrored_acc = np.flatnonzero(rng.random(acc_n) < overlap)
        extra_acc = max(1, acc_n // 10)
        m = len(mirrored_acc)
        comp_ids = hs_objects["companies"].id_base + np.arange(m + extra_acc)
        extra = self._hs_only_companies(extra_acc)
        linked = rng.random(m) < 0.8
        created = _timestamps(rng, self.today, m + extra_acc, 1000, 100)
        modified = _timestamps(rng, self.today, m + extra_acc, 90)
        acc_owner = owner_ids(self.acc["owner"][mirrored_acc])
        companies = _frame(
            hs_objects["companies"].schema(),
            {
                "id": comp_ids,
                "name": np.concatenate([self.acc["name"][mirrored_acc], extra["name"]]),
                "domain": np.concatenate([self.acc["domain"][mirrored_acc], extra["domain"]]),
                "website": np.concatenate([self.acc["domain"][mirrored_acc], extra["domain"]]),
                "phone": np.concatenate([self.acc["phone"][mirrored_acc], extra["phone"]]),
                "city": np.concatenate([self.acc["places"]["city"][mirrored_acc], extra["city"]]),
                "state": np.concatenate([self.acc["places"]["state"][mirrored_acc], extra["state"]]),
                "zip": np.concatenate([self.acc["places"]["postal"][mirrored_acc], extra["postal"]]),
                "address": np.concatenate([self.acc["places"]["street"][mirrored_acc], extra["street"]]),
                "country": np.concatenate([self.acc["country"][mirrored_acc], extra["country"]]),
                "industry": _pick(rng, INDUSTRIES, m + extra_acc),
                "lifecyclestage": _pick(rng, ("lead", "opportunity", "customer"), m + extra_acc),
                "hubspot_owner_id": np.concatenate(
                    [
                        acc_owner,
                        owner_ids(
                            self.user_ids[
                                self.active_owners[rng.integers(0, len(self.active_owners), extra_acc)]
                            ]
                        ),
                    ]
                ),
                "salesforceaccountid": np.concatenate(
                    [np.where(linked, self.acc["ids"][mirrored_acc], None), np.full(extra_acc, None)]
                ),
                "createdate": created,
                "hs_lastmodifieddate": modified,
                "archived": False,
            },
            m + extra_acc,
        )
        self.company_of_account = dict(zip(mirrored_acc.tolist(), comp_ids[:m].tolist(), strict=True))
        acc_hs_ids = np.full(sf["Account"].height, None, dtype=object)
        acc_hs_ids[mirrored_acc[linked]] = comp_ids[:m][linked].astype(str)
        sf["Account"] = sf["Account"].with_columns(
            HubSpot_Company_Id__c=pl.Series(acc_hs_ids.tolist(), dtype=pl.String)
        )
        self.matches = [
            ("Account", self.acc["ids"][a], "companies", str(h)) for a, h in self.company_of_account.items()
        ]

        # Contacts: mirrored SF contacts, some SF leads, and HubSpot-only people.
        con_n = self.con["n"]
        mirrored_con = np.flatnonzero(rng.random(con_n) < overlap)
        lead_mirror = np.flatnonzero(rng.random(self.lead["n"]) < overlap / 2)
        only_n = max(1, con_n // 10)
        only = self.people(only_n, None)
        only_domain = np.asarray(
            [
                f"{_ascii(la).lower()}{i}.{w.TLDS[k]}"
                for i, (la, k) in enumerate(zip(only["last"], only["country"], strict=True))
            ],
            dtype=object,
        )
        only_email = self._unique_emails(only["local"], only_domain)
        mc, ml = len(mirrored_con), len(lead_mirror)
        total = mc + ml + only_n
        ids = hs_objects["contacts"].id_base + np.arange(total)
        linked_c = rng.random(mc) < 0.8
        linked_l = rng.random(ml) < 0.8

        def cat(key: str, sub: str | None = None) -> np.ndarray:
            def get(d: dict[str, Any]) -> np.ndarray:
                value: np.ndarray = d["places"][sub] if sub else d[key]
                return value

            return np.concatenate([get(self.con)[mirrored_con], get(self.lead)[lead_mirror], get(only)])

        lead_stage = np.asarray(
            [
                "salesqualifiedlead"
                if s == "Working - Contacted"
                else "other"
                if s == "Closed - Not Converted"
                else "lead"
                for s in self.lead["status"][lead_mirror]
            ],
            dtype=object,
        )
        hs_status = np.asarray(
            [
                "IN_PROGRESS"
                if s == "Working - Contacted"
                else "UNQUALIFIED"
                if s == "Closed - Not Converted"
                else "NEW"
                for s in self.lead["status"][lead_mirror]
            ],
            dtype=object,
        )
        created = _timestamps(rng, self.today, total, 1000, 60)
        modified = _timestamps(rng, self.today, total, 55)
        company_name = np.concatenate(
            [
                self.acc["name"][self.con["account"][mirrored_con]],
                self.lead["company"][lead_mirror],
                np.full(only_n, None),
            ]
        )
        assoc_company = np.asarray(
            [self.company_of_account.get(a) for a in self.con["account"][mirrored_con]], dtype=object
        )
        contacts = _frame(
            hs_objects["contacts"].schema(),
            {
                "id": ids,
                "email": np.concatenate(
                    [self.con["email"][mirrored_con], self.lead["email"][lead_mirror], only_email]
                ),
                "firstname": cat("first"),
                "lastname": cat("last"),
                "phone": cat("phone"),
                "mobilephone": np.concatenate([self.con["mobile"][mirrored_con], np.full(ml + only_n, None)]),
                "company": company_name,
                "jobtitle": cat("title"),
                "address": cat("", "street"),
                "city": cat("", "city"),
                "state": cat("", "state"),
                "zip": cat("", "postal"),
                "country": cat("country"),
                "lifecyclestage": np.concatenate(
                    [np.full(mc, "customer"), lead_stage, np.full(only_n, "subscriber")]
                ),
                "hs_lead_status": np.concatenate([np.full(mc, None), hs_status, np.full(only_n, "NEW")]),
                "associatedcompanyid": np.concatenate([assoc_company, np.full(ml + only_n, None)]),
                "salesforcecontactid": np.concatenate(
                    [np.where(linked_c, self.con["ids"][mirrored_con], None), np.full(ml + only_n, None)]
                ),
                "salesforceleadid": np.concatenate(
                    [
                        np.full(mc, None),
                        np.where(linked_l, self.lead["ids"][lead_mirror], None),
                        np.full(only_n, None),
                    ]
                ),
                "hubspot_owner_id": owner_ids(
                    np.concatenate(
                        [
                            self.acc["owner"][self.con["account"][mirrored_con]],
                            self.user_ids[
                                self.active_owners[rng.integers(0, len(self.active_owners), ml + only_n)]
                            ],
                        ]
                    )
                ),
                "createdate": created,
                "hs_lastmodifieddate": modified,
                "lastmodifieddate": modified,
                "archived": False,
            },
            total,
        )
        con_hs = np.full(con_n, None, dtype=object)
        con_hs[mirrored_con[linked_c]] = ids[:mc][linked_c].astype(str)
        sf["Contact"] = sf["Contact"].with_columns(
            HubSpot_Contact_Id__c=pl.Series(con_hs.tolist(), dtype=pl.String)
        )
        lead_hs = np.full(self.lead["n"], None, dtype=object)
        lead_hs[lead_mirror[linked_l]] = ids[mc : mc + ml][linked_l].astype(str)
        sf["Lead"] = sf["Lead"].with_columns(
            HubSpot_Contact_Id__c=pl.Series(lead_hs.tolist(), dtype=pl.String)
        )
        self.hs_contact_of = dict(zip(mirrored_con.tolist(), ids[:mc].tolist(), strict=True))
        self.matches += [
            ("Contact", self.con["ids"][c], "contacts", str(h)) for c, h in self.hs_contact_of.items()
        ]
        self.matches += [
            ("Lead", self.lead["ids"][lx], "contacts", str(h))
            for lx, h in zip(lead_mirror.tolist(), ids[mc : mc + ml].tolist(), strict=True)
        ]
        self.hs_contacts_pos = {"mirrored": mirrored_con}

        # Deals: mirrored opportunities whose account is mirrored.
        opp_n = self.opp["n"]
        mirrored_opp = np.asarray(
            [
                i
                for i in np.flatnonzero(rng.random(opp_n) < overlap)
                if int(self.opp["account"][i]) in self.company_of_account
            ],
            dtype=np.int64,
        )
        k = len(mirrored_opp)
        deal_ids = hs_objects["deals"].id_base + np.arange(k)
        linked_d = rng.random(k) < 0.8
        stage = np.asarray([_SF_STAGE_TO_HS[s] for s in self.opp["stage"][mirrored_opp]], dtype=object)
        close_dt = self.opp["close"][mirrored_opp].astype("datetime64[ms]") + np.timedelta64(12, "h")
        created = _timestamps(rng, self.today, k, 900, 30)
        modified = _timestamps(rng, self.today, k, 29)
        deals = _frame(
            hs_objects["deals"].schema(),
            {
                "id": deal_ids,
                "dealname": self.opp["name"][mirrored_opp],
                "amount": self.opp["amount"][mirrored_opp],
                "closedate": close_dt,
                "dealstage": stage,
                "pipeline": "default",
                "dealtype": _pick(rng, ("newbusiness", "existingbusiness"), k),
                "hs_deal_stage_probability": np.asarray([DEAL_STAGES[s][0] for s in stage]),
                "salesforceopportunityid": np.where(linked_d, self.opp["ids"][mirrored_opp], None),
                "hubspot_owner_id": owner_ids(self.acc["owner"][self.opp["account"][mirrored_opp]]),
                "createdate": created,
                "hs_lastmodifieddate": modified,
                "archived": False,
            },
            k,
        )
        opp_hs = np.full(opp_n, None, dtype=object)
        opp_hs[mirrored_opp[linked_d]] = deal_ids[linked_d].astype(str)
        sf["Opportunity"] = sf["Opportunity"].with_columns(
            HubSpot_Deal_Id__c=pl.Series(opp_hs.tolist(), dtype=pl.String)
        )
        self.matches += [
            ("Opportunity", self.opp["ids"][o], "deals", str(d))
            for o, d in zip(mirrored_opp.tolist(), deal_ids.tolist(), strict=True)
        ]

        # Associations.
        has_company = np.asarray([x is not None for x in assoc_company], dtype=bool)
        c2c_from = ids[:mc][has_company]
        c2c_to = np.asarray([x for x in assoc_company if x is not None], dtype=np.int64)
        deal_company = np.asarray(
            [self.company_of_account[int(a)] for a in self.opp["account"][mirrored_opp]], dtype=np.int64
        )
        deal_contact_src = self.opp["contact"][mirrored_opp]
        dc_pairs = [
            (d, self.hs_contact_of[int(c)])
            for d, c in zip(deal_ids.tolist(), deal_contact_src.tolist(), strict=True)
            if int(c) in self.hs_contact_of
        ]

        def assoc(frm: np.ndarray, to: np.ndarray, pair: tuple[str, str]) -> pl.DataFrame:
            rows = [
                pl.DataFrame(
                    {"from_id": frm, "to_id": to, "type_id": np.full(len(frm), ASSOCIATION_TYPES[pair])},
                    schema={"from_id": pl.Int64, "to_id": pl.Int64, "type_id": pl.Int32},
                )
            ]
            if pair in PRIMARY_ASSOCIATION_TYPES:
                rows.append(
                    rows[0].with_columns(type_id=pl.lit(PRIMARY_ASSOCIATION_TYPES[pair], dtype=pl.Int32))
                )
            return pl.concat(rows)

        associations = {
            ("contacts", "companies"): assoc(c2c_from, c2c_to, ("contacts", "companies")),
            ("deals", "companies"): assoc(deal_ids, deal_company, ("deals", "companies")),
            ("deals", "contacts"): assoc(
                np.asarray([a for a, _ in dc_pairs], dtype=np.int64),
                np.asarray([b for _, b in dc_pairs], dtype=np.int64),
                ("deals", "contacts"),
            ),
        }
        return {"companies": companies, "contacts": contacts, "deals": deals}, associations

    def _hs_only_companies(self, n: int) -> dict[str, np.ndarray]:
        rng = self.rng
        country = _countries(rng, n)
        words = rng.integers(0, 10**9, n)
        name = np.asarray(
            [
                f"{w.COMPANY_PREFIXES[x % len(w.COMPANY_PREFIXES)]} "
                f"{w.COMPANY_SECTORS[(x // 7) % len(w.COMPANY_SECTORS)]} Collective {i}"
                for i, x in enumerate(words)
            ],
            dtype=object,
        )
        domain = np.asarray(
            [
                f"{_ascii(nm.split()[0]).lower()}collective{i}.{w.TLDS[k]}"
                for i, (nm, k) in enumerate(zip(name, country, strict=True))
            ],
            dtype=object,
        )
        places = _places(rng, country)
        return {
            "name": name,
            "domain": domain,
            "country": country,
            "phone": _phones(rng, country),
            **places,
            "postal": places["postal"],
        }
