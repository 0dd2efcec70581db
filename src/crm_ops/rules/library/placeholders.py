"""Placeholder values (test, n/a, asdf, noemail@...): the check and the fixer that clears them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from crm_ops.rules.library.registry import check, field_of, fixer, proposals
from crm_ops.values.junk import junk_mask

if TYPE_CHECKING:
    from crm_ops.rules.model import RuleContext


@check("not_placeholder")
def not_placeholder(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails on junk values (test, n/a, asdf, noemail@..., 000-000-0000...)."""
    return ~junk_mask(pl.col(field_of(params)))


@fixer("clear")
def clear(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Propose emptying the field (a junk value says less than no value)."""
    return proposals(rows, pl.lit(None, pl.String), float(params.get("confidence", 0.9)))
