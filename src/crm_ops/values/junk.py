"""Placeholder values: junk words, keyboard mash, one digit repeated, junk e-mail addresses.

The lists are data (``crm_ops.values.wordlists``); the test is two anchored regular expressions and one
set lookup, so it stays cheap at a million rows.
"""

from __future__ import annotations

import polars as pl

from crm_ops.values.wordlists import WordLists
from crm_ops.values.wordlists import shipped as shipped_lists

_SEP = r"[\s().+-]*"
_JUNK_DIGITS = (
    rf"^{_SEP}(?:(?:0{_SEP}){{5,}}|(?:1{_SEP}){{5,}}|(?:9{_SEP}){{5,}}"
    rf"|0?{_SEP}1{_SEP}2{_SEP}3{_SEP}4{_SEP}5{_SEP}6{_SEP}7{_SEP}8{_SEP}9{_SEP}0?{_SEP})$"
)


def junk_mask(values: pl.Expr, lists: WordLists | None = None) -> pl.Expr:
    """True for placeholder values: junk words, keyboard mash, one digit repeated, junk e-mail addresses
    (``lists``: the shipped word lists unless a profile's are given).

    Two anchored regular expressions and one set lookup, so it stays cheap at a million rows.
    """
    words = lists or shipped_lists()
    v = values.cast(pl.String).str.strip_chars().str.to_lowercase()
    # the three tests on the trimmed, lowercased values computed once (an expression naming ``v``
    # three times would compute it three times)
    return v.map_batches(lambda folded: _junk(folded, words), return_dtype=pl.Boolean, is_elementwise=True)


def junk_folded(folded: pl.Series, lists: WordLists | None = None) -> pl.Series:
    """``junk_mask`` of values already trimmed and lowercased (a normaliser's output), which it would
    trim and lowercase again: a pass over each of a million e-mails saved."""
    return _junk(folded.cast(pl.String), lists or shipped_lists())


def _junk(folded: pl.Series, words: WordLists) -> pl.Series:
    v = pl.col("v")
    return (
        folded.to_frame("v")
        .select(
            (
                v.is_in(list(words.junk_words))
                | v.str.contains(words.junk_email_pattern)
                | v.str.contains(_JUNK_DIGITS)
            ).fill_null(False)
        )
        .to_series()
    )


def junk_where(frame: pl.DataFrame, column: str, among: pl.Series) -> pl.Series:
    """``junk_mask`` computed only on the rows where ``among`` is True (False elsewhere)."""
    out = pl.Series([False] * frame.height, dtype=pl.Boolean)
    idx = among.arg_true()
    if idx.len():
        junk = frame[idx].select(junk_mask(pl.col(column))).to_series()
        out = out.scatter(idx, junk)
    return out
