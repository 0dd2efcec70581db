"""Normalised columns shared by the rule sets of one matching run.

A CRM's contacts are read by several rule sets in one run (their own duplicates, the leads that
duplicate them, the other CRM's contacts), and each ``prepare`` normalises their e-mails and phones
again: the longest string passes of matching. Within ``shared_normalisation()`` (``run_matching`` enters
it) a column normalised once is remembered with its values, and a later ``prepare`` given the same values
(compared whole, not by a hash) of the same kind with the same word lists takes the remembered result.
Outside it nothing is remembered (the Spark engine's partitions, a caller's ``find_duplicates``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import polars as pl

from crm_ops.values.wordlists import WordLists

# the kinds worth remembering: per value regular expressions over every record (names and countries
# are normalised per distinct value already, which costs little)
SHARED_KINDS = frozenset({"email", "phone"})

_Entry = tuple[str, WordLists, pl.Series, pl.Series]  # kind, word lists, values, normalised
_MEMO: ContextVar[list[_Entry] | None] = ContextVar("crm_ops_match_normalised", default=None)


@contextmanager
def shared_normalisation() -> Iterator[None]:
    """Within: e-mails and phones normalised once per run for the same values (``recall``)."""
    token = _MEMO.set([])
    try:
        yield
    finally:
        _MEMO.reset(token)


def recall(values: pl.Series, kind: str, words: WordLists) -> pl.Series | None:
    """The normalised ``values`` when this run normalised the very same values already (None else)."""
    memo = _MEMO.get()
    if memo is None or kind not in SHARED_KINDS:
        return None
    for k, w, seen, out in memo:
        if (
            k == kind
            and w is words
            and seen.dtype == values.dtype
            and seen.len() == values.len()
            and seen.equals(values, null_equal=True)
        ):
            return out.alias(values.name)
    return None


def remember(values: pl.Series, kind: str, words: WordLists, out: pl.Series) -> None:
    """Keep ``out``, the normalised ``values``, for the rest of the run (when inside one)."""
    memo = _MEMO.get()
    if memo is not None and kind in SHARED_KINDS:
        memo.append((kind, words, values, out))
