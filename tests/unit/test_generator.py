"""The generator: exact schemas, determinism, clean values that pass strict checks, defects as recorded."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import phonenumbers
import polars as pl
import pycountry
import pytest
from email_validator import EmailNotValidError, validate_email

from crm_ops.sandbox import wordlists as w
from crm_ops.sandbox.generator import Manifest, SeedConfig, SeededData, generate
from crm_ops.sandbox.objects import HUBSPOT_OBJECTS, SALESFORCE_OBJECTS, sf_row

CONFIG = SeedConfig(records=2000, seed=5, as_of=date(2026, 6, 1))


@pytest.fixture(scope="module")
def data() -> SeededData:
    return generate(CONFIG)


def _flagged(data: SeededData, system: str, obj: str) -> set[str]:
    d = data.manifest.defects
    ids = d.filter((pl.col("system") == system) & (pl.col("object") == obj))["record_id"].to_list()
    dups = data.manifest.duplicates.filter(~pl.col("is_original"))["record_id"].to_list()
    return set(ids) | set(dups)


def test_frames_have_exactly_the_store_schemas(data: SeededData) -> None:
    for name, obj in SALESFORCE_OBJECTS.items():
        assert data.salesforce[name].schema == pl.Schema(obj.schema()), name
    for name, hobj in HUBSPOT_OBJECTS.items():
        assert data.hubspot[name].schema == pl.Schema(hobj.schema()), name
    # every Salesforce id encodes its row (the sandbox serves a record by id from it): after the
    # defects removed some contact roles too
    for name, frame in data.salesforce.items():
        ids = frame["Id"].to_list()
        assert frame["Id"].is_unique().all(), name
        assert [sf_row(i, i[:3]) for i in ids] == list(range(len(ids))), name


def test_same_config_same_data(data: SeededData) -> None:
    again = generate(CONFIG)
    for name in SALESFORCE_OBJECTS:
        assert again.salesforce[name].equals(data.salesforce[name]), name
    for name in HUBSPOT_OBJECTS:
        assert again.hubspot[name].equals(data.hubspot[name]), name
    assert again.manifest.defects.equals(data.manifest.defects)
    other = generate(SeedConfig(records=2000, seed=6, as_of=date(2026, 6, 1)))
    assert not other.salesforce["Contact"]["Email"].equals(data.salesforce["Contact"]["Email"])


def test_clean_contacts_pass_strict_checks(data: SeededData) -> None:
    flagged = _flagged(data, "salesforce", "Contact")
    clean = data.salesforce["Contact"].filter(~pl.col("Id").is_in(list(flagged)))
    assert clean.height > 1500
    for email, phone, country, state, first, last in clean.select(
        "Email", "Phone", "MailingCountry", "MailingState", "FirstName", "LastName"
    ).iter_rows():
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError as e:  # pragma: no cover - the assertion below reports it
            pytest.fail(f"{email}: {e}")
        assert email == email.strip().lower()
        number = phonenumbers.parse(phone, None)
        assert phonenumbers.is_valid_number(number), phone
        assert phonenumbers.region_code_for_number(number) == country
        assert pycountry.countries.get(alpha_2=country) is not None
        if state is not None:
            subdivision = pycountry.subdivisions.get(code=f"{country}-{state}")  # type: ignore[no-untyped-call]
            assert subdivision is not None, (country, state)
        assert first == first.strip()
        assert last == last.strip()
        assert last[0].isupper() or last.startswith(("de ", "van ")), last


def test_every_defect_is_really_in_the_data(data: SeededData) -> None:
    defects = data.manifest.defects
    assert set(defects["kind"].unique()) >= {
        "email_malformed",
        "email_format",
        "placeholder",
        "phone_format",
        "country_alias",
        "missing_required",
        "orphan",
        "inactive_owner",
    }
    frames = {("salesforce", k): v for k, v in data.salesforce.items()} | {
        ("hubspot", k): v for k, v in data.hubspot.items()
    }
    for system, obj, record_id, field, kind, recorded_bad, _ in defects.iter_rows():
        bad = recorded_bad
        if kind == "opp_no_contact_role":
            roles = data.salesforce["OpportunityContactRole"]
            assert roles.filter(pl.col("OpportunityId") == record_id).height == 0
            continue
        if kind == "activity_email_unlinked":  # a sent e-mail associated with no contact
            links = data.hubspot_associations[("emails", "contacts")]
            assert links.filter(pl.col("from_id") == int(record_id)).height == 0
            assert (
                data.hubspot["emails"].filter(pl.col("id") == int(record_id))["hs_email_status"][0] == "SENT"
            )
            continue
        frame = frames[(system, obj)]
        key = "Id" if system == "salesforce" else "id"
        value = frame.filter(pl.col(key).cast(pl.String) == record_id)[field][0]
        shown = None if value is None else str(value)
        if kind in ("stale", "opp_past_close_open"):
            continue  # typed values; their presence is checked by the rules that find them
        if isinstance(value, float):
            shown = str(float(value))
            bad = str(float(bad)) if bad is not None else None
        assert shown == bad, (system, obj, record_id, field, kind)


def test_phone_defects_parse_back_to_the_correct_number(data: SeededData) -> None:
    phones = data.manifest.defects.filter(pl.col("kind") == "phone_format")
    assert phones.height > 0
    contacts = data.salesforce["Contact"]
    for record_id, bad, correct in (
        phones.filter(pl.col("object") == "Contact")
        .select("record_id", "bad_value", "correct_value")
        .iter_rows()
    ):
        country = contacts.filter(pl.col("Id") == record_id)["MailingCountry"][0]
        parsed = phonenumbers.parse(bad, country)
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == correct


def test_orphans_point_at_nothing_or_a_deleted_account(data: SeededData) -> None:
    accounts = data.salesforce["Account"]
    deleted = set(accounts.filter(pl.col("IsDeleted"))["Id"].to_list())
    orphans = data.manifest.defects.filter(pl.col("kind") == "orphan")
    assert orphans.height > 0
    for bad in orphans["bad_value"].to_list():
        assert bad is None or bad in deleted
    clean = data.salesforce["Contact"].filter(~pl.col("Id").is_in(orphans["record_id"].to_list()))
    assert clean.filter(pl.col("AccountId").is_in(list(deleted)) | pl.col("AccountId").is_null()).height == 0


def test_duplicates_and_matches_point_at_real_records(data: SeededData) -> None:
    dups = data.manifest.duplicates
    seeded = set(dups.select("system", "object").unique().iter_rows())
    assert seeded == {
        ("salesforce", "Contact"),
        ("salesforce", "Lead"),
        ("salesforce", "Account"),
        ("hubspot", "contacts"),
        ("hubspot", "companies"),
        ("salesforce", "Subscription__c"),  # the custom objects (issue 26)
        ("hubspot", "p_subscriptions"),
        ("salesforce", "Case"),  # cases opened twice, deals entered twice (issue 26)
        ("hubspot", "tickets"),
        ("hubspot", "deals"),
    }
    assert {"exact", "fuzzy", "lead_contact", "typo", "legal_form", "phone_format"} <= set(dups["kind"])
    ids = {("salesforce", n): set(f["Id"].to_list()) for n, f in data.salesforce.items()}
    ids |= {("hubspot", n): set(f["id"].cast(pl.String).to_list()) for n, f in data.hubspot.items()}
    for system, obj, record_id in dups.select("system", "object", "record_id").iter_rows():
        assert record_id in ids[(system, obj)], (system, obj, record_id)
    contacts = ids[("salesforce", "Contact")]
    matches = data.manifest.matches
    assert matches.height > 0
    hs_contacts = set(data.hubspot["contacts"]["id"].cast(pl.String).to_list())
    for _, sf_id, _, hs_id in matches.filter(pl.col("sf_object") == "Contact").iter_rows():
        assert sf_id in contacts
        assert hs_id in hs_contacts
    linked = data.hubspot["contacts"].filter(pl.col("salesforcecontactid").is_not_null())
    assert linked["salesforcecontactid"].is_in(list(contacts)).all()


def test_copies_differ_from_their_originals_as_the_manifest_says(data: SeededData) -> None:
    """Each copy is a later record differing from its original as its kind says; a difference that is a
    defect is noted as one; HubSpot's contacts hold one address each (HubSpot refuses a second)."""
    defects = dict(data.manifest.defects.select("record_id", "kind").iter_rows())
    hs_contacts = data.hubspot["contacts"].filter(~pl.col("id").cast(pl.String).is_in(list(defects)))
    assert hs_contacts["email"].str.to_lowercase().is_unique().all()
    suffixes = {s for options in w.LEGAL_SUFFIXES.values() for s in options}
    names = {"Account": "Name", "Lead": "LastName", "companies": "name", "contacts": "lastname"}
    dups = data.manifest.duplicates.filter(
        pl.col("object").is_in(list(names)) & (pl.col("kind") != "lead_contact")
    )
    assert dups.height > 0
    for (system, obj, _), pair in dups.group_by("system", "object", "cluster_id"):
        frame = data.salesforce[str(obj)] if system == "salesforce" else data.hubspot[str(obj)]
        key, created = ("Id", "CreatedDate") if system == "salesforce" else ("id", "createdate")
        rows = {
            r["record_id"]: frame.filter(pl.col(key).cast(pl.String) == r["record_id"]).row(0, named=True)
            for r in pair.iter_rows(named=True)
        }
        original = rows[pair.filter(pl.col("is_original"))["record_id"][0]]
        copy_id = pair.filter(~pl.col("is_original"))["record_id"][0]
        copy, kind, name = rows[copy_id], pair["kind"][0], names[str(obj)]
        assert copy[created] >= original[created]
        if obj == "contacts":
            assert copy["email"] != original["email"]
            assert kind != "personal_email" or copy["email"].split("@")[1] in w.FREEMAIL
        if kind in ("name_format", "phone_format", "website_format"):
            assert defects.get(copy_id) == kind, (obj, kind, copy_id)
        elif kind == "legal_form":
            short, long = sorted((copy[name], original[name]), key=len)
            assert long.startswith(short + " ") and long[len(short) + 1 :] in suffixes
        elif kind == "typo":
            assert copy[name] != original[name] and abs(len(copy[name]) - len(original[name])) <= 1
        elif kind == "exact":
            assert copy[name] == original[name]


def test_manifest_round_trips(data: SeededData, tmp_path: Path) -> None:
    path = data.manifest.write(tmp_path / "m")
    again = Manifest.read(path)
    assert again.defects.equals(data.manifest.defects)
    assert again.matches.equals(data.manifest.matches)
    assert not list((tmp_path / "m").glob("*.tmp"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"records": 50}, "records must be between"),
        ({"defect_rate": 0.9}, "defect_rate"),
        ({"overlap": 2.0}, "overlap"),
        ({"accounts": 0}, "accounts"),
    ],
)
def test_bad_config_names_the_field(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SeedConfig(**kwargs)  # type: ignore[arg-type]


def test_sizes_per_object_can_be_chosen() -> None:
    data = generate(
        SeedConfig(records=100, accounts=400, leads=30, opportunities=700, seed=2, defect_rate=0.0)
    )
    assert data.salesforce["Account"].height == 400
    assert data.salesforce["Contact"].height == 100
    assert data.salesforce["Lead"].height == 30
    assert data.salesforce["Opportunity"].height == 700
    roles = (
        data.salesforce["OpportunityContactRole"]
        .join(data.salesforce["Contact"].select("Id", "AccountId"), left_on="ContactId", right_on="Id")
        .join(
            data.salesforce["Opportunity"].select("Id", pl.col("AccountId").alias("OppAccount")),
            left_on="OpportunityId",
            right_on="Id",
        )
    )
    assert roles.height == 700
    assert (roles["AccountId"] == roles["OppAccount"]).all(), (
        "a contact role is a contact of the same account"
    )
    assert data.manifest.defects.height == 0


def test_accounts_the_truth_calls_distinct_are_distinguishable(data: SeededData) -> None:
    # two accounts with one name stem and one domain are the same company to anyone: the company words
    # must make every (prefix, core, sector) its own domain, so the truth's distinct accounts are
    words = (w.COMPANY_PREFIXES, w.COMPANY_CORES, w.COMPANY_SECTORS)
    assert all(len(set(ws)) == len(ws) for ws in words)
    domains = {f"{a.lower()}{b}{s.lower()}" for a in words[0] for b in words[1] for s in words[2]}
    assert len(domains) == len(words[0]) * len(words[1]) * len(words[2])
    copies = data.manifest.duplicates.filter(~pl.col("is_original"))["record_id"]
    accounts = data.salesforce["Account"].filter(~pl.col("Id").is_in(copies.implode()))
    websites = accounts["Website"].str.to_lowercase().str.strip_chars()
    assert websites.is_unique().all()
