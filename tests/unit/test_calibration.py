"""People's decisions held against the model (issue 28): the precision a Fellegi-Sunter model expected
of the pairs people decided against the share they confirmed, a notice when it is over-confident, the
levels of confirmed pairs read back from their explanations, and m learned from them when asked."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from crm_ops.errors import ConfigError
from crm_ops.explain import Term, encode
from crm_ops.match import DEFAULTS, FieldRule, MatchConfig, find_duplicates, fs, run_matching
from crm_ops.match.calibration import MIN_DECIDED, calibration, confirmed_levels, wilson
from crm_ops.match.run import settings_from_profile
from crm_ops.rules.model import example_frame

SURE = encode(-10.0, [Term("email", "exact", 25.0)])  # 15 bits: the model says 0.99997


def _verdicts(
    confirmed: int, rejected: int, text: str = SURE, entity: str = "Contact"
) -> list[dict[str, str]]:
    return [
        {
            "system": "salesforce",
            "entity": entity,
            "record_id": f"r{i}",
            "other_id": f"o{i}",
            "verdict": "duplicate" if i < confirmed else "not_duplicate",
            "explain": text,
        }
        for i in range(confirmed + rejected)
    ]


def test_a_model_surer_than_people_were_is_called_over_confident() -> None:
    [held] = calibration(_verdicts(20, 10))
    assert (held.decided, held.confirmed) == (30, 20)
    assert held.expected == pytest.approx(0.99997, abs=1e-5)
    assert held.low < held.observed < held.high < held.expected
    assert held.over_confident
    assert "people confirmed 20 of 30" in held.notice() and "expected 1.0000" in held.notice()
    # as sure as people were: not flagged; too few decisions: not held to them yet
    assert not calibration(_verdicts(30, 0))[0].over_confident
    assert not calibration(_verdicts(MIN_DECIDED - 12, 10))[0].over_confident
    # the weighted model's scores are not probabilities: nothing to hold
    assert calibration(_verdicts(20, 10, encode(0.0, [Term("email", "1.00", 0.9)]))) == []
    low, high = wilson(20, 30)
    assert 0.48 < low < 0.5 and 0.8 < high < 0.82


def test_matching_says_so_in_its_notices_and_stats() -> None:
    people = example_frame(
        "Contact",
        [{"id": "c1", "first_name": "Ann", "last_name": "Lee", "email": "ann@x.com", "account_id": "a1"}],
        "salesforce",
    )
    result = run_matching({"salesforce": {"Contact": people}}, verdicts=_verdicts(20, 10))
    assert result.stats["salesforce.Contact.decided_pairs"] == 30
    assert result.stats["salesforce.Contact.observed_precision"] == pytest.approx(0.6667, abs=1e-4)
    assert any(n.startswith("salesforce.Contact: people confirmed 20 of 30") for n in result.notices)
    calm = run_matching({"salesforce": {"Contact": people}}, verdicts=_verdicts(30, 0))
    assert not calm.notices and calm.stats["salesforce.Contact.confirmed_pairs"] == 30


def test_the_levels_of_confirmed_pairs_come_back_from_their_explanations() -> None:
    rows = [
        {
            "first_name": "Robert",
            "last_name": "Smith",
            "email": "robert.smith@acme.com",
            "phone": "+14155550101",
        },
        {
            "first_name": "Bob",
            "last_name": "Smith",
            "email": "robert.smith@acme.com",
            "phone": "(415) 555-0101",
        },
        {
            "first_name": "Robert",
            "last_name": "Smith",
            "email": "rob.smith@acme.com",
            "phone": "+14155550101",
        },
    ]
    frame = example_frame(
        "Contact", [{"id": f"c{i}", "account_id": "a1", **r} for i, r in enumerate(rows)], "salesforce"
    )
    config = DEFAULTS["Contact"]
    pairs = find_duplicates(frame, dataclasses.replace(config, threshold=0.5))
    assert pairs.height >= 2
    verdicts = [
        {"system": "salesforce", "entity": "Contact", "record_id": a, "other_id": b, "verdict": "duplicate",
         "explain": text}
        for a, b, text in pairs.select("left_id", "right_id", "explain").iter_rows()
    ]  # fmt: skip
    levels = confirmed_levels(verdicts, "salesforce", "Contact", config)
    assert len(levels) == pairs.height
    names = [fs.level_names(rule) for rule in config.fields]
    for row, text in zip(levels, pairs["explain"].to_list(), strict=True):
        spelled = [t.split(" ")[1] for t in text.split("; ")[1:]]
        assert [names[i][k] if k >= 0 else "null" for i, k in enumerate(row)] == spelled
    # a rule set whose fields changed since the decision: its verdicts do not fit and are left out
    fewer = dataclasses.replace(config, fields=config.fields[:2], blocking=(("email",),))
    assert confirmed_levels(verdicts, "salesforce", "Contact", fewer) == ()
    assert confirmed_levels(verdicts, "hubspot", "Contact", config) == ()


def test_m_moves_towards_what_people_confirmed_when_asked() -> None:
    config = MatchConfig(
        "People",
        (FieldRule("email", "exact"), FieldRule("phone", "exact")),
        (("email",), ("phone",)),
        model="fellegi-sunter",
    )
    rng = np.random.default_rng(3)
    matrix = np.column_stack([rng.random(400) < 0.2, rng.random(400) < 0.2]).astype(np.int8)  # 0 exact
    random = np.ones((2000, 2), dtype=np.int8)
    masks = {0: matrix[:, 0] == 0, 1: matrix[:, 1] == 0}
    plain = fs.train(config, matrix, random, masks, {}, ["email", "phone"])
    taught = fs.train(
        dataclasses.replace(config, confirmed=((1, 0),) * 100), matrix, random, masks, {}, ["email", "phone"]
    )
    before, after = plain.fields[0].m, taught.fields[0].m
    # 100 confirmed pairs whose e-mails differed beside EM's m, which counts as DECIDED_WEIGHT of them
    expected = (fs.DECIDED_WEIGHT * before[1] + 100) / (fs.DECIDED_WEIGHT + 100)
    assert after[1] == pytest.approx(expected, rel=1e-3) and after[1] > before[1]
    assert any("100 pairs people confirmed" in n for n in taught.notes)
    with pytest.raises(ConfigError, match="confirmed must hold one level index"):
        dataclasses.replace(config, confirmed=((0,),))


def test_learning_from_decisions_is_a_setting_off_by_default() -> None:
    assert settings_from_profile({}, "prod.match")["learn_from_decisions"] is False
    assert settings_from_profile({"learn_from_decisions": True}, "prod.match")["learn_from_decisions"] is True
    with pytest.raises(ConfigError, match=r"prod.match.learn_from_decisions: true or false, got 'yes'"):
        settings_from_profile({"learn_from_decisions": "yes"}, "prod.match")


def test_matching_gives_the_confirmed_pairs_to_the_model_only_when_asked() -> None:
    from structlog.testing import capture_logs

    rows = [
        {
            "first_name": "Robert",
            "last_name": "Smith",
            "email": "robert.smith@acme.com",
            "phone": "+14155550101",
        },
        {
            "first_name": "Bob",
            "last_name": "Smith",
            "email": "robert.smith@acme.com",
            "phone": "(415) 555-0101",
        },
        {"first_name": "Ann", "last_name": "Lee", "email": "ann.lee@acme.com", "phone": "+14155550199"},
    ]
    frame = example_frame(
        "Contact", [{"id": f"c{i}", "account_id": "a1", **r} for i, r in enumerate(rows)], "salesforce"
    )
    text = find_duplicates(frame, DEFAULTS["Contact"])["explain"][0]
    said = [dict(v, explain=text) for v in _verdicts(3, 0)]

    def notes(learn: bool) -> list[str]:
        with capture_logs() as logs:
            run_matching({"salesforce": {"Contact": frame}}, verdicts=said, learn_from_decisions=learn)
        trained = [e for e in logs if e["event"] == "match.model_trained" and e["config"] == "Contact"]
        assert trained
        return [n for e in trained for n in e["notes"]]

    assert any("3 pairs people confirmed" in n for n in notes(True))
    assert not any("people confirmed" in n for n in notes(False))
