"""Snapshots of tables larger than one sort range (issue 26): a pull writes them sorted by id one range
of ids at a time (crm_ops.extsort), and the result is the same as one sort of the whole table: full
pulls with a record brought twice, incremental merges with changes, new records and deletions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops import pull
from crm_ops.config import Profile
from crm_ops.connectors.base import Page
from crm_ops.extsort import id_bounds
from crm_ops.schema.entities import columns

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class Pages:
    """A connector of Account whose pages are whatever the test sets in ``batches``."""

    api_calls = 0

    def __init__(self) -> None:
        self.batches: list[pl.DataFrame] = []

    def entities(self) -> tuple[str, ...]:
        return ("Account",)

    def incremental(self, entity: str) -> bool:
        return True

    def formula_columns(self, entity: str) -> list[str]:
        return []

    def warnings(self, entity: str) -> list[str]:
        return []

    def close(self) -> None:
        pass

    def pull(self, entity: str, since: Any = None, until: Any = None, cursor: Any = None) -> Iterator[Page]:
        start = int((cursor or {}).get("n", 0))
        for i in range(start, len(self.batches)):
            yield Page(self.batches[i], {"n": i + 1} if i + 1 < len(self.batches) else None)


def account_rows(ids: list[int], stamp: datetime, name: str, deleted: bool = False) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "id": [f"001{i:06d}" for i in ids],
            "updated_at": [stamp] * len(ids),
            "is_deleted": [deleted] * len(ids),
            "name": [f"{name}{i}" for i in ids],
        },
        schema_overrides={"updated_at": pl.Datetime("ms", "UTC")},
    )
    schema = columns("Account")
    return frame.select(
        pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c) for c, t in schema.items()
    )


def _snapshot(puller: pull.Puller) -> pl.DataFrame:
    current = puller.state.current("salesforce", "Account")
    assert current is not None
    return current.snapshot.read()


@pytest.mark.parametrize("chunk", [37, 10_000])  # ranges of 37 rows, and the whole table in one
def test_snapshots_sorted_by_range_equal_one_sort(chunk: int, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(pull, "SORT_CHUNK_ROWS", chunk)
    conn = Pages()
    ids = [(i * 7919) % 1000 for i in range(1000)]  # every id once, in no order
    # a full pull in pages; ids 5..9 come twice (changed during the pull): the later version wins
    conn.batches = [account_rows(ids[k : k + 150], T0, "a") for k in range(0, 1000, 150)]
    conn.batches.append(account_rows(list(range(5, 10)), T0 + timedelta(minutes=1), "twice"))
    puller = pull.Puller(Profile(name="t", state_dir=tmp_path), connectors={"salesforce": conn})  # type: ignore[dict-item]
    try:
        first = puller.pull("salesforce", "Account")
        full = _snapshot(puller)
        assert (first.mode, first.total, first.changed) == ("full", 1000, 1000)
        assert full["id"].to_list() == sorted(f"001{i:06d}" for i in range(1000))
        names = dict(full.select("id", "name").rows())
        assert names["001000007"] == "twice7" and names["001000010"] == "a10"

        # an incremental pull: changes, new records beyond the last id, deletions
        later = T0 + timedelta(days=1)
        conn.batches = [
            account_rows(list(range(0, 1000, 50)), later, "b"),
            account_rows([1000, 1001, 1002], later, "new"),
            account_rows([3, 4], later, "gone", deleted=True),
        ]
        second = puller.pull("salesforce", "Account")
        inc = _snapshot(puller)
    finally:
        puller.close()
    assert (second.mode, second.total, second.changed, second.deleted) == ("incremental", 1003, 25, 2)
    assert inc["id"].to_list() == sorted(f"001{i:06d}" for i in range(1003))
    names = dict(inc.select("id", "name").rows())
    assert names["001000050"] == "b50" and names["001000051"] == "a51" and names["001001002"] == "new1002"
    assert names["001000007"] == "twice7"
    assert inc.filter(pl.col("is_deleted"))["id"].to_list() == ["001000003", "001000004"]
    assert not list((tmp_path / "pulls").glob("*/sorted-*"))  # the range files go with the pull's folder


def test_id_bounds_cut_about_evenly() -> None:
    ids = pl.Series([f"{(i * 7919) % 10_000:05d}" for i in range(10_000)])
    bounds = id_bounds(ids, 1_000)
    assert bounds == sorted(bounds) and 8 <= len(bounds) <= 10
    sizes = (
        pl.DataFrame({"id": ids})
        .group_by(pl.sum_horizontal([(pl.col("id") >= b).cast(pl.UInt32) for b in bounds]))
        .len()["len"]
        .to_list()
    )
    assert max(sizes) <= 1_300 and min(sizes) >= 700
    assert id_bounds(ids, 20_000) == []
