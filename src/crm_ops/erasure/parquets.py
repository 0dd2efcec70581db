"""A person taken out of a Parquet file, vectorised in polars (a million-row snapshot in seconds): one
streaming pass counts what the person left in it (a file without any is not touched: a second purge
writes nothing), a second writes it again without them, atomically and with its modification time kept
(pulls prune generations, and retention ages files, by that time).

- A snapshot (``own_ids``: the records are the file's rows): the rows whose ``id`` is erased are dropped;
  the other rows keep their place, a cell equal to an erased id cleared (the CRM clears such a lookup,
  and a list drops it), values replaced in every string cell, in list and struct columns too.
- Derived data (findings, match pairs and links, a run's findings): a row naming an erased id in any cell
  (a record, the other record of a pair, a survivor inside a JSON detail or a message) is dropped, and so
  is a row whose ``proposed_value`` or ``detail`` (what a plan built from it would write) holds a value;
  values are replaced in the others.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import polars as pl
from polars._typing import PolarsDataType

from crm_ops import durable
from crm_ops.erasure.redaction import ERASED_POLARS, Redactor, Tally

WRITTEN = ("proposed_value", "detail")  # a finding's columns a plan writes to a CRM


def _text(dtype: PolarsDataType) -> bool:
    return dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)


def _any(expr: pl.Expr, dtype: PolarsDataType, leaf: Callable[[pl.Expr], pl.Expr]) -> pl.Expr | None:
    """Per row: whether ``leaf`` (a test of a text cell) holds for the cell, or for any text inside it
    (a list's elements, a struct's fields, at any depth); None for a type holding no text."""
    if _text(dtype):
        return leaf(expr.cast(pl.String)).fill_null(False)
    if isinstance(dtype, pl.List | pl.Array):
        inner = _any(pl.element(), dtype.inner, leaf)
        return None if inner is None else expr.list.eval(inner).list.any().fill_null(False)
    if isinstance(dtype, pl.Struct):
        parts = [_any(expr.struct.field(f.name), f.dtype, leaf) for f in dtype.fields]
        kept = [p for p in parts if p is not None]
        return pl.any_horizontal(kept).fill_null(False) if kept else None
    return None


def holds_expr(expr: pl.Expr, dtype: PolarsDataType, source: str) -> pl.Expr | None:
    """Per row: whether the cell holds a value anywhere inside."""
    return _any(expr, dtype, lambda text: text.str.contains(source))


def _names(expr: pl.Expr, dtype: PolarsDataType, redactor: Redactor) -> pl.Expr | None:
    """Per row: whether the cell names an erased id anywhere inside (``Redactor.names``)."""

    def leaf(text: pl.Expr) -> pl.Expr:
        found = text.is_in(sorted(redactor.ids))
        if redactor.id_source:
            found = found | text.str.contains(redactor.id_source)
        if redactor.quoted_ids:
            found = found | text.str.contains_any(list(redactor.quoted_ids))
        return found

    return _any(expr, dtype, leaf)


def _equal(expr: pl.Expr, dtype: PolarsDataType, ids: list[str]) -> pl.Expr | None:
    """Per row: whether the cell is, or a list in it holds, an erased id (a lookup to clear)."""
    return _any(expr, dtype, lambda text: text.is_in(ids))


def _cleaned(expr: pl.Expr, dtype: PolarsDataType, ids: list[str], source: str | None) -> pl.Expr:
    """The cell without the person: equal to an erased id, null (a list drops it); values replaced."""
    if _text(dtype):
        text = expr.cast(pl.String)
        replaced = text.str.replace_all(source, ERASED_POLARS) if source else text
        out = pl.when(text.is_in(ids)).then(None).otherwise(replaced)
        return out if dtype == pl.String else out.cast(pl.String)  # a category may be new: text now
    if isinstance(dtype, pl.List | pl.Array):
        element = pl.element()
        if _text(dtype.inner):
            element = element.filter(~element.cast(pl.String).is_in(ids).fill_null(False))
            return expr.list.eval(_cleaned(element, dtype.inner, ids, source))
        return expr.list.eval(_cleaned(element, dtype.inner, ids, source))
    if isinstance(dtype, pl.Struct):
        fields = [
            _cleaned(expr.struct.field(f.name), f.dtype, ids, source).alias(f.name) for f in dtype.fields
        ]
        return pl.when(expr.is_null()).then(None).otherwise(pl.struct(fields))
    return expr


def purge_parquet(path: Path, redactor: Redactor, *, own_ids: bool) -> Tally | None:
    """Rewrite ``path`` without the person (see the module); what changed, or None when nothing had to
    (the file left as it was)."""
    scan = pl.scan_parquet(path)
    schema = scan.collect_schema()
    ids = sorted(redactor.ids)
    source = redactor.value_source
    dropped = _dropped(schema, redactor, own_ids)
    touched: dict[str, pl.Expr] = {}
    for name, dtype in schema.items():
        if own_ids and name == "id":
            continue
        checks = [e for e in (_equal(pl.col(name), dtype, ids),) if e is not None]
        if source:
            held = holds_expr(pl.col(name), dtype, source)
            checks += [held] if held is not None else []
        if checks:
            touched[name] = pl.any_horizontal(checks)
    keep = ~dropped if dropped is not None else pl.lit(True)
    counts = (
        scan.select(
            (~keep).sum().alias("__dropped"),
            *(pl.when(keep).then(e).otherwise(False).sum().alias(f"__cell_{n}") for n, e in touched.items()),
        )
        .collect(engine="streaming")
        .row(0, named=True)
    )
    tally = Tally(rows=int(counts["__dropped"] or 0))
    tally.cells = sum(int(counts[f"__cell_{n}"] or 0) for n in touched)
    if not tally.rows and not tally.cells:
        return None
    changed = [n for n in touched if counts[f"__cell_{n}"]]
    out = scan.filter(keep).with_columns(
        _cleaned(pl.col(n), schema[n], ids, source).alias(n) for n in changed
    )
    stamp = path.stat()

    def write(tmp: Path) -> None:
        out.sink_parquet(tmp, compression="zstd", statistics=True)
        os.utime(tmp, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))

    durable.write_with(path, write)
    return tally


def _dropped(schema: pl.Schema, redactor: Redactor, own_ids: bool) -> pl.Expr | None:
    """Per row: whether the row goes (a snapshot: its own id is erased; derived data: it names one, or
    what a plan would write from it holds a value)."""
    if own_ids:
        if "id" not in schema:
            return None
        return pl.col("id").cast(pl.String).is_in(sorted(redactor.ids)).fill_null(False)
    parts = [e for n, t in schema.items() if (e := _names(pl.col(n), t, redactor)) is not None]
    if redactor.value_source:
        for name in WRITTEN:
            if name in schema:
                held = holds_expr(pl.col(name), schema[name], redactor.value_source)
                parts += [held] if held is not None else []
    return pl.any_horizontal(parts) if parts else None
