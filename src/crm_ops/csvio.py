"""Every CSV crm_ops writes or reads: review files (``plan.csv``), Bulk API ingest uploads and their
result files, exports.

Writing: rows end with ``\\n``; a field holding the separator, a quote, a line feed or a carriage return
is quoted (``csv.QUOTE_MINIMAL`` with a ``\\n`` line terminator leaves a lone carriage return bare, and a
reader then splits the row there: rows holding one are written with every field quoted). For files a
person opens in a spreadsheet, ``neutralise`` prefixes a quote to a value a spreadsheet would run as a
formula (starting with ``= + - @``, a tab or a carriage return; numbers such as ``-5`` stay as they are).
Files a CRM reads (Bulk ingest) are quoted, never neutralised: the CRM stores the value as given.

Reading: UTF-8 with or without a byte-order mark, UTF-16 with one (Excel's "Unicode text"); other
encodings (Windows-1252, UTF-16 without a byte-order mark) are refused, naming the encoding and the first
byte that is not UTF-8. The separator is ``,``, ``;`` or a tab, sniffed from the header (Excel writes
``;`` where the decimal comma is usual, and may put a ``sep=;`` line first). Fields of any size are read.
Every row must have the header's number of fields. Each refusal is a ``ConfigError`` naming the file,
the line and, where there is one, the column.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_ops import durable
from crm_ops.errors import ConfigError

SEPARATORS = (",", ";", "\t")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NEUTRAL = "'"  # the prefix that makes a spreadsheet show a value as text
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def neutralise(value: Any) -> str:
    """A cell a spreadsheet shows as text: a value starting like a formula gets a quote in front."""
    text = "" if value is None else str(value)
    if text[:1] in FORMULA_START and not is_number(text):
        return NEUTRAL + text
    return text


def unneutralise(text: str) -> str:
    """A cell as ``neutralise`` was given it: the quote put before a formula-like value taken off."""
    if text[:1] == NEUTRAL and text[1:2] in FORMULA_START and text[1:2] and not is_number(text[1:]):
        return text[1:]
    return text


def is_number(text: str) -> bool:
    """Whether a spreadsheet reads ``text`` as a number (``-5``, ``1e3``): not a formula."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_LONE = re.compile("[\ud800-\udfff]")


def format_rows(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, sep: str = ",", neutralise_values: bool = False
) -> str:
    """The CSV text of ``header`` and ``rows`` (each as long as the header)."""
    buffer = io.StringIO()
    minimal = csv.writer(buffer, delimiter=sep, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    every = csv.writer(buffer, delimiter=sep, lineterminator="\n", quoting=csv.QUOTE_ALL)
    minimal.writerow(header)
    width = len(header)
    for number, row in enumerate(rows, start=1):
        # a file for people: a lone UTF-16 surrogate (no text a CRM stores) shows as U+FFFD, never a crash
        cells = (
            [_LONE.sub("\ufffd", neutralise(v)) for v in row]
            if neutralise_values
            else [_cell(v) for v in row]
        )
        if len(cells) != width:
            raise ValueError(f"row {number} has {len(cells)} fields, the header {width}")
        # a lone CR is not quoted by QUOTE_MINIMAL when the line terminator is "\n": quote the whole row
        (every if "\r" in "\x1f".join(cells) else minimal).writerow(cells)
    return buffer.getvalue()


def write_file(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]], *, neutralise_values: bool = True
) -> Path:
    """Write a CSV file for people (values neutralised by default), atomically and durably."""
    durable.write_text(path, format_rows(header, rows, neutralise_values=neutralise_values))
    return path


@dataclass(frozen=True)
class Row:
    """One record of a CSV file: the line it starts on and its fields by column name."""

    line: int
    values: dict[str, str]

    def get(self, column: str, default: str = "") -> str:
        """A field's text (``default`` when the file has no such column)."""
        return self.values.get(column, default)


@dataclass(frozen=True)
class Table:
    """A CSV file read: its name (for messages), header, separator, encoding and records."""

    name: str
    header: tuple[str, ...]
    rows: tuple[Row, ...]
    sep: str = ","
    encoding: str = "utf-8"
    positions: dict[str, int] = field(default_factory=dict)

    def where(self, row: Row | int, column: str | None = None) -> str:
        """``file:line`` and, given a column, ``column N (name)``: where a refusal points."""
        line = row.line if isinstance(row, Row) else row
        if column is None:
            return f"{self.name}:{line}"
        index = self.positions.get(column)
        shown = f"column {index} ({column})" if index is not None else f"column {column}"
        return f"{self.name}:{line}: {shown}"

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)


def decode(data: bytes, name: str) -> tuple[str, str]:
    """The text of a CSV file's bytes and the encoding read, or a ``ConfigError`` naming the encoding."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), "UTF-16" if encoding == "utf-16" else "UTF-8 (with BOM)"
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{name}:{_line_col(data, exc.start)}: not valid {encoding.upper()} ({exc.reason})"
                ) from None
    if b"\x00" in data[:4096]:
        raise ConfigError(
            f"{name}:1: the file looks like UTF-16 without a byte-order mark (NUL bytes): save it as "
            "CSV UTF-8"
        )
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError as exc:
        guess = "Windows-1252 (Excel's 'CSV' on Windows) or Latin-1" if _cp1252(data) else "not UTF-8"
        raise ConfigError(
            f"{name}:{_line_col(data, exc.start)}: byte 0x{data[exc.start]:02X} is not UTF-8: the file "
            f"looks like {guess}; save it as 'CSV UTF-8'"
        ) from None


def _cp1252(data: bytes) -> bool:
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def _line_col(data: bytes, offset: int) -> str:
    """``line: column N`` of a byte offset (columns in characters of the line read so far)."""
    before = data[:offset]
    line = before.count(b"\n") + 1
    start = before.rfind(b"\n") + 1
    column = len(before[start:].decode("utf-8", errors="replace")) + 1
    return f"{line}: column {column}"


def _first_record(text: str, sep: str) -> list[str]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    return next(reader, [])


def sniff(text: str, required: Sequence[str] = ()) -> str:
    """The separator of a CSV text: the one whose header holds the required columns, else the one that
    splits the header into the most fields (``,`` on a tie)."""
    best, most = ",", 0
    for sep in SEPARATORS:
        fields = [f.strip() for f in _first_record(text, sep)]
        if required and all(r in fields for r in required):
            return sep
        if len(fields) > most:
            best, most = sep, len(fields)
    return best


def read_text(text: str, name: str, *, required: Sequence[str] = (), encoding: str = "UTF-8") -> Table:
    """Read CSV text (``name`` for messages); ``required`` columns must be in the header."""
    first_line = 1
    head, _, rest = text.partition("\n")
    if head.strip().lower().startswith("sep=") and len(head.strip()) == 5:
        sep = head.strip()[4]  # Excel's separator hint line
        text, first_line = rest, 2
    else:
        sep = sniff(text, required)
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=False)
    lines_before = first_line - 1
    try:
        header = tuple(h.strip() for h in next(reader, []))
    except csv.Error as exc:
        raise ConfigError(f"{name}:{first_line}: not CSV ({exc})") from None
    if not header or header == ("",):
        raise ConfigError(f"{name}:{first_line}: the file is empty (no header line)")
    positions = {h: i for i, h in reversed(list(enumerate(header, start=1)))}
    missing = [r for r in required if r not in positions]
    if missing:
        raise ConfigError(
            f"{name}:{first_line}: the header lacks the column(s) {', '.join(missing)} (it has "
            f"{', '.join(h for h in header if h) or 'none'}; separator {_shown(sep)})"
        )
    rows: list[Row] = []
    start = lines_before + reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ConfigError(f"{name}:{start}: not CSV ({exc})") from None
        if cells and any(c != "" for c in cells):
            if len(cells) != len(header):
                raise ConfigError(
                    f"{name}:{start}: column {min(len(cells), len(header)) + 1}: {len(cells)} field(s), the "
                    f"header has {len(header)} (a value with a line break or a {_shown(sep)} not in quotes?)"
                )
            rows.append(Row(start, dict(zip(header, cells, strict=True))))
        start = lines_before + reader.line_num + 1
    return Table(name, header, tuple(rows), sep, encoding, positions)


def read_file(path: Path, *, required: Sequence[str] = ()) -> Table:
    """Read a CSV file (see the module's notes); every problem is a ``ConfigError`` naming its place."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror}") from None
    text, encoding = decode(data, str(path))
    return read_text(text, str(path), required=required, encoding=encoding)


def _shown(sep: str) -> str:
    return {"\t": "tab", ",": "','", ";": "';'"}.get(sep, repr(sep))
