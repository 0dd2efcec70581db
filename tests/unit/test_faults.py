"""Fault profiles parse strictly and draw the same faults for the same seed."""

from __future__ import annotations

import pytest

from crm_ops.sandbox.http import FAULT_PROFILES, FaultInjector, FaultProfile, parse_fault_profile


def test_named_and_custom_profiles() -> None:
    assert parse_fault_profile("flaky") is FAULT_PROFILES["flaky"]
    custom = parse_fault_profile("429=0.1, 503=0.2,drop=0.05,slow=0.01,slow_seconds=3")
    assert custom == FaultProfile(
        "custom", rate_429=0.1, rate_503=0.2, rate_drop=0.05, rate_slow=0.01, slow_seconds=3
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("429=2", "between 0 and 1"),
        ("404=0.1", "KEY=VALUE"),
        ("429=lots", "must be a number"),
        ("bogus", "KEY=VALUE"),
    ],
)
def test_bad_profiles_name_the_part_at_fault(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fault_profile(text)


def test_draws_are_deterministic_and_near_their_rates() -> None:
    profile = FaultProfile("t", rate_429=0.1, rate_503=0.1, rate_drop=0.05)
    a = [FaultInjector(profile, seed=5).draw() for _ in range(1)]
    first, second = FaultInjector(profile, seed=5), FaultInjector(profile, seed=5)
    seq1 = [first.draw() for _ in range(5000)]
    seq2 = [second.draw() for _ in range(5000)]
    assert seq1 == seq2
    assert a[0] == seq1[0]
    assert 400 < seq1.count("429") < 600
    assert 400 < seq1.count("503") < 600
    assert 180 < seq1.count("drop") < 320
    assert first.counts["429"] == seq1.count("429")
    assert FaultInjector(FAULT_PROFILES["none"], seed=1).draw() is None


def test_a_named_profile_can_be_changed_entry_by_entry() -> None:
    changed = parse_fault_profile("real-world,validation=0.2,lock_row=0")
    base = FAULT_PROFILES["real-world"]
    assert (changed.rate_validation, changed.rate_lock_row) == (0.2, 0.0)
    assert changed.rate_concurrent == base.rate_concurrent and changed.daily_after == base.daily_after
    assert base.rate_lock_row > 0 and base.rate_validation > 0
