"""Whether any trace of an erased person is left under a state dir (``find_traces``), by the same matching
as the purge (``crm_ops.erasure.redaction``): every byte of every file is searched for each value
(case-insensitively, as is and in its escaped forms), and what compression or encoding hides is decoded:
each string of a Parquet file (list and struct columns too), each text cell of a SQLite file (JSON in
it decoded), each string of a JSON or JSON-lines file. The answer names places, never the value:
``snapshots/salesforce/Contact/x.parquet: column email``, ``state.sqlite: table journal column before``,
``runs/r/report.html line 12``, ``state.sqlite: raw bytes near byte 40960`` (a deleted copy)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from crm_ops.erasure.parquets import holds_expr
from crm_ops.erasure.redaction import Redactor, Trace, forms

CHUNK = 8 << 20  # bytes read at a time
LINES_SHOWN = 20  # the lines named per file; the rest counted
TEXTS = (".html", ".htm", ".md", ".txt", ".json", ".jsonl", ".log", ".csv", ".lock")
SQLITE = b"SQLite format 3\x00"


def find_traces(state_dir: Path, values: Iterable[str]) -> list[str]:
    """Each place under ``state_dir`` still holding one of ``values`` (see the module), in path order;
    empty when no trace is left. Blank values are skipped; a value under ``MIN_VALUE`` characters is a
    ``ValueError`` (it would find other people's data)."""
    kept = [v for v in values if v and v.strip()]
    if not kept:
        return []
    redactor = Redactor(Trace(frozenset(), frozenset(kept)))
    overlap = 4 * max(len(f.encode("utf-8", "surrogatepass")) for v in kept for f in forms(v)) + 16
    found: list[str] = []
    for path in sorted(p for p in state_dir.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = path.relative_to(state_dir)
        found += [f"{relative}{where}" for where in _places(path, redactor, overlap)]
    return found


def _places(path: Path, redactor: Redactor, overlap: int) -> list[str]:
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE))
    if head == SQLITE:
        return _sqlite(path, redactor, overlap)
    if path.suffix == ".parquet":
        return _parquet(path, redactor, overlap)
    if path.suffix in TEXTS:
        return _text(path, redactor)
    near = raw_offset(path, redactor, overlap)
    return [] if near is None else [f": raw bytes near byte {near}"]


def raw_offset(path: Path, redactor: Redactor, overlap: int = 4096) -> int | None:
    """About where ``path``'s bytes (read as UTF-8, a chunk at a time) first hold a value; None if not."""
    offset, tail = 0, b""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            data = tail + chunk
            spans = redactor.windows(data, overlap)
            for begin, end in [(0, len(data))] if spans is None else spans:
                text = data[begin:end].decode("utf-8", errors="replace")
                start = redactor.find(text)
                if start is not None:
                    held = len(text[:start].encode("utf-8", "replace"))
                    return max(0, offset - len(tail) + begin + held)
            tail = data[-overlap:]
            offset += len(chunk)
    return None


def file_holds(path: Path, redactor: Redactor) -> bool:
    """Whether ``path``'s bytes hold a value (a file of a kind the purge does not rewrite)."""
    return raw_offset(path, redactor) is not None


def _text(path: Path, redactor: Redactor) -> list[str]:
    """The lines of a text file holding a value, as is or once decoded (a JSON string's escapes)."""
    data = path.read_bytes()
    utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")  # a spreadsheet's "Unicode text" (crm_ops.csvio reads it)
    text = data.decode("utf-16" if utf16 else "utf-8", errors="replace")
    lines = []
    whole_json = path.suffix == ".json"
    for number, line in enumerate(text.splitlines(), start=1):
        if redactor.holds(line) or (not whole_json and _decoded_holds(line, redactor)):
            lines.append(number)
    if whole_json and not lines and _decoded_holds(text, redactor):
        return [": a JSON string (escaped)"]
    out = [f" line {n}" for n in lines[:LINES_SHOWN]]
    if len(lines) > LINES_SHOWN:
        out.append(f": {len(lines) - LINES_SHOWN} more lines")
    return out


def _decoded_holds(text: str, redactor: Redactor) -> bool:
    if "\\u" not in text:
        return False
    try:
        return redactor.holds_in(json.loads(text))
    except ValueError:
        return False


def _parquet(path: Path, redactor: Redactor, overlap: int) -> list[str]:
    """The columns holding a value (decoded), and the file's raw bytes (its footer's statistics)."""
    out = []
    source = redactor.value_source or "$^"
    try:
        scan = pl.scan_parquet(path)
        tests = {
            n: e
            for n, t in scan.collect_schema().items()
            if (e := holds_expr(pl.col(n), t, source)) is not None
        }
        if tests:  # one pass over the file for every column
            found = scan.select(e.any().alias(n) for n, e in tests.items()).collect(engine="streaming")
            out += [f": column {n}" for n in tests if found[n][0]]
    except (OSError, pl.exceptions.PolarsError) as exc:
        out.append(f": not readable as Parquet ({type(exc).__name__}): its bytes searched only")
    near = raw_offset(path, redactor, overlap)
    if near is not None:
        out.append(f": raw bytes near byte {near}")
    return out


def _sqlite(path: Path, redactor: Redactor, overlap: int) -> list[str]:
    """The tables and columns whose text (JSON decoded) holds a value, and the raw bytes (a deleted row's
    copy in a free page, the write-ahead log)."""
    out = []
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        for table in tables:
            columns = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]
            quoted = ", ".join(f'"{c}"' for c in columns)
            hit: set[str] = set()
            for row in db.execute(f'SELECT {quoted} FROM "{table}"'):  # noqa: S608
                for column, cell in zip(columns, row, strict=True):
                    if isinstance(cell, str) and (redactor.holds(cell) or _decoded_holds(cell, redactor)):
                        hit.add(column)
            out += [f": table {table} column {c}" for c in columns if c in hit]
    except sqlite3.Error as exc:
        out.append(f": not readable as SQLite ({type(exc).__name__}): its bytes searched only")
    finally:
        db.close()
    near = raw_offset(path, redactor, overlap)
    if near is not None and not out:
        out.append(f": raw bytes near byte {near} (a deleted or earlier copy)")
    return out
