"""Cases, tickets and deals entered twice in the sandbox (issue 26): each copy is live, on its original's
contact (and company), differing as its kind says; seeding them changes no other table of a seed."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from crm_ops.sandbox.generator import SeedConfig, SeededData, generate
from crm_ops.sandbox.generator import cases as cases_module
from crm_ops.sandbox.generator.deal_copies import DealCopies
from crm_ops.sandbox.generator.hard_copies import HardCopies

CONFIG = SeedConfig(records=600, seed=11, as_of=date(2026, 6, 1))
COPIED = {("salesforce", "Case"), ("hubspot", "tickets"), ("hubspot", "deals")}


@pytest.fixture(scope="module")
def data() -> SeededData:
    return generate(CONFIG)


def _pairs(data: SeededData, system: str, obj: str) -> list[tuple[str, str, str]]:
    dups = data.manifest.duplicates.filter((pl.col("system") == system) & (pl.col("object") == obj))
    out = []
    for _, group in dups.group_by("cluster_id"):
        original = group.filter(pl.col("is_original")).row(0, named=True)
        copy = group.filter(~pl.col("is_original")).row(0, named=True)
        out.append((original["record_id"], copy["record_id"], copy["kind"]))
    return out


def test_a_copied_case_is_live_new_and_on_its_originals_contact(data: SeededData) -> None:
    cases = data.salesforce["Case"]
    pairs = _pairs(data, "salesforce", "Case")
    assert len(pairs) >= 5
    by_id = {r["Id"]: r for r in cases.to_dicts()}
    for original, copy, kind in pairs:
        a, b = by_id[original], by_id[copy]
        assert not a["IsDeleted"] and not b["IsDeleted"]
        assert (b["ContactId"], b["AccountId"]) == (a["ContactId"], a["AccountId"])
        assert b["Status"] == "New" and not b["IsClosed"] and b["ClosedDate"] is None
        assert a["CreatedDate"] < b["CreatedDate"] <= a["CreatedDate"] + timedelta(hours=48)
        # written again before the first was answered: a problem back after its close is a new case
        assert a["ClosedDate"] is None or b["CreatedDate"] < a["ClosedDate"]
        if kind == "exact":
            assert b["Subject"] == a["Subject"]
        elif kind == "reply":
            assert b["Subject"] == f"RE: {a['Subject']}"
        elif kind == "subject_case":
            assert b["Subject"] == a["Subject"].lower()
        elif kind == "reply_other_channel":  # issue 28's harder copies: a reply, mistyped, by phone or web
            assert b["Subject"].startswith("RE: ") and b["Origin"] != a["Origin"]
        else:
            assert b["Subject"] != a["Subject"] and len(b["Subject"]) - len(a["Subject"]) in (-1, 0, 1)
    assert {r["CaseNumber"] for r in by_id.values()} == {f"{i + 1:08d}" for i in range(cases.height)}


def test_a_copied_ticket_or_deal_has_its_originals_associations(data: SeededData) -> None:
    links = data.hubspot_associations
    for obj, targets in (("tickets", ("contacts", "companies")), ("deals", ("contacts", "companies"))):
        pairs = _pairs(data, "hubspot", obj)
        assert len(pairs) >= 3, obj  # 3% of ~110 deals at 600 contacts
        table = data.hubspot[obj]
        live = set(table.filter(~pl.col("archived"))["id"].cast(pl.String).to_list())
        for original, copy, _ in pairs:
            assert {original, copy} <= live
            for target in targets:
                frame = links[(obj, target)]
                of = {
                    rid: set(frame.filter(pl.col("from_id") == int(rid))["to_id"].to_list())
                    for rid in (original, copy)
                }
                assert of[copy] == of[original], (obj, target, original)
    deals = data.hubspot["deals"]
    for original, copy, _ in _pairs(data, "hubspot", "deals"):
        a, b = (deals.filter(pl.col("id") == int(x)).row(0, named=True) for x in (original, copy))
        assert b["amount"] == a["amount"] and b["salesforceopportunityid"] is None


def test_seeding_the_copies_changes_no_other_table(data: SeededData, monkeypatch: pytest.MonkeyPatch) -> None:
    # the harder copies and look-alikes (issue 28, made last) are counted from the copies: left out of both
    monkeypatch.setattr(HardCopies, "hard_copies", lambda self, sf, hs, associations: [])
    data = generate(CONFIG)
    monkeypatch.setattr(cases_module, "case_copies", lambda rng, system, frame, taken, end: (frame, []))
    monkeypatch.setattr(DealCopies, "deal_copies", lambda self, hs, associations: None)
    plain = generate(CONFIG)
    for system, tables, others in (
        ("salesforce", data.salesforce, plain.salesforce),
        ("hubspot", data.hubspot, plain.hubspot),
    ):
        for name, frame in tables.items():
            if (system, name) not in COPIED:
                assert frame.equals(others[name]), (system, name)
    for key, frame in data.hubspot_associations.items():
        if "deals" not in key and "tickets" not in key:
            assert frame.equals(plain.hubspot_associations[key]), key
    assert data.manifest.defects.equals(plain.manifest.defects)
    copied = pl.col("object").is_in(["Case", "tickets", "deals"])
    assert data.manifest.duplicates.filter(~copied).equals(plain.manifest.duplicates)
    # the originals keep their contacts: only the copies' links are added
    for key in (("tickets", "contacts"), ("deals", "contacts"), ("deals", "companies")):
        new = data.hubspot_associations[key].join(
            plain.hubspot_associations[key], on=list(plain.hubspot_associations[key].columns), how="anti"
        )
        copies = {
            int(r)
            for r in data.manifest.duplicates.filter(
                copied & ~pl.col("is_original") & (pl.col("system") == "hubspot")
            )["record_id"]
        }
        assert set(new["from_id"].to_list()) <= copies, key


def test_no_two_cases_look_opened_twice_unless_the_truth_says_so() -> None:
    """The independent draws make no copy by chance (issue 28): one contact's cases on one subject, the
    later opened within two days of the earlier and before it was closed, are one cluster of the truth;
    a sandbox that made such pairs and called them distinct would grade any matcher against a coin. At
    20,000 contacts, seed 1, the draws made one such ticket beside a copy and its original."""
    data = generate(SeedConfig(records=20_000, seed=1))
    dups = data.manifest.duplicates
    tickets = data.hubspot["tickets"].join(
        data.hubspot_associations[("tickets", "contacts")].select(
            pl.col("from_id").alias("id"), pl.col("to_id").cast(pl.String).alias("contact")
        ),
        on="id",
    )
    for system, table in (
        (
            "salesforce",
            data.salesforce["Case"].select(
                pl.col("Id").alias("id"),
                pl.col("ContactId").alias("contact"),
                pl.col("Subject").alias("subject"),
                pl.col("CreatedDate").alias("opened"),
                pl.col("ClosedDate").alias("closed"),
            ),
        ),
        (
            "hubspot",
            tickets.select(
                pl.col("id").cast(pl.String),
                "contact",
                "subject",
                pl.col("createdate").alias("opened"),
                pl.col("closed_date").alias("closed"),
            ),
        ),
    ):
        cluster = dict(dups.filter(pl.col("system") == system).select("record_id", "cluster_id").rows())
        frame = table.filter(pl.col("subject").is_not_null())
        pairs = frame.join(frame, on=["contact", "subject"], suffix="_b").filter(
            (pl.col("opened") < pl.col("opened_b"))
            & (pl.col("opened_b") - pl.col("opened") <= timedelta(hours=48))
            & (pl.col("closed").is_null() | (pl.col("opened_b") <= pl.col("closed")))
        )
        assert pairs.height >= 50, system  # the seeded exact copies are such pairs
        for a, b in pairs.select("id", "id_b").rows():
            assert cluster.get(a) is not None and cluster.get(a) == cluster.get(b), (system, a, b)
