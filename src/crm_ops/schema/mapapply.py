"""Applying a field map: ``apply`` turns a frame of raw CRM columns into the canonical frame: every
canonical column present and typed, values converted from the CRM's wire form (strings, in Bulk CSV and
HubSpot JSON; ``convert``), and the other custom fields carried as ``custom_<name>`` string columns.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from crm_ops.schema.entities import (
    COMMON,
    CUSTOM_PREFIX,
    ENTITIES,
    STR,
    TIME,
)
from crm_ops.schema.fieldmap import (
    EntityMap,
)


def _parse_time(expr: pl.Expr) -> pl.Expr:
    """ISO 8601 strings as Salesforce and HubSpot write them (``...Z``, ``...+0000``, or epoch ms)."""
    text = expr.str.strip_chars()
    iso = (
        text.str.replace(r"Z$", "+00:00")
        .str.replace(r"([+-]\d\d)(\d\d)$", "${1}:${2}")
        .str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="ms", strict=False)
    )
    epoch = pl.when(text.str.contains(r"^\d{10,}$")).then(
        pl.from_epoch(text.cast(pl.Int64, strict=False), time_unit="ms")
    )
    return pl.coalesce(iso, epoch.dt.replace_time_zone("UTC")).dt.convert_time_zone("UTC")


def convert(expr: pl.Expr, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    """Convert a raw column to a canonical type; strings (the wire form) are parsed."""
    if source == target == pl.String():
        # neither CRM tells an empty text field from an absent one; Bulk CSV writes both as ""
        return pl.when(expr == "").then(None).otherwise(expr)
    if source == target:
        return expr
    if source == pl.String():
        blank = expr.str.strip_chars().replace("", None)
        if target == pl.Boolean():
            return blank.str.to_lowercase().replace_strict(
                {"true": True, "false": False, "1": True, "0": False}, default=None, return_dtype=pl.Boolean
            )
        if target == TIME:
            return _parse_time(blank)
        if target == pl.Date():
            return blank.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        if target in (pl.Float64(), pl.Int64()):
            numeric = blank.cast(pl.Float64, strict=False)
            return numeric.round(0).cast(pl.Int64) if target == pl.Int64() else numeric
        return blank.cast(target)
    if target == pl.String():
        if source.is_float():
            # 200000123.0 -> "200000123": ids that travelled as numbers
            return (
                pl.when(expr == expr.floor())
                .then(expr.cast(pl.Int64).cast(pl.String))
                .otherwise(expr.cast(pl.String))
            )
        return expr.cast(pl.String)
    if target == pl.Date() and isinstance(source, pl.Datetime):
        return expr.dt.date()
    if target == TIME and isinstance(source, pl.Datetime):
        return (
            expr.dt.replace_time_zone("UTC") if source.time_zone is None else expr.dt.convert_time_zone("UTC")
        )
    return expr.cast(target)


def _transformed(expr: pl.Expr, transform: str | None, target: pl.DataType) -> pl.Expr:
    if transform == "fraction_to_percent":
        return expr * 100.0
    if transform == "negate":
        return ~expr
    return expr


def apply(emap: EntityMap, raw: pl.DataFrame, *, custom: Iterable[str] = ()) -> pl.DataFrame:
    """The canonical frame of ``raw`` (a frame of CRM fields): typed, every column present, customs last."""
    schema = ENTITIES.get(emap.entity, COMMON)  # a declared entity's own columns follow as extras
    raw_types = raw.schema
    exprs: list[pl.Expr] = []
    for column, target in schema.items():
        src = emap.columns.get(column)
        if column == "source_system":
            exprs.append(pl.lit(emap.system, pl.String).alias(column))
        elif src is None:
            exprs.append(pl.lit(None, target).alias(column))
        elif src.is_constant:
            exprs.append(pl.lit(src.constant).cast(target).alias(column))
        else:
            name = src.raw_column or ""
            if name not in raw_types:
                exprs.append(pl.lit(None, target).alias(column))
                continue
            source_type = raw_types[name]
            step = pl.col(name)
            if src.transform == "date":
                step = convert(step, source_type, TIME) if source_type == pl.String() else step
                step = step.dt.date() if src.transform == "date" else step
                exprs.append(convert(step, pl.Date(), target).alias(column))
                continue
            exprs.append(
                _transformed(convert(step, source_type, target), src.transform, target).alias(column)
            )
    extra = {c: s for c, s in emap.columns.items() if c not in schema}
    for column, src in extra.items():
        name = src.raw_column or ""
        target = src.dtype or STR
        exprs.append(
            (
                convert(pl.col(name), raw_types[name], target) if name in raw_types else pl.lit(None, target)
            ).alias(column)
        )
    for name in custom:
        if name in raw_types and emap.column_for(name) is None:
            exprs.append(convert(pl.col(name), raw_types[name], pl.String()).alias(CUSTOM_PREFIX + name))
    return raw.select(exprs)
