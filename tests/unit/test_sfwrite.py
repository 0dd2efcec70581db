"""Salesforce write semantics shared by every write path of the emulator."""

from __future__ import annotations

from datetime import date

import pytest

from crm_ops.sandbox.objects import SALESFORCE_OBJECTS, SfField
from crm_ops.sandbox.sfwrite import BULK_NULL, SaveError, coerce, parse_datetime


def field(obj: str, name: str) -> SfField:
    f = SALESFORCE_OBJECTS[obj].field(name)
    assert f is not None
    return f


@pytest.mark.parametrize(
    ("obj", "name", "raw", "from_csv", "expected"),
    [
        ("Opportunity", "CloseDate", "2026-03-01", False, date(2026, 3, 1)),
        ("Opportunity", "Amount", "12.5", True, 12.5),
        ("Account", "NumberOfEmployees", 40.0, False, 40),
        ("Contact", "HasOptedOutOfEmail", "TRUE", True, True),
        ("Contact", "Email", BULK_NULL, True, None),
        ("Contact", "Title", "", True, None),
    ],
)
def test_coerce_accepts_wire_values(
    obj: str, name: str, raw: object, from_csv: bool, expected: object
) -> None:
    assert coerce(field(obj, name), raw, from_csv=from_csv) == expected


@pytest.mark.parametrize(
    ("obj", "name", "raw", "code"),
    [
        ("Opportunity", "CloseDate", "2026-13-01", "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        ("Opportunity", "CloseDate", "2026-03-01T00:00:00Z", "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        ("Opportunity", "Amount", "lots", "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        ("Account", "NumberOfEmployees", 4.5, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        ("Contact", "Email", "not an email", "INVALID_EMAIL_ADDRESS"),
        ("Contact", "Title", "x" * 129, "STRING_TOO_LONG"),
        ("Contact", "HasOptedOutOfEmail", "maybe", "INVALID_TYPE_ON_FIELD_IN_RECORD"),
    ],
)
def test_coerce_refuses_bad_values_with_salesforce_codes(obj: str, name: str, raw: object, code: str) -> None:
    with pytest.raises(SaveError) as err:
        coerce(field(obj, name), raw, from_csv=False)
    assert err.value.status_code == code
    assert name in err.value.fields


def test_datetimes_in_every_salesforce_spelling() -> None:
    a = parse_datetime("2026-03-01T10:00:00.000+0000")
    assert parse_datetime("2026-03-01T10:00:00Z") == a
    assert parse_datetime("2026-03-01T12:00:00+02:00") == a
    with pytest.raises(ValueError, match="2026-03-01"):
        parse_datetime("2026-03-01")
