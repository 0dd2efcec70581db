"""Blocking that does not drop pairs quietly (issue 28): a key value held by more than ``max_block``
records is sub-blocked by the config's other fields, and what is still not compared is counted, exactly,
into the stats, the match result and its notices."""

from __future__ import annotations

import polars as pl

from crm_ops.match import DEFAULTS, FieldRule, MatchConfig, find_duplicates, link_records, run_matching
from crm_ops.match.engine import sub_block_columns
from crm_ops.rules.model import example_frame

F = FieldRule
# one blocking key (the e-mail); the phone and the last name are what a capped block is sub-blocked by
BY_EMAIL = MatchConfig(
    "Test",
    fields=(
        F("email", "exact", 0.5, "email"),
        F("phone", "normalised", 0.3, "phone"),
        F("last_name", "exact", 0.2),
    ),
    blocking=(("email",),),
    max_block=3,
    min_fields=1,
    threshold=0.1,
)


def _frame(rows: list[tuple[str, str | None, str | None, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"id": pl.String, "email": pl.String, "phone": pl.String, "last_name": pl.String},
        orient="row",
    )


def test_two_of_sixty_records_on_one_office_address_that_share_a_name_are_still_found() -> None:
    n = 60
    rows = [
        {
            "id": f"c{i:02d}",
            "first_name": f"First{i}",
            "last_name": f"Last{i}",
            "email": "office@acme-widgets.com",
        }
        for i in range(n)
    ]
    for i in (7, 41):  # the same person entered twice, no phone, no account: only the address and the name
        rows[i] |= {"first_name": "Ann", "last_name": "Lee"}
    frame = example_frame("Contact", rows, "salesforce")
    stats: dict[str, int] = {}
    pairs = find_duplicates(frame, DEFAULTS["Contact"], stats=stats)
    assert pairs.select("left_id", "right_id").rows() == [("c07", "c41")]
    assert stats["blocks_capped"] == 1 and stats["records_in_capped_blocks"] == n
    assert stats["pairs_not_compared"] == n * (n - 1) // 2 - 1


def test_the_pairs_not_compared_are_counted_exactly_within_one_frame() -> None:
    assert sub_block_columns(BY_EMAIL, ("email",)) == ["f:1", "f:2"]
    frame = _frame(
        [
            # six on one address (15 pairs): four share a phone (a sub-block of 4, still above 3, sub-blocked
            # again by the last name: one pair), two share another phone (one pair)
            ("r1", "a@x.com", "555 123 4567", "Lee"),
            ("r2", "a@x.com", "555 123 4567", "Lee"),
            ("r3", "a@x.com", "555 123 4567", "Kim"),
            ("r4", "a@x.com", "555 123 4567", "Park"),
            ("r5", "a@x.com", "555 999 0000", "Cho"),
            ("r6", "a@x.com", "555 999 0000", "Han"),
            ("s1", "b@x.com", None, None),  # a block of two: compared as ever
            ("s2", "b@x.com", None, None),
        ]
    )
    stats: dict[str, int] = {}
    pairs = find_duplicates(frame, BY_EMAIL, stats=stats)
    assert set(pairs.select("left_id", "right_id").rows()) == {("r1", "r2"), ("r5", "r6"), ("s1", "s2")}
    assert stats == {
        "blocks_capped": 1,
        "records_in_capped_blocks": 6,
        "pairs_not_compared": 15 - 2,
        "candidates": 3,
    }


def test_the_pairs_not_compared_between_two_frames_are_left_times_right_less_those_compared() -> None:
    left = _frame(
        [
            ("l1", "a@x.com", "555 123 4567", "Lee"),
            ("l2", "a@x.com", None, "Kim"),
            ("l3", "a@x.com", None, None),
        ]
    )
    right = _frame([("h1", "a@x.com", "555 123 4567", None), ("h2", "a@x.com", None, "Park")])
    stats: dict[str, int] = {}
    pairs = link_records(left, right, BY_EMAIL, stats=stats)
    assert pairs.select("left_id", "right_id").rows() == [("l1", "h1")]
    assert stats["blocks_capped"] == 1 and stats["records_in_capped_blocks"] == 5
    assert stats["pairs_not_compared"] == 3 * 2 - 1


def test_a_pair_another_key_compares_is_not_counted_as_not_compared() -> None:
    two_keys = MatchConfig(
        "Test", BY_EMAIL.fields, (("email",), ("last_name",)), max_block=3, min_fields=1, threshold=0.1
    )
    frame = _frame([(f"r{i}", "a@x.com", None, "Lee" if i < 2 else f"N{i}") for i in range(5)])
    stats: dict[str, int] = {}
    find_duplicates(frame, two_keys, stats=stats)
    # r0 and r1 share a last name: compared through the sub-block (email + last name) and that key
    assert stats["pairs_not_compared"] == 10 - 1


def test_blocks_within_max_block_add_no_counts() -> None:
    stats: dict[str, int] = {}
    find_duplicates(
        _frame([("r1", "a@x.com", None, None), ("r2", "a@x.com", None, None)]), BY_EMAIL, stats=stats
    )
    assert stats == {"candidates": 1}


def test_what_blocking_could_not_compare_reaches_the_match_result_and_its_notices() -> None:
    n = 60
    rows = [
        {"id": f"c{i:02d}", "last_name": f"Last{i}", "email": "office@acme-widgets.com"} for i in range(n)
    ]
    frames = {"salesforce": {"Contact": example_frame("Contact", rows, "salesforce")}}
    result = run_matching(frames, rules=[])
    assert result.stats["salesforce.Contact.blocks_capped"] == 1
    assert result.stats["salesforce.Contact.records_in_capped_blocks"] == n
    assert result.stats["salesforce.Contact.pairs_not_compared"] == n * (n - 1) // 2
    assert result.notices == [
        "salesforce.Contact: 1 blocks over max_block 50 (60 records): 1,770 pairs not compared"
    ]
