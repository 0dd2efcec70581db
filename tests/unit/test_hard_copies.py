"""Harder copies and look-alikes in every mergeable object (issue 28): each copy differs from its
original as its kind says, each look-alike is another person, company, case or deal as its kind says,
and seeding them, last and on a stream of their own, changes no record, id or truth seeded before."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.sandbox.generator import Manifest, SeedConfig, SeededData, generate
from crm_ops.sandbox.generator.hard_copies import HARDER, LOOKALIKES, HardCopies

CONFIG = SeedConfig(records=1500, seed=3, as_of=date(2026, 6, 1))
KEYS = {"salesforce": "Id", "hubspot": "id"}


@pytest.fixture(scope="module")
def data() -> SeededData:
    return generate(CONFIG)


def _row(data: SeededData, system: str, obj: str, record_id: str) -> dict[str, Any]:
    frame = (data.salesforce if system == "salesforce" else data.hubspot)[obj]
    return frame.filter(pl.col(KEYS[system]).cast(pl.String) == record_id).row(0, named=True)


def test_seeding_them_changes_nothing_seeded_before(
    data: SeededData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(HardCopies, "hard_copies", lambda self, sf, hs, associations: [])
    plain = generate(CONFIG)
    for tables, others in ((data.salesforce, plain.salesforce), (data.hubspot, plain.hubspot)):
        for name, frame in others.items():
            assert tables[name].head(frame.height).equals(frame), name
    for key, frame in plain.hubspot_associations.items():
        assert data.hubspot_associations[key].head(frame.height).equals(frame), key
    for table in ("defects", "duplicates"):
        before = getattr(plain.manifest, table)
        assert getattr(data.manifest, table).head(before.height).equals(before), table
    assert data.manifest.matches.equals(plain.manifest.matches)
    assert plain.manifest.lookalikes.is_empty()


def test_every_mergeable_object_has_harder_copies_and_look_alikes(data: SeededData) -> None:
    hard = data.manifest.duplicates.filter(pl.col("cluster_id").str.contains("-hard-"))
    seeded = {(o, k) for o, k in hard.select("object", "kind").unique().iter_rows()}
    assert seeded == {(o, k) for o, kinds in HARDER.items() for k in kinds}
    alike = data.manifest.lookalikes.filter(pl.col("system") == pl.col("other_system"))
    assert {(o, k) for o, k in alike.select("object", "kind").unique().iter_rows()} == {
        (o, k) for o, kinds in LOOKALIKES.items() for k in kinds
    }
    # a look-alike of a record matched in the other CRM is a wrong link there too
    cross = data.manifest.lookalikes.filter(pl.col("system") != pl.col("other_system"))
    assert {"Contact", "contacts", "Account", "companies"} <= set(cross["object"])
    # no look-alike is in a duplicate cluster, or carries a defect
    truth = set(data.manifest.duplicates["record_id"]) | set(data.manifest.defects["record_id"])
    assert not set(data.manifest.lookalikes["record_id"]) & truth


def test_a_harder_copy_differs_as_its_kind_says(data: SeededData) -> None:
    defects = dict(data.manifest.defects.select("record_id", "kind").iter_rows())
    hard = data.manifest.duplicates.filter(pl.col("cluster_id").str.contains("-hard-"))
    names = {
        "Contact": ("FirstName", "LastName", "Email", "Phone"),
        "Lead": ("FirstName", "LastName", "Email", "Phone"),
        "contacts": ("firstname", "lastname", "email", "phone"),
    }
    for (system, obj, _), pair in hard.group_by("system", "object", "cluster_id"):
        original = _row(data, str(system), str(obj), pair.filter(pl.col("is_original"))["record_id"][0])
        copy_id = pair.filter(~pl.col("is_original"))["record_id"][0]
        copy, kind = _row(data, str(system), str(obj), copy_id), pair["kind"][0]
        if obj in names:
            first, last, email, phone = names[str(obj)]
            if kind == "swapped_names":
                assert (copy[first], copy[last]) == (original[last], original[first])
            else:  # a name and the e-mail, or a name and the phone's format
                changed = [f for f in (first, last, email, phone) if copy[f] != original[f]]
                assert len(changed) >= 2 and {first, last} & set(changed), (obj, changed)
                assert phone not in changed or defects[copy_id] == "phone_format"
            assert obj != "contacts" or copy[email] != original[email]  # HubSpot: one address a contact
        elif obj in ("Account", "companies"):
            name = "Name" if obj == "Account" else "name"
            assert copy[name] != original[name] and defects[copy_id] in ("website_format", "phone_format")
        elif obj in ("Case", "tickets"):
            subject, channel = ("Subject", "Origin") if obj == "Case" else ("subject", "source_type")
            assert copy[subject].startswith("RE: ") and copy[channel] != original[channel]
        else:
            assert copy["dealname"] != original["dealname"] and copy["amount"] == original["amount"]


def test_a_look_alike_is_another_as_its_kind_says(data: SeededData) -> None:
    alike = data.manifest.lookalikes.filter(pl.col("system") == pl.col("other_system"))
    for row in alike.iter_rows(named=True):
        system, obj, kind = row["system"], row["object"], row["kind"]
        new, old = (_row(data, system, obj, row[k]) for k in ("record_id", "other_id"))
        sfs = system == "salesforce"
        if kind in ("same_name", "same_name_same_company", "household"):
            first, last, email, phone = (
                ("FirstName", "LastName", "Email", "Phone")
                if sfs
                else ("firstname", "lastname", "email", "phone")
            )
            assert new[last] == old[last] and new[email] != old[email]
            if kind == "household":
                assert new[first] != old[first]
            else:
                assert new[first] == old[first] and new[phone] != old[phone]
            if kind == "same_name_same_company" and obj == "Contact":
                assert new["AccountId"] == old["AccountId"]
        elif kind == "same_name_other_country":
            country, site = ("BillingCountry", "Website") if sfs else ("country", "domain")
            assert new[country] != old[country] and new[site] != old[site]
        elif kind == "same_subject_colleague" and sfs:
            assert new["AccountId"] == old["AccountId"] and new["ContactId"] != old["ContactId"]
            assert new["Subject"] == old["Subject"]
        elif kind == "same_company_other_product":
            assert new["amount"] == old["amount"] and new["dealname"] != old["dealname"]


def test_the_look_alikes_round_trip_through_the_manifest(data: SeededData, tmp_path: Path) -> None:
    again = Manifest.read(data.manifest.write(tmp_path / "m"))
    assert again.lookalikes.equals(data.manifest.lookalikes) and again.lookalikes.height > 0
