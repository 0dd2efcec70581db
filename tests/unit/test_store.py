"""The store folds queued writes into its frames without touching the rows nobody wrote."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from crm_ops.sandbox.objects import SALESFORCE_OBJECTS, sf_id, sf_id_suffix, sf_ids, sf_row
from crm_ops.sandbox.store import Store, Table


def _table(n: int = 1000) -> Table:
    frame = pl.DataFrame(
        {"id": pl.int_range(0, n, eager=True), "name": [f"n{i}" for i in range(n)]},
        schema={"id": pl.Int64, "name": pl.String},
    ).with_columns(stamp=pl.lit(None, dtype=pl.Datetime("ms", "UTC")))
    return Table("t", frame)


def test_updates_show_in_the_next_read_and_leave_other_rows_alone() -> None:
    table = _table()
    before = table.frame()
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    table.update(10, {"name": "ten", "stamp": now})
    table.update(20, {"name": "twenty"})
    table.update(10, {"name": "TEN"})  # the last write wins
    after = table.frame()
    assert after["name"][10] == "TEN"
    assert after["stamp"][10] == now
    assert after["name"][20] == "twenty"
    assert after.filter(~pl.col("id").is_in([10, 20])).equals(before.filter(~pl.col("id").is_in([10, 20])))
    assert before["name"][10] == "n10", "a frame handed out earlier is never mutated"


def test_append_and_row_lookup() -> None:
    table = _table(3)
    row = table.append({"id": 3, "name": "new"})
    assert row == 3
    assert len(table) == 4
    table.update(3, {"name": "newer"})
    assert table.row(3) == {"id": 3, "name": "newer", "stamp": None}
    assert table.row(4) is None
    assert table.rows([3, 0])["name"].to_list() == ["newer", "n0"]


def test_unknown_columns_are_refused() -> None:
    table = _table(3)
    with pytest.raises(KeyError):
        table.update(0, {"nope": 1})
    with pytest.raises(KeyError):
        table.append({"nope": 1})


def test_store_round_trips_through_parquet(tmp_path: Path) -> None:
    store = Store({"t": _table(5).frame()})
    store["t"].update(1, {"name": "changed"})
    store["t"].hidden = frozenset({2})
    store["t"].purge(3, keep=["id"])
    store.save(tmp_path)
    again = Store.load(tmp_path)
    assert again["t"].frame().equals(store["t"].frame())
    # a purged row is never served again, a hidden one stays hidden, after a restart too
    assert (again["t"].hidden, again["t"].purged) == (frozenset({2}), frozenset({3}))
    assert again["t"].visible().height == 3
    assert not list(tmp_path.glob("*.tmp"))


def test_salesforce_ids_encode_their_row() -> None:
    assert sf_id("003", 12) == "0038d0000000012AAA"
    assert len(sf_id("00Q", 5)) == 18
    assert sf_id_suffix("00Q8d0000000005") == "EAA"  # the Q is uppercase: bit 2 of the first chunk
    assert sf_ids("006", 7, 3).to_list() == [sf_id("006", i) for i in (7, 8, 9)]
    assert sf_row(sf_id("001", 99), "001") == 99
    assert sf_row(sf_id("001", 99)[:15], "001") == 99
    assert sf_row(sf_id("001", 99), "003") is None
    assert sf_row("001xx0000000001AAA", "001") is None
    assert sf_row(sf_id("001", 99)[:15] + "ZZZ", "001") is None


def test_objects_schema_is_consistent() -> None:
    for obj in SALESFORCE_OBJECTS.values():
        schema = obj.schema()
        assert "Id" in schema
        assert "SystemModstamp" in schema
        assert all(f.type != "address" for f in obj.stored_fields)
        for f in obj.fields:
            if f.compound and obj.field(f.compound) is not None:
                assert obj.field(f.compound) is not None
