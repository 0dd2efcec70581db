"""What one pull of an entity looked like, in numbers: the statistics the data monitors compare night by
night (``crm_ops.monitors.data``), taken from the snapshot at the end of each pull and kept in the state
file with the pull (``State.finish_pull``).

Volume (rows, live rows, tombstones, the live records the CRM itself counts for the integration user),
freshness (the newest change, how far it lags the pull) and, per column of the live rows, the null rate,
the distinct count and, for a categorical column (text with few distinct values: picklists, stages,
countries, statuses), the share of each of its top values.

Read from the snapshot lazily, in polars' streaming engine, one pass for the counts and one small
group-by per categorical column: memory follows the columns' distinct values (a HyperLogLog sketch per
column for the distinct counts), not the table, so an activity-sized snapshot is measured like a small
one.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

CATEGORICAL_MAX = 30  # a text column with at most this many distinct values is categorical
TOP_VALUES = 12  # the shares kept per categorical column (the rest summed as "(other)")
OTHER = "(other)"
SKIPPED = frozenset({"id", "is_deleted", "source_system", "updated_at"})  # keys, not data


def _collect(frame: pl.LazyFrame) -> pl.DataFrame:
    return frame.collect(engine="streaming")


def snapshot_stats(
    snapshot: Path | pl.LazyFrame,
    *,
    pulled_at: datetime,
    pull_changed: int = 0,
    pull_deleted: int = 0,
    visible: int | None = None,
    personal: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The statistics of one entity's snapshot as plain JSON-able values.

    ``pulled_at``: the end of the pull's window (its lag is measured from there); ``pull_changed`` and
    ``pull_deleted``: the rows and tombstones the pull brought; ``visible``: the live records the CRM
    counted for the integration user at the end of the pull (None: not counted); ``personal``: columns
    holding personal data, whose values are never kept (a small org's names would pass for categories):
    their null rate and distinct count only. ``snapshot``: a Parquet file, or the entity as of a layered
    snapshot (``crm_ops.layered.Snapshot.scan``)."""
    scan = snapshot if isinstance(snapshot, pl.LazyFrame) else pl.scan_parquet(snapshot)
    schema = scan.collect_schema()
    deleted_col = pl.col("is_deleted").fill_null(False) if "is_deleted" in schema else pl.lit(False)
    head = _collect(
        scan.select(
            pl.len().alias("rows"),
            deleted_col.sum().alias("deleted"),
            (pl.col("updated_at").max() if "updated_at" in schema else pl.lit(None)).alias("newest"),
        )
    ).row(0, named=True)
    live = scan.filter(~deleted_col)
    columns = [c for c, t in schema.items() if c not in SKIPPED and not isinstance(t, pl.List | pl.Struct)]
    counts = (
        _collect(
            live.select(
                pl.len().alias("__live"),
                *(pl.col(c).null_count().alias(f"n|{c}") for c in columns),
                *(pl.col(c).approx_n_unique().alias(f"d|{c}") for c in columns),
            )
        ).row(0, named=True)
        if columns
        else {"__live": _collect(live.select(pl.len())).item()}
    )
    n_live = int(counts["__live"])
    per_column: dict[str, dict[str, Any]] = {}
    for c in columns:
        nulls = int(counts[f"n|{c}"])
        # the sketch counts a null as a value of its own
        distinct = max(0, int(counts[f"d|{c}"]) - (1 if nulls else 0))
        entry: dict[str, Any] = {"null_rate": nulls / n_live if n_live else 0.0, "distinct": distinct}
        categorical = schema[c] == pl.String() and 0 < distinct <= CATEGORICAL_MAX
        if categorical and c not in personal and n_live - nulls > 0:
            entry["top"] = _shares(live, c, n_live - nulls)
        per_column[c] = entry
    newest = head["newest"]
    return {
        "rows": int(head["rows"]),
        "live": n_live,
        "deleted": int(head["deleted"] or 0),
        "visible": visible,
        "pull_changed": pull_changed,
        "pull_deleted": pull_deleted,
        "pulled_at": pulled_at.isoformat(),
        "newest_change": newest.isoformat() if isinstance(newest, datetime) else None,
        "lag_seconds": (pulled_at - newest).total_seconds() if isinstance(newest, datetime) else None,
        "columns": per_column,
    }


def _shares(live: pl.LazyFrame, column: str, filled: int) -> dict[str, float]:
    """The share of each of the column's top values among its filled rows; the rest as ``OTHER``."""
    values = (
        _collect(live.select(column).drop_nulls().group_by(column).len())
        .sort(["len", column], descending=[True, False])
        .rows()
    )
    shares = {str(v): n / filled for v, n in values[:TOP_VALUES]}
    rest = sum(n for _, n in values[TOP_VALUES:])
    if rest:
        shares[OTHER] = rest / filled
    return shares


def live_rows(stats: dict[str, Any]) -> int:
    """The live records a pull saw: the CRM's own count when it was taken (records hidden from the
    integration user leave it at once; an incremental snapshot keeps them), else the snapshot's."""
    visible = stats.get("visible")
    return int(visible) if isinstance(visible, int) and visible >= 0 else int(stats.get("live", 0))
