"""The explain text every scored pair carries: it reads back as written, and its totals add up."""

import pytest

from crm_ops.match.explain import Term, compact, decode, encode, probability, total, waterfall


def test_explain_text_reads_back_and_adds_up() -> None:
    terms = [Term("email", "exact", 9.81), Term("phone", "differ", -4.2), Term("first_name", "null", 0.0)]
    text = encode(-13.29, terms)
    assert text == "prior -13.29; email exact +9.81; phone differ -4.20; first_name null +0.00"
    prior, back = decode(text)
    assert prior == -13.29
    assert back == terms
    assert total(text) == pytest.approx(-7.68)
    assert compact(text) == "email +9.8, phone -4.2"
    label, level, weight, running = waterfall(text)[-1]
    assert (label, level, weight) == ("first_name", "null", 0.0)
    assert running == pytest.approx(-7.68)
    assert decode("prior +0.00; last_name fuzzy>=0.92 +6.10")[1] == [Term("last_name", "fuzzy>=0.92", 6.1)]


def test_probability_of_a_match_weight() -> None:
    assert probability(0.0) == 0.5
    assert probability(10.0) == pytest.approx(1024 / 1025)
    assert probability(-100.0) == 0.0
    assert probability(100.0) == 1.0


def test_a_malformed_explain_text_is_named() -> None:
    with pytest.raises(ValueError, match="email exact"):
        decode("prior +1.00; email exact")
