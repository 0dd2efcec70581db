"""Duplicates (exact, fuzzy, lead-vs-contact) and drift between matched Salesforce-HubSpot pairs."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox import wordlists as w
from crm_ops.sandbox.generator.common import (
    GenState,
    _ascii,
    _frame,
    _phones,
)
from crm_ops.sandbox.objects import (
    HUBSPOT_OBJECTS,
    SALESFORCE_OBJECTS,
    sf_ids,
)
from crm_ops.sandbox.store import scatter


class Duplicates(GenState):
    # ---------------------------------------------------------------- duplicates and drift

    def duplicate(self, sf: dict[str, pl.DataFrame]) -> None:
        rate = self.cfg.defect_rate
        if rate <= 0:
            return
        rng = self.rng
        bad_rows = {d["record_id"] for d in self.defects}
        contacts = sf["Contact"]
        clean = np.flatnonzero(~contacts["Id"].is_in(list(bad_rows)).to_numpy())
        k = max(1, int(contacts.height * rate / 2))
        originals = rng.choice(clean, min(k, len(clean)), replace=False)
        kinds = np.asarray(("exact", "fuzzy"), dtype=object)[rng.integers(0, 2, len(originals))]
        copies = contacts[originals.tolist()]
        start = contacts.height
        new_ids = sf_ids("003", start, len(originals))
        first = copies["FirstName"].to_list()
        email = copies["Email"].to_list()
        for i, kind in enumerate(kinds.tolist()):
            if kind == "fuzzy":
                nick = w.NICKNAMES.get(first[i])
                local, _, dom = email[i].partition("@")
                if nick:
                    first[i] = nick
                    email[i] = f"{_ascii(nick).lower()}.{local.split('.', 1)[-1]}@{dom}"
                else:
                    email[i] = (
                        f"{local[0]}{local.split('.', 1)[-1]}@{dom}" if "." in local else f"{local}x@{dom}"
                    )
        copies = copies.with_columns(
            Id=new_ids,
            FirstName=pl.Series(first, dtype=pl.String),
            Email=pl.Series(email, dtype=pl.String),
            HubSpot_Contact_Id__c=pl.lit(None, dtype=pl.String),
        ).with_columns(Name=pl.concat_str(["FirstName", "LastName"], separator=" "))
        sf["Contact"] = pl.concat([contacts, copies])
        for i, (orig, kind) in enumerate(zip(originals.tolist(), kinds.tolist(), strict=True)):
            cluster = f"contact-{orig}"
            self.duplicates.append(
                {
                    "system": "salesforce",
                    "object": "Contact",
                    "cluster_id": cluster,
                    "record_id": contacts["Id"][orig],
                    "kind": kind,
                    "is_original": True,
                }
            )
            self.duplicates.append(
                {
                    "system": "salesforce",
                    "object": "Contact",
                    "cluster_id": cluster,
                    "record_id": new_ids[i],
                    "kind": kind,
                    "is_original": False,
                }
            )
        # Leads that duplicate an existing contact (the lead-vs-contact case).
        leads = sf["Lead"]
        k2 = max(1, int(contacts.height * rate / 4))
        src = rng.choice(np.setdiff1d(clean, originals), min(k2, len(clean)), replace=False)
        base = contacts[src.tolist()]
        lead_ids = sf_ids("00Q", leads.height, len(src))
        acc_rows = [int(a) for a in self.con["account"][src]]
        dup_leads = leads.head(0).vstack(
            _frame(
                SALESFORCE_OBJECTS["Lead"].schema(),
                {
                    "Id": lead_ids,
                    "IsDeleted": False,
                    "FirstName": base["FirstName"],
                    "LastName": base["LastName"],
                    "Name": base["Name"],
                    "Company": pl.Series(self.acc["name"][acc_rows]),
                    "Title": base["Title"],
                    "Street": base["MailingStreet"],
                    "City": base["MailingCity"],
                    "State": base["MailingState"],
                    "PostalCode": base["MailingPostalCode"],
                    "Country": base["MailingCountry"],
                    "Phone": base["Phone"],
                    "Email": base["Email"],
                    "Website": pl.Series(self.acc["domain"][acc_rows]),
                    "LeadSource": "Web",
                    "Status": "Open - Not Contacted",
                    "OwnerId": base["OwnerId"],
                    "IsConverted": False,
                    "CreatedDate": base["LastModifiedDate"],
                    "CreatedById": self.user_ids[0],
                    "LastModifiedDate": base["LastModifiedDate"],
                    "LastModifiedById": self.user_ids[0],
                    "SystemModstamp": base["LastModifiedDate"],
                },
                len(src),
            )
        )
        sf["Lead"] = pl.concat([leads, dup_leads])
        for i, s in enumerate(src.tolist()):
            cluster = f"lead-contact-{s}"
            self.duplicates.append(
                {
                    "system": "salesforce",
                    "object": "Contact",
                    "cluster_id": cluster,
                    "record_id": contacts["Id"][s],
                    "kind": "lead_contact",
                    "is_original": True,
                }
            )
            self.duplicates.append(
                {
                    "system": "salesforce",
                    "object": "Lead",
                    "cluster_id": cluster,
                    "record_id": lead_ids[i],
                    "kind": "lead_contact",
                    "is_original": False,
                }
            )

    def drift_pairs(self, sf: dict[str, pl.DataFrame], hs: dict[str, pl.DataFrame]) -> None:
        """Change one field on the HubSpot side of some clean matched contact pairs."""
        rate = self.cfg.defect_rate
        if rate <= 0:
            return
        rng = self.rng
        flagged = {d["record_id"] for d in self.defects}
        pairs = [
            (c, h)
            for c, h in self.hs_contact_of.items()
            if self.con["ids"][c] not in flagged and str(h) not in flagged
        ]
        k = int(len(pairs) * rate)
        chosen = (
            rng.choice(len(pairs), min(k, len(pairs)), replace=False) if pairs else np.asarray([], dtype=int)
        )
        contacts = hs["contacts"]
        base = HUBSPOT_OBJECTS["contacts"].id_base
        updates: dict[str, dict[int, Any]] = {}
        options = (
            ("Title", "jobtitle"),
            ("LastName", "lastname"),
            ("MailingCity", "city"),
            ("Phone", "phone"),
        )
        countries = np.asarray([self.con["country"][pairs[pos][0]] for pos in chosen.tolist()], dtype=object)
        fresh_phones = _phones(rng, countries) if len(countries) else np.asarray([], dtype=object)
        for n_pos, pos in enumerate(chosen.tolist()):
            c, h = pairs[pos]
            row = h - base
            sf_field, hs_field = options[int(rng.integers(0, len(options)))]
            sf_value = sf["Contact"][sf_field][c]
            if hs_field == "jobtitle":
                new = next(
                    t for t in w.TITLES[int(rng.integers(0, len(w.TITLES))) :] + w.TITLES if t != sf_value
                )
            elif hs_field == "lastname":
                new = next(
                    t
                    for t in w.LAST_NAMES[int(rng.integers(0, len(w.LAST_NAMES))) :] + w.LAST_NAMES
                    if t != sf_value
                )
            elif hs_field == "city":
                cities = [x[0] for x in w.CITIES[self.con["country"][c]] if x[0] != sf_value]
                if not cities:
                    continue
                new = cities[int(rng.integers(0, len(cities)))]
            else:
                new = str(fresh_phones[n_pos])
            updates.setdefault(hs_field, {})[row] = new
            self.drift.append(
                {
                    "sf_object": "Contact",
                    "sf_id": self.con["ids"][c],
                    "hs_object": "contacts",
                    "hs_id": str(h),
                    "sf_field": sf_field,
                    "hs_field": hs_field,
                    "sf_value": sf_value,
                    "hs_value": new,
                }
            )
        hs["contacts"] = scatter(contacts, updates)
