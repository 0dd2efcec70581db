"""E-mails and phones normalised once per matching run (``crm_ops.match.normalmemo``): a remembered
column is given back only for the very same values, and matching finds the same pairs, links and
proposals with it as without."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest

from crm_ops.match import engine, run_matching
from crm_ops.match.engine import normalised
from crm_ops.match.normalmemo import recall, remember, shared_normalisation
from crm_ops.sandbox.generator import SeedConfig, generate
from crm_ops.values.wordlists import shipped
from tests.match_eval import canonical_frames


def test_a_remembered_column_is_given_back_only_for_the_same_values_kind_and_lists() -> None:
    words = shipped()
    values = pl.Series("email", [" Ann@Acme.com", None, "bob@x.org"])
    out = normalised(values, "email", words)
    assert recall(values, "email", words) is None  # outside a run nothing is remembered
    with shared_normalisation():
        remember(values, "email", words, out)
        again = recall(values.clone().alias("other"), "email", words)
        assert again is not None and again.equals(out) and again.name == "other"
        assert recall(pl.Series(["ann@acme.com", None, "bob@x.org"]), "email", words) is None
        assert recall(pl.Series([" Ann@Acme.com", "x", "bob@x.org"]), "email", words) is None
        assert recall(values, "phone", words) is None
        assert recall(values, "email", words.extended({"freemail_domains_extra": ["x.org"]}, "t")) is None
        remember(values, "name", words, out)  # names are not kept: normalised per distinct value
        assert recall(values, "name", words) is None
    assert recall(values, "email", words) is None


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True) if frame.height else frame


def test_matching_is_the_same_with_the_shared_columns_as_without(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = canonical_frames(generate(SeedConfig(records=1500, seed=4, as_of=date(2026, 6, 1))))
    hits = []

    def counted(*args: Any) -> pl.Series | None:
        found = recall(*args)
        hits.append(found is not None)
        return found

    monkeypatch.setattr(engine, "recall", counted)
    shared = run_matching(frames)
    assert sum(hits) >= 4  # leads' and contacts' e-mails and phones, read by two rule sets each
    hits.clear()
    alone = run_matching.__wrapped__(frames)  # type: ignore[attr-defined]
    assert not any(hits)
    for name in ("duplicates", "links", "unmatched", "findings"):
        assert _sorted(getattr(shared, name)).equals(_sorted(getattr(alone, name))), name
    assert shared.duplicates.height and shared.links.height
