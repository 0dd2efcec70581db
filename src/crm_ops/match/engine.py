"""Scored pairs and clusters: blocking, vectorised comparison (rapidfuzz, polars), transitive closure.

``find_duplicates(frame, config)`` compares records of one frame; ``link_records(left, right, config)``
compares two frames (Salesforce and HubSpot, leads and contacts). Both return one row per candidate pair
at or above the threshold: ids, score (0-1) and the reasons (the fields that agreed).
``clusters(pairs)`` groups matched records by transitive closure (union-find).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import jellyfish
import numpy as np
import polars as pl
import structlog
from rapidfuzz import fuzz, process

from crm_ops.match.config import FieldRule, MatchConfig
from crm_ops.schema.entities import live as live_records
from crm_ops.values.companies import LEGAL_FORMS
from crm_ops.values.countries import country_key_expr, country_lookup
from crm_ops.values.domains import bare_domain_expr
from crm_ops.values.junk import junk_mask
from crm_ops.values.wordlists import WordLists
from crm_ops.values.wordlists import shipped as shipped_lists

log = structlog.get_logger("crm_ops.match")
PAIR_SCHEMA = {"left_id": pl.String, "right_id": pl.String, "score": pl.Float64, "reasons": pl.String}
_LEGAL = "|".join(re.escape(f.lower()) for f in sorted(LEGAL_FORMS, key=len, reverse=True))

PHONETIC: dict[str, Callable[[str], str]] = {
    "soundex": jellyfish.soundex,
    "metaphone": jellyfish.metaphone,
    "nysiis": jellyfish.nysiis,
    "match_rating": jellyfish.match_rating_codex,
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
    countries, which repeat, normalised once per distinct value."""
    words = lists or shipped_lists()
    if kind in ("name", "country") and values.len():
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
        frame = frame.select(_fold(v).alias("v"))
        frame = frame.select(pl.when(junk_mask(v, words)).then(None).otherwise(v).alias("v"))
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
        scorer = {"ratio": fuzz.ratio, "token_sort_ratio": fuzz.token_sort_ratio,
                  "token_set_ratio": fuzz.token_set_ratio, "partial_ratio": fuzz.partial_ratio,
                  "WRatio": fuzz.WRatio}.get(rule.scorer, fuzz.ratio)  # fmt: skip
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
    elif rule.comparator == "date":
        days = (
            (a.cast(pl.Date).cast(pl.Int32) - b.cast(pl.Date).cast(pl.Int32))
            .abs()
            .fill_null(10**6)
            .to_numpy()
        )
        sim = (days <= rule.days).astype(float)
    else:
        raise ValueError(f"unknown comparator {rule.comparator!r}")
    return np.where(missing, np.nan, sim)


def _prepared(frame: pl.DataFrame, config: MatchConfig, side: str, lists: WordLists) -> pl.DataFrame:
    cols = [pl.col("id").cast(pl.String).alias("id")]
    for rule in config.fields:
        name = rule.other_field if side == "right" and rule.other_field else rule.field
        source = pl.col(name) if name in frame.columns else pl.lit(None, pl.String)
        if rule.comparator == "date" or (
            rule.comparator == "exact" and name in frame.columns and frame.schema[name].is_numeric()
        ):
            cols.append(source.alias(f"f:{rule.field}"))
        elif name in frame.columns:  # normalised step by step (``normalised``), the same values
            cols.append(
                pl.lit(normalised(frame.get_column(name), rule.normaliser, lists)).alias(f"f:{rule.field}")
            )
        else:
            cols.append(normalise(source, rule.normaliser, lists).alias(f"f:{rule.field}"))
        others = [c for c in rule.also if c in frame.columns]
        if others:
            items = [
                pl.col(c)
                .cast(pl.String)
                .str.split(";")
                .list.eval(normalise(pl.element(), rule.normaliser, lists))
                for c in others
            ]
            joined = items[0] if len(items) == 1 else pl.concat_list(items)
            cols.append(joined.list.drop_nulls().alias(f"a:{rule.field}"))
        if rule.same:
            guard = pl.col(rule.same) if rule.same in frame.columns else pl.lit(None, pl.String)
            cols.append(guard.cast(pl.String).str.to_uppercase().alias(f"g:{rule.field}"))
    return frame.select(cols)


def _secondary_candidates(
    left: pl.DataFrame, right: pl.DataFrame | None, key: tuple[str, ...], config: MatchConfig
) -> list[pl.DataFrame]:
    """Pairs where one record's value of a one-field key is among the other's secondary values."""
    if len(key) != 1:
        return []
    value, also = f"f:{key[0]}", f"a:{key[0]}"
    other = right if right is not None else left
    out = []
    for values, lists, flip in ((left, other, False), (other, left, True)):
        if value not in values.columns or also not in lists.columns:
            continue
        keys = values.select("id", pl.col(value).alias("key")).filter(pl.col("key").is_not_null())
        items = lists.select("id", pl.col(also).alias("key")).explode("key")
        items = items.filter(pl.col("key").is_not_null())
        sizes = pl.concat([keys.select("key"), items.select("key")]).group_by("key").len()
        big = sizes.filter(pl.col("len") > config.max_block).select("key")
        joined = keys.join(big, on="key", how="anti").join(items, on="key", suffix="_r")
        a, b = ("id_r", "id") if flip else ("id", "id_r")
        pairs = joined.select(pl.col(a).alias("left_id"), pl.col(b).alias("right_id"))
        if right is None:
            pairs = pairs.filter(pl.col("left_id") != pl.col("right_id")).select(
                pl.min_horizontal("left_id", "right_id").alias("left_id"),
                pl.max_horizontal("left_id", "right_id").alias("right_id"),
            )
        out.append(pairs)
    return out


def _candidates(left: pl.DataFrame, right: pl.DataFrame | None, config: MatchConfig) -> pl.DataFrame:
    """Candidate pairs from every blocking key, blocks above ``max_block`` skipped."""
    pairs = []
    for key in config.blocking:
        columns = [f"f:{k}" for k in key]
        if any(c not in left.columns for c in columns):
            continue

        def keyed(frame: pl.DataFrame, columns: list[str] = columns) -> pl.DataFrame:
            k = pl.concat_str([pl.col(c).cast(pl.String) for c in columns], separator="\x1f")
            return frame.select("id", k.alias("key")).filter(pl.col("key").is_not_null())

        lk = keyed(left)
        rk = keyed(right) if right is not None else lk
        sizes = pl.concat([lk.select("key"), rk.select("key")] if right is not None else [lk.select("key")])
        big = sizes.group_by("key").len().filter(pl.col("len") > config.max_block)
        if big.height:
            log.info(
                "match.blocks_skipped",
                rule=config.name,
                key="+".join(key),
                blocks=big.height,
                records=int(big["len"].sum()),
            )
            lk = lk.join(big.select("key"), on="key", how="anti")
            rk = rk.join(big.select("key"), on="key", how="anti")
        joined = lk.join(rk, on="key", suffix="_r").select(
            pl.col("id").alias("left_id"), pl.col("id_r").alias("right_id")
        )
        if right is None:
            joined = joined.filter(pl.col("left_id") < pl.col("right_id"))
        pairs.append(joined)
        pairs += _secondary_candidates(left, right, key, config)
    if not pairs:
        return pl.DataFrame(schema={"left_id": pl.String, "right_id": pl.String})
    return pl.concat(pairs).unique()


def _score(
    cands: pl.DataFrame, left: pl.DataFrame, right: pl.DataFrame, config: MatchConfig, lists: WordLists
) -> pl.DataFrame:
    if cands.is_empty():
        return pl.DataFrame(schema=PAIR_SCHEMA)
    data = cands.join(left, left_on="left_id", right_on="id").join(
        right, left_on="right_id", right_on="id", suffix=":r"
    )
    weights = np.zeros(data.height)
    total = np.zeros(data.height)
    present = np.zeros(data.height)
    agreed: dict[str, np.ndarray] = {}  # per field: agreed (>= 0.9) and on a secondary value
    for i, rule in enumerate(config.fields):
        sim = _similarity(rule, data[f"f:{rule.field}"], data[f"f:{rule.field}:r"], lists)
        if rule.same:  # not comparable (as if missing) where both records say and they differ
            g, gr = data[f"g:{rule.field}"], data[f"g:{rule.field}:r"]
            sim = np.where(
                (g.is_not_null() & gr.is_not_null() & (g != gr)).fill_null(False).to_numpy(), np.nan, sim
            )
        secondary = _secondary_hits(data, rule.field)
        sim = np.where(secondary & ~(sim >= 0.9), 1.0, sim)
        have = ~np.isnan(sim)
        weights += np.where(have, rule.weight, 0.0)
        total += np.where(have, rule.weight * np.nan_to_num(sim), 0.0)
        present += have
        agreed[f"__agree{i}"] = have & (sim >= 0.9)
        agreed[f"__second{i}"] = secondary
    score = np.divide(total, weights, out=np.zeros_like(total), where=weights > 0)
    keep = pl.Series((score >= config.threshold) & (present >= config.min_fields))
    # the reasons (the fields that agreed, in the rules' order) are spelled for the kept pairs only
    kept = pl.DataFrame(
        {"left_id": data["left_id"], "right_id": data["right_id"], "score": score, **agreed}
    ).filter(keep)
    labels = [
        pl.when(pl.col(f"__agree{i}")).then(
            pl.when(pl.col(f"__second{i}")).then(pl.lit(f"{r.field}(secondary)")).otherwise(pl.lit(r.field))
        )
        for i, r in enumerate(config.fields)
    ]
    reasons = pl.concat_str(labels, separator=",", ignore_nulls=True) if labels else pl.lit("")
    return kept.select("left_id", "right_id", "score", reasons.alias("reasons"))


def _secondary_hits(data: pl.DataFrame, name: str) -> np.ndarray:
    """Pairs where one side's value is among the other side's secondary values (``also``)."""
    value, also = f"f:{name}", f"a:{name}"
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
    stats: dict[str, int] | None = None,
    lists: WordLists | None = None,
) -> pl.DataFrame:
    """Scored duplicate pairs within one frame (live records only), at or above the threshold.

    ``stats``, when given, receives the number of candidate pairs compared (``candidates``); ``lists``:
    the nickname, free-mail and placeholder lists (``crm_ops.rules.wordlists``; the shipped ones).
    """
    lists = lists or shipped_lists()
    live = live_records(frame)
    prepared = _prepared(live, config, "left", lists)
    cands = _candidates(prepared, None, config)
    log.info("match.candidates", rule=config.name, records=live.height, candidates=cands.height)
    if stats is not None:
        stats["candidates"] = stats.get("candidates", 0) + cands.height
    return _score(cands, prepared, prepared, config, lists)


def link_records(
    left: pl.DataFrame,
    right: pl.DataFrame,
    config: MatchConfig,
    *,
    stats: dict[str, int] | None = None,
    lists: WordLists | None = None,
) -> pl.DataFrame:
    """Scored pairs between two frames, at or above the threshold (many-to-many; see ``one_to_one``)."""
    lists = lists or shipped_lists()
    lp = _prepared(live_records(left), config, "left", lists)
    rp = _prepared(live_records(right), config, "right", lists)
    cands = _candidates(lp, rp, config)
    log.info("match.candidates", rule=config.name, left=lp.height, right=rp.height, candidates=cands.height)
    if stats is not None:
        stats["candidates"] = stats.get("candidates", 0) + cands.height
    return _score(cands, lp, rp, config, lists)


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
