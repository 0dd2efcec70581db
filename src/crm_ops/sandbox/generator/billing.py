"""A billing table and the product's users, consistent with a seeded sandbox's CRMs, with known defects.

``generate_sources(data)`` reads the generated Salesforce and HubSpot tables (after their own defects,
duplicates and deletions) and makes what a billing system (Stripe-like subscriptions) and a product
database (its users) would hold for the same companies and people:

- every account whose Type is a customer one pays: an active subscription, started within days of its
  first won opportunity, whose ARR is what it won in the last year (in its country's currency at
  ``RATES``); some also have an older, cancelled plan;
- every other account that won a deal was a customer once: a subscription from the close, cancelled
  since (never before its last win);
- product users are contacts and leads of the CRMs (their addresses, some written in capitals) and
  people signing up with free-mail addresses.

Then the cross-source defects, each recorded in the ground truth (``truth``: rule, system, entity,
record id) with the rule that must find it: prospects that pay, customers whose subscriptions all ended,
ARR in billing far from the CRM's, won deals billing never started, billing customers no CRM has, and
business sign-ups no lead or contact has. HubSpot's companies keep the lifecycle stages the generator
gave them: those of paying (or churned) companies that say otherwise are in the truth too.

``write_sources(sources, folder)`` writes the billing table as a SQLite database, the users as Parquet
(and CSV), the two field maps, and returns the profile's ``[sources...]`` tables for them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl

from crm_ops.sandbox import wordlists as w
from crm_ops.sandbox.generator.manifest import SeededData

RATES = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27}  # the value of one unit in USD (the sandbox's rates table)
COUNTRY_CURRENCY = {"DE": "EUR", "FR": "EUR", "ES": "EUR", "NL": "EUR", "GB": "GBP"}
CUSTOMER_TYPES = ("Customer - Direct", "Customer - Channel")
PLANS = ("Starter", "Team", "Business", "Enterprise")
TRUTH_SCHEMA = {"rule": pl.String, "system": pl.String, "entity": pl.String, "record_id": pl.String}
_SYLLABLES = (
    "zor",
    "qua",
    "vex",
    "lum",
    "tri",
    "nok",
    "ber",
    "sil",
    "drav",
    "kel",
    "mon",
    "phy",
    "rix",
    "tav",
    "ulm",
    "wex",
    "yor",
    "zan",
    "cru",
    "fen",
)


@dataclass
class SourceData:
    """The billing table and product users as those systems hold them, and the ground truth."""

    subscriptions: pl.DataFrame  # raw columns (see billing_map.yaml)
    users: pl.DataFrame  # raw columns (see product_map.yaml)
    truth: pl.DataFrame  # rule, system, entity, record_id (canonical ids: Salesforce, HubSpot, source)
    rates: dict[str, float]


def _days(rng: np.random.Generator, low: int, high: int, n: int) -> np.ndarray:
    return rng.integers(low, high + 1, n).astype("timedelta64[D]")


class _Billing:
    def __init__(self, data: SeededData, seed: int, defect_rate: float) -> None:
        self.data = data
        self.rng = np.random.default_rng(seed)
        self.today = np.datetime64(data.config.today, "D")
        self.rate = defect_rate
        self.subs: list[pl.DataFrame] = []
        self.truth: list[pl.DataFrame] = []
        self.n_sub = 0

    # ----------------------------------------------------------------------------------- accounts

    def accounts(self) -> pl.DataFrame:
        sf = self.data.salesforce
        manifest = self.data.manifest
        flagged = pl.concat(
            [
                manifest.defects.filter(pl.col("object") == "Account").select("record_id"),
                manifest.duplicates.filter(pl.col("object") == "Account").select("record_id"),
            ]
        )["record_id"]
        opps = sf["Opportunity"].filter(
            ~pl.col("IsDeleted") & pl.col("IsWon") & pl.col("AccountId").is_not_null()
        )
        cutoff = self.today - np.timedelta64(365, "D")
        won = opps.group_by("AccountId").agg(
            pl.col("CloseDate").min().alias("first_close"),
            pl.col("CloseDate").max().alias("last_close"),
            pl.col("Amount").filter(pl.col("CloseDate") >= pl.lit(cutoff)).sum().alias("recent_usd"),
        )
        # billing keeps its own record of the company: the right name and domain, whatever the CRM's defects
        correct = {
            field: manifest.defects.filter((pl.col("object") == "Account") & (pl.col("field") == field))
            .select(pl.col("record_id").alias("Id"), pl.col("correct_value").alias(f"__{field}"))
            .unique("Id")
            for field in ("Name", "Website")
        }
        return (
            sf["Account"]
            .filter(~pl.col("IsDeleted"))
            .select("Id", "Name", "Type", "Website", "BillingCountry", "CreatedDate")
            .join(correct["Name"], on="Id", how="left")
            .join(correct["Website"], on="Id", how="left")
            .with_columns(
                pl.coalesce("__Name", "Name").alias("Name"),
                pl.coalesce("__Website", "Website").alias("Website"),
            )
            .drop("__Name", "__Website")
            .join(won, left_on="Id", right_on="AccountId", how="left")
            .with_columns(
                pl.col("Type").is_in(CUSTOMER_TYPES).alias("customer"),
                # a defect, a duplicate, or a website another account has too (the generator's names can
                # run together alike): billing keeps the CRM id of those, as matching them is a guess
                (pl.col("Id").is_in(flagged.implode()) | pl.col("Website").is_duplicated()).alias("flagged"),
                pl.col("recent_usd").fill_null(0.0),
            )
            .sort("Id")
        )

    def pick(self, pool: pl.DataFrame, k: int, taken: set[str]) -> pl.DataFrame:
        pool = pool.filter(~pl.col("Id").is_in(list(taken)))
        chosen = pool[np.sort(self.rng.choice(pool.height, min(k, pool.height), replace=False))]
        taken.update(chosen["Id"].to_list())
        return chosen

    def subscriptions(
        self,
        rows: pl.DataFrame,
        start: np.ndarray,
        status: str,
        arr_usd: np.ndarray,
        cancelled: np.ndarray | None = None,
        *,
        customers: np.ndarray | None = None,
    ) -> pl.DataFrame:
        """Subscription rows for ``rows`` (accounts, or new companies with Name/Website and no Id)."""
        n = rows.height
        rng = self.rng
        currency = rows["BillingCountry"].replace_strict(COUNTRY_CURRENCY, default="USD").to_numpy()
        rate = np.asarray([RATES[c] for c in currency])
        mrr = np.round(arr_usd / rate / 12, 2)
        external = rows["Id"].to_numpy() if "Id" in rows.columns else np.full(n, None, dtype=object)
        keep = rng.random(n) < 0.7
        if "flagged" in rows.columns:
            keep |= rows["flagged"].to_numpy()
        external = np.asarray([e if k else None for e, k in zip(external, keep, strict=True)], dtype=object)
        domain = rows["Website"].to_numpy()
        styled = np.where(
            rng.random(n) < 0.2, np.char.add(np.char.add("https://www.", domain.astype(str)), "/"), domain
        )
        ids = np.asarray([f"sub_{self.n_sub + i:07d}" for i in range(n)], dtype=object)
        self.n_sub += n
        ended = (
            cancelled if cancelled is not None else np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
        )
        touched = np.where(np.isnat(ended), start, ended) + _days(rng, 0, 3, n)
        touched = np.minimum(touched, self.today)
        frame = pl.DataFrame(
            {
                "id": ids,
                "customer": customers
                if customers is not None
                else np.asarray([f"cus_{x}" for x in rows["Id"]]),
                "customer_name": rows["Name"].to_list(),
                "customer_domain": styled.tolist(),
                "crm_account_id": pl.Series(external.tolist(), dtype=pl.String),
                "plan": np.asarray(PLANS, dtype=object)[rng.integers(0, len(PLANS), n)],
                "status": np.full(n, status, dtype=object),
                "mrr": mrr,
                "currency": currency,
                "started_on": pl.Series(start.astype("datetime64[D]")).dt.strftime("%Y-%m-%d"),
                "canceled_at": pl.Series(ended).cast(pl.Datetime("ms")).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "updated_at": pl.Series(touched)
                .cast(pl.Datetime("ms"))
                .dt.offset_by("13h")
                .dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
        self.subs.append(frame)
        return frame

    def _truth(self, rule: str, system: str, entity: str, ids: pl.Series | list[str]) -> None:
        ids = pl.Series(list(ids), dtype=pl.String)
        self.truth.append(
            pl.DataFrame(
                {"rule": rule, "system": system, "entity": entity, "record_id": ids}, schema=TRUTH_SCHEMA
            )
        )

    def billing(self) -> None:
        rng, today = self.rng, self.today
        acc = self.accounts()
        k = max(3, round(acc.height * self.rate / 2))
        taken: set[str] = set()
        old_won = pl.col("first_close") <= pl.lit(today - np.timedelta64(45, "D"))
        missing = self.pick(acc.filter(pl.col("customer") & old_won), k, taken)
        arr_off = self.pick(acc.filter(pl.col("customer") & (pl.col("recent_usd") > 0)), k, taken)
        churned = self.pick(acc.filter(pl.col("customer")), k, taken)
        paying = self.pick(
            acc.filter(
                ~pl.col("customer") & pl.col("first_close").is_null() & (pl.col("Type") == "Prospect")
            ),
            k,
            taken,
        )

        def started(rows: pl.DataFrame) -> np.ndarray:
            first = rows["first_close"].to_numpy().astype("datetime64[D]")
            fresh = today - _days(rng, 30, 900, rows.height)
            return np.where(np.isnat(first), fresh, np.minimum(first + _days(rng, 0, 20, rows.height), today))

        def arr(rows: pl.DataFrame) -> np.ndarray:
            recent = rows["recent_usd"].to_numpy()
            return np.where(recent > 0, recent, np.round(rng.lognormal(9.5, 0.8, rows.height), -2))

        # customers that pay, as the CRM says (history: a fifth had an older plan, cancelled before)
        clean = acc.filter(pl.col("customer") & ~pl.col("Id").is_in(list(taken)))
        start = started(clean)
        self.subscriptions(clean, start, "active", arr(clean))
        older = clean.with_columns(pl.Series("start", start)).filter(
            pl.Series(rng.random(clean.height) < 0.2)
        )
        if older.height:
            begin = older["start"].to_numpy() - _days(rng, 200, 500, older.height)
            self.subscriptions(
                older,
                begin,
                "canceled",
                arr(older) / 2,
                older["start"].to_numpy() - _days(rng, 1, 5, older.height),
            )
        # the others that won a deal were customers once: cancelled since, never before their last win
        former = acc.filter(
            ~pl.col("customer") & pl.col("first_close").is_not_null() & ~pl.col("Id").is_in(list(taken))
        )
        last = former["last_close"].to_numpy().astype("datetime64[D]")
        end = np.maximum(
            np.minimum(last + _days(rng, 60, 300, former.height), today - np.timedelta64(1, "D")), last
        )
        self.subscriptions(former, started(former), "canceled", arr(former), end)
        # defects: customers billing never started (their won deals have no subscription)
        opps = self.data.salesforce["Opportunity"]
        judged = opps.filter(
            pl.col("AccountId").is_in(missing["Id"].implode())
            & pl.col("IsWon")
            & ~pl.col("IsDeleted")
            & (pl.col("CloseDate") <= pl.lit(today - np.timedelta64(30, "D")))
        )
        self._truth("billing.opportunity.won_without_subscription", "salesforce", "Opportunity", judged["Id"])
        # ARR in billing far from the CRM's
        factor = np.where(
            rng.random(arr_off.height) < 0.5,
            rng.uniform(1.4, 2.5, arr_off.height),
            rng.uniform(0.3, 0.7, arr_off.height),
        )
        self.subscriptions(arr_off, started(arr_off), "active", arr_off["recent_usd"].to_numpy() * factor)
        self._truth("billing.account.arr_mismatch", "salesforce", "Account", arr_off["Id"])
        # customers in the CRM whose subscriptions all ended
        last = churned["last_close"].to_numpy().astype("datetime64[D]")
        cancel = today - _days(rng, 10, 200, churned.height)
        cancel = np.where(np.isnat(last), cancel, np.maximum(cancel, last + np.timedelta64(1, "D")))
        cancel = np.minimum(cancel, today)
        start = np.minimum(started(churned), cancel - np.timedelta64(1, "D"))
        self.subscriptions(churned, start, "canceled", arr(churned), cancel)
        self._truth("billing.account.churned_still_customer", "salesforce", "Account", churned["Id"])
        # prospects that pay
        self.subscriptions(paying, today - _days(rng, 30, 400, paying.height), "active", arr(paying))
        self._truth("billing.account.paying_not_customer", "salesforce", "Account", paying["Id"])
        self._hubspot_truth()
        self._without_account(k)

    def _hubspot_truth(self) -> None:
        """HubSpot companies whose lifecycle stage contradicts billing (the twins of billed accounts)."""
        subs = pl.concat(self.subs)
        by_account = (
            subs.filter(pl.col("customer").str.starts_with("cus_0"))
            .with_columns(pl.col("customer").str.strip_prefix("cus_").alias("Id"))
            .group_by("Id")
            .agg(
                (pl.col("status") == "active").any().alias("paying"),
                (pl.col("status") == "canceled").all().alias("ended"),
            )
        )
        twins = self.data.manifest.matches.filter(pl.col("sf_object") == "Account").select("sf_id", "hs_id")
        companies = self.data.hubspot["companies"].filter(~pl.col("archived").fill_null(False))
        stage = twins.join(
            companies.select(pl.col("id").cast(pl.String).alias("hs_id"), "lifecyclestage"), on="hs_id"
        )
        joined = stage.join(by_account, left_on="sf_id", right_on="Id")
        late = pl.col("lifecyclestage").is_in(["customer", "evangelist"])
        self._truth(
            "billing.company.paying_not_customer",
            "hubspot",
            "Account",
            joined.filter(pl.col("paying") & ~late.fill_null(False))["hs_id"],
        )
        self._truth(
            "billing.company.churned_still_customer",
            "hubspot",
            "Account",
            joined.filter(pl.col("ended") & late.fill_null(False))["hs_id"],
        )

    def _without_account(self, k: int) -> None:
        """Billing customers of companies no CRM has."""
        rng = self.rng
        words = [
            "".join(np.asarray(_SYLLABLES)[rng.integers(0, len(_SYLLABLES), 3)]).capitalize()
            for _ in range(2 * k)
        ]
        names = [f"{words[2 * i]} {words[2 * i + 1]} Holdings" for i in range(k)]
        rows = pl.DataFrame(
            {
                "Name": names,
                "Website": [f"{words[2 * i].lower()}{words[2 * i + 1].lower()}{i}.io" for i in range(k)],
                "BillingCountry": rng.choice(["US", "GB", "DE"], k),
            }
        )
        customers = np.asarray([f"cus_new{i:05d}" for i in range(k)], dtype=object)
        made = self.subscriptions(
            rows,
            self.today - _days(rng, 10, 300, k),
            "active",
            np.round(rng.lognormal(9, 0.7, k), -2),
            customers=customers,
        )
        self._truth("billing.subscription.no_account", "billing", "Subscription", made["id"])

    # -------------------------------------------------------------------------------------- users

    def users(self) -> pl.DataFrame:
        rng = self.rng
        sf, hs, manifest = self.data.salesforce, self.data.hubspot, self.data.manifest
        bad = manifest.defects.filter(pl.col("field").str.to_lowercase().str.contains("email"))["record_id"]
        contacts = sf["Contact"].filter(
            ~pl.col("IsDeleted") & pl.col("Email").is_not_null() & ~pl.col("Id").is_in(bad.implode())
        )
        leads = sf["Lead"].filter(
            ~pl.col("IsDeleted")
            & ~pl.col("IsConverted")
            & pl.col("Email").is_not_null()
            & ~pl.col("Id").is_in(bad.implode())
        )
        people = pl.concat(
            [
                contacts.select("FirstName", "LastName", "Email").sample(
                    fraction=0.3, seed=int(rng.integers(1 << 30))
                ),
                leads.select("FirstName", "LastName", "Email").sample(
                    fraction=0.2, seed=int(rng.integers(1 << 30))
                ),
            ]
        ).unique("Email", keep="first", maintain_order=True)
        shout = rng.random(people.height) < 0.15
        emails = np.where(shout, people["Email"].str.to_titlecase().to_numpy(), people["Email"].to_numpy())
        taken = {
            e.lower()
            for e in sf["Contact"]["Email"].drop_nulls().to_list()
            + sf["Lead"]["Email"].drop_nulls().to_list()
        }
        taken |= {e.lower() for e in hs["contacts"]["email"].drop_nulls().cast(pl.String).to_list()}
        n_free = max(10, people.height // 10)
        first = np.asarray(w.FIRST_NAMES, dtype=object)[rng.integers(0, len(w.FIRST_NAMES), n_free)]
        last = np.asarray(w.LAST_NAMES, dtype=object)[rng.integers(0, len(w.LAST_NAMES), n_free)]
        free = [
            f"{a.lower()}.{b.lower()}{i}@{d}"
            for i, (a, b, d) in enumerate(
                zip(first, last, rng.choice(["gmail.com", "outlook.com", "yahoo.com"], n_free), strict=True)
            )
        ]
        k = max(3, round((people.height + n_free) * self.rate / 4))
        # business domains: those of accounts without a defect (a free-mail website is one)
        domains = self.accounts().filter(~pl.col("flagged"))["Website"].drop_nulls().to_numpy()
        nf = np.asarray(w.FIRST_NAMES, dtype=object)[rng.integers(0, len(w.FIRST_NAMES), k)]
        nl = np.asarray(w.LAST_NAMES, dtype=object)[rng.integers(0, len(w.LAST_NAMES), k)]
        fresh = [
            f"{a.lower()}.{b.lower()}.signup{i}@{d}"
            for i, (a, b, d) in enumerate(zip(nf, nl, rng.choice(domains, k), strict=True))
        ]
        assert not {f.lower() for f in fresh} & taken
        names = [f"{a} {b}" for a, b in zip(people["FirstName"], people["LastName"], strict=True)]
        names += [f"{a} {b}" for a, b in zip(first, last, strict=True)] + [
            f"{a} {b}" for a, b in zip(nf, nl, strict=True)
        ]
        all_emails = [*emails.tolist(), *free, *fresh]
        n = len(all_emails)
        signed = datetime.combine(self.data.config.today, datetime.min.time(), UTC) - timedelta(days=1)
        seconds = int(signed.timestamp()) - rng.integers(0, 700 * 86400, n)
        frame = pl.DataFrame(
            {
                "user_id": np.arange(100_001, 100_001 + n),
                "email": all_emails,
                "full_name": names,
                "company_domain": [e.split("@")[1].lower() for e in all_emails],
                "created": seconds,
                "last_seen": pl.from_epoch(
                    pl.Series(seconds + rng.integers(0, 30 * 86400, n)), time_unit="s"
                ).dt.strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
        self._truth(
            "product.user.no_lead", "product", "ProductUser", frame.tail(k)["user_id"].cast(pl.String)
        )
        return frame


def generate_sources(
    data: SeededData, *, seed: int | None = None, defect_rate: float | None = None
) -> SourceData:
    """The billing table, product users and their ground truth for a seeded sandbox's ``data``."""
    maker = _Billing(
        data,
        (data.config.seed if seed is None else seed) + 14,
        data.config.defect_rate if defect_rate is None else defect_rate,
    )
    maker.billing()
    users = maker.users()
    truth = pl.concat(maker.truth) if maker.truth else pl.DataFrame(schema=TRUTH_SCHEMA)
    return SourceData(pl.concat(maker.subs), users, truth.unique(maintain_order=True), dict(RATES))


def map_path(name: str) -> Path:
    """The field map shipped for the sandbox's ``billing`` or ``product`` source."""
    return Path(str(resources.files("crm_ops.sandbox.generator").joinpath(f"{name}_map.yaml")))


def write_sources(sources: SourceData, folder: Path, *, profile: str = "sandbox") -> str:
    """Write the billing table (``billing.sqlite``, table ``subscriptions``), the users
    (``product-users.parquet`` and ``.csv``) and both maps into ``folder``; return the config tables that
    make them the profile's sources ``billing`` and ``product`` (with the rates table for ARR)."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "billing.sqlite"
    db.unlink(missing_ok=True)
    subs = sources.subscriptions
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE subscriptions (id TEXT PRIMARY KEY, customer TEXT, customer_name TEXT, "
            "customer_domain TEXT, crm_account_id TEXT, plan TEXT, status TEXT, mrr REAL, currency TEXT, "
            "started_on TEXT, canceled_at TEXT, updated_at TEXT)"
        )
        conn.executemany(
            f"INSERT INTO subscriptions VALUES ({', '.join('?' * subs.width)})", subs.iter_rows()
        )
    conn.close()
    sources.users.write_parquet(folder / "product-users.parquet")
    sources.users.write_csv(folder / "product-users.csv")
    for name in ("billing", "product"):
        (folder / f"{name}-map.yaml").write_text(map_path(name).read_text(encoding="utf-8"), encoding="utf-8")
    rates = ", ".join(f"{c} = {r}" for c, r in sources.rates.items() if c != "USD")
    return f"""
[profiles.{profile}.sources.billing]
entity = "Subscription"
database = "{(folder / "billing.sqlite").as_posix()}"
table = "subscriptions"
map = "{(folder / "billing-map.yaml").as_posix()}"

[profiles.{profile}.sources.product]
entity = "ProductUser"
path = "{(folder / "product-users.parquet").as_posix()}"
map = "{(folder / "product-map.yaml").as_posix()}"

[profiles.{profile}.rules.params."billing.account.arr_mismatch"]
base_currency = "USD"
rates = {{{rates}}}
"""


__all__ = ["RATES", "SourceData", "generate_sources", "map_path", "write_sources"]
