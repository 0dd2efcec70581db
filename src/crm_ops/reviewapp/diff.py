"""Character-level differences between a seen and a proposed value, whitespace made visible: a fix that
only trims spaces or swaps a tab shows what it changes."""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from typing import NamedTuple

VISIBLE = {" ": "\u00b7", "\t": "\u2192", "\n": "\u21b5", "\r": "\u240d", "\u00a0": "\u237d"}
LONG = 2_000  # longer values are compared whole, not character by character (a diff is quadratic)


class Piece(NamedTuple):
    """A run of text: ``same``, ``gone`` (only in the seen value) or ``new`` (only in the proposed)."""

    kind: str
    text: str


def _unseen(ch: str) -> bool:
    """A character a reader cannot see or tell from a space: a format or control character (a zero-width
    space, a byte-order mark, a soft hyphen) or a space or separator other than the plain space."""
    return ch not in VISIBLE and unicodedata.category(ch) in ("Cf", "Cc", "Zs", "Zl", "Zp")


def _mark(ch: str) -> str:
    """``ch`` as drawn: whitespace as its mark, another unseen character as its code point."""
    return VISIBLE.get(ch) or (f"\u27e8U+{ord(ch):04X}\u27e9" if _unseen(ch) else ch)


def visible(text: str) -> str:
    """``text`` with spaces, tabs, line breaks and no-break spaces drawn as marks, and any other
    character a reader could not see (a zero-width space, a byte-order mark, a narrow no-break space) as
    its code point (``⟨U+200B⟩``): a fix that only removes one shows what it removes."""
    return "".join(_mark(ch) for ch in text)


def unusual_spaces(text: str) -> str:
    """``text`` with the whitespace a reader could not see or tell apart drawn as marks (tabs, breaks,
    no-break spaces, spaces at either end or two and more together); a single space between words is
    left as it is (the merge table: names read as names)."""
    marked = "".join(ch if ch == " " else _mark(ch) for ch in text)
    core = marked.strip(" ")
    if not core:
        return VISIBLE[" "] * len(marked)
    start = marked.index(core)
    inner = re.sub(r" {2,}", lambda m: VISIBLE[" "] * len(m.group()), core)
    return VISIBLE[" "] * start + inner + VISIBLE[" "] * (len(marked) - start - len(core))


def char_diff(seen: str | None, proposed: str | None) -> tuple[list[Piece], list[Piece]]:
    """The seen and the proposed value as pieces, whitespace visible; an absent value is no piece."""
    a, b = seen or "", proposed or ""
    if len(a) > LONG or len(b) > LONG:
        return ([Piece("gone", visible(a))] if a else []), ([Piece("new", visible(b))] if b else [])
    left: list[Piece] = []
    right: list[Piece] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            left.append(Piece("same", visible(a[i1:i2])))
            right.append(Piece("same", visible(b[j1:j2])))
            continue
        if i2 > i1:
            left.append(Piece("gone", visible(a[i1:i2])))
        if j2 > j1:
            right.append(Piece("new", visible(b[j1:j2])))
    return left, right
