"""The SOQL subset: parsing, Salesforce's error shapes, and the compiled polars filters."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from crm_ops.sandbox.objects import SALESFORCE_OBJECTS
from crm_ops.sandbox.soql import SoqlError, execute, parse

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def contacts() -> pl.DataFrame:
    schema = SALESFORCE_OBJECTS["Contact"].schema()
    rows = [
        {
            "Id": "0038d0000000000AAA",
            "IsDeleted": False,
            "FirstName": "Ada",
            "LastName": "Lovelace",
            "Email": "ada@x.com",
            "MailingCountry": "GB",
            "HasOptedOutOfEmail": False,
            "SystemModstamp": datetime(2026, 3, 14, 9, tzinfo=UTC),
            "LastActivityDate": date(2026, 3, 1),
        },
        {
            "Id": "0038d0000000001AAA",
            "IsDeleted": False,
            "FirstName": "Alan",
            "LastName": "Turing",
            "Email": None,
            "MailingCountry": "GB",
            "HasOptedOutOfEmail": True,
            "SystemModstamp": datetime(2025, 1, 1, tzinfo=UTC),
            "LastActivityDate": None,
        },
        {
            "Id": "0038d0000000002AAA",
            "IsDeleted": True,
            "FirstName": "Grace",
            "LastName": "Hopper",
            "Email": "grace@y.com",
            "MailingCountry": "US",
            "HasOptedOutOfEmail": False,
            "SystemModstamp": datetime(2026, 3, 15, 8, tzinfo=UTC),
            "LastActivityDate": date(2026, 3, 10),
        },
        {
            "Id": "0038d0000000003AAA",
            "IsDeleted": False,
            "FirstName": "Edsger",
            "LastName": "100% O'Dijkstra",
            "Email": "e@z.com",
            "MailingCountry": None,
            "HasOptedOutOfEmail": False,
            "SystemModstamp": datetime(2026, 2, 1, tzinfo=UTC),
            "LastActivityDate": date(2026, 2, 1),
        },
    ]
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema, orient="row")


def ids(query: str, frame: pl.DataFrame, *, include_deleted: bool = False) -> list[str]:
    out = execute(parse(query), frame, NOW, include_deleted=include_deleted)
    return [i[11:15] for i in out["Id"].to_list()]


def test_parse_resolves_names_case_insensitively() -> None:
    q = parse(
        "select id, EMAIL, mailingaddress from contact where lastname != null order by Email desc limit 5"
    )
    assert q.object_name == "Contact"
    assert q.fields == ("Id", "Email", "MailingAddress")
    assert q.order_by[0].field == "Email"
    assert q.order_by[0].descending
    assert q.limit == 5


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Email = null", ["1"]),
        ("Email != null", ["0", "3"]),
        ("MailingCountry = 'gb'", ["0", "1"]),
        ("MailingCountry != 'GB'", ["3"]),  # "!=" keeps nulls, as Salesforce does
        ("MailingCountry IN ('US', 'GB')", ["0", "1"]),
        ("MailingCountry NOT IN ('GB')", ["3"]),
        ("LastName LIKE 'tur%'", ["1"]),
        ("LastName LIKE '100\\% O\\'D%'", ["3"]),
        ("FirstName LIKE 'A_a'", ["0"]),
        ("HasOptedOutOfEmail = true", ["1"]),
        ("SystemModstamp > 2026-03-01T00:00:00Z", ["0"]),
        (
            "SystemModstamp >= 2025-01-01T00:00:00.000+0000 AND SystemModstamp < 2026-01-01T00:00:00+00:00",
            ["1"],
        ),
        ("SystemModstamp = LAST_N_DAYS:7", ["0"]),
        ("SystemModstamp = TODAY", []),
        ("LastActivityDate < 2026-02-15", ["3"]),
        ("LastActivityDate = LAST_N_DAYS:30", ["0"]),
        ("NOT (MailingCountry = 'GB') OR (FirstName = 'Ada' AND (Email != null))", ["0", "3"]),
        ("Id = '0038d0000000001'", ["1"]),
        ("Id IN ('0038d0000000003AAA')", ["3"]),
    ],
)
def test_where(contacts: pl.DataFrame, where: str, expected: list[str]) -> None:
    got = ids(f"SELECT Id FROM Contact WHERE {where} ORDER BY Id", contacts)
    assert got == [f"{int(e):04d}" for e in expected]


def test_deleted_rows_only_with_query_all(contacts: pl.DataFrame) -> None:
    assert len(ids("SELECT Id FROM Contact", contacts)) == 3
    assert len(ids("SELECT Id FROM Contact", contacts, include_deleted=True)) == 4


def test_order_limit_offset_and_count(contacts: pl.DataFrame) -> None:
    assert ids("SELECT Id FROM Contact ORDER BY Email DESC NULLS LAST", contacts) == ["0003", "0000", "0001"]
    assert ids("SELECT Id FROM Contact ORDER BY Email", contacts) == ["0001", "0000", "0003"]  # nulls first
    assert ids("SELECT Id FROM Contact ORDER BY Id LIMIT 1 OFFSET 1", contacts) == ["0001"]
    count = execute(
        parse("SELECT COUNT() FROM Contact WHERE Email != null"), contacts, NOW, include_deleted=False
    )
    assert count["count"][0] == 2
    field = execute(parse("SELECT COUNT(Email) FROM Contact"), contacts, NOW, include_deleted=True)
    assert field["count"][0] == 3


@pytest.mark.parametrize(
    ("query", "code", "column", "reason"),
    [
        ("SELECT Id FORM Contact", "MALFORMED_QUERY", None, "unexpected token"),
        ("SELECT Id, Bogus FROM Contact", "INVALID_FIELD", 12, "No such column 'Bogus' on entity 'Contact'"),
        ("SELECT Id FROM Foo", "INVALID_TYPE", 16, "sObject type 'Foo' is not supported"),
        (
            "SELECT Id FROM Contact WHERE CreatedDate > 2024-01-01",
            "INVALID_FIELD",
            44,
            "must be of type dateTime",
        ),
        ("SELECT Id FROM Contact WHERE LastName = 5", "INVALID_FIELD", 41, "must be of type string"),
        ("SELECT Id FROM Contact WHERE Email = 'a' AND", "MALFORMED_QUERY", None, "unexpected token"),
        ("SELECT Id FROM Contact LIMIT x", "MALFORMED_QUERY", None, "unexpected token: 'x'"),
        (
            "SELECT Id FROM Contact WHERE Bogus.Name = 'x'",
            "INVALID_FIELD",
            30,
            "Didn't understand relationship",
        ),
        (
            "SELECT Id FROM Contact WHERE Account.Bogus = 'x'",
            "INVALID_FIELD",
            30,
            "No such column 'Bogus' on entity",
        ),
    ],
)
def test_errors_have_salesforce_codes_and_positions(
    query: str, code: str, column: int | None, reason: str
) -> None:
    with pytest.raises(SoqlError) as err:
        parse(query)
    assert err.value.error_code == code
    assert reason in err.value.message
    assert "ERROR at Row:1:Column:" in err.value.message
    if column is not None:
        assert f"Column:{column}\n" in err.value.message


def test_deep_nesting_compiles_to_one_expression(contacts: pl.DataFrame) -> None:
    where = "(" * 30 + "Email != null" + ")" * 30
    assert ids(f"SELECT Id FROM Contact WHERE {where} ORDER BY Id", contacts) == ["0000", "0003"]
