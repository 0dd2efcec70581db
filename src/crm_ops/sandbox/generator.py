"""A deterministic, vectorised generator of overlapping Salesforce and HubSpot data, with known defects.

``generate(SeedConfig)`` builds every table of both emulated CRMs from one seed: clean, realistic
records first (numpy + polars, no per-row Python over the whole data), then defects injected into a
chosen share of records (per-row Python only there), each recorded in a ground-truth ``Manifest``:
which record carries which defect with its bad and correct value, which records form a duplicate
cluster, which Salesforce record is which HubSpot record, and which matched fields drift apart.

Clean means clean: every value not listed in the manifest passes strict checks (lowercase valid
emails, E.164 phones valid for the record's country, ISO country and subdivision codes, proper-case
names, bare domains, consistent stages), so rule tests can hold precision to 0.99 against it.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import phonenumbers
import polars as pl

from crm_ops.sandbox import wordlists as w
from crm_ops.sandbox.objects import (
    ASSOCIATION_TYPES,
    CONTACT_ROLES,
    DEAL_STAGES,
    HUBSPOT_OBJECTS,
    INDUSTRIES,
    LEAD_SOURCES,
    LEAD_STATUSES,
    OPPORTUNITY_STAGES,
    OWNERS_SCHEMA,
    PRIMARY_ASSOCIATION_TYPES,
    SALESFORCE_OBJECTS,
    sf_ids,
)
from crm_ops.sandbox.store import scatter

Rng = np.random.Generator
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


@dataclass(frozen=True)
class SeedConfig:
    """What to generate. ``records`` is the number of contacts per CRM; other objects follow it."""

    records: int = 1000
    seed: int = 42
    defect_rate: float = 0.05
    as_of: date | None = None
    accounts: int | None = None
    leads: int | None = None
    opportunities: int | None = None
    owners: int | None = None
    overlap: float = 0.6

    def __post_init__(self) -> None:
        problems = []
        if not 100 <= self.records <= 1_000_000:
            problems.append(f"records must be between 100 and 1,000,000, got {self.records}")
        if not 0 <= self.defect_rate <= 0.5:
            problems.append(f"defect_rate must be between 0 and 0.5, got {self.defect_rate}")
        if not 0 <= self.overlap <= 1:
            problems.append(f"overlap must be between 0 and 1, got {self.overlap}")
        for name in ("accounts", "leads", "opportunities", "owners"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= 1_000_000:
                problems.append(f"{name} must be between 1 and 1,000,000, got {value}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def today(self) -> date:
        """The generator's 'today' (UTC)."""
        return self.as_of or datetime.now(UTC).date()

    def sizes(self) -> dict[str, int]:
        """How many clean records of each kind to make."""
        n = self.records
        return {
            "contacts": n,
            "accounts": self.accounts or max(25, n // 4),
            "leads": self.leads or max(10, n // 2),
            "opportunities": self.opportunities or max(10, n // 2),
            "owners": self.owners or int(np.clip(n // 2000, 8, 500)),
        }


_DEFECTS_SCHEMA = {
    "system": pl.String,
    "object": pl.String,
    "record_id": pl.String,
    "field": pl.String,
    "kind": pl.String,
    "bad_value": pl.String,
    "correct_value": pl.String,
}
_DUPLICATES_SCHEMA = {
    "system": pl.String,
    "object": pl.String,
    "cluster_id": pl.String,
    "record_id": pl.String,
    "kind": pl.String,
    "is_original": pl.Boolean,
}
_MATCHES_SCHEMA = {"sf_object": pl.String, "sf_id": pl.String, "hs_object": pl.String, "hs_id": pl.String}
_DRIFT_SCHEMA = {
    "sf_object": pl.String,
    "sf_id": pl.String,
    "hs_object": pl.String,
    "hs_id": pl.String,
    "sf_field": pl.String,
    "hs_field": pl.String,
    "sf_value": pl.String,
    "hs_value": pl.String,
}
_MANIFEST_FILES = {
    "defects": "defects.parquet",
    "duplicates": "duplicates.parquet",
    "matches": "matches.parquet",
    "drift": "drift.parquet",
}


@dataclass
class Manifest:
    """The ground truth of a seeded sandbox."""

    defects: pl.DataFrame
    duplicates: pl.DataFrame
    matches: pl.DataFrame
    drift: pl.DataFrame
    config: dict[str, Any] = field(default_factory=dict)

    def write(self, directory: Path) -> Path:
        """Write the tables as Parquet and ``manifest.json`` (config, counts, files), each atomically."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, filename in _MANIFEST_FILES.items():
            tmp = directory / (filename + ".tmp")
            getattr(self, name).write_parquet(tmp)
            tmp.replace(directory / filename)
        counts = {
            "defects_by_kind": dict(sorted(self.defects.group_by("kind").len().iter_rows())),
            "duplicate_clusters": int(self.duplicates["cluster_id"].n_unique()),
            "matches": self.matches.height,
            "drift": self.drift.height,
        }
        target = directory / "manifest.json"
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(
            json.dumps(
                {"config": self.config, "counts": counts, "files": _MANIFEST_FILES}, indent=2, default=str
            )
        )
        tmp.replace(target)
        return target

    @classmethod
    def read(cls, manifest_json: Path) -> Manifest:
        """Load a manifest written by ``write``."""
        meta = json.loads(manifest_json.read_text())
        tables = {
            name: pl.read_parquet(manifest_json.parent / filename) for name, filename in meta["files"].items()
        }
        return cls(config=meta["config"], **tables)


@dataclass
class SeededData:
    """Every table of both CRMs, and the manifest."""

    config: SeedConfig
    salesforce: dict[str, pl.DataFrame]
    hubspot: dict[str, pl.DataFrame]
    hubspot_owners: pl.DataFrame
    hubspot_associations: dict[tuple[str, str], pl.DataFrame]
    manifest: Manifest


# ------------------------------------------------------------------------------------------------ helpers


@functools.lru_cache(maxsize=65536)
def _ascii(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if c.isascii() and (c.isalnum() or c in ".-")
    )


def _pick(rng: Rng, options: Sequence[Any], n: int) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]


def _digits(rng: Rng, n: int, width: int, low: int = 0) -> np.ndarray:
    return np.char.zfill(rng.integers(low, 10**width, n).astype(str), width)


def _phones(rng: Rng, countries: np.ndarray) -> np.ndarray:
    """E.164 numbers valid for each record's country (patterns checked against phonenumbers in the tests)."""
    n = len(countries)
    exchange = rng.integers(200, 1000, n)
    exchange_text = np.where((exchange % 100 == 11) | (exchange == 555), exchange + 1, exchange).astype(str)
    line4 = _digits(rng, n, 4)
    us = np.char.add(
        np.char.add(
            np.char.add("+1", _pick(rng, (212, 415, 312, 512, 206, 617, 303, 404, 305, 503), n).astype(str)),
            exchange_text,
        ),
        line4,
    )
    ca = np.char.add(
        np.char.add(np.char.add("+1", _pick(rng, (416, 604, 514, 403), n).astype(str)), exchange_text), line4
    )
    by_country = {
        "US": us,
        "CA": ca,
        "GB": np.char.add("+44207", _digits(rng, n, 7)),
        "DE": np.char.add("+4930", rng.integers(20_000_000, 100_000_000, n).astype(str)),
        "FR": np.char.add("+331", _digits(rng, n, 8)),
        "ES": np.char.add("+3491", _digits(rng, n, 7)),
        "NL": np.char.add("+3120", rng.integers(2_000_000, 10_000_000, n).astype(str)),
        "AU": np.char.add(np.char.add("+612", _pick(rng, ("8", "9"), n).astype(str)), _digits(rng, n, 7)),
    }
    out = np.empty(n, dtype=object)
    for code, numbers in by_country.items():
        mask = countries == code
        out[mask] = numbers[mask]
    return out


def _postal(rng: Rng, patterns: np.ndarray) -> np.ndarray:
    out = patterns.astype("U12")
    for ch, alphabet in (("#", "0123456789"), ("A", "ABCDEFGHJKLMNPRSTUVWXY")):
        for _ in range(4):
            has = np.char.find(out, ch) >= 0
            if not has.any():
                break
            letters = np.asarray(list(alphabet))[rng.integers(0, len(alphabet), int(has.sum()))]
            out[has] = [p.replace(ch, c, 1) for p, c in zip(out[has], letters, strict=True)]
    return out.astype(object)


def _places(rng: Rng, countries: np.ndarray) -> dict[str, np.ndarray]:
    n = len(countries)
    city, state, pattern = (np.empty(n, dtype=object) for _ in range(3))
    for code, options in w.CITIES.items():
        mask = countries == code
        k = int(mask.sum())
        if not k:
            continue
        idx = rng.integers(0, len(options), k)
        city[mask] = [options[i][0] for i in idx]
        state[mask] = [options[i][1] for i in idx]
        pattern[mask] = [options[i][2] for i in idx]
    street = np.char.add(
        np.char.add(rng.integers(1, 2000, n).astype(str), " "), _pick(rng, w.STREETS, n).astype(str)
    )
    return {"street": street.astype(object), "city": city, "state": state, "postal": _postal(rng, pattern)}


def _countries(rng: Rng, n: int) -> np.ndarray:
    codes = list(w.COUNTRY_WEIGHTS)
    return np.asarray(codes, dtype=object)[rng.choice(len(codes), n, p=list(w.COUNTRY_WEIGHTS.values()))]


def _timestamps(rng: Rng, today: date, n: int, max_age_days: int, min_age_days: float = 0.01) -> np.ndarray:
    end = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    ages = rng.uniform(min_age_days, max_age_days, n)
    return np.datetime64(end.replace(tzinfo=None), "ms") - (ages * 86_400_000).astype("timedelta64[ms]")


def _frame(obj_schema: dict[str, pl.DataType], columns: dict[str, Any], n: int) -> pl.DataFrame:
    data = {}
    for name, dtype in obj_schema.items():
        value = columns.get(name)
        if value is None:
            data[name] = pl.Series(name, [None] * n, dtype=dtype)
        elif isinstance(value, pl.Series):
            data[name] = value.alias(name).cast(dtype)
        elif np.isscalar(value):
            data[name] = pl.Series(name, [value] * n).cast(dtype)
        else:
            arr = np.asarray(value)
            if arr.dtype.kind == "M":
                data[name] = (
                    pl.Series(name, arr).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC").cast(dtype)
                )
            else:
                data[name] = pl.Series(
                    name, arr.tolist() if arr.dtype == object else arr, dtype=None, strict=False
                ).cast(dtype)
    return pl.DataFrame(data)


# ------------------------------------------------------------------------------------------------ generation


def generate(config: SeedConfig) -> SeededData:
    """Build both CRMs' tables and the manifest from ``config``: same config, same output."""
    return _Generator(config).run()


class _Generator:
    def __init__(self, config: SeedConfig) -> None:
        self.cfg = config
        self.rng = np.random.default_rng(config.seed)
        self.today = config.today
        self.sizes = config.sizes()
        self.defects: list[dict[str, Any]] = []
        self.duplicates: list[dict[str, Any]] = []
        self.drift: list[dict[str, Any]] = []

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

    def people(self, n: int, account_index: np.ndarray | None) -> dict[str, np.ndarray]:
        rng = self.rng
        first = _pick(rng, w.FIRST_NAMES, n)
        last = _pick(rng, w.LAST_NAMES, n)
        if account_index is not None:
            domain = self.acc["domain"][account_index]
            country = self.acc["country"][account_index]
        else:
            country = _countries(rng, n)
            domain = None
        local = np.asarray(
            [
                f"{_ascii(f).lower()}.{_ascii(la).lower().replace('.', '')}"
                for f, la in zip(first, last, strict=True)
            ],
            dtype=object,
        )
        return {
            "first": first,
            "last": last,
            "local": local,
            "domain": domain,
            "country": country,
            "places": _places(rng, country),
            "phone": _phones(rng, country),
            "mobile": _phones(rng, country),
            "title": _pick(rng, w.TITLES, n),
        }

    @staticmethod
    def _unique_emails(local: np.ndarray, domain: np.ndarray) -> np.ndarray:
        emails = pl.Series(np.char.add(np.char.add(local.astype(str), "@"), domain.astype(str)))
        rank = pl.DataFrame({"e": emails}).with_columns(r=pl.int_range(pl.len()).over("e"))["r"]
        parts = emails.str.split_exact("@", 1).struct.unnest()
        fixed = pl.when(rank > 0).then(parts["field_0"] + rank.cast(pl.String)).otherwise(parts["field_0"])
        return pl.select(fixed + "@" + parts["field_1"]).to_series().to_numpy()

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
        company = np.asarray(
            [
                f"{w.COMPANY_PREFIXES[c % 100 % len(w.COMPANY_PREFIXES)]} "
                f"{w.COMPANY_SECTORS[(c // 100) % len(w.COMPANY_SECTORS)]} "
                f"{w.LEGAL_SUFFIXES[k][0]}"
                for c, k in zip(comp, p["country"], strict=True)
            ],
            dtype=object,
        )
        domain = np.asarray(
            [
                f"{_ascii(x.split()[0]).lower()}{_ascii(x.split()[1]).lower()}{c % 9973}.{w.TLDS[k]}"
                for x, c, k in zip(company, comp, p["country"], strict=True)
            ],
            dtype=object,
        )
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
            for row, kind in zip(chosen.tolist(), kinds_for.tolist(), strict=True):
                record = frame.row(row, named=True)
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
            sf["OpportunityContactRole"] = sf["OpportunityContactRole"].filter(
                ~pl.col("OpportunityId").is_in(gone)
            )

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

    # ---------------------------------------------------------------- all together

    def run(self) -> SeededData:
        users, hs_owners = self.owners()
        accounts = self.accounts()
        # Reserve a few accounts, with no contacts or opportunities, to be deleted for orphan defects.
        sizes = self.sizes
        reserve = max(1, sizes["accounts"] // 50)
        self.acc["n"] = sizes["accounts"] - reserve
        self.reserved_accounts = np.arange(self.acc["n"], sizes["accounts"])
        contacts = self.contacts()
        leads = self.leads()
        opps, ocr = self.opportunities()
        sf = {
            "User": users,
            "Account": accounts,
            "Contact": contacts,
            "Lead": leads,
            "Opportunity": opps,
            "OpportunityContactRole": ocr,
        }
        hs, associations = self.hubspot(sf)
        self.acc["n"] = sizes["accounts"]
        self.inject(sf, hs)
        self.duplicate(sf)
        self.drift_pairs(sf, hs)
        for name, obj in SALESFORCE_OBJECTS.items():
            sf[name] = sf[name].select(list(obj.schema())).cast(obj.schema())  # type: ignore[arg-type]
        for name, hobj in HUBSPOT_OBJECTS.items():
            hs[name] = hs[name].select(list(hobj.schema())).cast(hobj.schema())  # type: ignore[arg-type]
        manifest = Manifest(
            defects=pl.DataFrame(self.defects, schema=_DEFECTS_SCHEMA, orient="row"),
            duplicates=pl.DataFrame(self.duplicates, schema=_DUPLICATES_SCHEMA, orient="row"),
            matches=pl.DataFrame(self.matches, schema=_MATCHES_SCHEMA, orient="row"),
            drift=pl.DataFrame(self.drift, schema=_DRIFT_SCHEMA, orient="row"),
            config={**asdict(self.cfg), "as_of": self.today.isoformat()},
        )
        return SeededData(self.cfg, sf, hs, hs_owners, associations, manifest)
