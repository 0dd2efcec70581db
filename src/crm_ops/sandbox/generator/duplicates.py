"""Duplicates in every object a CRM can merge, and drift between matched Salesforce-HubSpot pairs.

Salesforce contacts are copied (exact, or under a nickname) and some contacts again as open leads (the
lead-vs-contact case); Salesforce accounts and leads and HubSpot contacts and companies are copied with
the differences people's copies have (``VARIATIONS``): a typo, a name's case, a phone's format, a company
with or without its legal form, ``www.``/``https://`` on a domain, and, on HubSpot, which refuses a
second contact with an address another holds, the person's private or a mistyped address. Every copy
and its original form one cluster in the manifest; a difference that is itself a defect is noted as one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from crm_ops.sandbox import wordlists as w
from crm_ops.sandbox.generator.addresses import _phones
from crm_ops.sandbox.generator.common import GenState, _ascii, _frame
from crm_ops.sandbox.objects import (
    ASSOCIATION_TYPES,
    HUBSPOT_OBJECTS,
    PRIMARY_ASSOCIATION_TYPES,
    SALESFORCE_OBJECTS,
    sf_ids,
)
from crm_ops.sandbox.store import scatter

# How a copy may differ from its original, per (system, object): the manifest's ``kind`` of its pair.
VARIATIONS = {
    ("salesforce", "Account"): (
        "exact",
        "legal_form",
        "typo",
        "name_format",
        "phone_format",
        "website_format",
    ),
    ("salesforce", "Lead"): ("exact", "nickname", "typo", "name_format", "phone_format"),
    ("hubspot", "companies"): (
        "exact",
        "legal_form",
        "typo",
        "name_format",
        "phone_format",
        "website_format",
    ),
    ("hubspot", "contacts"): ("personal_email", "nickname", "email_typo", "phone_format"),
}
# What a copy does not share with its original: the other CRM's id (nobody synced it), secondary e-mails
SAME_OF_COPY: dict[str, dict[str, Any]] = {
    "Account": {"HubSpot_Company_Id__c": None},
    "Lead": {"HubSpot_Contact_Id__c": None},
    "companies": {"salesforceaccountid": None},
    "contacts": {"salesforcecontactid": None, "salesforceleadid": None, "hs_additional_emails": None},
}
SF_PREFIXES = {"Account": "001", "Lead": "00Q"}
_SUFFIXES = sorted({s for options in w.LEGAL_SUFFIXES.values() for s in options}, key=len, reverse=True)


def _typo(rng: np.random.Generator, text: str) -> str:
    """One slip of the keyboard in ``text`` past its first letter: two neighbours swapped, one letter
    dropped or one doubled."""
    spots = [i for i in range(1, len(text) - 1) if text[i].isalpha() and text[i + 1].isalpha()]
    spots = [i for i in spots if text[i] != text[i + 1]]
    if not spots:
        return text + text[-1:]
    i = spots[int(rng.integers(0, len(spots)))]
    how = int(rng.integers(0, 3))
    if how == 0:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    return text[:i] + text[i + 1 :] if how == 1 else text[:i] + text[i] + text[i:]


def _other_legal_form(name: str, country: str) -> str:
    """``name`` without its legal form, or with its country's when it has none."""
    for suffix in _SUFFIXES:
        if name.endswith(" " + suffix):
            return name[: -len(suffix) - 1]
    return f"{name} {w.LEGAL_SUFFIXES.get(country, ('Inc',))[0]}"


def _free_address(local: str, domain: str, taken: set[str]) -> str:
    """``local@domain`` lowercased, numbered when another record holds it; noted in ``taken``."""
    address, n = f"{local}@{domain}".lower(), 0
    while address in taken:
        n += 1
        address = f"{local}{n}@{domain}".lower()
    taken.add(address)
    return address


class Duplicates(GenState):
    if TYPE_CHECKING:

        def _apply(self, system: str, obj: str, r: dict[str, Any], kind: str) -> dict[str, Any]: ...

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

    # ---------------------------------------------------------------- copies in every mergeable object

    def copies(
        self,
        sf: dict[str, pl.DataFrame],
        hs: dict[str, pl.DataFrame],
        associations: dict[tuple[str, str], pl.DataFrame],
    ) -> None:
        """Duplicates of Salesforce accounts and leads and of HubSpot contacts and companies, each copy
        differing from its original as people's copies do (``VARIATIONS``), each pair in the manifest."""
        if self.cfg.defect_rate <= 0:
            return
        taken = {d["record_id"] for d in self.defects} | {d["record_id"] for d in self.duplicates}
        reserved = set(self.acc["ids"][self.reserved_accounts].tolist())
        # an orphan's right account has no copy: its truth stays one account, not either of two
        parents = {d["correct_value"] for d in self.defects if d["field"] == "AccountId"}
        sf["Account"] = self._copy_rows(("salesforce", "Account"), sf["Account"], taken | reserved | parents)
        converted = sf["Lead"]["Id"].filter(sf["Lead"]["IsConverted"]).to_list()
        sf["Lead"] = self._copy_rows(("salesforce", "Lead"), sf["Lead"], taken | set(converted))
        hs["companies"] = self._copy_rows(("hubspot", "companies"), hs["companies"], taken)
        before = hs["contacts"].height
        hs["contacts"] = self._copy_rows(("hubspot", "contacts"), hs["contacts"], taken)
        # a copy at its original's company is associated with it, as HubSpot associates by domain
        copies = hs["contacts"].slice(before).filter(pl.col("associatedcompanyid").is_not_null())
        pair = ("contacts", "companies")
        rows = copies.select(
            pl.col("id").alias("from_id"), pl.col("associatedcompanyid").cast(pl.Int64).alias("to_id")
        )
        types = [ASSOCIATION_TYPES[pair], PRIMARY_ASSOCIATION_TYPES.get(pair)]
        added = [rows.with_columns(type_id=pl.lit(t, dtype=pl.Int32)) for t in types if t is not None]
        associations[pair] = pl.concat([associations[pair], *added])

    def _copy_rows(self, where: tuple[str, str], frame: pl.DataFrame, taken: set[str]) -> pl.DataFrame:
        """``frame`` with copies of some of its clean live records appended (``VARIATIONS[where]``)."""
        system, obj = where
        sfs = system == "salesforce"
        rng = self.rng
        ids = frame["Id"] if sfs else frame["id"].cast(pl.String)
        live = ~frame["IsDeleted"] if sfs else ~frame["archived"]
        clean = (live & ~ids.is_in(pl.Series(list(taken), dtype=pl.String).implode())).arg_true().to_numpy()
        k = min(len(clean), max(1, int(frame.height * self.cfg.defect_rate / 2)))
        originals = np.sort(rng.choice(clean, k, replace=False))
        kinds = np.asarray(VARIATIONS[where], dtype=object)[rng.integers(0, len(VARIATIONS[where]), k)]
        if sfs:
            new_ids: list[Any] = sf_ids(SF_PREFIXES[obj], frame.height, k).to_list()
        else:
            new_ids = (HUBSPOT_OBJECTS[obj].id_base + frame.height + np.arange(k)).tolist()
        created = "CreatedDate" if sfs else "createdate"
        modified = "LastModifiedDate" if sfs else "hs_lastmodifieddate"
        # a copy is made after its original, before the original's last change
        share = rng.uniform(0.1, 0.9, k)
        start, end = pl.col(created).cast(pl.Int64), pl.col(modified).cast(pl.Int64)
        after = start + ((end - start).clip(0) * pl.lit(pl.Series(share))).cast(pl.Int64)
        base = frame[originals.tolist()].with_columns(after.cast(frame.schema[created]).alias(created))
        emails = set(frame["email"].drop_nulls().str.to_lowercase().to_list()) if obj == "contacts" else set()
        updates: dict[str, dict[int, Any]] = {}
        for row, (record, kind, new_id) in enumerate(
            zip(base.iter_rows(named=True), kinds.tolist(), new_ids, strict=True)
        ):
            record.update(SAME_OF_COPY[obj])
            record["Id" if sfs else "id"] = new_id
            became, changes = self._vary(system, obj, record, kind, emails)
            for fld, value in changes.items():
                updates.setdefault(fld, {})[row] = value
            for is_original, rid in ((True, ids[int(originals[row])]), (False, str(new_id))):
                self.duplicates.append(
                    {
                        "system": system,
                        "object": obj,
                        "cluster_id": f"{system}-{obj}-{int(originals[row])}",
                        "record_id": rid,
                        "kind": became,
                        "is_original": is_original,
                    }
                )
        fixed = base.with_columns(
            pl.Series("Id" if sfs else "id", new_ids, dtype=frame.schema["Id" if sfs else "id"]),
            *(pl.lit(v, dtype=frame.schema[c]).alias(c) for c, v in SAME_OF_COPY[obj].items()),
        )
        return pl.concat([frame, scatter(fixed, updates)])

    def _vary(
        self, system: str, obj: str, record: dict[str, Any], kind: str, emails: set[str]
    ) -> tuple[str, dict[str, Any]]:
        """How the copy ``record`` differs from its original: the kind it ends up as and the changed
        fields. A variation that is itself a defect (a phone's format, a name's case, a website's form)
        is noted as one, with the original's value as the correct one."""
        rng = self.rng
        sfs = system == "salesforce"
        first_f, last_f = ("FirstName", "LastName") if sfs else ("firstname", "lastname")
        out: dict[str, Any] = {}
        if obj == "contacts":
            # HubSpot refuses a second contact with an address another one holds: a copy has its own
            local, _, domain = str(record["email"]).partition("@")
            first = str(record[first_f])
            nick = w.NICKNAMES.get(first)
            if kind == "nickname" and nick:
                out[first_f] = nick
                local = f"{_ascii(nick).lower()}.{local.split('.', 1)[-1]}"
            elif kind in ("nickname", "email_typo"):
                kind, local = "email_typo", _typo(rng, local)
            else:  # personal_email, phone_format: the person's private address, no company
                domain = w.FREEMAIL[int(rng.integers(0, len(w.FREEMAIL)))]
                out["associatedcompanyid"] = None
            out["email"] = _free_address(local, domain, emails)
        if kind == "exact":
            return kind, out
        if kind in ("name_format", "phone_format", "website_format"):
            return kind, {**out, **self._apply(system, obj, {**record, **out}, kind)}
        name_f = {"Account": "Name", "companies": "name"}.get(obj)
        if kind == "legal_form" and name_f:
            out[name_f] = _other_legal_form(
                str(record[name_f]), str(record["BillingCountry" if sfs else "country"])
            )
        elif kind == "typo" and name_f:
            head, _, tail = str(record[name_f]).partition(" ")
            out[name_f] = f"{_typo(rng, head)} {tail}".strip()
        elif kind == "typo":
            out[last_f] = _typo(rng, str(record[last_f]))
        elif kind == "nickname":
            nick = w.NICKNAMES.get(str(record[first_f]))
            if nick is None:
                return "exact", out
            out[first_f] = nick
        if sfs and obj == "Lead" and (first_f in out or last_f in out):
            out["Name"] = f"{out.get(first_f, record[first_f])} {out.get(last_f, record[last_f])}"
        return kind, out

    def drift_pairs(self, sf: dict[str, pl.DataFrame], hs: dict[str, pl.DataFrame]) -> None:
        """Change one field on the HubSpot side of some clean matched contact pairs."""
        rate = self.cfg.defect_rate
        if rate <= 0:
            return
        rng = self.rng
        # a duplicate's original keeps the values its copy was made from
        flagged = {d["record_id"] for d in self.defects} | {d["record_id"] for d in self.duplicates}
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
