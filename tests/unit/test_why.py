"""Near misses (issue 28): why a pair was or was not proposed, ``crm-ops match --why ID1 ID2``: scored
whatever blocking did, and key by key whether blocking compares it."""

from __future__ import annotations

import re

import polars as pl
import pytest

from crm_ops.errors import ConfigError
from crm_ops.match import DEFAULTS, FieldRule, MatchConfig
from crm_ops.match import engine as match_engine
from crm_ops.match.why import why_pair
from crm_ops.rules.model import example_frame
from tests.report_sample import EXPLAIN

BY_EMAIL = MatchConfig(
    "Contact",
    fields=(FieldRule("email", "exact", 0.5, "email"), FieldRule("last_name", "exact", 0.5)),
    blocking=(("email",),),
    max_block=3,
    min_fields=1,
    threshold=0.9,
)


def _frames() -> dict[str, dict[str, pl.DataFrame]]:
    rows = [{"id": f"c{i}", "email": "office@acme.com", "last_name": f"L{i}"} for i in range(5)]
    rows += [
        {"id": "d1", "email": "ann@acme.com", "last_name": "Lee"},
        {"id": "d2", "email": "ann@acme.com", "last_name": "Park"},
    ]
    rows += [
        {"id": "e1", "email": "bo@acme.com", "last_name": "Kim"},
        {"id": "e2", "email": "bob@acme.com", "last_name": "Kim"},
    ]
    return {"salesforce": {"Contact": example_frame("Contact", rows, "salesforce")}}


def test_why_a_pair_in_a_capped_block_was_never_compared() -> None:
    why = why_pair(_frames(), "c1", "c3", configs={"Contact": BY_EMAIL})
    assert why.rule_set == "Contact" and not why.compared and not why.proposed
    assert why.blocking == (
        "email: shared, its value is held by 5 records, over max_block 3, and no sub-block holds both: "
        "not compared",
    )
    assert why.score == pytest.approx(0.5)  # scored all the same: the e-mail agrees, the name does not
    assert "not proposed" in why.lines()[0]


def test_why_a_compared_pair_below_the_threshold_was_not_proposed() -> None:
    why = why_pair(_frames(), "d2", "d1", configs={"Contact": BY_EMAIL})
    assert why.left[2] == "d2" and why.compared and not why.kept and not why.proposed
    assert why.blocking == ("email: shared (a block of 2 records): compared",)
    assert (
        why.score == pytest.approx(0.5) and "score 0.5000 against threshold 0.9 (below it" in why.lines()[1]
    )
    far = why_pair(_frames(), "e1", "e2", configs={"Contact": BY_EMAIL})
    assert far.blocking == ("email: the two records' values differ",) and far.score == pytest.approx(0.5)


def test_why_shows_the_waterfall_once_pairs_explain_themselves(monkeypatch: pytest.MonkeyPatch) -> None:
    scored = match_engine.score

    def explained(*args: object, **kwargs: object) -> pl.DataFrame:
        out = scored(*args, **kwargs)  # type: ignore[arg-type]
        return out.with_columns(pl.lit(EXPLAIN).alias("explain"))

    monkeypatch.setattr("crm_ops.match.why.score", explained)
    lines = why_pair(_frames(), "c1", "c3", configs={"Contact": BY_EMAIL}).lines()
    assert any(re.fullmatch(r"\s+email\s+exact\s+\+9\.81\s+-3\.48", line) for line in lines), lines
    assert "    probability 0.2506" in lines


def test_why_names_what_it_cannot_find_or_compare() -> None:
    with pytest.raises(ConfigError, match="no record 'nope'"):
        why_pair(_frames(), "c1", "nope")
    frames = _frames() | {"hubspot": {"Account": example_frame("Account", [{"id": "h1"}], "hubspot")}}
    with pytest.raises(ConfigError, match="no rule set compares a salesforce Contact with a hubspot Account"):
        why_pair(frames, "c1", "h1")
    assert DEFAULTS["Contact"].max_block == 50
