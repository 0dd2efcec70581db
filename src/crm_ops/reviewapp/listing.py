"""The actions list of the review app: a plan's actions with their review state as one polars frame,
counted by rule, entity and state, filtered and paged.

A row's ``state`` is the reviewer's answer when there is one (``approved``, ``rejected``, ``not a
duplicate``), else ``undecided``: ``approve`` blank, or a yes or no only the plan's defaults wrote
(no ``reviewed_by``) shows as ``approved by default`` / ``not approved by default``, so a row never
reads "awaiting review" beside "approved".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from crm_ops.plan.format import Plan
from crm_ops.plan.reviewstate import Held

PAGE = 50
REVIEW_TEXT = ("action_id", "answer", "cell_value", "picks", "reviewed_by", "reviewed_at", "version")
STATES = {
    "yes": "approved",
    "no": "rejected",
    "not_duplicate": "not a duplicate",
    "": "undecided",
}
FILTERS = ("rule", "entity", "state", "kind", "system")


def plan_frame(plan: Plan) -> pl.DataFrame:
    """The plan's actions, one row each, in the plan's order (built once per plan)."""
    columns = ("action_id", "kind", "system", "entity", "record_id", "field", "seen_value",
               "proposed_value", "rule", "confidence", "label", "account", "url", "other_id",
               "other_label", "review_reason")  # fmt: skip
    data = {c: [getattr(a, c) for a in plan.actions] for c in columns}
    schema = {c: (pl.Float64 if c == "confidence" else pl.String) for c in columns}
    return pl.DataFrame(data, schema=schema).with_row_index("order")


def review_frame(held: Held) -> pl.DataFrame:
    """Each reviewed row's answer, edited value, picks and reviewer, by action id."""
    ids = list(held.rows)
    cells = [held.rows[k] for k in ids]
    defaults = [not c.get("reviewed_by") for c in cells]
    return pl.DataFrame(
        {
            "action_id": ids,
            "answer": [held.answers.get(k, "") for k in ids],
            "by_default": defaults,
            "cell_value": [c.get("proposed_value", "") for c in cells],
            "picks": [c.get("picks", "") for c in cells],
            "reviewed_by": [c.get("reviewed_by", "") for c in cells],
            "reviewed_at": [c.get("reviewed_at", "") for c in cells],
            "version": [held.versions.get(k, "") for k in ids],
        },
        schema={**dict.fromkeys(REVIEW_TEXT, pl.String), "by_default": pl.Boolean},
    )


def joined(actions: pl.DataFrame, held: Held) -> pl.DataFrame:
    """The actions with their review state and ``state`` (see the module)."""
    out = actions.join(review_frame(held), on="action_id", how="left").with_columns(
        pl.col("answer").fill_null(""), pl.col("by_default").fill_null(True)
    )
    state = pl.col("answer").replace_strict(STATES, default="undecided")
    default_state = (
        pl.when(pl.col("answer") == "yes")
        .then(pl.lit("approved by default"))
        .when(pl.col("answer") == "no")
        .then(pl.lit("not approved by default"))
        .otherwise(state)
    )
    return out.with_columns(pl.when(pl.col("by_default")).then(default_state).otherwise(state).alias("state"))


@dataclass(frozen=True)
class Page:
    """One page of the filtered actions, the counts by group of all of them, and where the page is."""

    rows: list[dict[str, object]]
    counts: dict[str, list[tuple[str, int]]]
    total: int
    page: int
    pages: int


SEARCHED = ("label", "record_id", "seen_value", "proposed_value", "account")


def conditions(filters: Mapping[str, str], query: str = "") -> dict[str, pl.Expr]:
    """The filters as expressions, by column (``query``: a label, record id, value or account holding
    it, case-insensitive)."""
    out = {c: pl.col(c) == v for c, v in filters.items() if c in FILTERS and v}
    if query:
        needle = query.lower()
        found = [
            pl.col(c).fill_null("").str.to_lowercase().str.contains(needle, literal=True) for c in SEARCHED
        ]
        out["query"] = pl.any_horizontal(found)
    return out


def page_of(frame: pl.DataFrame, filters: Mapping[str, str], page: int, query: str = "") -> Page:
    """Page ``page`` (from 1) of the actions matching ``filters`` (column -> value; empty: any) and
    ``query``; counts by rule, entity, state, kind and system over the actions matching the other
    filters."""
    chosen_by = conditions(filters, query)
    counts = {}
    for column in FILTERS:
        others = [e for c, e in chosen_by.items() if c != column]
        scope = frame.filter(*others) if others else frame
        grouped = scope.group_by(column).len().sort(["len", column], descending=[True, False])
        counts[column] = [(str(r[0] or ""), int(r[1])) for r in grouped.iter_rows()]
    chosen = frame.filter(*chosen_by.values()) if chosen_by else frame
    total = chosen.height
    pages = max(1, -(-total // PAGE))
    page = min(max(1, page), pages)
    rows = chosen.sort("order").slice((page - 1) * PAGE, PAGE).to_dicts()
    return Page(rows, counts, total, page, pages)


def matching_ids(frame: pl.DataFrame, filters: Mapping[str, str], query: str = "") -> list[str]:
    """Every action id matching ``filters`` and ``query`` (a whole rule's, for instance)."""
    chosen_by = conditions(filters, query)
    chosen = frame.filter(*chosen_by.values()) if chosen_by else frame
    return [str(x) for x in chosen.get_column("action_id")]
