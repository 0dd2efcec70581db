"""What deduplicating a million contacts in about a second relies on (issue 28), held: blocking groups
and joins only the records whose key another record holds (at a million contacts most e-mails and
phones are held by one), found by hashes and then compared exactly, so the pairs and the counts of what
was not compared are those of grouping every record; the exact level's u counts only repeated values the
same way; the random pairs' records are chosen by the ids' CRC-32, computed for all ids at once, as
Spark's ``crc32`` and ``zlib.crc32`` compute it."""

from __future__ import annotations

import itertools
import zlib

import polars as pl
import pytest

from crm_ops.match import FieldRule, MatchConfig, engine, find_duplicates, fs, link_records
from tests.match_eval import synthetic_people

F = FieldRule
CONFIG = MatchConfig(
    "Test",
    fields=(
        F("email", "exact", 0.5, "email"),
        F("phone", "normalised", 0.3, "phone"),
        F("last_name", "exact", 0.2),
    ),
    blocking=(("email",), ("phone",)),
    max_block=4,
    min_fields=1,
    threshold=0.0,
)


def _run(frame: pl.DataFrame, other: pl.DataFrame | None) -> tuple[list[tuple[str, str]], dict[str, int]]:
    stats: dict[str, int] = {}
    pairs = (
        find_duplicates(frame, CONFIG, stats=stats)
        if other is None
        else link_records(frame, other, CONFIG, stats=stats)
    )
    return sorted(pairs.select("left_id", "right_id").iter_rows()), stats


@pytest.mark.parametrize("linking", [False, True])
def test_blocking_groups_only_the_records_whose_key_another_holds(
    linking: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = synthetic_people(1_500, seed=1)
    other = synthetic_people(1_000, seed=2, prefix="s") if linking else None
    grouped: dict[int, int] = {}  # records with a key -> those grouped (the sub-blocks' calls too)
    partnered = engine._partnered

    def size(left: pl.DataFrame, right: pl.DataFrame | None) -> int:
        return left.height + (0 if right is None else right.height)

    def counted(lk: pl.DataFrame, rk: pl.DataFrame | None) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        out = partnered(lk, rk)
        grouped[size(lk, rk)] = size(*out)
        return out

    with monkeypatch.context() as every:  # what grouping every record with a key finds
        every.setattr(engine, "_partnered", lambda lk, rk: (lk, rk))
        expected = _run(frame, other)
    monkeypatch.setattr(engine, "_partnered", counted)
    pairs, stats = _run(frame, other)
    assert (pairs, stats) == expected
    assert len(pairs) > 50 and stats["blocks_capped"] >= 1  # the office address and the switchboard
    # the records grouped per key: those sharing its value (with a record on the other side when
    # linking), a small share of all; never every record with the key
    prepared = engine.prepare(frame, CONFIG)
    right = None if other is None else engine.prepare(other, CONFIG, "right")
    for key in ("f:0", "f:1"):
        left_keys = prepared[key].drop_nulls()
        right_keys = None if right is None else right[key].drop_nulls()
        if right_keys is None:
            keyed, sharing = left_keys.len(), int(left_keys.is_duplicated().sum())
        else:
            keyed = left_keys.len() + right_keys.len()
            sharing = int(left_keys.is_in(right_keys).sum()) + int(right_keys.is_in(left_keys).sum())
        assert grouped[keyed] == sharing < 0.2 * keyed


@pytest.mark.parametrize("linking", [False, True])
def test_keys_of_one_hash_are_still_told_apart(linking: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Were every key's hash the same, the pairs, the counts and the exact u would not change."""
    frame = synthetic_people(600, seed=3)
    other = synthetic_people(400, seed=4, prefix="s") if linking else None
    pairs, stats = _run(frame, other)
    phones = engine.prepare(frame, CONFIG)["f:1"]
    u = fs.exact_u(phones, None)
    monkeypatch.setattr(pl.Series, "hash", lambda self, *a, **k: pl.Series([7] * self.len(), dtype=pl.UInt64))
    assert _run(frame, other) == (pairs, stats)
    assert fs.exact_u(phones, None) == u


def test_the_exact_level_u_counts_every_pair_ofsynthetic_people() -> None:
    values = pl.Series(["a", "b", "a", None, "c", "a", "b", "d"])
    present = [v for v in values.to_list() if v is not None]
    n = len(present)
    same = sum(a == b for a, b in itertools.permutations(present, 2))
    assert fs.exact_u(values, None) == (same / (n * (n - 1)), n * (n - 1) / 2)
    assert fs.exact_u(pl.Series(["a", "b", "c"]), None) == (0.0, 3.0)  # nothing repeats


def test_the_record_hashes_are_zlib_crc32_of_the_ids_text() -> None:
    ids = ["003Dn00000AbCdEFGH", "", "a", "Müller-Łódź", "日本語のID", "x" * 70, "0015g00000XyZ", "42"]
    assert fs.record_hashes(pl.Series(ids)).to_list() == [zlib.crc32(i.encode()) for i in ids]
    assert fs.record_hashes(pl.Series([7, 1234567])).to_list() == [zlib.crc32(b"7"), zlib.crc32(b"1234567")]
    assert fs.record_hashes(pl.Series([], dtype=pl.String)).to_list() == []
