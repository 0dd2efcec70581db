"""Opportunities and record age: amounts, stages and probabilities, close dates, stale records, dates
out of order."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from crm_ops.rules.library.registry import check, field_of, fixer, proposals

if TYPE_CHECKING:
    from crm_ops.rules.model import RuleContext


@check("not_negative")
def not_negative(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails below zero."""
    return (pl.col(field_of(params)) >= 0).fill_null(True)


@fixer("absolute")
def absolute(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """The value without its sign (a typed minus is the usual cause)."""
    return proposals(rows, pl.col(field_of(params)).abs(), 0.85)


@check("close_date_not_past_when_open")
def close_date_not_past_when_open(
    frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]
) -> pl.Expr:
    """Fails when an open opportunity's close date has passed."""
    closed = pl.col("is_closed").fill_null(pl.col("stage").is_in(list(params.get("closed_stages", []))))
    return closed.fill_null(False) | (pl.col("close_date") >= ctx.today) | pl.col("close_date").is_null()


@check("stage_probability")
def stage_probability(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails when the probability is not the stage's (``stages``: stage -> probability, 0-100)."""
    stages = {str(k): float(v) for k, v in dict(params["stages"]).items()}
    expected = pl.col("stage").replace_strict(stages, default=None, return_dtype=pl.Float64)
    return ((pl.col("probability") - expected).abs() < 0.5).fill_null(True)


@fixer("stage_default_probability")
def stage_default_probability(
    rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]
) -> pl.DataFrame:
    """The stage's probability."""
    stages = {str(k): float(v) for k, v in dict(params["stages"]).items()}
    expected = pl.col("stage").replace_strict(stages, default=None, return_dtype=pl.Float64).cast(pl.Int64)
    return proposals(rows, expected, 0.95)


@check("not_stale")
def not_stale(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails when the record has not changed for ``days`` days."""
    cutoff = ctx.now - timedelta(days=int(params.get("days", 730)))
    return (pl.col("updated_at") >= cutoff).fill_null(True)


@check("not_overdue")
def not_overdue(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails when the date (or time) in ``field`` is more than ``days`` days (default 0) before the run:
    an open task's due date, a renewal date. Pair it with ``when:`` to judge only open records."""
    column = field_of(params)
    days = int(params.get("days", 0))
    dtype = frame.schema.get(column)
    cutoff: Any = ctx.now - timedelta(days=days)
    if dtype == pl.Date:
        cutoff = cutoff.date()
    elif isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        cutoff = cutoff.replace(tzinfo=None)
    passes: pl.Expr = (pl.col(column) >= cutoff).fill_null(True)
    return passes


@check("not_before")
def not_before(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails when the date (or time) in ``field`` is before the one in the row's column ``start``: an end
    before its start (a meeting, a campaign). Passes when either is empty."""
    start = str(params["start"])
    return (pl.col(field_of(params)) >= pl.col(start)).fill_null(True)
