"""The plain column checks of the YAML vocabulary (``check: not_null``, ``check: {matches: '^[A-Z]'}``)."""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from crm_ops.rules.model import RuleContext


def generic_check(
    kind: str, spec: Any, column: str
) -> Callable[[pl.DataFrame, RuleContext, Mapping[str, Any]], pl.Expr]:
    """A plain column check from YAML: not_null, not_blank, matches, not_matches, isin, not_in, length,
    between, unique. Raises ValueError on a malformed spec."""
    col = pl.col(column)
    if kind == "not_null":
        expr = col.is_not_null()
    elif kind == "not_blank":
        expr = col.is_not_null() & (col.cast(pl.String).str.strip_chars() != "")
    elif kind in ("matches", "not_matches"):
        if not isinstance(spec, str):
            raise ValueError(f"{kind} takes a regular expression")
        re.compile(spec)
        hit = col.cast(pl.String).str.contains(spec)
        expr = (hit if kind == "matches" else ~hit).fill_null(True)
    elif kind in ("isin", "not_in"):
        if not isinstance(spec, list):
            raise ValueError(f"{kind} takes a list of values")
        member = col.is_in(spec)
        expr = (member if kind == "isin" else ~member).fill_null(True)
    elif kind == "length":
        if not isinstance(spec, dict) or not set(spec) <= {"min", "max"} or not spec:
            raise ValueError("length takes {min: n, max: m}")
        n = col.cast(pl.String).str.len_chars()
        expr = ((n >= spec.get("min", 0)) & (n <= spec.get("max", 10**9))).fill_null(True)
    elif kind == "between":
        if not isinstance(spec, dict) or not set(spec) <= {"min", "max"} or not spec:
            raise ValueError("between takes {min: a, max: b}")
        lo, hi = spec.get("min"), spec.get("max")
        expr = ((col >= lo) if lo is not None else pl.lit(True)) & (
            (col <= hi) if hi is not None else pl.lit(True)
        )
        expr = expr.fill_null(True)
    elif kind == "unique":
        # a group count rather than ``is_duplicated``: the same answer in less than half the time
        expr = (pl.len().over(col) == 1) | col.is_null()
    else:
        raise ValueError(f"unknown check {kind!r}")

    def generic(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
        return expr

    GENERIC_KINDS[generic] = (kind, column)
    return generic


# which plain check (kind, column) a YAML rule's check function is: the Spark engine runs ``unique``
# across partitions (crm_ops.spark), every other kind row by row
GENERIC_KINDS: weakref.WeakKeyDictionary[Callable[..., Any], tuple[str, str]] = weakref.WeakKeyDictionary()


# The plain column checks of the YAML vocabulary (``check: not_null`` or ``check: {matches: '^[A-Z]'}``),
# with what each takes and does (docs/reference/checks.md is generated from this and the registry).
GENERIC_HELP = {
    "not_null": ("nothing", "fails when the field is empty"),
    "not_blank": ("nothing", "fails when the field is empty or only spaces"),
    "matches": ("a regular expression", "fails when the value does not contain a match"),
    "not_matches": ("a regular expression", "fails when the value contains a match"),
    "isin": ("a list of values", "fails when the value is not one of them"),
    "not_in": ("a list of values", "fails when the value is one of them"),
    "length": ("{min: n, max: m}", "fails when the text is shorter or longer"),
    "between": ("{min: a, max: b}", "fails when the value is below min or above max"),
    "unique": ("nothing", "fails on every record sharing its value with another (nulls pass)"),
}
GENERIC_CHECKS = tuple(GENERIC_HELP)
