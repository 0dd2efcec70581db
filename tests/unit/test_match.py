"""Duplicates and links: scoring and reasons, blocking that survives pathological data, clusters,
survivorship, configuration."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from crm_ops.config import load_profile
from crm_ops.errors import ConfigError
from crm_ops.match import (
    DEFAULTS,
    FieldRule,
    MatchConfig,
    clusters,
    find_duplicates,
    link_records,
    one_to_one,
    survivorship,
)
from crm_ops.match.engine import normalise, phonetic_codes, same_person_names
from crm_ops.match.run import settings_from_profile, with_survivor
from crm_ops.match.survivor import MergeRules
from crm_ops.rules.model import example_frame
from crm_ops.values.wordlists import shipped


def _contacts(rows: list[dict[str, object]]) -> pl.DataFrame:
    return example_frame("Contact", [{"id": f"c{i}", **r} for i, r in enumerate(rows)], "salesforce")


def _person(first: str, last: str, email: str, phone: str | None) -> dict[str, object]:
    return {"first_name": first, "last_name": last, "email": email, "phone": phone, "account_id": "a1"}


PEOPLE: list[dict[str, object]] = [
    _person("Robert", "Smith", "robert.smith@acme.com", "+14155550101"),
    _person("Bob", "Smith", "bob.smith@acme.com", "+1 (415) 555-0101"),
    _person("Ann", "Smith", "ann.smith@acme.com", "+14155550199"),
    _person("Robert", "Smith", "Robert.Smith@acme.com ", None),
]


def test_duplicates_are_scored_with_reasons_and_colleagues_are_not_duplicates() -> None:
    pairs = find_duplicates(_contacts(PEOPLE), DEFAULTS["Contact"])
    found = {(a, b): r for a, b, r in pairs.select("left_id", "right_id", "reasons").iter_rows()}
    assert ("c0", "c1") in found  # a nickname, the same phone written differently
    assert "phone" in found[("c0", "c1")] and "first_name" in found[("c0", "c1")]
    assert ("c0", "c3") in found  # the same address, written with capitals and a space
    assert not any("c2" in pair for pair in found)  # Ann Smith, a colleague
    assert all(score >= DEFAULTS["Contact"].threshold for score in pairs["score"].to_list())


def test_clusters_are_transitive() -> None:
    pairs = pl.DataFrame({"left_id": ["a", "b", "x"], "right_id": ["b", "c", "y"], "score": [1.0, 1.0, 1.0]})
    groups = dict(clusters(pairs).iter_rows())
    assert groups["a"] == groups["b"] == groups["c"] == "a"
    assert groups["x"] == groups["y"] == "x"


def test_pathological_inputs_do_not_blow_up() -> None:
    n = 50_000
    rows = pl.DataFrame(
        {
            "id": [f"c{i}" for i in range(n)],
            "first_name": [None if i % 2 else "" for i in range(n)],
            "last_name": [None if i % 3 else "x" * 5000 for i in range(n)],
            # everyone at one domain, half of them with the same placeholder address
            "email": [("noemail@example.com" if i % 2 else f"p{i}@bigcorp.com") for i in range(n)],
            "phone": [None] * n,
            "account_id": ["a1"] * n,
            "is_deleted": [False] * n,
        }
    )
    pairs = find_duplicates(rows, DEFAULTS["Contact"])
    assert pairs.height == 0  # junk addresses and oversize blocks are not evidence


def test_linking_is_one_to_one_best_first() -> None:
    left = _contacts(PEOPLE[:1])
    right = example_frame(
        "Contact",
        [
            {"id": "h1", "first_name": "Robert", "last_name": "Smith", "email": "robert.smith@acme.com"},
            {"id": "h2", "first_name": "Rob", "last_name": "Smith", "email": "robert.smith@acme.com"},
        ],
        "hubspot",
    )
    pairs = link_records(left, right, DEFAULTS["cross.Contact"])
    assert set(pairs["right_id"]) == {"h1", "h2"}
    best = one_to_one(pairs)
    assert best.select("left_id", "right_id").rows() == [("c0", "h1")]


def test_survivorship_keeps_the_most_complete_and_fills_its_gaps() -> None:
    ann = {"first_name": "Ann", "last_name": "Lee", "email": "ann@acme.com"}
    frame = _contacts(
        [
            {**ann, "created_at": "2020-01-01T00:00:00Z"},
            {**ann, "title": "CFO", "phone": "+1415555", "created_at": "2022-01-01T00:00:00Z"},
        ]
    )
    pairs = pl.DataFrame({"left_id": ["c0"], "right_id": ["c1"], "score": [0.95], "reasons": ["email"]})
    proposals = survivorship(frame, pairs, "salesforce", "Contact")
    merge = proposals.filter(pl.col("rule") == "match.duplicate").row(0, named=True)
    assert (merge["record_id"], merge["proposed_value"]) == ("c0", "c1")
    oldest = survivorship(frame, pairs, "salesforce", "Contact", with_survivor(MergeRules(), "oldest"))
    merge = oldest.row(0, named=True)
    assert (merge["record_id"], merge["proposed_value"]) == ("c1", "c0")
    fills = {v["field"]: v["value"] for v in json.loads(merge["detail"])["values"]}
    assert fills == {"title": "CFO", "phone": "+1415555"}


def test_users_match_on_their_own_fields_and_bad_settings_are_named() -> None:
    custom = DEFAULTS["Contact"].with_overrides(
        {"fields": [{"field": "custom_dob", "comparator": "exact", "weight": 1.0},
                    {"field": "last_name", "comparator": "phonetic", "normaliser": "name"}],
         "blocking": [["custom_dob"]], "threshold": 0.9},
        "crm-ops.toml match.Contact",
    )  # fmt: skip
    frame = _contacts(
        [
            {"last_name": "Meyer", "custom_dob": "1980-02-03"},
            {"last_name": "Maier", "custom_dob": "1980-02-03"},
        ]
    )
    assert find_duplicates(frame, custom).select("left_id", "right_id").rows() == [("c0", "c1")]
    with pytest.raises(ConfigError, match=r"match.Contact.fields\[0\]: comparator must be one of"):
        DEFAULTS["Contact"].with_overrides(
            {"fields": [{"field": "email", "comparator": "psychic"}]}, "match.Contact"
        )
    assert isinstance(custom, MatchConfig) and isinstance(custom.fields[0], FieldRule)


def test_phonetic_codes_come_from_jellyfish_once_per_distinct_value() -> None:
    names = pl.Series(["robert", "rupert", "meyer", "maier", None, "robert", "schmidt", "smith"])
    assert phonetic_codes(names).to_list() == ["R163", "R163", "M600", "M600", None, "R163", "S530", "S530"]
    metaphone = phonetic_codes(names, "metaphone").to_list()
    assert metaphone[0] != metaphone[1] and metaphone[6] == "SXMTT" and metaphone[7] == "SM0"
    assert phonetic_codes(names, "nysiis").to_list()[2:4] == ["MAYAR", "MAR"]
    assert phonetic_codes(names, "match_rating").to_list()[6:] == ["SCHMDT", "SMTH"]
    accents = pl.Series(["müller", "muller", "émile", "emile"])
    for algorithm in ("soundex", "metaphone", "nysiis", "match_rating"):
        codes = phonetic_codes(accents, algorithm).to_list()
        assert codes[0] == codes[1] and codes[2] == codes[3], algorithm
    rule = {"field": "last_name", "comparator": "phonetic", "normaliser": "name", "phonetic": "metaphone"}
    custom = DEFAULTS["Contact"].with_overrides({"fields": [rule], "blocking": [["account_id"]]}, "m")
    assert custom.fields[0].phonetic == "metaphone"
    with pytest.raises(ConfigError, match=r"phonetic must be one of soundex, metaphone, nysiis"):
        DEFAULTS["Contact"].with_overrides({"fields": [{**rule, "phonetic": "caverphone"}]}, "m")


def test_nicknames_come_from_the_maintained_list_and_ours() -> None:
    lists = shipped()
    pairs = [("bob", "robert"), ("rob", "bob"), ("peggy", "margaret"), ("hans", "johannes"),
             ("katie", "katherine"), ("r", "robert"), ("hank", "harry"), ("ann", "robert"),
             ("mia", "sven")]  # fmt: skip
    same = same_person_names([a for a, _ in pairs], [b for _, b in pairs], lists)
    assert same.tolist() == [True] * 7 + [False, False]


def test_profile_match_settings(tmp_path: Path) -> None:
    config = tmp_path / "crm-ops.toml"
    config.write_text(
        "[profiles.prod.match]\nsurvivor = 'oldest'\n"
        "source_of_truth = {email = 'salesforce', '*' = 'latest'}\n"
        "[profiles.prod.match.Contact]\nthreshold = 0.9\n"
    )
    settings = settings_from_profile(load_profile(config, "prod").match, "prod.match")
    assert settings["merge_rules"].master_for("Contact") == ("oldest", "most_complete")
    assert settings["configs"]["Contact"].threshold == 0.9
    assert settings["source_of_truth"] == {"email": "salesforce", "*": "latest"}
    with pytest.raises(ConfigError, match=r"prod.match.Contakt: unknown setting"):
        settings_from_profile({"Contakt": {"threshold": 0.5}, "survivor": "loudest"}, "prod.match")


def test_profiles_add_free_mail_domains_placeholders_and_nicknames(tmp_path: Path) -> None:
    lists_file = tmp_path / "lists" / "ours.yaml"
    lists_file.parent.mkdir()
    lists_file.write_text("placeholders:\n  email_domains: [nomail.acme]\nnicknames: {sigi: siegfried}\n")
    config = tmp_path / "crm-ops.toml"
    config.write_text(
        "[profiles.prod.match]\nfreemail_domains_extra = ['Acme-Mail.com']\n"
        "placeholder_words_extra = ['tbc']\nnicknames_extra = {hansi = 'johann'}\n"
        "wordlists_file = 'lists/ours.yaml'\n"
    )
    settings = settings_from_profile(load_profile(config, "prod").match, "prod.match", tmp_path)
    lists = settings["lists"]
    assert "acme-mail.com" in lists.freemail and "gmail.com" in lists.freemail  # the shipped list stays
    assert "acme-mail.com" not in shipped().freemail and "tbc" in lists.junk_words
    frame = pl.DataFrame({"w": ["acme-mail.com", "www.globex.com"], "e": ["ann@nomail.acme", "TBC"]})
    seen = frame.select(
        normalise(pl.col("w"), "domain", lists).alias("w"), normalise(pl.col("e"), "email", lists).alias("e")
    )
    assert seen.rows() == [(None, None), ("globex.com", None)]
    assert frame.select(normalise(pl.col("w"), "domain").alias("w"))["w"].to_list() == [
        "acme-mail.com",
        "globex.com",
    ]
    assert same_person_names(["hansi", "sigi", "hansi"], ["johann", "siegfried", "sigi"], lists).tolist() == [
        True,
        True,
        False,
    ]
    # the lists reach matching: two accounts at a (now) free-mail website are not the same company
    accounts = example_frame(
        "Account",
        [
            {"id": "a1", "name": "Acme", "website": "acme-mail.com"},
            {"id": "a2", "name": "Acme", "website": "acme-mail.com"},
        ],
        "salesforce",
    )
    assert find_duplicates(accounts, DEFAULTS["Account"]).height == 1
    assert find_duplicates(
        accounts, DEFAULTS["Account"], lists=lists
    ).is_empty()  # a name alone is not enough
    with pytest.raises(ConfigError) as bad:
        settings_from_profile(
            {
                "freemail_domains_extra": "gmail.com",
                "nicknames_extra": ["bob"],
                "wordlists_file": "nope.yaml",
            },
            "prod.match",
            tmp_path,
        )
    text = str(bad.value)
    assert "prod.match.freemail_domains_extra: a list of strings" in text
    assert "prod.match.nicknames_extra: a table of nickname = full name" in text
    assert "prod.match.wordlists_file: cannot read" in text and "nope.yaml" in text


def test_column_normalising_step_by_step_gives_the_expression_s_values() -> None:
    # _prepared normalises whole columns step by step (and names, countries once per distinct value);
    # every kind must give exactly what the expression gives, nulls and junk included
    from crm_ops.match.engine import normalise, normalised

    values = pl.Series(
        "v",
        [" Ann.Lee@Acme.COM ", "test@test.com", "+1 (415) 555-0100", "000-000-0000", "O'Brien ", "Müller",
         "ACME GmbH", "https://www.Acme.com/about", "gmail.com", "Deutschland", "U.S.A.", "", "  ", None,
         "n/a", "Zz", "12345"],
    )  # fmt: skip
    for kind in ("text", "email", "phone", "name", "company", "domain", "country"):
        expected = pl.select(normalise(pl.lit(values), kind)).to_series()
        assert normalised(values, kind).equals(expected, check_names=False), kind
