"""Reading a file source: CSV, Parquet and JSON Lines files (a path or a glob) through polars.

CSV is read as text (every column a string) and converted by the source's map, so that a value that is
not what its column needs is reported at its place rather than guessed: the place of a row is found
again with ``crm_ops.csvio`` (which names file, line and column, and reads what polars refuses: UTF-16
with a BOM, Excel's ``sep=`` line) only when something is wrong. JSON Lines and Parquet are read typed;
a JSON line that does not parse is named by its line.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from crm_ops import csvio
from crm_ops.errors import ConfigError

FORMAT_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


def file_format(path: Path, given: str) -> str:
    """The format of ``path``: ``given`` unless auto, else from the extension."""
    if given != "auto":
        return given
    fmt = FORMAT_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"{path}: cannot tell the format from the extension {path.suffix or '(none)'!r}; "
            "set format = csv, parquet or jsonl"
        )
    return fmt


def matching_files(pattern: str) -> list[Path]:
    """The files a path or glob names, in name order (``**`` recursive)."""
    if glob.has_magic(pattern):
        files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())  # noqa: PTH207 - absolute patterns too
        if not files:
            raise ConfigError(f"{pattern}: no file matches")
        return files
    path = Path(pattern)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    return [path]


@dataclass
class FileData:
    """One file read: its rows (raw columns) and how to say where row ``i`` is."""

    path: Path
    format: str
    frame: pl.DataFrame
    lines: list[int] | None = None  # CSV / JSON Lines: the line of each row, found when asked
    header: tuple[str, ...] = ()

    def place(self, row: int, column: str | None = None) -> str:
        """``file:line: column N (name)`` (CSV), ``file:line`` (JSON Lines), ``file: row N`` (Parquet)."""
        if self.format == "parquet":
            where = f"{self.path}: row {row + 1}"
        else:
            if self.lines is None:
                self.lines = self._find_lines()
            line = self.lines[row] if row < len(self.lines) else row + 2
            where = f"{self.path}:{line}"
        if column is not None:
            if self.format == "csv" and column in self.header:
                where += f": column {self.header.index(column) + 1} ({column})"
            else:
                where += f": column {column}"
        return where

    def _find_lines(self) -> list[int]:
        if self.format == "csv":
            return [r.line for r in csvio.read_file(self.path).rows]
        lines = []
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    lines.append(number)
        return lines


def read_file(path: Path, fmt: str, required: tuple[str, ...] = ()) -> FileData:
    """Read one file whole; a file that cannot be read is a ``ConfigError`` naming file, line, column."""
    if fmt == "parquet":
        try:
            return FileData(path, fmt, pl.read_parquet(path))
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise ConfigError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None
    if fmt == "jsonl":
        return _read_jsonl(path)
    return _read_csv(path, required)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _read_csv(path: Path, required: tuple[str, ...]) -> FileData:
    try:
        with path.open("rb") as handle:
            head = handle.read(65536).decode("utf-8-sig", errors="ignore")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror}") from None
    frame = None
    if not head.lower().startswith("sep="):  # Excel's separator line: csvio reads those
        try:
            frame = pl.read_csv(path, infer_schema=False, separator=csvio.sniff(head, required))
        except pl.exceptions.PolarsError:
            frame = None  # a row wider than the header, not UTF-8...: csvio names the place
    if frame is None:
        table = csvio.read_file(path, required=required)
        columns = {h: [r.get(h) for r in table.rows] for h in table.header}
        frame = pl.DataFrame(columns, schema=dict.fromkeys(table.header, pl.String))
        return FileData(path, "csv", frame, [r.line for r in table.rows], table.header)
    frame = frame.rename({c: c.strip() for c in frame.columns})
    # blank lines come through as rows of nulls: csvio skips them, and so must row numbering
    blank = pl.all_horizontal(pl.all().is_null() | (pl.all() == ""))
    frame = frame.filter(~blank)
    return FileData(path, "csv", frame, None, tuple(frame.columns))


def _read_jsonl(path: Path) -> FileData:
    try:
        frame = pl.read_ndjson(path, infer_schema_length=None)
    except (pl.exceptions.PolarsError, OSError) as exc:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    record: Any = json.loads(raw)
                except ValueError as bad:
                    raise ConfigError(f"{path}:{number}: not JSON ({bad})") from None
                if not isinstance(record, dict):
                    raise ConfigError(
                        f"{path}:{number}: a JSON Lines record is an object, got {record!r:.60}"
                    ) from None
        raise ConfigError(f"{path}: not readable as JSON Lines ({_first_line(exc)})") from None
    return FileData(path, "jsonl", frame)


def file_pages(
    files: list[Path], fmt: str, page_rows: int, cursor: dict[str, Any] | None, required: tuple[str, ...]
) -> Iterator[tuple[FileData, pl.DataFrame, int, dict[str, Any] | None]]:
    """Pages of ``page_rows`` rows over ``files`` from ``cursor`` ({"files", "file", "row"}): each with
    its file, its rows, the index of its first row in the file and the cursor after it (None: done)."""
    names = [str(f) for f in files] if cursor is None else list(cursor["files"])
    index, row = (0, 0) if cursor is None else (int(cursor["file"]), int(cursor["row"]))
    while index < len(names):
        path = Path(names[index])
        data = read_file(path, file_format(path, fmt), required)
        while row < data.frame.height or (row == 0 and data.frame.height == 0):
            rows = data.frame.slice(row, page_rows)
            start, row = row, row + max(rows.height, 1)
            done_file = row >= data.frame.height
            following = (index + 1, 0) if done_file else (index, row)
            after = (
                None
                if done_file and index + 1 >= len(names)
                else {"files": names, "file": following[0], "row": following[1]}
            )
            yield data, rows, start, after
            if done_file:
                break
        index, row = index + 1, 0
