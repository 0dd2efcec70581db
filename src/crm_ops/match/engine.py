"""Scored pairs and clusters: blocking, vectorised comparison (rapidfuzz, polars), transitive closure.

``find_duplicates(frame, config)`` compares records of one frame; ``link_records(left, right, config)``
compares two frames (Salesforce and HubSpot, leads and contacts). Both return one row per candidate pair
at or above the threshold: ids, score (0-1) and the reasons (the fields that agreed).
``clusters(pairs)`` groups matched records by transitive closure (union-find).

The caller names every column: the id (``id_column``, ``id`` unless given) and each rule's fields
(``crm_ops.match.config``). A column the config names that the frame lacks is a ``ConfigError`` naming
it, the config and the frame's columns, raised before anything is compared; so is a ``date`` rule's
text that is not a date (``crm_ops.match.dates``).

``prepare`` and ``score`` are the two halves every engine shares: the Spark engine runs them on each
partition (``crm_ops.spark.match``), so both engines give the same pairs.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import jellyfish
import numpy as np
import polars as pl
import structlog
from rapidfuzz import fuzz, process

from crm_ops.errors import ConfigError
from crm_ops.match import fs
from crm_ops.match.config import FieldRule, MatchConfig
from crm_ops.match.dates import checked_dates
from crm_ops.match.normalmemo import recall, remember
from crm_ops.match.repeats import also_in, repeated
from crm_ops.schema.entities import live as live_records
from crm_ops.values.companies import LEGAL_FORMS
from crm_ops.values.countries import country_key_expr, country_lookup
from crm_ops.values.domains import bare_domain_expr
from crm_ops.values.junk import junk_folded, junk_mask
from crm_ops.values.wordlists import WordLists
from crm_ops.values.wordlists import shipped as shipped_lists

log = structlog.get_logger("crm_ops.match")
SEP = "\x1f"  # between the parts of a blocking key
PARALLEL_ROWS = 50_000  # records from which ``prepare`` normalises the rules' columns side by side
PAIR_SCHEMA = {
    "left_id": pl.String,
    "right_id": pl.String,
    "score": pl.Float64,
    "reasons": pl.String,
    "explain": pl.String,
}
_LEGAL = "|".join(re.escape(f.lower()) for f in sorted(LEGAL_FORMS, key=len, reverse=True))

PHONETIC: dict[str, Callable[[str], str]] = {
    "soundex": jellyfish.soundex,
    "metaphone": jellyfish.metaphone,
    "nysiis": jellyfish.nysiis,
    "match_rating": jellyfish.match_rating_codex,
}


# rapidfuzz's scorers by the names ``FieldRule.scorer`` takes (``crm_ops.match.config.SCORERS``)
SCORERS: dict[str, Callable[..., float]] = {
    "ratio": fuzz.ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
    "token_set_ratio": fuzz.token_set_ratio,
    "partial_ratio": fuzz.partial_ratio,
    "WRatio": fuzz.WRatio,
}


def _fold(expr: pl.Expr) -> pl.Expr:
    """Casefolded, accents kept out of the way by a cheap ASCII-ish fold, spaces squeezed."""
    return expr.cast(pl.String).str.strip_chars().str.to_lowercase().str.replace_all(r"\s+", " ")


def normalise(expr: pl.Expr, kind: str, lists: WordLists | None = None) -> pl.Expr:
    """The normalised form of a field for comparison and blocking (null when empty or junk; ``lists``:
    the free-mail and placeholder lists, the shipped ones unless a profile's are given)."""
    words = lists or shipped_lists()
    if kind == "email":
        out = _fold(expr)
        out = pl.when(junk_mask(out, words)).then(None).otherwise(out)
    elif kind == "phone":
        digits = expr.cast(pl.String).str.replace_all(r"\D", "")
        out = pl.when(digits.str.len_chars() >= 7).then(digits.str.slice(-9)).otherwise(None)
        out = pl.when(junk_mask(expr, words)).then(None).otherwise(out)
    elif kind == "name":
        out = _fold(expr).str.replace_all(r"[^\p{L}\p{N}]", "")
    elif kind == "company":
        out = _fold(expr).str.replace_all(rf"\b(?:{_LEGAL})\b\.?", "").str.replace_all(r"[^\p{L}\p{N}]", "")
    elif kind == "domain":
        out = bare_domain_expr(expr)
        out = pl.when(out.is_in(list(words.freemail))).then(None).otherwise(out)
    elif kind == "country":
        out = country_key_expr(expr).replace_strict(
            country_lookup(), default=expr.cast(pl.String).str.strip_chars().str.to_uppercase()
        )
    else:
        out = _fold(expr)
    return pl.when(out == "").then(None).otherwise(out)


def normalised(values: pl.Series, kind: str, lists: WordLists | None = None) -> pl.Series:
    """``normalise`` of a whole column, step by step: the same values, each intermediate computed once
    (the nested expression repeats its inner steps; polars does not share them), and names and
    countries and companies (a contact's account's name: a few per hundred contacts), which repeat,
    normalised once per distinct value."""
    words = lists or shipped_lists()
    if kind in ("name", "country", "company") and values.len():
        distinct = values.unique()
        table = pl.DataFrame({"__v": distinct, "__n": normalised(distinct, kind + ":each", words)})
        joined = (
            values.alias("__v")
            .to_frame()
            .join(table, on="__v", how="left", nulls_equal=True, maintain_order="left")
        )
        return joined["__n"].alias(values.name)
    kind = kind.removesuffix(":each")
    v = pl.col("v")
    frame = values.to_frame("v")
    if kind == "email":
        frame = frame.select(_fold(v).alias("v"))  # trimmed and lowercased: junk_mask's own first steps
        frame = frame.select(
            pl.when(pl.lit(junk_folded(frame["v"], words))).then(None).otherwise(v).alias("v")
        )
    elif kind == "phone":
        frame = frame.select(
            v.cast(pl.String).str.replace_all(r"\D", "").alias("d"), junk_mask(v, words).alias("j")
        )
        digits = pl.col("d")
        short = pl.when(digits.str.len_chars() >= 7).then(digits.str.slice(-9)).otherwise(None)
        frame = frame.select(pl.when(pl.col("j")).then(None).otherwise(short).alias("v"))
    elif kind == "name":
        frame = frame.select(_fold(v).alias("v")).select(v.str.replace_all(r"[^\p{L}\p{N}]", ""))
    elif kind == "company":
        frame = frame.select(_fold(v).alias("v")).select(
            v.str.replace_all(rf"\b(?:{_LEGAL})\b\.?", "").str.replace_all(r"[^\p{L}\p{N}]", "")
        )
    elif kind == "domain":
        frame = frame.select(bare_domain_expr(v).alias("v"))
        frame = frame.select(pl.when(v.is_in(list(words.freemail))).then(None).otherwise(v).alias("v"))
    elif kind == "country":
        frame = frame.select(
            country_key_expr(v).alias("k"), v.cast(pl.String).str.strip_chars().str.to_uppercase().alias("d")
        ).select(pl.col("k").replace_strict(country_lookup(), default=pl.col("d")).alias("v"))
    else:
        frame = frame.select(_fold(v).alias("v"))
    return frame.select(pl.when(v == "").then(None).otherwise(v)).to_series().alias(values.name)


def _code(algorithm: Callable[[str], str], text: str) -> str:
    try:
        return algorithm(text)
    except ValueError:  # a name jellyfish cannot code (no letters it knows)
        return ""


def phonetic_codes(values: pl.Series, algorithm: str = "soundex") -> pl.Series:
    """Each value's phonetic code (jellyfish's ``algorithm``: soundex, metaphone, nysiis,
    match_rating) with accents folded first (Müller, Muller), computed once per distinct value; null
    where there is none."""
    code = PHONETIC[algorithm]
    texts = values.cast(pl.String).str.normalize("NFKD").str.replace_all(r"\p{M}", "")
    mapping = {v: _code(code, v) or None for v in texts.drop_nulls().unique().to_list()}
    return texts.replace_strict(mapping, default=None, return_dtype=pl.String)


def same_person_names(av: Sequence[str], bv: Sequence[str], lists: WordLists) -> np.ndarray:
    """Per pair: the same first name, a nickname of it or of the same full name (Bob, Rob, Robert), or an
    initial. Each distinct name's full names are looked up once."""
    known = {n: lists.identities(n) for n in {*av, *bv}}
    return np.asarray(
        [
            x == y or not known[x].isdisjoint(known[y]) or (len(x) == 1 and y.startswith(x))
            or (len(y) == 1 and x.startswith(y))
            for x, y in zip(av, bv, strict=True)
        ],
        dtype=bool,
    )  # fmt: skip


def _differing(a: pl.Series, b: pl.Series, score: Callable[[list[str], list[str]], np.ndarray]) -> np.ndarray:
    """Per pair, ``score`` of the two values, 1.0 where they are equal: the scorer (Python strings
    for rapidfuzz and the nickname table) runs once per distinct pair that differs, which at a million
    pairs found by e-mail or phone is a small share (equal values score 1 with every scorer)."""
    pairs = pl.DataFrame({"a": a.cast(pl.String), "b": b.cast(pl.String)})
    differ = (pairs["a"] != pairs["b"]).fill_null(False)  # a missing side is NaN later, whatever it scores
    out = np.ones(pairs.height)
    if differ.any():
        rows = pairs.filter(differ)
        distinct = rows.unique()
        scored = distinct.with_columns(
            pl.Series("s", score(distinct["a"].to_list(), distinct["b"].to_list()), dtype=pl.Float64)
        )
        joined = rows.join(scored, on=["a", "b"], how="left", maintain_order="left")
        out[differ.to_numpy()] = joined["s"].to_numpy()
    return out


def _similarity(rule: FieldRule, a: pl.Series, b: pl.Series, lists: WordLists) -> np.ndarray:
    """Per pair similarity 0-1 (NaN where either side is missing)."""
    missing = (a.is_null() | b.is_null()).to_numpy()
    if rule.comparator in ("exact", "normalised"):
        sim = (a == b).fill_null(False).to_numpy().astype(float)
    elif rule.comparator == "fuzzy":
        scorer = SCORERS[rule.scorer]
        sim = _differing(
            a,
            b,
            lambda av, bv: np.asarray(process.cpdist(av, bv, scorer=scorer, workers=-1), dtype=float) / 100,
        )
    elif rule.comparator == "phonetic":
        both = phonetic_codes(pl.concat([a, b]), rule.phonetic)
        ca, cb = both.head(a.len()), both.tail(b.len())
        sim = (ca == cb).fill_null(False).to_numpy().astype(float)
    elif rule.comparator == "first_name":

        def names(av: list[str], bv: list[str]) -> np.ndarray:
            ratio = np.asarray(process.cpdist(av, bv, scorer=fuzz.ratio, workers=-1), dtype=float) / 100.0
            return np.where(same_person_names(av, bv, lists), 1.0, ratio)

        sim = _differing(a, b, names)
    elif rule.comparator == "date":  # dates already (``prepare``)
        days = (a.cast(pl.Int32) - b.cast(pl.Int32)).abs().fill_null(10**6).to_numpy()
        sim = (days <= rule.days).astype(float)
    else:
        raise ValueError(f"unknown comparator {rule.comparator!r}")
    return np.where(missing, np.nan, sim)


def missing_columns(
    columns: Sequence[str], config: MatchConfig, side: str, id_column: str = "id", label: str = "frame"
) -> list[str]:
    """A problem per column ``config`` reads on ``side`` (``left`` or ``right``) that ``columns`` lacks:
    the id, each rule's field (or ``other_field`` on the right) and ``same`` guard, and the blocking
    names that are no rule's field; each names the config, the frame's columns and the nearest."""
    have = set(columns)
    wanted: dict[str, str] = {id_column: "the id column"}
    for rule in config.fields:
        wanted.setdefault(rule.column(side), f"field rule {rule.field!r}")
        if rule.same:
            wanted.setdefault(rule.same, f"the 'same' guard of field rule {rule.field!r}")
    for i, key in enumerate(config.blocking):
        for name in key:
            if config.rule_of(name) is None:
                wanted.setdefault(name, f"blocking[{i}], not a rule's field so a column")
    problems = []
    for name, why in wanted.items():
        if name in have:
            continue
        near = difflib.get_close_matches(name, sorted(have), n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        problems.append(
            f"match {config.name!r}: the {label} has no column {name!r}, {why}{hint}; "
            f"its columns: {', '.join(columns)}"
        )
    return problems


def read_live(
    frame: pl.DataFrame, config: MatchConfig, side: str, id_column: str = "id", label: str = "frame"
) -> pl.DataFrame:
    """The live records of ``frame`` (``crm_ops.schema.entities.live``) with only the columns ``prepare``
    reads on ``side``: filtering a CRM's thirty columns to drop the deleted records cost more than
    normalising the four a rule reads. A column missing is a ``ConfigError`` naming the frame's columns,
    as ``prepare``'s."""
    problems = missing_columns(frame.columns, config, side, id_column, label)
    if problems:
        raise ConfigError(problems)
    wanted = {id_column, "is_deleted"}
    for rule in config.fields:
        wanted |= {rule.column(side), *rule.also, *([rule.same] if rule.same else [])}
    wanted |= {name for key in config.blocking for name in key if config.rule_of(name) is None}
    return live_records(frame.select([c for c in frame.columns if c in wanted]))


def rule_where(config: MatchConfig, rule: FieldRule, label: str = "frame") -> str:
    """How errors name one rule of ``config`` read on the frame ``label``."""
    return f"match {config.name!r} field rule {rule.field!r} ({label})"


def key_columns(config: MatchConfig, key: Sequence[str]) -> list[str]:
    """The ``prepare``d columns a blocking key joins: each name's rule's (the first on that field), or
    the column's own (``b:<name>``) when no rule is on it."""
    out = []
    for name in key:
        index = next((i for i, r in enumerate(config.fields) if r.field == name), None)
        out.append(f"b:{name}" if index is None else f"f:{index}")
    return out


def secondary_columns(config: MatchConfig, key: Sequence[str]) -> tuple[str, str] | None:
    """For a one-name key on a rule with ``also``: its ``prepare``d value and secondary-values columns."""
    if len(key) != 1:
        return None
    index = next((i for i, r in enumerate(config.fields) if r.field == key[0]), None)
    if index is None or not config.fields[index].also:
        return None
    return f"f:{index}", f"a:{index}"


def _normalised_texts(
    frame: pl.DataFrame, config: MatchConfig, side: str, words: WordLists
) -> dict[int, pl.Series]:
    """``normalised`` of each rule's column that is compared as text (rule index to its values), the
    rules' columns normalised side by side: each is a run of string passes polars makes on one core, and
    a million e-mails and phones are the longest part of ``prepare``."""
    jobs = {}
    done = {}
    for i, rule in enumerate(config.fields):
        values = frame.get_column(rule.column(side))
        if rule.comparator != "date" and not (rule.comparator == "exact" and values.dtype.is_numeric()):
            known = recall(values, rule.normaliser, words)  # another rule set's, this run (``normalmemo``)
            if known is not None:
                done[i] = known
            else:
                jobs[i] = (values, rule.normaliser)
    if len(jobs) < 2 or frame.height < PARALLEL_ROWS:
        made = {i: normalised(values, kind, words) for i, (values, kind) in jobs.items()}
    else:
        with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
            running = {i: pool.submit(normalised, values, kind, words) for i, (values, kind) in jobs.items()}
            made = {i: job.result() for i, job in running.items()}
    for i, out in made.items():
        remember(jobs[i][0], jobs[i][1], words, out)
    return {i: done[i] if i in done else made[i] for i in sorted({*done, *made})}


def prepare(
    frame: pl.DataFrame,
    config: MatchConfig,
    side: str = "left",
    lists: WordLists | None = None,
    *,
    id_column: str = "id",
    label: str = "frame",
) -> pl.DataFrame:
    """Each record as ``score`` and the blocking read it: its id as text (``id``, from ``id_column``),
    each rule's normalised value (``f:<i>``, i the rule's place in ``config.fields``; a date rule's as a
    date), secondary values (``a:<i>``, a list), same-guard (``g:<i>``) and the blocking names that are
    no rule's field (``b:<name>``, normalised as text). ``side`` is ``left`` or ``right`` (the right
    reads rules' ``other_field``). A column missing, or a date rule's text that is not a date, is a
    ``ConfigError`` (``label`` names the frame in it)."""
    problems = missing_columns(frame.columns, config, side, id_column, label)
    if problems:
        raise ConfigError(problems)
    words = lists or shipped_lists()
    cols = [pl.col(id_column).cast(pl.String).alias("id")]
    texts = _normalised_texts(frame, config, side, words)
    for i, rule in enumerate(config.fields):
        name = rule.column(side)
        values = frame.get_column(name)
        if rule.comparator == "date":
            dates = checked_dates(values, rule.date_order, rule_where(config, rule, label), name)
            cols.append(pl.lit(dates).alias(f"f:{i}"))
        elif i not in texts:
            cols.append(pl.col(name).alias(f"f:{i}"))
        else:  # normalised step by step (``normalised``), the same values as ``normalise``
            cols.append(pl.lit(texts[i]).alias(f"f:{i}"))
        others = [c for c in rule.also if c in frame.columns]
        if others:
            items = [
                pl.col(c)
                .cast(pl.String)
                .str.split(";")
                .list.eval(normalise(pl.element(), rule.normaliser, words))
                for c in others
            ]
            joined = items[0] if len(items) == 1 else pl.concat_list(items)
            cols.append(joined.list.drop_nulls().alias(f"a:{i}"))
        if rule.same:
            cols.append(pl.col(rule.same).cast(pl.String).str.to_uppercase().alias(f"g:{i}"))
    for key in config.blocking:
        for name, column in zip(key, key_columns(config, key), strict=True):
            if column.startswith("b:") and column not in {c.meta.output_name() for c in cols}:
                cols.append(pl.lit(normalised(frame.get_column(name), "text", words)).alias(column))
    return frame.select(cols)


def sub_block_columns(config: MatchConfig, key: Sequence[str]) -> list[str]:
    """The ``prepare``d columns a block of ``key`` above ``max_block`` is sub-blocked by, in order: the
    other blocking keys' columns, then the other rules' fields (a column of ``key`` left out)."""
    own = set(key_columns(config, key))
    out: list[str] = []
    for other in config.blocking:
        out += [c for c in key_columns(config, other) if c not in own and c not in out]
    out += [f"f:{i}" for i in range(len(config.fields)) if f"f:{i}" not in own and f"f:{i}" not in out]
    return out


@dataclass
class _Capped:
    """The blocks of one key (or one direction of its secondary values) above ``max_block``: their
    records on each side (``id``, ``key``), how many, and the pairs they hold."""

    left: pl.DataFrame
    right: pl.DataFrame
    blocks: int
    records: int
    pairs: int
    both_ways: bool = False  # pairs within one frame through secondary values: either id on either side


def _blocked(
    lk: pl.DataFrame, rk: pl.DataFrame | None, max_block: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None, pl.DataFrame]:
    """The pairs of the blocks of ``lk`` and ``rk`` (``id``, ``key`` and the sub-block columns; ``rk``
    None: within ``lk``, left id < right id) of at most ``max_block`` records, then the records of the
    larger blocks on each side and those blocks' sizes (``key``, ``nl``, ``nr``; only blocks with a pair).

    Only the records whose key may have a partner are grouped and joined (``_partnered``): at a million
    records most keys (an e-mail, a phone) are held by one record, which holds no pair."""
    lk, rk = _partnered(lk, rk)
    nl = lk.group_by("key").agg(pl.len().cast(pl.Int64).alias("nl"))
    if rk is None:
        big = nl.filter(pl.col("nl") > max_block).with_columns(pl.col("nl").alias("nr"))
    else:
        nr = rk.group_by("key").agg(pl.len().cast(pl.Int64).alias("nr"))
        sizes = nl.join(nr, on="key", how="inner")  # a key on one side only holds no pair
        big = sizes.filter(pl.col("nl") + pl.col("nr") > max_block)
    keys = big.select("key")
    small_l = lk.select("id", "key").join(keys, on="key", how="anti")
    small_r = small_l if rk is None else rk.select("id", "key").join(keys, on="key", how="anti")
    pairs = small_l.join(small_r, on="key", suffix="_r").select(
        pl.col("id").alias("left_id"), pl.col("id_r").alias("right_id")
    )
    if rk is None:
        pairs = pairs.filter(pl.col("left_id") < pl.col("right_id"))
    big_l = lk.join(keys, on="key", how="semi")
    big_r = None if rk is None else rk.join(keys, on="key", how="semi")
    return pairs, big_l, big_r, big


def _partnered(lk: pl.DataFrame, rk: pl.DataFrame | None) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """``lk`` and ``rk`` (``_blocked``'s) without the records whose key no other record holds (on the
    other side when ``rk`` is given): those make no pair and no block above ``max_block``. Found by the
    keys' hashes (``repeats``), far cheaper than grouping a million strings; two keys of one hash are
    both kept, and the exact grouping and join that follow tell them apart."""
    if rk is None:
        return lk.filter(repeated(lk["key"])), None
    return lk.filter(also_in(lk["key"], rk["key"])), rk.filter(also_in(rk["key"], lk["key"]))


def _sub_blocked(
    lk: pl.DataFrame, rk: pl.DataFrame | None, columns: Sequence[str], max_block: int
) -> list[pl.DataFrame]:
    """The pairs of the records of blocks above ``max_block`` (``lk``, ``rk`` as ``_blocked``'s) that
    also share one of ``columns``: each column in turn is added to the key, and a sub-block still above
    ``max_block`` is sub-blocked again by the columns after it. No block above ``max_block``, nothing to
    do (most keys of most orgs: each sub-block column would cost its own grouping and joins for none)."""
    out: list[pl.DataFrame] = []
    if lk.is_empty():
        return out
    for i, column in enumerate(columns):

        def rekeyed(frame: pl.DataFrame, column: str = column) -> pl.DataFrame:
            return frame.filter(pl.col(column).is_not_null()).with_columns(
                pl.concat_str(["key", column], separator=SEP).alias("key")
            )

        pairs, big_l, big_r, _ = _blocked(rekeyed(lk), None if rk is None else rekeyed(rk), max_block)
        out.append(pairs)
        if big_l.height and i + 1 < len(columns):
            out += _sub_blocked(big_l, big_r, columns[i + 1 :], max_block)
    return out


def _capped_blocks(big: pl.DataFrame, big_l: pl.DataFrame, big_r: pl.DataFrame | None) -> _Capped:
    """The counts of the blocks above ``max_block`` of ``_blocked``."""
    within = big_r is None
    pairs = (pl.col("nl") * (pl.col("nl") - 1) // 2) if within else pl.col("nl") * pl.col("nr")
    records = pl.col("nl") if within else pl.col("nl") + pl.col("nr")
    sums = big.select(pairs.sum().alias("pairs"), records.sum().alias("records"))
    return _Capped(
        big_l.select("id", "key"),
        (big_l if big_r is None else big_r).select("id", "key"),
        big.height,
        int(sums["records"][0] or 0),
        int(sums["pairs"][0] or 0),
    )


def _not_compared(capped: _Capped, cands: pl.DataFrame) -> int:
    """The pairs of ``capped``'s blocks that are not among the candidates ``cands`` (compared in a
    sub-block or through another key all the same)."""
    if not capped.blocks:
        return 0
    left = capped.left.rename({"id": "left_id"})
    right = capped.right.rename({"id": "right_id"})
    oriented = [cands]
    if capped.both_ways:  # one frame's pairs are stored smaller id first, whichever side found them
        oriented.append(
            cands.select(pl.col("right_id").alias("left_id"), pl.col("left_id").alias("right_id"))
        )
    found = pl.concat(
        [c.join(left, on="left_id").join(right, on=["right_id", "key"], how="semi") for c in oriented]
    ).select("left_id", "right_id")
    if capped.both_ways:
        found = found.select(
            pl.min_horizontal("left_id", "right_id").alias("left_id"),
            pl.max_horizontal("left_id", "right_id").alias("right_id"),
        )
    shared = found.unique().height
    own = 0
    if capped.both_ways:  # a record whose value is among its own secondary values is no pair
        own = capped.left.join(capped.right, on=["id", "key"], how="semi").height
    return capped.pairs - own - shared


def _secondary_candidates(
    left: pl.DataFrame, right: pl.DataFrame | None, key: tuple[str, ...], config: MatchConfig
) -> tuple[list[pl.DataFrame], list[_Capped]]:
    """Pairs where one record's value of a one-field key is among the other's secondary values, blocks
    above ``max_block`` sub-blocked (``_sub_blocked``), and those blocks (``_Capped``)."""
    named = secondary_columns(config, key)
    if named is None:
        return [], []
    value, also = named
    carry = [c for c in sub_block_columns(config, key) if c in left.columns]
    other = right if right is not None else left
    out, capped = [], []
    # within one frame the second direction finds the first's pairs the other way round
    directions = ((left, other, False),) if right is None else ((left, other, False), (other, left, True))
    for values, lists, flip in directions:
        if value not in values.columns or also not in lists.columns:
            continue
        if not lists.get_column(also).list.len().sum():  # no secondary value (most orgs'): no pair
            continue
        items = _keyed(lists, pl.col(also), carry, explode=True)
        keys = _keyed(values, pl.col(value), carry)
        pairs, big_l, big_r, big = _blocked(keys, items, config.max_block)
        found = [pairs, *_sub_blocked(big_l, big_r, carry, config.max_block)]
        a, b = ("right_id", "left_id") if flip else ("left_id", "right_id")
        for each in found:
            oriented = each.select(pl.col(a).alias("left_id"), pl.col(b).alias("right_id"))
            if right is None:
                oriented = oriented.filter(pl.col("left_id") != pl.col("right_id")).select(
                    pl.min_horizontal("left_id", "right_id").alias("left_id"),
                    pl.max_horizontal("left_id", "right_id").alias("right_id"),
                )
            out.append(oriented)
        block = _capped_blocks(big, big_l, big_r)
        if flip:  # the candidates' left ids are the lists' records
            block = _Capped(block.right, block.left, block.blocks, block.records, block.pairs)
        block.both_ways = right is None
        capped.append(block)
    return out, capped


def _keyed(frame: pl.DataFrame, key: pl.Expr, carry: Sequence[str], *, explode: bool = False) -> pl.DataFrame:
    """``id``, the blocking ``key`` (text; a list's items, one per row, with ``explode``) and the
    sub-block columns ``carry`` (text), the rows without a key left out."""
    keyed = frame.select("id", key.alias("key"), *[pl.col(c).cast(pl.String) for c in carry])
    if explode:
        keyed = keyed.explode("key").unique(["id", "key"], maintain_order=True)
    return keyed.with_columns(pl.col("key").cast(pl.String)).filter(pl.col("key").is_not_null())


def _candidates(
    left: pl.DataFrame,
    right: pl.DataFrame | None,
    config: MatchConfig,
    stats: dict[str, int] | None = None,
) -> pl.DataFrame:
    """Candidate pairs from every blocking key: the records sharing a key value, or one's value among
    the other's secondary values (``right`` None: within ``left``, left id < right id).

    A key value shared by more than ``max_block`` records (a placeholder e-mail, a switchboard number)
    is no evidence of identity, and comparing all its records would cost their square: its records are
    sub-blocked instead (``_sub_blocked``), the key extended by one more field at a time
    (``sub_block_columns``: the other keys' columns, then the other rules' fields), so that two of sixty
    records on ``noemail@example.com`` that share a phone are still compared. What is left is counted
    into ``stats`` (added to what it holds): ``blocks_capped``, the key values (of each key, and each
    direction of its secondary values) held by more than ``max_block`` records, with a pair among them;
    ``records_in_capped_blocks``, their records (a record in two such blocks counted twice); and
    ``pairs_not_compared``, the pairs of records sharing such a value (n(n-1)/2 within one frame,
    nl x nr across two) that are not candidates all the same (through a sub-block or another key):
    exact per key, summed over the keys, so a pair two capped keys share counts twice."""
    pairs: list[pl.DataFrame] = []
    capped: list[_Capped] = []
    for key in config.blocking:
        columns = key_columns(config, key)
        carry = [c for c in sub_block_columns(config, key) if c in left.columns]
        k = pl.concat_str([pl.col(c).cast(pl.String) for c in columns], separator=SEP)
        lk = _keyed(left, k, carry)
        rk = _keyed(right, k, carry) if right is not None else None
        found, big_l, big_r, big = _blocked(lk, rk, config.max_block)
        pairs += [found, *_sub_blocked(big_l, big_r, carry, config.max_block)]
        capped.append(_capped_blocks(big, big_l, big_r))
        more, capped_more = _secondary_candidates(left, right, key, config)
        pairs += more
        capped += capped_more
    if not pairs:
        return pl.DataFrame(schema={"left_id": pl.String, "right_id": pl.String})
    cands = pl.concat(pairs).unique()
    blocks = sum(c.blocks for c in capped)
    if blocks:
        records = sum(c.records for c in capped)
        missed = sum(_not_compared(c, cands) for c in capped)
        log.warning(
            "match.blocks_capped",
            rule=config.name,
            max_block=config.max_block,
            blocks=blocks,
            records=records,
            pairs_not_compared=missed,
        )
        if stats is not None:
            for name, n in (("blocks_capped", blocks), ("records_in_capped_blocks", records),
                            ("pairs_not_compared", missed)):  # fmt: skip
                stats[name] = stats.get(name, 0) + n
    return cands


def reason_labels(config: MatchConfig) -> list[str]:
    """Each rule's name in a pair's reasons: its field, with the other side's column when two rules
    share the field (``company/account_name``)."""
    counts = {r.field: sum(x.field == r.field for x in config.fields) for r in config.fields}
    return [r.field if counts[r.field] == 1 else f"{r.field}/{r.column('right')}" for r in config.fields]


def _swapped(data: pl.DataFrame, config: MatchConfig, index: int) -> np.ndarray | None:
    """For a rule with ``swap``: the pairs whose values agree crosswise (this rule's value of one record
    is the ``swap`` rule's of the other)."""
    rule = config.fields[index]
    other = next((j for j, r in enumerate(config.fields) if r.field == rule.swap), None)
    if other is None:
        return None
    a, b = f"f:{index}", f"f:{other}"
    cross = (data[a].cast(pl.String) == data[f"{b}:r"].cast(pl.String)).fill_null(False) | (
        data[b].cast(pl.String) == data[f"{a}:r"].cast(pl.String)
    ).fill_null(False)
    return np.asarray(cross.to_numpy(), dtype=bool)


def _compared(
    data: pl.DataFrame, config: MatchConfig, lists: WordLists
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per rule, each pair's similarity (0-1, NaN where not comparable: a side missing, or the ``same``
    guard's values differ) and whether its normalised values are equal (or one is among the other's
    secondary values, which then counts as full agreement)."""
    out = []
    for i, rule in enumerate(config.fields):
        a, b = data[f"f:{i}"], data[f"f:{i}:r"]
        if config.model == "fellegi-sunter" and rule.normaliser == "email" and rule.comparator == "fuzzy":
            # the part before the @: the domain says which company, which other fields say better
            # (two colleagues' addresses share it and look alike: anna.smith@, anne.smith@acme.com)
            sim = _similarity(rule, a.str.split("@").list.first(), b.str.split("@").list.first(), lists)
        else:
            sim = _similarity(rule, a, b, lists)
        if rule.same:  # not comparable (as if missing) where both records say and they differ
            g, gr = data[f"g:{i}"], data[f"g:{i}:r"]
            sim = np.where(
                (g.is_not_null() & gr.is_not_null() & (g != gr)).fill_null(False).to_numpy(), np.nan, sim
            )
        secondary = _secondary_hits(data, i)
        sim = np.where(secondary & ~(sim >= 0.9), 1.0, sim)
        equal = (a == b).fill_null(False).to_numpy().astype(bool) | secondary
        out.append((sim, equal & ~np.isnan(sim)))
    return out


def _signed(values: np.ndarray) -> pl.Expr:
    """Weights as text with their sign and two decimals at most (``+9.81``, ``-4.2``)."""
    w = pl.lit(pl.Series(np.round(values, 2)))
    text = w.cast(pl.String)
    return pl.when(w >= 0).then(pl.lit("+") + text).otherwise(text)


def _explain(
    prior: float, labels: Sequence[str], levels: Sequence[pl.Series], weights: np.ndarray
) -> pl.Expr:
    """The ``explain`` text (``crm_ops.match.explain``) of each pair: the prior, then per rule its
    label, its level and its signed weight."""
    parts: list[pl.Expr] = [pl.lit(f"prior {prior:+.2f}")]
    for i, label in enumerate(labels):
        parts.append(
            pl.concat_str([pl.lit(f"{label} "), pl.lit(levels[i]), pl.lit(" "), _signed(weights[:, i])])
        )
    return pl.concat_str(parts, separator="; ")


def random_pairs_data(
    left: pl.DataFrame, right: pl.DataFrame | None, size: int = fs.RANDOM_PAIRS, seed: int = 0
) -> pl.DataFrame:
    """Up to ``size`` random pairs of ``prepare``d records (of ``left`` among themselves when ``right``
    is None), joined as ``score`` joins candidates (the right side's columns suffixed ``:r``). They are
    drawn from ``fs.chosen_records`` of each side, so the same records give the same pairs whatever
    their order (the Spark engine's model and the polars engine's agree)."""
    left = fs.chosen_records(left)
    right = None if right is None else fs.chosen_records(right)
    # ten per record, 10,000 at least: a thousand records need no 50,000 pairs to tell u
    size = min(size, max(10_000, 10 * (left.height + (0 if right is None else right.height))))
    other = left if right is None else right
    a, b = fs.random_pairs(left.height, None if right is None else right.height, size, seed)
    return pl.concat([left[a], other[b].rename({c: f"{c}:r" for c in other.columns})], how="horizontal")


def fit_model(
    config: MatchConfig,
    data: pl.DataFrame,
    matrix: np.ndarray,
    random: pl.DataFrame,
    lists: WordLists,
    *,
    shares: Mapping[int, pl.DataFrame],
    exact: Mapping[int, tuple[float, float] | None],
    seed: int = 0,
) -> fs.Model:
    """``fs.train`` on candidate pairs (``data`` joined with both sides' ``prepare``d columns,
    ``matrix`` their levels) and random pairs (``random_pairs_data``), with the ``tf`` rules' value
    shares and the exact levels' u counted over all records (``fs.exact_u``)."""
    masks = {}
    for k, key in enumerate(config.blocking):
        mask = np.ones(data.height, dtype=bool)
        for column in key_columns(config, key):
            mask &= (data[column] == data[f"{column}:r"]).fill_null(False).to_numpy().astype(bool)
        masks[k] = mask
    random_levels = pair_levels(config, random, lists)
    model = fs.train(
        config, matrix, random_levels, masks, shares, reason_labels(config), exact=exact, seed=seed
    )
    log.info("match.model_trained", **model.summary())
    return model


def train_model(
    config: MatchConfig,
    data: pl.DataFrame,
    matrix: np.ndarray,
    left: pl.DataFrame,
    right: pl.DataFrame | None,
    lists: WordLists,
    *,
    seed: int = 0,
) -> fs.Model:
    """A Fellegi-Sunter ``fs.Model`` of ``config`` from the ``prepare``d records (``right`` None when
    deduplicating ``left``) and the candidate pairs blocking found (``data``, joined with both sides'
    prepared columns; ``matrix``, their levels): u on random pairs of the records (the exact level's
    over all of them), m and the prior by EM over the candidates, the value shares of ``tf`` rules over
    all the records."""
    shares = {}
    exact: dict[int, tuple[float, float] | None] = {}
    for i, rule in enumerate(config.fields):
        column = f"f:{i}"
        counts = None
        if rule.tf:
            values = left[column] if right is None else pl.concat([left[column], right[column]])
            counts = fs.value_counts(values)
            shares[i] = fs.shares_of(*counts)
        if rule.also:  # secondary values agree exactly too: left to the random pairs
            continue
        if counts is not None and right is None:  # the same counts tell the exact level's u
            exact[i] = fs.exact_u_of_counts(counts[0]["n"], counts[1])
        else:
            exact[i] = fs.exact_u(left[column], None if right is None else right[column])
    random = random_pairs_data(left, right, seed=seed)
    return fit_model(config, data, matrix, random, lists, shares=shares, exact=exact, seed=seed)


def pair_levels(config: MatchConfig, data: pl.DataFrame, lists: WordLists) -> np.ndarray:
    """Each pair's comparison level per rule (pairs x rules; ``fs.NULL`` where not comparable) of pairs
    joined as ``score`` joins them (the right side's ``prepare``d columns suffixed ``:r``)."""
    return _as_levels(config, _compared(data, config, lists), data)


def _as_levels(
    config: MatchConfig, compared: Sequence[tuple[np.ndarray, np.ndarray]], data: pl.DataFrame
) -> np.ndarray:
    if not compared:
        return np.zeros((0, len(config.fields)), dtype=np.int8)
    return np.column_stack(
        [
            fs.levels(rule, sim, equal, _swapped(data, config, i) if rule.swap else None)
            for i, (rule, (sim, equal)) in enumerate(zip(config.fields, compared, strict=True))
        ]
    ).astype(np.int8)


def score(
    cands: pl.DataFrame,
    left: pl.DataFrame,
    right: pl.DataFrame,
    config: MatchConfig,
    lists: WordLists,
    *,
    model: fs.Model | None = None,
    keep_all: bool = False,
) -> pl.DataFrame:
    """The candidate pairs ``cands`` (left_id, right_id) scored on the ``prepare``d records of both
    sides, those at or above the threshold with ``min_fields`` present kept (every pair with
    ``keep_all``), as ``PAIR_SCHEMA``: the score, the agreeing fields (``reasons``) and each field's
    part in the score (``explain``, ``crm_ops.match.explain``).

    Under the Fellegi-Sunter model the score is the pair's match probability under ``model``, trained
    here on these pairs and records when not given (``right is left`` when deduplicating one frame)."""
    if cands.is_empty():
        return pl.DataFrame(schema=PAIR_SCHEMA)
    data = cands.join(left, left_on="left_id", right_on="id").join(
        right, left_on="right_id", right_on="id", suffix=":r"
    )
    compared = _compared(data, config, lists)
    labels = reason_labels(config)
    n = data.height
    present = np.zeros(n)
    agreed: dict[str, np.ndarray] = {}  # per field: agreed (>= 0.9)
    for i, (sim, _) in enumerate(compared):
        have = ~np.isnan(sim)
        present += have
        agreed[f"__agree{i}"] = have & (sim >= 0.9)
        agreed[f"__second{i}"] = _secondary_hits(data, i)
    if config.model == "fellegi-sunter":
        matrix = _as_levels(config, compared, data)
        if model is None:
            model = train_model(config, data, matrix, left, None if right is left else right, lists)
        values = {i: data[f"f:{i}"] for i, r in enumerate(config.fields) if r.tf}
        weights = fs.pair_weights(model, matrix, values)
        prior = model.prior_weight
        total = prior + weights.sum(axis=1)
        scores = 1.0 / (1.0 + np.exp2(-np.clip(total, -200, 200)))
        log.info(
            "match.expected_precision",
            rule=config.name,
            by_threshold=[
                {"threshold": t, "pairs": n, "precision": round(p, 4)}
                for t, n, p in fs.expected_precision(scores, sorted({0.5, 0.9, 0.99, config.threshold}))
            ],
        )
        names = [np.asarray([*fm.levels, "null"]) for fm in model.fields]
        level_text = [
            names[i][np.where(matrix[:, i] < 0, len(names[i]) - 1, matrix[:, i])] for i in range(len(names))
        ]
    else:
        prior = 0.0
        rule_weights = np.asarray([r.weight for r in config.fields])
        sims = np.column_stack([sim for sim, _ in compared]) if compared else np.zeros((n, 0))
        have = ~np.isnan(sims)
        denominator = (have * rule_weights).sum(axis=1)
        weights = np.divide(
            np.nan_to_num(sims) * rule_weights,
            denominator[:, None],
            out=np.zeros_like(sims),
            where=denominator[:, None] > 0,
        )
        scores = weights.sum(axis=1)
        level_text = [
            np.where(have[:, i], np.char.mod("%.2f", np.nan_to_num(sims[:, i])), "null")
            for i in range(sims.shape[1])
        ]
    keep = (
        np.ones(n, dtype=bool)
        if keep_all
        else (scores >= config.threshold)
        & (present >= config.min_fields)
        & ~_vetoed(config, compared, data)
        & ~_ruled_out(config, compared, data)
    )
    # the reasons (the fields that agreed, in the rules' order) and explanations are spelled for the kept
    # pairs only
    kept = pl.DataFrame(
        {"left_id": data["left_id"], "right_id": data["right_id"], "score": scores, **agreed}
    ).filter(pl.Series(keep))
    reasons = [
        pl.when(pl.col(f"__agree{i}")).then(
            pl.when(pl.col(f"__second{i}")).then(pl.lit(f"{name}(secondary)")).otherwise(pl.lit(name))
        )
        for i, name in enumerate(labels)
    ]
    reason = pl.concat_str(reasons, separator=",", ignore_nulls=True) if reasons else pl.lit("")
    explain = _explain(
        prior, labels, [pl.Series(t[keep], dtype=pl.String) for t in level_text], weights[keep]
    )
    return kept.select("left_id", "right_id", "score", reason.alias("reasons"), explain.alias("explain"))


def _vetoed(
    config: MatchConfig, compared: Sequence[tuple[np.ndarray, np.ndarray]], data: pl.DataFrame
) -> np.ndarray:
    """The pairs the rules with ``veto`` rule out: each such rule's values both present and at its
    ``differ`` level (none when no rule has ``veto``)."""
    out = np.full(data.height, any(rule.veto for rule in config.fields))
    for i, (rule, (sim, equal)) in enumerate(zip(config.fields, compared, strict=True)):
        if rule.veto:
            level = fs.levels(rule, sim, equal, _swapped(data, config, i) if rule.swap else None)
            out &= level == len(fs.level_names(rule)) - 1
    return out


def _ruled_out(
    config: MatchConfig, compared: Sequence[tuple[np.ndarray, np.ndarray]], data: pl.DataFrame
) -> np.ndarray:
    """The pairs a ``required`` rule did not compare (a value missing on a side), and, with the config's
    ``lifetime`` (opened, closed), those where one record was opened on a later day than the other was
    closed (no close date: still open)."""
    out = np.zeros(data.height, dtype=bool)
    for rule, (sim, _) in zip(config.fields, compared, strict=True):
        if rule.required:
            out |= np.isnan(sim)
    if config.lifetime and data.height:
        names = [r.field for r in config.fields]
        opened, closed = (f"f:{names.index(name)}" for name in config.lifetime)
        apart = (pl.col(opened) > pl.col(f"{closed}:r")) | (pl.col(f"{opened}:r") > pl.col(closed))
        out |= data.select(apart.fill_null(False).alias("apart"))["apart"].to_numpy()
    return out


def _secondary_hits(data: pl.DataFrame, index: int) -> np.ndarray:
    """Pairs where one side's value of rule ``index`` is among the other side's secondary values
    (``also``)."""
    value, also = f"f:{index}", f"a:{index}"
    checks = []
    if f"{also}:r" in data.columns:
        checks.append(pl.col(f"{also}:r").list.contains(pl.col(value)))
    if also in data.columns:
        checks.append(pl.col(also).list.contains(pl.col(f"{value}:r")))
    if not checks or data.is_empty():
        return np.zeros(data.height, dtype=bool)
    out = data.select(pl.any_horizontal([c.fill_null(False) for c in checks]).alias("hit"))["hit"]
    return np.asarray(out.fill_null(False).to_numpy(), dtype=bool)


def find_duplicates(
    frame: pl.DataFrame,
    config: MatchConfig,
    *,
    id_column: str = "id",
    stats: dict[str, int] | None = None,
    lists: WordLists | None = None,
    model: fs.Model | None = None,
) -> pl.DataFrame:
    """Scored duplicate pairs within one frame (live records only: ``is_deleted`` not true), at or
    above the config's threshold: ``left_id``, ``right_id`` (the ids as text, left < right), ``score``
    (0-1), ``reasons`` (the fields that agreed, comma-separated).

    ``id_column`` names the frame's id column (``contact_id``); the config's rules name its fields. A
    column the config reads that the frame lacks, or a ``date`` rule's text that is not a date, is a
    ``ConfigError`` naming it, before anything is compared. ``stats``, when given, receives the number
    of candidate pairs compared (``candidates``) and, when some key value was held by more than
    ``max_block`` records, what blocking could not compare (``blocks_capped``,
    ``records_in_capped_blocks``, ``pairs_not_compared``: see ``_candidates``); ``lists``: the
    nickname, free-mail and placeholder lists (``crm_ops.values.wordlists``; the shipped ones).

        pairs = find_duplicates(frame, DEFAULTS["Contact"], id_column="contact_id")
    """
    lists = lists or shipped_lists()
    live = read_live(frame, config, "left", id_column)
    prepared = prepare(live, config, "left", lists, id_column=id_column)
    cands = _candidates(prepared, None, config, stats)
    log.info("match.candidates", rule=config.name, records=live.height, candidates=cands.height)
    if stats is not None:
        stats["candidates"] = stats.get("candidates", 0) + cands.height
    return score(cands, prepared, prepared, config, lists, model=model)


def link_records(
    left: pl.DataFrame,
    right: pl.DataFrame,
    config: MatchConfig,
    *,
    id_column: str = "id",
    right_id_column: str | None = None,
    stats: dict[str, int] | None = None,
    lists: WordLists | None = None,
    model: fs.Model | None = None,
) -> pl.DataFrame:
    """Scored pairs between two frames' live records, at or above the threshold (many-to-many; see
    ``one_to_one``): ``left_id``, ``right_id``, ``score``, ``reasons`` as ``find_duplicates``.

    ``id_column`` names the left frame's id column, ``right_id_column`` the right's (the same unless
    given); a rule's ``other_field`` names its column on the right. Missing columns and unreadable
    dates are a ``ConfigError`` as in ``find_duplicates``; ``stats`` and ``lists`` as there too.
    """
    lists = lists or shipped_lists()
    right_id = right_id_column or id_column
    lp = prepare(
        read_live(left, config, "left", id_column, "left frame"),
        config,
        "left",
        lists,
        id_column=id_column,
        label="left frame",
    )
    rp = prepare(
        read_live(right, config, "right", right_id, "right frame"),
        config,
        "right",
        lists,
        id_column=right_id,
        label="right frame",
    )
    cands = _candidates(lp, rp, config, stats)
    log.info("match.candidates", rule=config.name, left=lp.height, right=rp.height, candidates=cands.height)
    if stats is not None:
        stats["candidates"] = stats.get("candidates", 0) + cands.height
    return score(cands, lp, rp, config, lists, model=model)


def one_to_one(pairs: pl.DataFrame, order: Sequence[str] = ("score",)) -> pl.DataFrame:
    """Keep each record in at most one pair, best first (by ``order``, descending).

    Rounds of mutual best choices: a pair is kept when it is the best for both its records; both are
    then out of the running, and the rest try again. Vectorised; a few rounds settle a million pairs.
    """
    ranked = pairs.sort([*order, "left_id", "right_id"], descending=[True] * len(order) + [False, False])
    ranked = ranked.with_row_index("__rank")
    kept = []
    while ranked.height:
        best_left = ranked.group_by("left_id").agg(pl.col("__rank").min())
        best_right = ranked.group_by("right_id").agg(pl.col("__rank").min())
        mutual = ranked.join(best_left, on=["left_id", "__rank"], how="semi").join(
            best_right, on=["right_id", "__rank"], how="semi"
        )
        if mutual.is_empty():  # cannot happen (the overall best pair is mutual), but never loop forever
            break
        kept.append(mutual)
        ranked = ranked.join(mutual.select("left_id"), on="left_id", how="anti").join(
            mutual.select("right_id"), on="right_id", how="anti"
        )
    if not kept:
        return pairs.head(0)
    return pl.concat(kept).sort("__rank").drop("__rank")


def clusters(pairs: pl.DataFrame) -> pl.DataFrame:
    """Transitive closure of matched pairs: one row per record with its cluster id (smallest member id)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in pairs.select("left_id", "right_id").iter_rows():
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
            parent.setdefault(min(ra, rb), min(ra, rb))
        else:
            parent.setdefault(ra, ra)
    members = list(parent)
    return pl.DataFrame(
        {"id": members, "cluster_id": [find(m) for m in members]},
        schema={"id": pl.String, "cluster_id": pl.String},
    )
