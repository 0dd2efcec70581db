"""A plan's files from its actions as a frame, column by column (polars), with no Python object per
action: each JSON line is what ``json.dumps(..., sort_keys=True)`` gives for the action, each CSV row
what ``crm_ops.csvio.format_rows`` (values neutralised) gives, byte for byte.

Python's own encoders still decide what only they can say exactly, but once per distinct value and only
for the values that need it: a text with a character JSON escapes (a quote, a backslash, a control or
non-ASCII character), a number's ``repr``, a cell starting like a formula (``csvio.neutralise``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from crm_ops import csvio, durable

ESCAPED = r'[^\x20-\x7e]|["\\]'  # what json.dumps (ensure_ascii) writes otherwise than as itself
QUOTED = r'[,"\n]'  # what csv.QUOTE_MINIMAL quotes with "," and a "\n" line terminator
FORMULA = "^[" + "".join("\\" + c if c in "-\\^]" else c for c in "".join(csvio.FORMULA_START)) + "]"


def by_distinct(values: pl.Series, wanted: pl.Series, say: Callable[[Any], str]) -> pl.Series:
    """``values`` as text, each value where ``wanted`` holds replaced by ``say(value)``, computed once
    per distinct value (the others as they are; null stays null)."""
    odd = values.filter(wanted).unique().drop_nulls().to_list()
    if values.dtype != pl.String:
        return values.replace_strict(odd, [say(v) for v in odd], return_dtype=pl.String)
    return values.replace(odd, [say(v) for v in odd]) if odd else values


def json_values(values: pl.Series) -> pl.Series:
    """``values`` as JSON: text quoted and escaped, numbers as Python writes them, true/false, null."""
    if values.dtype == pl.String:
        escaped = values.str.contains(ESCAPED).fill_null(False)
        odd = by_distinct(values, escaped, json.dumps)
        plain = pl.concat_str(pl.lit('"'), pl.lit(values), pl.lit('"'))
        shown = pl.select(pl.when(pl.lit(escaped)).then(pl.lit(odd)).otherwise(plain)).to_series()
    elif values.dtype == pl.Boolean:
        shown = pl.select(pl.when(pl.lit(values)).then(pl.lit("true")).otherwise(pl.lit("false"))).to_series()
    elif values.dtype.is_numeric():
        shown = by_distinct(values, values.is_not_null(), json.dumps)
    elif values.dtype == pl.Null:
        shown = pl.Series(values.name, [None] * values.len(), pl.String)
    else:
        raise TypeError(f"column {values.name}: no JSON for {values.dtype}")
    return pl.select(
        pl.when(pl.lit(values).is_null()).then(pl.lit("null")).otherwise(pl.lit(shown))
    ).to_series()


def json_objects(
    frame: pl.DataFrame, raw: Sequence[str] = (), fixed: Mapping[str, Any] | None = None
) -> pl.Series:
    """Each row of ``frame`` as ``json.dumps({**row, **fixed}, sort_keys=True)`` writes it; the columns
    ``raw`` hold JSON text already (null: ``null``)."""
    fixed = fixed or {}
    parts: list[pl.Series] = []
    for i, key in enumerate(sorted([*frame.columns, *fixed])):
        parts.append(pl.Series([("{" if i == 0 else ", ") + json.dumps(key) + ": "]))
        if key in fixed:
            parts.append(pl.Series([json.dumps(fixed[key])]))
        elif key in raw:
            parts.append(frame[key].cast(pl.String).fill_null("null"))
        else:
            parts.append(json_values(frame[key]))
    if not parts:
        return pl.Series(["{}"] * frame.height, dtype=pl.String)
    return frame.select(pl.concat_str([*(pl.lit(p) for p in parts), pl.lit("}")])).to_series()


def csv_cells(values: pl.Series) -> pl.Series:
    """``values`` as ``csvio.neutralise`` makes cells: empty for null, ``str`` of a value, a quote before
    what a spreadsheet would run as a formula."""
    if values.dtype == pl.Null:
        return pl.Series(values.name, [""] * values.len(), pl.String)
    if values.dtype != pl.String:
        values = by_distinct(values, values.is_not_null(), str)
    text = values.fill_null("")
    return by_distinct(text, text.str.contains(FORMULA), csvio.neutralise)


def csv_lines(frame: pl.DataFrame) -> pl.Series:
    """Each row of ``frame`` (its columns, in order) as a CSV line without its line end: a field holding
    ``,``, ``"`` or a line feed quoted, every field quoted on a row holding a carriage return."""
    cells = [pl.lit(csv_cells(frame[c])) for c in frame.columns]
    quoted = [
        pl.concat_str(pl.lit('"'), c.str.replace_all('"', '""', literal=True), pl.lit('"')) for c in cells
    ]
    minimal = [
        pl.when(c.str.contains(QUOTED)).then(q).otherwise(c) for c, q in zip(cells, quoted, strict=True)
    ]
    has_cr = pl.any_horizontal([c.str.contains("\r", literal=True) for c in cells])
    line = (
        pl.when(has_cr)
        .then(pl.concat_str(quoted, separator=","))
        .otherwise(pl.concat_str(minimal, separator=","))
    )
    return frame.select(line).to_series() if frame.height else pl.Series([], dtype=pl.String)


def write_lines(path: Path, first: str, lines: pl.Series) -> Path:
    """Write ``first`` and then each of ``lines``, every line ending in ``\\n`` (UTF-8), atomically,
    durably, 0600."""

    def write(tmp: Path) -> None:
        with durable.private_file(tmp).open("wb") as out:
            out.write(first.encode("utf-8") + b"\n")
            if lines.len():  # each line as it is: never quoted, never escaped
                lines.to_frame("line").write_csv(out, include_header=False, quote_style="never")

    durable.write_with(path, write)
    return path
