"""Which records hold a value another record holds too: blocking (``engine._partnered``) and the exact
level's u (``fs.exact_u``) read only those, and at a million contacts most e-mails and phones are held
by one record.

Found by the values' 64-bit hashes (polars' ``Series.hash``): sorted with numpy, a hash seen twice is
the hash of a repeated value, and a membership test marks its rows; several times faster than polars'
``is_duplicated`` on a million rows (hashing text is the cheap part). Two values of one hash are both
kept, so what follows must compare the values themselves (a join, ``value_counts``): a false repeat
costs a row, never a wrong pair or count.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def _repeated_hashes(hashes: np.ndarray) -> pl.Series:
    """The distinct hashes held twice or more in ``hashes``, for ``is_in``."""
    ordered = np.sort(hashes)
    again = ordered[1:][ordered[1:] == ordered[:-1]]
    return pl.Series(np.unique(again), dtype=pl.UInt64)


def repeated(values: pl.Series) -> pl.Series:
    """Per row, whether another row may hold its value (its hash repeats): every row of a repeated
    value, and rarely one whose value only shares a hash. Nulls are values here: leave them out first."""
    hashes = values.hash()
    return hashes.is_in(_repeated_hashes(hashes.to_numpy()).implode())


def also_in(values: pl.Series, others: pl.Series) -> pl.Series:
    """Per row of ``values``, whether ``others`` may hold its value (its hash is among theirs)."""
    return values.hash().is_in(others.hash().unique().implode())
