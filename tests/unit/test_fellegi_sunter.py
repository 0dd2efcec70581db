"""Fellegi-Sunter scoring (issue 28): levels, EM that recovers what generated the pairs, term frequencies,
probabilities that add up from their explanations, and configs refused when they cannot work."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import polars as pl
import pytest

from crm_ops.errors import ConfigError
from crm_ops.match import FieldRule, MatchConfig, find_duplicates, fs, link_records
from crm_ops.match.explain import decode, probability, total


def test_levels_follow_the_comparator() -> None:
    sim = np.array([1.0, 1.0, 0.95, 0.8, 0.5, np.nan])
    equal = np.array([True, False, False, False, False, False])
    fuzzy = FieldRule("surname", "fuzzy")
    assert fs.level_names(fuzzy) == ("exact", "fuzzy>=0.9", "fuzzy>=0.75", "differ")
    # an unequal 1.0 (token_sort_ratio of reordered words) is the best band, not exact
    assert fs.levels(fuzzy, sim, equal).tolist() == [0, 1, 1, 2, 3, fs.NULL]
    first = FieldRule("first_name", "first_name", bands=(0.85,))
    assert fs.level_names(first) == ("exact", "alias", "fuzzy>=0.85", "differ")
    assert fs.levels(first, sim, equal).tolist() == [0, 1, 2, 3, 3, fs.NULL]
    date = FieldRule("dob", "date", days=3)
    assert fs.level_names(date) == ("exact", "within-3d", "differ")
    assert fs.levels(date, np.array([1.0, 1.0, 0.0]), np.array([True, False, False])).tolist() == [0, 1, 2]


def test_em_recovers_the_m_probabilities_and_prior_that_made_the_pairs() -> None:
    rng = np.random.default_rng(7)
    n, prior = 40_000, 0.2
    m = [np.array([0.9, 0.07, 0.03]), np.array([0.8, 0.2]), np.array([0.95, 0.05])]
    u = [np.array([0.01, 0.04, 0.95]), np.array([0.05, 0.95]), np.array([0.02, 0.98])]
    matches = rng.random(n) < prior
    matrix = np.column_stack(
        [
            np.where(matches, rng.choice(len(a), n, p=a), rng.choice(len(b), n, p=b))
            for a, b in zip(m, u, strict=True)
        ]
    ).astype(np.int8)
    matrix[rng.random(n) < 0.1, 1] = fs.NULL  # a tenth missing on one side: no say either way
    learned, lam, iterations = fs.expectation_maximisation(matrix, u, [0, 1, 2])
    assert iterations < fs.ITERATIONS
    assert lam == pytest.approx(prior, abs=0.01)
    for got, want in zip(learned, m, strict=True):
        assert got == pytest.approx(want, abs=0.015)


def test_u_of_the_exact_level_is_counted_over_every_pair() -> None:
    values = pl.Series(["a", "a", "a", "b", "b", "c", None])
    # pairs agreeing: a 3*2 + b 2*1 ordered, over 6*5 ordered pairs of the six present
    assert fs.exact_u(values, None) == pytest.approx((8 / 30, 15))
    assert fs.exact_u(values, pl.Series(["a", "c", "d"])) == pytest.approx(((3 * 1 + 1 * 1) / (6 * 3), 18))
    assert fs.exact_u(pl.Series(["x", None]), None) is None
    assert fs.exact_u(pl.Series(["x"]), pl.Series([None], dtype=pl.String)) is None


def test_u_of_the_exact_level_across_two_frames_counts_every_pair_of_one_value() -> None:
    """Across two frames only the values both hold are counted (found by hash first): the share is
    every pair's, counted the plain way."""
    rng = np.random.default_rng(3)
    left = pl.Series([f"v{i}" if i % 7 else None for i in rng.integers(0, 400, 3000)])
    right = pl.Series([f"v{i}" for i in rng.integers(300, 900, 2000)])
    lc, rc = left.drop_nulls().value_counts(), right.value_counts()
    same = sum(a * b for (v, a) in lc.iter_rows() for (w, b) in rc.iter_rows() if v == w)
    pairs = float(left.drop_nulls().len() * right.len())
    assert same > 0
    assert fs.exact_u(left, right) == (same / pairs, pairs)


PEOPLE = pl.DataFrame(
    {
        "id": [str(i) for i in range(12)],
        "surname": ["smith"] * 6 + ["okonkwo", "okonkwo", "brown", "jones", "taylor", "wilson"],
        "given": ["ann", "ann", "bob", "carl", "dan", "eve", "ann", "ann", "fay", "gus", "hal", "ida"],
        "town": [
            "york",
            "york",
            "leeds",
            "bath",
            "hull",
            "ely",
            "york",
            "york",
            "kent",
            "wells",
            "derby",
            "ripon",
        ],
    }
)
CONFIG = MatchConfig(
    "People",
    (FieldRule("surname", "exact", tf=True), FieldRule("given", "exact"), FieldRule("town", "exact")),
    (("surname",), ("town",)),
    threshold=0.5,
    model="fellegi-sunter",
    min_fields=1,
)


def test_a_common_surname_agreeing_counts_less_than_a_rare_one() -> None:
    stats: dict[str, int] = {}
    pairs = find_duplicates(PEOPLE, CONFIG, stats=stats)
    assert stats["candidates"] > 2
    scores = {(a, b): (s, e) for a, b, s, e in pairs.select("left_id", "right_id", "score", "explain").rows()}
    smith, okonkwo = scores[("0", "1")], scores[("6", "7")]
    surname = {
        p: next(t.weight for t in decode(e)[1] if t.field == "surname") for p, (_, e) in scores.items()
    }
    assert surname[("6", "7")] > surname[("0", "1")] + 1  # 2 of 12 okonkwo, 6 of 12 smith
    assert okonkwo[0] > smith[0]
    # the explanation adds up to the probability that is the score
    for score, explain in scores.values():
        assert probability(total(explain)) == pytest.approx(score, abs=0.01)
        assert decode(explain)[0] != 0  # the prior is said


def test_a_given_model_is_used_as_it_is_and_linking_trains_on_both_sides() -> None:
    left, right = PEOPLE.head(6), PEOPLE.tail(6)
    pairs = link_records(left, right, CONFIG)
    even = (0.5, 0.5)
    fields = tuple(
        fs.FieldModel(label, ("exact", "differ"), even, even) for label in ("surname", "given", "town")
    )
    model = fs.Model("People", 0.5, fields, 0, 0)
    flat = link_records(left, right, dataclasses.replace(CONFIG, threshold=0.0), model=model)
    assert pairs.height >= 1
    assert set(flat["score"].to_list()) == {0.5}  # every weight 0, the prior's odds 1


TYPO = "model must be one of weighted, fellegi-sunter, got 'fellegi_sunter' (did you mean 'fellegi-sunter'?)"


@pytest.mark.parametrize(
    ("change", "message"),
    [({"model": "fellegi_sunter"}, TYPO), ({"threshold": 95}, "match probabilities are 0-1: 0.8, not 80")],
)
def test_a_model_setting_that_cannot_work_is_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        dataclasses.replace(CONFIG, **change)  # type: ignore[arg-type]


def test_bands_and_tf_are_checked_and_taken_from_a_profile() -> None:
    with pytest.raises(ConfigError, match=r"bands must be similarities between 0 and 1, highest first"):
        FieldRule("surname", "fuzzy", bands=(0.7, 0.9))
    with pytest.raises(ConfigError, match=r"tf must be true or false, got 'yes'"):
        FieldRule("surname", "fuzzy", tf="yes")  # type: ignore[arg-type]
    base = MatchConfig(
        "People", (FieldRule("surname", "exact"), FieldRule("given", "exact")), (("surname",),)
    )
    changed = base.with_overrides(
        {"model": "fellegi-sunter", "threshold": 0.99, "fields": [
            {"field": "surname", "comparator": "fuzzy", "bands": [0.95, 0.8], "tf": True},
            {"field": "given", "comparator": "first_name"},
        ]},
        "crm-ops.toml profiles.prod.match.People",
    )  # fmt: skip
    assert (
        changed.model == "fellegi-sunter" and changed.fields[0].bands == (0.95, 0.8) and changed.fields[0].tf
    )
    with pytest.raises(ConfigError, match=r"profiles.prod.match.People: model must be one of"):
        base.with_overrides({"model": "bayes"}, "crm-ops.toml profiles.prod.match.People")


def test_the_weighted_model_explains_its_score_too() -> None:
    config = dataclasses.replace(CONFIG, model="weighted", threshold=0.6)
    pairs = find_duplicates(PEOPLE, config)
    assert pairs.height
    for score, explain in pairs.select("score", "explain").rows():
        assert total(explain) == pytest.approx(score, abs=0.02)
        assert decode(explain)[0] == 0


def test_names_written_the_wrong_way_round_are_a_level_of_their_own() -> None:
    rule = FieldRule("given", "fuzzy", normaliser="name", swap="surname")
    assert fs.level_names(rule) == ("exact", "fuzzy>=0.9", "fuzzy>=0.75", "swapped", "differ")
    sim = np.array([1.0, 0.95, 0.1, 0.1])
    equal = np.array([True, False, False, False])
    crosswise = np.array([True, True, True, False])  # exact and a band outrank it
    assert fs.levels(rule, sim, equal, crosswise).tolist() == [0, 1, 3, 4]
    people = pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "given": ["gabriel", "moulton", "anna"],
            "surname": ["moulton", "gabriel", "lee"],
        }
    )
    config = MatchConfig(
        "People",
        (rule, FieldRule("surname", "fuzzy", normaliser="name", swap="given")),
        (("id",),),
        model="fellegi-sunter",
        min_fields=1,
    )
    cands = pl.DataFrame({"left_id": ["a"], "right_id": ["b"]})
    from crm_ops.match.engine import prepare, score
    from crm_ops.values.wordlists import shipped

    prepared = prepare(people, config)
    scored = score(cands, prepared, prepared, config, shipped(), keep_all=True)
    assert [t.level for t in decode(scored["explain"][0])[1]] == ["swapped", "swapped"]
    with pytest.raises(
        ConfigError, match=r"field rule 'given': swap must name another rule's field \(surname\), got 'name'"
    ):
        MatchConfig("People", (FieldRule("given", swap="name"), FieldRule("surname")), (("given",),))


def test_a_pair_whose_veto_fields_all_differ_is_not_proposed() -> None:
    """Two people of one household (one surname, one phone, two first names and two mailboxes) are not
    one person, however high the rest scores; a copy whose first name lost its likeness to a typo keeps
    its e-mail, and one field that agrees lifts the veto (issue 28)."""
    people = pl.DataFrame(
        {
            "id": ["andrew", "amanda", "lea", "lae"],
            "first_name": ["Andrew", "Amanda", "Léa", "Laé"],
            "last_name": ["Kelly", "Kelly", "Patel", "Patel"],
            "email": ["andrew.kelly@x.de", "amanda.kelly@x.de", "lea.patel@y.com", "lea.patel@y.com"],
            "phone": ["+493087800189", "+493087800189", "+13034851111", "+13034851111"],
        }
    )
    rules = (
        FieldRule("email", "fuzzy", 0.3, "email", bands=(0.95,), veto=True),
        FieldRule("phone", "normalised", 0.4, "phone"),
        FieldRule("last_name", "fuzzy", 0.2, "name"),
        FieldRule("first_name", "first_name", 0.1, "name", veto=True),
    )
    config = MatchConfig("People", rules, (("phone",),), threshold=0.7)
    found = {tuple(sorted(p)) for p in find_duplicates(people, config).select("left_id", "right_id").rows()}
    assert found == {("lae", "lea")}  # the household's pair scores 0.90 and is ruled out
    plain = dataclasses.replace(config, fields=tuple(dataclasses.replace(r, veto=False) for r in rules))
    assert ("amanda", "andrew") in {
        tuple(sorted(p)) for p in find_duplicates(people, plain).select("left_id", "right_id").rows()
    }
    with pytest.raises(ConfigError, match=r"veto must be true or false, got 'yes'"):
        FieldRule("first_name", "first_name", veto="yes")  # type: ignore[arg-type]
