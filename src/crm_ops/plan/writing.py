"""Writing a plan's files: ``plan.jsonl`` and ``plan.csv`` (the format: ``crm_ops.plan.format``). A plan
built as a table (``build_plan``) is written a column at a time (``crm_ops.plan.encode``), with no
Python object per action; a plan of ``Action`` objects an action at a time. Both give the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import polars as pl

from crm_ops import csvio, durable
from crm_ops.plan import encode
from crm_ops.plan.format import (
    ACTION_FIELDS,
    ACTION_SCHEMA,
    CSV_FIELDS,
    DECIDED_BY_PERSON,
    PLAN_ID,
    SHOWN,
    Plan,
    csv_row,
)


def write_plan(plan: Plan, folder: Path) -> tuple[Path, Path]:
    """Write ``plan.jsonl`` and ``plan.csv`` (``approve`` from each action's default) in ``folder``,
    atomically. A plan built as a table (``build_plan``) is written from it a column at a time
    (``crm_ops.plan.encode``: the bytes ``json.dumps`` and ``csv_row``/``csvio`` give); a plan of
    ``Action`` objects (an undo plan, a plan read back) an action at a time, whose text may hold what a
    frame cannot (a lone surrogate: escaped in JSON, U+FFFD in the review file)."""
    header = json.dumps({"type": "header", **asdict(plan.header)}, sort_keys=True)
    jsonl, csv_path = folder / "plan.jsonl", folder / "plan.csv"
    if not plan.framed:
        lines = [
            header,
            *(json.dumps({"type": "action", **a.as_dict()}, sort_keys=True) for a in plan.actions),
        ]
        durable.write_text(jsonl, "\n".join(lines) + "\n")
        tagged = ({**csv_row(a), PLAN_ID: plan.header.plan_id} for a in plan.actions)
        return jsonl, csvio.write_file(
            csv_path, CSV_FIELDS, ([values[f] for f in CSV_FIELDS] for values in tagged)
        )
    table = plan.table
    encoded = encode.json_objects(table.select(ACTION_FIELDS), raw=("detail",), fixed={"type": "action"})
    encode.write_lines(jsonl, header, encoded)
    rows = encode.csv_lines(csv_table(table, plan.header.plan_id))
    return jsonl, encode.write_lines(csv_path, csvio.format_rows(CSV_FIELDS, []).rstrip("\n"), rows)


def csv_table(table: pl.DataFrame, plan_id: str) -> pl.DataFrame:
    """A plan's table as review rows (``CSV_FIELDS``), what ``csv_row`` makes of each action."""
    kind, approved = pl.col("kind"), pl.col("approved")
    merge_like = kind.is_in(["merge", "convert"])
    person = kind.is_in(list(DECIDED_BY_PERSON))
    blank = pl.lit("")
    return table.select(
        pl.when(approved)
        .then(pl.lit("yes"))
        .when(approved.not_() & ~person)
        .then(pl.lit("no"))
        .otherwise(blank)
        .alias("approve"),
        pl.when(merge_like & (pl.col("label").fill_null("") == ""))
        .then(pl.col("record_id"))
        .when(merge_like)
        .then(pl.col("label"))
        .otherwise(pl.col("seen_value"))
        .alias("seen_value"),
        pl.when(merge_like & (pl.col("other_label").fill_null("") != ""))
        .then(pl.col("other_label"))
        .otherwise(pl.col("proposed_value"))
        .alias("proposed_value"),
        *(blank.alias(c) for c in ("picks", "reviewed_by", "reviewed_at")),  # a person's (review file)
        pl.lit(plan_id).alias(PLAN_ID),
        *(pl.col(c) for c in CSV_FIELDS if c in ACTION_SCHEMA and c not in ("seen_value", "proposed_value")),
        *(pl.col(c) for c in SHOWN),
    ).select(CSV_FIELDS)
