"""The registry of named checks and fixers YAML rules call, the decorators that fill it, and the
helpers every check and fixer uses (the fixer result shape, the rule's field, a column as text).

A check takes the entity's frame and the run's context and returns a boolean Series or expression:
True where the row passes (a null counts as passing: a missing value is the ``required`` rule's
business). A fixer takes the failing rows and returns, per row, a proposed value and a confidence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from crm_ops.rules.model import CheckFn, FixFn

CHECKS: dict[str, CheckFn] = {}
FIXES: dict[str, FixFn] = {}


def check(name: str) -> Callable[[CheckFn], CheckFn]:
    """Register a named check for YAML rules."""

    def register(fn: CheckFn) -> CheckFn:
        CHECKS[name] = fn
        return fn

    return register


def fixer(name: str) -> Callable[[FixFn], FixFn]:
    """Register a named fixer for YAML rules."""

    def register(fn: FixFn) -> FixFn:
        FIXES[name] = fn
        return fn

    return register


def proposals(rows: pl.DataFrame, proposed: pl.Series | pl.Expr, confidence: float | pl.Expr) -> pl.DataFrame:
    """The fixer result shape: record id, proposed value (string), confidence."""
    conf = confidence if isinstance(confidence, pl.Expr) else pl.lit(confidence)
    value = proposed if isinstance(proposed, pl.Expr) else pl.lit(proposed)
    return rows.select(
        pl.col("id").alias("record_id"),
        value.cast(pl.String).alias("proposed_value"),
        conf.cast(pl.Float64).alias("confidence"),
    )


def field_of(params: Mapping[str, Any]) -> str:
    """The rule's field (a check's or fixer's ``field`` parameter)."""
    return str(params["field"])


def as_text(column: str) -> pl.Expr:
    """The column as text."""
    return pl.col(column).cast(pl.String)
