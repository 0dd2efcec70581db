"""The matching API as a script uses it: the caller names the id column and every field, dates may be
text, and a config that cannot work is refused when it is built (or, for columns, before matching)."""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Any

import polars as pl
import pytest

from crm_ops.errors import ConfigError
from crm_ops.match import DEFAULTS, FieldRule, MatchConfig, find_duplicates, link_records

PEOPLE = {
    "email": ["ann.lee@acme.com", "Ann.Lee@acme.com ", "bo@globex.com"],
    "phone": ["+14155550101", "+1 (415) 555-0101", "+14155550199"],
    "first_name": ["Ann", "Ann", "Bo"],
    "last_name": ["Lee", "Lee", "Berg"],
    "account_id": ["a1", "a1", "a2"],
}


def _pairs(frame: pl.DataFrame) -> list[tuple[str, str]]:
    return sorted(frame.select("left_id", "right_id").iter_rows())


def test_the_id_column_is_the_callers() -> None:
    keyed = pl.DataFrame({"contact_id": ["k1", "k2", "k3"], **PEOPLE})
    pairs = find_duplicates(keyed, DEFAULTS["Contact"], id_column="contact_id")
    assert _pairs(pairs) == [("k1", "k2")]
    assert _pairs(pairs) == _pairs(find_duplicates(keyed.rename({"contact_id": "id"}), DEFAULTS["Contact"]))
    other = pl.DataFrame({"hs_key": [7, 8], **{k: v[1:] for k, v in PEOPLE.items()}})  # numeric ids
    linked = link_records(
        keyed, other, DEFAULTS["cross.Contact"], id_column="contact_id", right_id_column="hs_key"
    )
    assert ("k1", "7") in _pairs(linked) and ("k2", "7") in _pairs(linked)
    with pytest.raises(ConfigError) as missing:
        find_duplicates(keyed, DEFAULTS["Contact"])
    text = str(missing.value)
    assert "match 'Contact': the frame has no column 'id', the id column" in text
    assert "its columns: contact_id, email, phone" in text


def test_a_column_the_config_names_must_be_in_the_frame_and_the_nearest_is_named() -> None:
    frame = pl.DataFrame({"id": ["1", "2", "3"], **PEOPLE}).rename({"phone": "Phone"})
    with pytest.raises(ConfigError) as missing:
        find_duplicates(frame, DEFAULTS["Contact"])
    text = str(missing.value)
    assert "no column 'phone', field rule 'phone' (did you mean 'Phone'?)" in text
    # a blocking name that is no rule's field is a column: found when it is there, refused when not
    by_account = MatchConfig(
        "People", (FieldRule("last_name", "normalised", 1.0, "name"),), (("account_id",),), min_fields=1
    )
    assert _pairs(find_duplicates(frame, by_account)) == [("1", "2")]
    typo = MatchConfig("People", by_account.fields, (("acount_id",),), min_fields=1)
    with pytest.raises(ConfigError, match=r"no column 'acount_id', blocking\[0\].*did you mean 'account_id'"):
        find_duplicates(frame, typo)


DEALS = MatchConfig(
    "Deals",
    (FieldRule("name", "normalised", 0.5), FieldRule("close_date", "date", 0.5)),
    (("name",),),
    threshold=0.9,
)


def _deals(dates: list[object]) -> pl.DataFrame:
    return pl.DataFrame({"id": ["h1", "h2"], "name": ["Acme renewal", "Globex deal"], "close_date": dates})


@pytest.mark.parametrize(
    "written",
    [
        ["2024-03-05", "2024-06-09"],
        ["2024-03-05T10:00:00Z", "2024-06-09T23:59:00+02:00"],
        ["2024/03/05", " 9 Jun 2024 "],
        ["5 March 2024", "June 9, 2024"],
        ["05-Mar-2024", None],
    ],
)
def test_text_dates_give_the_pairs_real_dates_give(written: list[object]) -> None:
    left = pl.DataFrame(
        {
            "id": ["d1", "d2"],
            "name": ["Acme renewal", "Globex deal"],
            "close_date": [date(2024, 3, 5), date(2024, 6, 1)],
        }
    )
    real = link_records(left, _deals([date(2024, 3, 5), date(2024, 6, 9)]), DEALS)
    assert _pairs(real) == [("d1", "h1")]
    assert _pairs(link_records(left, _deals(written), DEALS)) == _pairs(real)
    stamped = _deals(written).with_columns(pl.col("close_date").cast(pl.String))
    assert _pairs(
        link_records(left.with_columns(pl.col("close_date").cast(pl.Datetime("ms", "UTC"))), stamped, DEALS)
    ) == [("d1", "h1")]


def test_text_that_is_not_a_date_is_refused_before_matching_and_day_month_order_is_the_callers() -> None:
    left = _deals([date(2024, 3, 5), date(2024, 6, 9)]).with_columns(pl.Series("id", ["d1", "d2"]))
    with pytest.raises(ConfigError) as junk:
        link_records(left, _deals(["soon", "2024-02-30"]), DEALS)
    text = str(junk.value)
    assert "match 'Deals' field rule 'close_date' (right frame): 2 value(s) of column 'close_date'" in text
    assert "'2024-02-30', 'soon'" in text and "2024-03-05T10:00:00Z" in text
    with pytest.raises(ConfigError, match=r"read two ways .* set the rule's date_order to 'dmy' or 'mdy'"):
        link_records(left, _deals(["05/03/2024", "09/06/2024"]), DEALS)
    day_first = MatchConfig(
        "Deals",
        (DEALS.fields[0], FieldRule("close_date", "date", 0.5, date_order="dmy")),
        DEALS.blocking,
        0.9,
    )
    assert _pairs(link_records(left, _deals(["05/03/2024", "09/06/2024"]), day_first)) == [
        ("d1", "h1"),
        ("d2", "h2"),
    ]
    month_first = MatchConfig(
        "Deals",
        (DEALS.fields[0], FieldRule("close_date", "date", 0.5, date_order="mdy")),
        DEALS.blocking,
        0.9,
    )
    assert _pairs(link_records(left, _deals(["03/05/2024", "06/09/2024"]), month_first)) == [
        ("d1", "h1"),
        ("d2", "h2"),
    ]
    with pytest.raises(ConfigError, match=r"reads date, datetime or text columns; 'close_date' is Int64"):
        link_records(left, _deals([20240305, 20240609]), DEALS)


ONE = {"fields": (FieldRule("email"),), "blocking": (("email",),), "min_fields": 1}
TWO = (FieldRule("email"), FieldRule("email", "fuzzy"))


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"field": "email", "comparator": "fuzy"}, r"comparator must be one of exact, normalised, fuzzy, "),
        ({"field": "email", "comparator": "fuzy"}, r"got 'fuzy' \(did you mean 'fuzzy'\?\)"),
        ({"field": "email", "normaliser": "emails"}, r"normaliser must be one of text, email, phone, "),
        ({"field": "name", "scorer": "token_sort"}, r"scorer must be one of ratio, token_sort_ratio, "),
        ({"field": "name", "phonetic": "caverphone"}, r"phonetic must be one of soundex, metaphone"),
        ({"field": "email", "weight": 0}, r"FieldRule 'email': weight must be a number above 0, got 0"),
        ({"field": "day", "comparator": "date", "date_order": "ymd"}, r"date_order must be one of dmy, mdy"),
        ({**ONE, "threshold": 80}, r"threshold must be in \[0, 1\], got 80 \(scores are 0-1"),
        ({**ONE, "max_block": 1}, r"max_block must be a whole number, 2 or more"),
        ({**ONE, "min_fields": 0}, r"min_fields must be a whole number, 1 or more"),
        ({**ONE, "min_fields": 2}, r"min_fields is 2 but there are 1 field rules"),
        ({**ONE, "fields": TWO}, r"MatchConfig 'C': two rules on field 'email'"),
    ],
)
def test_a_config_that_cannot_work_is_refused_when_built(settings: dict[str, Any], expected: str) -> None:
    build: Any = partial(MatchConfig, "C") if "blocking" in settings else FieldRule
    with pytest.raises(ConfigError, match=expected):
        build(**settings)


def test_two_rules_may_share_a_field_when_they_compare_it_with_different_columns() -> None:
    config = MatchConfig(
        "Lead-Contact",
        (
            FieldRule("email", "normalised", 0.5, "email"),
            FieldRule("company", "fuzzy", 0.25, "company", other_field="account_name"),
            FieldRule("company", "fuzzy", 0.25, "company"),
        ),
        (("email",),),
    )
    leads = pl.DataFrame({"id": ["l1"], "email": ["ann@acme.com"], "company": ["Acme"]})
    contacts = pl.DataFrame(
        {"id": ["c1"], "email": ["ann@acme.com"], "company": ["Acme"], "account_name": ["Acme Inc"]}
    )
    reasons = link_records(leads, contacts, config)["reasons"].to_list()
    assert reasons == ["email,company/account_name,company/company"]


def test_profile_overrides_are_checked_as_built_and_named_where_they_are_written() -> None:
    with pytest.raises(ConfigError) as bad:
        DEFAULTS["Contact"].with_overrides(
            {"threshold": 80, "max_block": 1, "fields": [{"field": "email", "scorer": "token_sort"}]},
            "crm-ops.toml profiles.prod.match.Contact",
        )
    problems = bad.value.problems
    assert "crm-ops.toml profiles.prod.match.Contact.fields[0]: scorer must be one of" in problems[0]
    assert any(
        p.startswith("crm-ops.toml profiles.prod.match.Contact: threshold must be in [0, 1]")
        for p in problems
    )
    assert any("max_block must be a whole number, 2 or more" in p for p in problems)
    with pytest.raises(ConfigError, match=r"prod.match.Contact: two rules on field 'email'"):
        DEFAULTS["Contact"].with_overrides(
            {"fields": [{"field": "email"}, {"field": "email", "comparator": "fuzzy"}]}, "prod.match.Contact"
        )
