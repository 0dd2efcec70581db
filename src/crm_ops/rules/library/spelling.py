"""How names are written: no stray spaces, not all in one case; the case restored from the spelling
most used across the base."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from crm_ops.rules.library.registry import as_text, check, field_of, fixer
from crm_ops.values.companies import LEGAL_BY_FOLD

if TYPE_CHECKING:
    from crm_ops.rules.model import RuleContext


def by_distinct(frame: pl.DataFrame, column: str, judge: Callable[[pl.Expr], pl.Expr]) -> pl.Series:
    """``judge`` (an expression of the column's text) evaluated once per distinct value and spread back
    to the rows: names, titles and countries repeat, so a million rows hold a few thousand values."""
    values = frame.get_column(column).cast(pl.String).alias("__v")
    judged = values.unique().to_frame().with_columns(judge(pl.col("__v")).alias("__out"))
    return (
        values.to_frame()
        .join(judged, on="__v", how="left", nulls_equal=True, maintain_order="left")
        .get_column("__out")
    )


@check("name_clean")
def name_clean(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Series | pl.Expr:
    """Fails on stray spaces (leading, trailing, doubled) and on names written all in one case."""
    column = field_of(params)
    if column not in frame.columns:
        return _name_clean(as_text(column))
    return by_distinct(frame, column, _name_clean_staged)


def _name_clean_staged(v: pl.Expr) -> pl.Expr:
    """``_name_clean`` with its letters computed once (the expression uses them four times)."""
    letters = v.str.replace_all(r"[^\p{L}]", "")
    return pl.struct(v.alias("v"), letters.alias("l")).map_batches(
        lambda s: s.struct.unnest().select(_name_clean(pl.col("v"), pl.col("l"))).to_series(),
        return_dtype=pl.Boolean,
    )


def _name_clean(v: pl.Expr, letters: pl.Expr | None = None) -> pl.Expr:
    letters = v.str.replace_all(r"[^\p{L}]", "") if letters is None else letters
    spaces = v.str.contains(r"^\s|\s$|\s{2,}")
    lower = (letters.str.len_chars() >= 2) & (letters == letters.str.to_lowercase())
    upper = (letters.str.len_chars() >= 4) & (letters == letters.str.to_uppercase()) & ~v.str.contains(r"\s")
    upper_words = (letters.str.len_chars() >= 4) & (v == v.str.to_uppercase()) & v.str.contains(r"\s")
    return ~(spaces | lower | upper | upper_words).fill_null(False)


def _smart_title(text: str) -> str:
    def word(w: str) -> str:
        if w.casefold() in LEGAL_BY_FOLD:
            return LEGAL_BY_FOLD[w.casefold()]
        parts = re.split(r"([-'])", w.lower())
        out = "".join(p[:1].upper() + p[1:] if p not in "-'" else p for p in parts)
        if re.match(r"^Mc[a-z]", out):
            out = "Mc" + out[2:3].upper() + out[3:]
        return out

    return " ".join(word(w) for w in text.split())


def _casing_reference(ctx: RuleContext, columns: Iterable[str]) -> dict[str, Any]:
    """The most common spelling of each name across the base (both CRMs), among well-written values."""
    key = ("casing", tuple(columns))
    cached = ctx.cache.get(key)
    if isinstance(cached, dict):
        return cached
    series = []
    for system in ctx.systems():
        for entity, frame in ctx.frames(system).items():
            for column in columns:
                if column in frame.columns and entity != "Owner":
                    series.append(frame.get_column(column).cast(pl.String).drop_nulls().alias("v"))
    if not series:
        return {}
    # names repeat (a few thousand spellings over millions of records): each distinct spelling is
    # judged once, with how often it is written
    counted = pl.concat(series).to_frame().group_by("v").len()
    good = counted.filter(_name_clean_staged(pl.col("v")))  # distinct already: no ``by_distinct``
    table = (
        good.with_columns(k=pl.col("v").str.to_lowercase())
        .sort(["k", "len", "v"], descending=[False, True, False])
        .unique("k", keep="first")
    )
    reference: dict[str, Any] = dict(zip(table["k"].to_list(), table["v"].to_list(), strict=True))
    ctx.cache[key] = reference
    ctx.cache[("casing_good", *key[1:])] = good  # its words counted when a name not in it asks (``_words``)
    return reference


def _words(ctx: RuleContext, columns: Iterable[str], reference: dict[str, Any]) -> dict[str, Any]:
    """The most common spelling of each word of the well-written names (``_casing_reference``'s of
    ``columns``), counted the first time a name that is not in the reference asks, and kept in it as
    ``"\0words"`` (where the Spark engine puts the ones it counted: ``crm_ops.spark.needs``)."""
    words = reference.get("\0words")
    if isinstance(words, dict):
        return words
    good = ctx.cache.get(("casing_good", tuple(columns)))
    if not isinstance(good, pl.DataFrame):
        return {}
    tokens = (
        good.select(pl.col("v").str.split(" ").alias("w"), "len").explode("w").filter(pl.col("w") != "")
        .group_by("w").agg(pl.col("len").sum()).with_columns(k=pl.col("w").str.to_lowercase())
        .sort(["k", "len", "w"], descending=[False, True, False]).unique("k", keep="first")
    )  # fmt: skip
    words = dict(zip(tokens["k"].to_list(), tokens["w"].to_list(), strict=True))
    reference["\0words"] = words
    return words


@fixer("name_fix")
def name_fix(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Trim and collapse spaces; restore case from the spelling most used across the base, else title-case."""
    column = field_of(params)
    fields = params.get("reference_fields", [column])
    reference = _casing_reference(ctx, fields)
    out: list[str | None] = []
    conf: list[float] = []
    for value in rows[column].cast(pl.String).to_list():
        cleaned = " ".join((value or "").split())
        if not cleaned:
            out.append(None)
            conf.append(0.0)
            continue
        letters = re.sub(r"[^\w]", "", cleaned)
        one_case = letters == letters.lower() or (letters == letters.upper() and len(letters) >= 4)
        if not one_case:
            out.append(cleaned)
            conf.append(0.99)
        elif cleaned.lower() in reference:
            out.append(reference[cleaned.lower()])
            conf.append(0.9)
        else:
            words = _words(ctx, fields, reference)
            known = [words.get(w.lower()) for w in cleaned.split()]
            titled = _smart_title(cleaned).split()
            out.append(" ".join(k or t for k, t in zip(known, titled, strict=True)))
            conf.append(0.8 if all(known) else 0.6)
    return pl.DataFrame(
        {"record_id": rows["id"], "proposed_value": pl.Series(out, dtype=pl.String), "confidence": conf}
    )
