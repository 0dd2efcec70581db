"""Column makers of the generator: random picks, conditional columns and row selections, built by numpy
and polars (no Python object a row)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import polars as pl

Rng = np.random.Generator


def _pick(rng: Rng, options: Sequence[Any], n: int) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]


def _pick_series(rng: Rng, options: Sequence[Any] | np.ndarray, n: int) -> pl.Series:
    """``_pick`` as a polars column: the same draw from ``rng``, without a Python object a row."""
    return pl.Series(list(options)).gather(rng.integers(0, len(options), n))


def _where(cond: np.ndarray, then: Any, otherwise: Any) -> pl.Series:
    """``np.where`` over polars columns (or scalars): ``then`` where ``cond``, else ``otherwise``."""
    return pl.select(
        pl.when(pl.lit(pl.Series(cond))).then(pl.lit(then)).otherwise(pl.lit(otherwise))
    ).to_series()


def rows_but(n: int, taken: Collection[int] | np.ndarray) -> np.ndarray:
    """The rows ``0..n-1`` not in ``taken``, in order (``np.setdiff1d`` without its sort)."""
    free = np.ones(n, dtype=bool)
    free[np.fromiter(taken, dtype=np.int64, count=len(taken))] = False
    return np.flatnonzero(free)


def free_rows(ids: np.ndarray | pl.Series, taken: Collection[str]) -> np.ndarray:
    """The rows whose id (as text) is not in ``taken``, in order."""
    text = pl.Series(ids).cast(pl.String)
    return np.flatnonzero(~text.is_in(pl.Series(list(taken), dtype=pl.String).implode()).to_numpy())


def numbered(template: str, start: int, n: int, width: int) -> pl.Series:
    """``template`` with ``{}`` the numbers ``start..start+n-1`` zero-padded to ``width``, as a column."""
    head, _, tail = template.partition("{}")
    numbers = pl.int_range(start, start + n, eager=True).cast(pl.String).str.zfill(width)
    return head + numbers + tail
