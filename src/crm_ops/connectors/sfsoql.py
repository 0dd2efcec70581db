"""SOQL literals, for the read and the write side of the Salesforce connector alike."""

from __future__ import annotations

from datetime import UTC, datetime

READ_BATCH = 200  # ids in the ``IN (...)`` list of one query


def soql_quote(value: str) -> str:
    """A SOQL string literal: backslash and quote escaped, so a CRM value cannot end the string."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f"'{escaped}'"


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal in UTC, to the millisecond."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
