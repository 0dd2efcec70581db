"""What identifies an erased person in our files (``Trace``) and how it is found and taken out of text and
JSON (``Redactor``): the one matching rule the purge (``crm_ops.erasure.purge``) and the check after it
(``crm_ops.erasure.traces``) share, so what one removes is what the other looks for.

- A value (an e-mail, a full name, a phone) matches case-insensitively (Unicode case folding: an all-caps
  name, a mixed-case e-mail) as a whole word where it begins or ends with a letter or digit (``ann@x.com``
  is not found inside ``joann@x.com``, another person's address), in the forms files hold it: as is,
  HTML-escaped (``O&#x27;Brien``, ``O&#39;Brien``), JSON-escaped (``\\u00eb``, ``\\"``), CSV-quoted
  (``""``). A value found is replaced by ``[erased]``. Values shorter than ``MIN_VALUE`` characters are
  refused: they would match other people's data.
- An id names its record where a cell equals it, where JSON text holds it as a string (``"<id>"``), and,
  for ids of ``ID_WORD_MIN`` characters or more (CRM ids: ``003...``, long HubSpot ids), as a whole word
  in text (a message "duplicates contact 003..."); shorter ids are not looked for in free text, where a
  count or a score would hold them.

One pattern source serves polars (Rust's regex) and Python's ``re``: only the characters both treat as
special are escaped.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

ERASED = "[erased]"
# a value beginning with a letter or digit starts a match only after a character that cannot be part of
# an address or a name (a dot, a plus, a hyphen: ``joann.zoe@x.com`` is not ``zoe@x.com``); that
# character is matched (neither engine looks behind) and put back by the replacement
HEAD = r"(?:^|(?P<head>[^\w.+\-]))"
ERASED_RE = r"\g<head>" + ERASED  # Python's ``re`` replacement
ERASED_POLARS = "${head}" + ERASED  # polars' (Rust's regex)
MIN_VALUE = 3  # an identifying value shorter than this would match other people's data
ID_WORD_MIN = 6  # ids at least this long are looked for as words in free text
_SPECIAL = set("\\.+*?()|[]{}^$")


@dataclass(frozen=True)
class Trace:
    """What identifies the erased person in our files."""

    ids: frozenset[str]  # record ids of the person's records in every system (CRMs and sources)
    values: frozenset[str]  # identifying values: e-mails, full names, phones (as found in the records)


def escape(text: str) -> str:
    """``text`` as a literal in a pattern both Python's ``re`` and polars' regex read alike."""
    return "".join(f"\\{c}" if c in _SPECIAL else c for c in text)


def _word(c: str) -> bool:
    return c.isalnum() or c == "_"


def _bounded(form: str, head: bool = True) -> str:
    """``form`` as a pattern, a word boundary on each side that begins or ends with a word character
    (without ``head``, the beginning is left to ``HEAD``)."""
    start = r"\b" if head and _word(form[0]) else ""
    tail = r"\b" if _word(form[-1]) else ""
    return f"{start}{escape(form)}{tail}"


def forms(value: str) -> set[str]:
    """The forms a file may hold ``value`` in: as is, HTML-escaped (the standard library's and Jinja's
    entities for quotes, a letter outside ASCII as a character reference), JSON-escaped (ASCII-only and
    not; lower- and upper-case, as a ``\\u`` escape differs with the letter's case), CSV-quoted."""
    out: set[str] = set()
    for v in {value, value.lower(), value.upper()}:
        escaped = html.escape(v, quote=False)
        pages = {
            escaped,
            html.escape(v),
            escaped.replace("'", "&#39;").replace('"', "&#34;"),
            escaped.replace('"', "&quot;").replace("'", "&#39;"),
        }
        for page in list(pages):  # a page may spell a letter outside ASCII as a character reference
            pages |= {_references(page, "&#{};", ord), _references(page, "&#x{:x};", ord)}
        out |= pages | {v, json.dumps(v)[1:-1], json.dumps(v, ensure_ascii=False)[1:-1], v.replace('"', '""')}
    return {f for f in out if f}


def _references(text: str, spelling: str, code: Callable[[str], int]) -> str:
    return "".join(spelling.format(code(c)) if ord(c) > 127 else c for c in text)


def values_source(values: Iterable[str]) -> str | None:
    """The case-insensitive pattern matching any of ``values`` in any of its ``forms`` (None: none)."""
    every = sorted({f for v in values if v for f in forms(v)}, key=lambda f: (-len(f), f))
    if not every:
        return None
    worded = "|".join(_bounded(f, head=False) for f in every if _word(f[0]))
    others = "|".join(_bounded(f) for f in every if not _word(f[0]))
    parts = ([f"{HEAD}(?:{worded})"] if worded else []) + ([f"(?:{others})"] if others else [])
    return "(?i)" + "|".join(parts)


def cores(value: str) -> tuple[str, ...]:
    """The runs of ASCII letters and digits in ``value`` (three or more, lower-case): every form of the
    value holds each of them (escaping changes only other characters), so text lacking one lacks the
    value, whatever its form; a cheap test before the pattern."""
    return tuple(sorted({run.lower() for run in re.findall(r"[A-Za-z0-9]{3,}", value)}))


def checked_values(values: Iterable[str]) -> list[str]:
    """The non-blank values, or ``ValueError`` (never naming one) for a value too short to look for."""
    kept = [v for v in values if v and v.strip()]
    short = sum(len(v.strip()) < MIN_VALUE for v in kept)
    if short:
        raise ValueError(
            f"{short} identifying value(s) shorter than {MIN_VALUE} characters: they would match other "
            "people's data; give full e-mails, names and phones"
        )
    return kept


@dataclass
class Tally:
    """What a rewrite changed: entries dropped (rows, actions, lines, list elements) and strings changed
    (a value replaced, an erased id cleared)."""

    rows: int = 0
    cells: int = 0


@dataclass(frozen=True)
class Redactor:
    """The matching of one ``Trace``, compiled."""

    trace: Trace
    value_source: str | None = field(init=False)
    id_source: str | None = field(init=False)
    quoted_ids: tuple[str, ...] = field(init=False)
    _values: re.Pattern[str] | None = field(init=False, repr=False)
    _ids: re.Pattern[str] | None = field(init=False, repr=False)
    _cores: tuple[tuple[str, ...], ...] | None = field(init=False, repr=False)  # None: a value has none

    def __post_init__(self) -> None:
        values = checked_values(self.trace.values)
        runs = tuple(cores(v) for v in values)
        object.__setattr__(self, "_cores", runs if all(runs) else None)
        source = values_source(values)
        words = sorted((i for i in self.trace.ids if len(i) >= ID_WORD_MIN), key=lambda i: (-len(i), i))
        id_source = "|".join(_bounded(i) for i in words) or None
        object.__setattr__(self, "value_source", source)
        object.__setattr__(self, "id_source", id_source)
        object.__setattr__(self, "quoted_ids", tuple(sorted(json.dumps(i) for i in self.trace.ids if i)))
        object.__setattr__(self, "_values", re.compile(source) if source else None)
        object.__setattr__(self, "_ids", re.compile(id_source) if id_source else None)

    @property
    def ids(self) -> frozenset[str]:
        """The erased records' ids."""
        return self.trace.ids

    # ------------------------------------------------------------ text

    def _may_hold(self, text: str) -> bool:
        """False when ``text`` lacks a core of every value (``cores``): it holds none."""
        if self._cores is None:
            return True
        low = text.lower()
        return any(all(run in low for run in runs) for runs in self._cores)

    def holds(self, text: str) -> bool:
        """Whether ``text`` holds a value."""
        return self._values is not None and self._may_hold(text) and self._values.search(text) is not None

    def find(self, text: str) -> int | None:
        """Where ``text`` first holds a value, or None."""
        found = self._values.search(text) if self._values is not None and self._may_hold(text) else None
        if found is None:
            return None
        return found.end("head") if found.groupdict().get("head") is not None else found.start()

    def windows(self, data: bytes, reach: int, most: int = 10_000) -> list[tuple[int, int]] | None:
        """The byte ranges of ``data`` where a value may be: ``reach`` bytes either side of each place
        holding the rarest core of a value whose cores are all there (empty: no value can be); None when
        the whole of ``data`` is to be searched (a value without a core, or more than ``most`` places)."""
        if self._cores is None:
            return None
        low = data.lower()  # ASCII letters only: the cores are ASCII
        spans = []
        for runs in self._cores:
            counted = sorted((low.count(r.encode()), r.encode()) for r in runs)
            if counted[0][0] == 0:
                continue  # a core missing: this value is not there
            count, rarest = counted[0]
            if count > most:
                return None
            at = low.find(rarest)
            while at != -1:
                spans.append((max(0, at - reach), at + len(rarest) + reach))
                at = low.find(rarest, at + 1)
        return sorted(spans)

    def names(self, text: str) -> bool:
        """Whether ``text`` names an erased id (equal, quoted as a JSON string, or a long id as a word)."""
        if text in self.trace.ids:
            return True
        if self._ids is not None and self._ids.search(text):
            return True
        return any(q in text for q in self.quoted_ids)

    def replace(self, text: str) -> tuple[str, int]:
        """``text`` with every value replaced by ``ERASED``, and how many were."""
        if self._values is None:
            return text, 0
        return self._values.subn(ERASED_RE, text)

    def replace_words(self, text: str) -> tuple[str, int]:
        """``text`` with every value and every long erased id replaced (free text: a report, a log line
        that is not JSON)."""
        text, count = self.replace(text)
        if self._ids is not None:
            text, more = self._ids.subn(ERASED, text)
            count += more
        return text, count

    def redact_cell(self, text: str) -> str:
        """A stored text (a state file's cell) with its values replaced: JSON decoded first (values in its
        strings and keys, whatever their escaping), written back only when something changed."""
        if "\\u" not in text and not self.holds(text):
            return text  # decoding reveals no value: only a \u escape hides one from the forms
        if text[:1] in "[{":
            try:
                data = json.loads(text)
            except ValueError:
                return self.replace(text)[0]
            tally = Tally()
            cleaned = self.values_only(data, tally)
            return json.dumps(cleaned, ensure_ascii=False) if tally.cells else text
        return self.replace(text)[0]

    # ------------------------------------------------------------ JSON

    def names_in(self, node: Any) -> bool:
        """Whether a JSON value names an erased id anywhere (a string, a key, at any depth)."""
        if isinstance(node, str):
            return self.names(node)
        if isinstance(node, dict):
            return any(self.names(k) or self.names_in(v) for k, v in node.items())
        if isinstance(node, list):
            return any(self.names_in(v) for v in node)
        return False

    def holds_in(self, node: Any) -> bool:
        """Whether a JSON value holds a value anywhere (a string or a key, at any depth)."""
        if isinstance(node, str):
            return self.holds(node)
        if isinstance(node, dict):
            return any(self.holds(k) or self.holds_in(v) for k, v in node.items())
        if isinstance(node, list):
            return any(self.holds_in(v) for v in node)
        return False

    def clean(self, node: Any, tally: Tally) -> Any:
        """A JSON value without the person: list elements naming an erased id dropped, object entries
        whose key names one dropped, a string equal to one cleared (null), values replaced in strings
        and keys."""
        if isinstance(node, str):
            if node in self.trace.ids:
                tally.cells += 1
                return None
            text, count = self.replace(node)
            tally.cells += bool(count)
            return text
        if isinstance(node, list):
            kept = [v for v in node if not self.names_in(v)]
            tally.rows += len(node) - len(kept)
            return [self.clean(v, tally) for v in kept]
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if self.names(key):
                    tally.rows += 1
                    continue
                new_key, count = self.replace(key)
                tally.cells += bool(count)
                out[new_key] = self.clean(value, tally)
            return out
        return node

    def values_only(self, node: Any, tally: Tally) -> Any:
        """A JSON value with values replaced in its strings and keys, nothing dropped (a journal's
        record: its structure is what undo reads)."""
        if isinstance(node, str):
            text, count = self.replace(node)
            tally.cells += bool(count)
            return text
        if isinstance(node, list):
            return [self.values_only(v, tally) for v in node]
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                new_key, count = self.replace(key)
                tally.cells += bool(count)
                out[new_key] = self.values_only(value, tally)
            return out
        return node
