"""A case opened twice against two cases of one person (issue 28): a problem back after its case was
closed is a new case (``MatchConfig.lifetime``), and a case without a subject is not a copy for its
contact and dates alone (``FieldRule.required``); both are refused when set wrongly."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import polars as pl
import pytest

from crm_ops.errors import ConfigError
from crm_ops.match import find_duplicates
from crm_ops.match.config import CASE, OPT_IN, FieldRule, MatchConfig


def _cases(rows: list[tuple[str, str | None, str, str | None]]) -> pl.DataFrame:
    """Cases of one contact: (id, subject, opened, closed or None)."""
    when = pl.Datetime("ms", "UTC")
    return pl.DataFrame(
        {
            "id": [r[0] for r in rows],
            "subject": [r[1] for r in rows],
            "contact_id": ["003A"] * len(rows),
            "created_at": [datetime.fromisoformat(r[2]) for r in rows],
            "closed_date": [datetime.fromisoformat(r[3]) if r[3] else None for r in rows],
        },
        schema={
            "id": pl.String,
            "subject": pl.String,
            "contact_id": pl.String,
            "created_at": when,
            "closed_date": when,
        },
    )


def _found(frame: pl.DataFrame, config: MatchConfig = CASE) -> set[tuple[str, str]]:
    return {tuple(sorted(p)) for p in find_duplicates(frame, config).select("left_id", "right_id").rows()}


def test_a_problem_back_after_its_case_was_closed_is_a_new_case() -> None:
    frame = _cases(
        [
            # closed the next morning; the same trouble is written about again the day after
            ("first", "Single sign-on fails", "2026-05-09T11:00:00+00:00", "2026-05-10T06:41:00+00:00"),
            ("again", "Single sign-on fails", "2026-05-11T00:22:00+00:00", "2026-05-11T11:17:00+00:00"),
            # written again before the first was answered: a copy, found
            ("open", "Export times out", "2026-06-01T08:00:00+00:00", "2026-06-02T18:00:00+00:00"),
            ("copy", "RE: Export times out", "2026-06-02T09:00:00+00:00", None),
        ]
    )
    assert _found(frame) == {("copy", "open")}
    # without the lifetime the recurrence scores as a copy: the setting is what tells them apart
    assert ("again", "first") in _found(frame, dataclasses.replace(CASE, lifetime=()))


def test_a_case_without_a_subject_is_not_a_copy_for_its_contact_and_dates_alone() -> None:
    frame = _cases(
        [
            ("blank", None, "2026-07-31T10:44:00+00:00", "2026-08-01T06:39:00+00:00"),
            (
                "renewal",
                "Question about renewal terms",
                "2026-07-29T14:28:00+00:00",
                "2026-07-31T22:56:00+00:00",
            ),
        ]
    )
    assert _found(frame) == set()
    loose = tuple(dataclasses.replace(r, required=False) for r in CASE.fields)
    assert _found(frame, dataclasses.replace(CASE, fields=loose)) == {("blank", "renewal")}


def test_lifetime_and_required_are_checked_when_set() -> None:
    with pytest.raises(ConfigError, match=r"lifetime must name two of its date rules' fields.*created_at"):
        CASE.with_overrides({"lifetime": ["created_at", "subject"]}, "prod.match.Case")
    with pytest.raises(ConfigError, match=r"lifetime must name two"):
        MatchConfig("Case", CASE.fields, CASE.blocking, lifetime=("created_at",))
    with pytest.raises(ConfigError, match=r"required must be true or false, got 'yes'"):
        FieldRule("subject", required="yes")  # type: ignore[arg-type]
    # a profile may switch the lifetime off, or name its own fields' pair
    assert CASE.with_overrides({"lifetime": []}, "prod.match.Case").lifetime == ()
    assert OPT_IN["Case"].lifetime == ("created_at", "closed_date")
