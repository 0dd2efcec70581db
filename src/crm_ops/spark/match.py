"""Matching on Spark: the same pairs, clusters and links as ``crm_ops.match`` on polars.

``SparkEngine`` is ``crm_ops.match.orchestrate.MatchEngine`` over Spark DataFrames; matching's steps
and their order are ``crm_ops.match.orchestrate``'s, as for polars. What runs where:

- normalising and blocking keys: the polars engine's ``prepare`` and ``key_columns``, per partition
  (the columns a config names, and a date rule's text, checked on the driver first);
- blocking: a Spark join per blocking key; the blocks above ``max_block`` (by a Spark count) sub-blocked
  by the polars engine's ``sub_block_columns`` and what is left counted, as there (the same candidates
  and counts);
- scoring: each partition of candidate pairs, joined with both records' prepared fields, goes through
  the polars engine's ``score`` (rapidfuzz, the same comparators and weights);
- clusters: connected components by iterated min-label propagation over the pairs (Spark joins), the
  cluster id the smallest member id, as union-find gives;
- one-to-one links: rounds of mutual best choices, each a pair of Spark aggregations;
- drift: each linked pair's two records meet in one partition, where the polars ``drift`` runs;
- merge and conversion proposals: the pairs found (a small share of the records) come to the driver,
  with the records of those pairs only, for the rejections, clusters, ``survivorship`` and ``conversions``.

``run_matching_spark(frames)`` returns the polars ``MatchResult``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import polars as pl
import structlog

from crm_ops.match import fs
from crm_ops.match.config import MatchConfig
from crm_ops.match.dates import refusal, unreadable
from crm_ops.match.engine import (
    PAIR_SCHEMA,
    SEP,
    fit_model,
    key_columns,
    pair_levels,
    prepare,
    random_pairs_data,
    rule_where,
    score,
    secondary_columns,
    sub_block_columns,
)
from crm_ops.match.links import DRIFT_FIELDS, drift
from crm_ops.match.merges import MATCH_FINDINGS_SCHEMA
from crm_ops.match.orchestrate import MatchResult, orchestrate
from crm_ops.match.survivor import MergeRules
from crm_ops.rules.loader import load_rules
from crm_ops.rules.model import Rule
from crm_ops.spark.frames import map_polars, polars_schema, to_polars, union_all
from crm_ops.spark.gate import (
    ANSWER_SCHEMA,
    QUESTION_SCHEMA,
    AnsweringGate,
    RecordingGate,
    SparkGate,
    gated_on_driver,
)
from crm_ops.spark.sources import source_links_spark
from crm_ops.values.wordlists import WordLists
from crm_ops.values.wordlists import shipped as shipped_lists

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from crm_ops.spark.sessions import SparkFrames

log = structlog.get_logger("crm_ops.spark")


def _live(frame: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    if "is_deleted" not in frame.columns:
        return frame
    return frame.where(~F.coalesce(F.col("is_deleted"), F.lit(False)))


def _c(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col(f"`{name}`")


def _check_dates(frame: DataFrame, config: MatchConfig, side: str, label: str) -> None:
    """A date rule's text column read as dates on Spark, on the driver before anything runs: text that
    is not a date is the polars engine's ``ConfigError``."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    for rule in config.fields:
        name = rule.column(side)
        if rule.comparator != "date" or not isinstance(frame.schema[name].dataType, StringType):
            continue
        bad = map_polars(
            frame.select(_c(name).alias("v")), partial(_unreadable, order=rule.date_order), {"v": pl.String()}
        ).distinct()
        examples = to_polars(bad.orderBy(F.col("v")).limit(3), {"v": pl.String()})["v"]
        if examples.len():
            raise refusal(rule_where(config, rule, label), name, examples, rule.date_order, count=bad.count())


def _unreadable(frame: pl.DataFrame, order: str | None) -> pl.DataFrame:
    return unreadable(frame["v"], order).to_frame("v")


def prepare_spark(
    frame: DataFrame,
    config: MatchConfig,
    side: str,
    lists: WordLists,
    *,
    id_column: str = "id",
    label: str = "frame",
) -> DataFrame:
    """The polars engine's ``prepare`` per partition (normalised fields ``f:<i>``, secondary values
    ``a:<i>``, guards ``g:<i>``, blocking-only columns ``b:<name>``) with each blocking key (``k<i>``),
    with the word lists ``lists``. Missing columns and unreadable dates are refused on the driver."""
    schema = polars_schema(frame.schema)
    empty = prepare(pl.DataFrame(schema=schema), config, side, lists, id_column=id_column, label=label)
    _check_dates(frame, config, side, label)
    out = dict(empty.schema)
    keys = []
    for i, key in enumerate(config.blocking):
        keys.append((f"k{i}", key_columns(config, key)))
        out[f"k{i}"] = pl.String()

    def run(f: pl.DataFrame) -> pl.DataFrame:
        prepared = prepare(f, config, side, lists, id_column=id_column, label=label)
        return prepared.with_columns(
            [
                pl.concat_str([pl.col(c).cast(pl.String) for c in cols], separator=SEP).alias(name)
                for name, cols in keys
            ]
        )

    return map_polars(frame, run, out)


@dataclass
class _Capped:
    """The blocks of one key (or one direction of its secondary values) above ``max_block``, as the
    polars engine's ``_Capped``: their records on each side (``id``, ``key``) and counts."""

    left: DataFrame
    right: DataFrame
    blocks: int
    records: int
    pairs: int
    both_ways: bool = False


def _keyed(frame: DataFrame, key: Column, carry: Sequence[str], *, explode: bool = False) -> DataFrame:
    """``id``, the blocking ``key`` (text; a list's items, one per row, with ``explode``) and the
    sub-block columns ``carry`` (text), the rows without a key left out (as the polars engine's)."""
    from pyspark.sql import functions as F

    keyed = frame.select(F.col("id"), key.alias("key"), *[_c(c).cast("string").alias(c) for c in carry])
    if explode:
        keyed = keyed.withColumn("key", F.explode("key")).dropDuplicates(["id", "key"])
    return keyed.withColumn("key", F.col("key").cast("string")).where(F.col("key").isNotNull())


def _blocked(
    lk: DataFrame, rk: DataFrame | None, max_block: int
) -> tuple[DataFrame, DataFrame, DataFrame | None, DataFrame]:
    """The polars engine's ``_blocked`` on Spark: the pairs of the blocks of at most ``max_block``
    records, the records of the larger ones on each side, and their sizes (``key``, ``nl``, ``nr``)."""
    from pyspark.sql import functions as F

    nl = lk.groupBy("key").agg(F.count(F.lit(1)).alias("nl"))
    if rk is None:
        big = nl.where(F.col("nl") > max_block).withColumn("nr", F.col("nl"))
    else:
        nr = rk.groupBy("key").agg(F.count(F.lit(1)).alias("nr"))
        big = nl.join(nr, "key").where(F.col("nl") + F.col("nr") > max_block)
    big = big.localCheckpoint()
    keys = big.select("key")
    small_l = lk.select("id", "key").join(keys, "key", "left_anti")
    small_r = small_l if rk is None else rk.select("id", "key").join(keys, "key", "left_anti")
    pairs = (
        small_l.alias("l")
        .join(small_r.alias("r"), "key")
        .select(F.col("l.id").alias("left_id"), F.col("r.id").alias("right_id"))
    )
    if rk is None:
        pairs = pairs.where(F.col("left_id") < F.col("right_id"))
    big_l = lk.join(keys, "key", "left_semi")
    big_r = None if rk is None else rk.join(keys, "key", "left_semi")
    return pairs, big_l, big_r, big


def _sub_blocked(
    lk: DataFrame, rk: DataFrame | None, columns: Sequence[str], max_block: int
) -> list[DataFrame]:
    """The polars engine's ``_sub_blocked`` on Spark (the same sub-blocks, the same pairs)."""
    from pyspark.sql import functions as F

    out = []
    for i, column in enumerate(columns):

        def rekeyed(frame: DataFrame, column: str = column) -> DataFrame:
            return frame.where(_c(column).isNotNull()).withColumn(
                "key", F.concat_ws(SEP, F.col("key"), _c(column))
            )

        pairs, big_l, big_r, _ = _blocked(rekeyed(lk), None if rk is None else rekeyed(rk), max_block)
        out.append(pairs)
        if i + 1 < len(columns) and not big_l.isEmpty():
            out += _sub_blocked(big_l, big_r, columns[i + 1 :], max_block)
    return out


def _capped_blocks(big: DataFrame, big_l: DataFrame, big_r: DataFrame | None) -> _Capped:
    """The counts of the blocks above ``max_block`` (the polars engine's ``_capped_blocks``)."""
    from pyspark.sql import functions as F

    within = big_r is None
    pairs = (F.col("nl") * (F.col("nl") - 1) / 2) if within else F.col("nl") * F.col("nr")
    records = F.col("nl") if within else F.col("nl") + F.col("nr")
    row = big.agg(
        F.count(F.lit(1)).alias("blocks"),
        F.sum(pairs.cast("long")).alias("pairs"),
        F.sum(records.cast("long")).alias("records"),
    ).first()
    right = big_l if big_r is None else big_r
    return _Capped(
        big_l.select("id", "key"),
        right.select("id", "key"),
        int(row["blocks"] or 0) if row else 0,
        int(row["records"] or 0) if row else 0,
        int(row["pairs"] or 0) if row else 0,
    )


def _not_compared(capped: _Capped, cands: DataFrame) -> int:
    """The pairs of ``capped``'s blocks that are not candidates (the polars engine's ``_not_compared``)."""
    from pyspark.sql import functions as F

    if not capped.blocks:
        return 0
    left = capped.left.withColumnRenamed("id", "left_id")
    right = capped.right.withColumnRenamed("id", "right_id")
    oriented = [cands]
    if capped.both_ways:
        oriented.append(cands.select(F.col("right_id").alias("left_id"), F.col("left_id").alias("right_id")))
    found = None
    for c in oriented:
        hit = (
            c.join(left, "left_id")
            .join(right, ["right_id", "key"], "left_semi")
            .select("left_id", "right_id")
        )
        found = hit if found is None else found.unionByName(hit)
    assert found is not None
    if capped.both_ways:
        found = found.select(
            F.least("left_id", "right_id").alias("left_id"),
            F.greatest("left_id", "right_id").alias("right_id"),
        )
    own = 0
    if capped.both_ways:
        own = capped.left.join(capped.right, ["id", "key"], "left_semi").count()
    return capped.pairs - own - found.distinct().count()


def _candidates(
    left: DataFrame, right: DataFrame | None, config: MatchConfig
) -> tuple[DataFrame, list[_Capped]]:
    """The polars engine's ``_candidates`` on Spark: the candidate pairs of every blocking key, blocks
    above ``max_block`` sub-blocked, and those blocks (``_Capped``) to count what was not compared."""
    from pyspark.sql import functions as F

    spark = left.sparkSession
    pairs: list[DataFrame] = []
    capped: list[_Capped] = []
    for i, key in enumerate(config.blocking):
        name = f"k{i}"
        if name not in left.columns:
            continue
        carry = [c for c in sub_block_columns(config, key) if c in left.columns]
        lk = _keyed(left, F.col(name), carry)
        rk = _keyed(right, F.col(name), carry) if right is not None else None
        found, big_l, big_r, big = _blocked(lk, rk, config.max_block)
        pairs += [found, *_sub_blocked(big_l, big_r, carry, config.max_block)]
        capped.append(_capped_blocks(big, big_l, big_r))
        more, capped_more = _secondary(left, right, key, config)
        pairs += more
        capped += capped_more
    if not pairs:
        return spark.createDataFrame([], "left_id string, right_id string"), capped
    return union_all(pairs).distinct(), capped


def _secondary(
    left: DataFrame, right: DataFrame | None, key: tuple[str, ...], config: MatchConfig
) -> tuple[list[DataFrame], list[_Capped]]:
    """Pairs where one record's value of a one-field key is among the other's secondary values, and
    the blocks above ``max_block`` (as the polars engine's blocking)."""
    from pyspark.sql import functions as F

    named = secondary_columns(config, key)
    if named is None:
        return [], []
    value, also = named
    carry = [c for c in sub_block_columns(config, key) if c in left.columns]
    other = right if right is not None else left
    out, capped = [], []
    directions = ((left, other, False),) if right is None else ((left, other, False), (other, left, True))
    for values, lists, flip in directions:
        if value not in values.columns or also not in lists.columns:
            continue
        keys = _keyed(values, _c(value), carry)
        items = _keyed(lists, _c(also), carry, explode=True)
        pairs, big_l, big_r, big = _blocked(keys, items, config.max_block)
        a, b = ("right_id", "left_id") if flip else ("left_id", "right_id")
        for each in [pairs, *_sub_blocked(big_l, big_r, carry, config.max_block)]:
            oriented = each.select(F.col(a).alias("left_id"), F.col(b).alias("right_id"))
            if right is None:
                oriented = oriented.where(F.col("left_id") != F.col("right_id")).select(
                    F.least("left_id", "right_id").alias("left_id"),
                    F.greatest("left_id", "right_id").alias("right_id"),
                )
            out.append(oriented)
        block = _capped_blocks(big, big_l, big_r)
        if flip:
            block = _Capped(block.right, block.left, block.blocks, block.records, block.pairs)
        block.both_ways = right is None
        capped.append(block)
    return out, capped


def _joined(cands: DataFrame, left: DataFrame, right: DataFrame, fields: Sequence[str]) -> DataFrame:
    """Candidate pairs with both sides' ``prepare``d ``fields`` (the right's suffixed ``:r``)."""
    from pyspark.sql import functions as F

    lsel = left.select(F.col("id").alias("left_id"), *[_c(c) for c in fields])
    rsel = right.select(F.col("id").alias("right_id"), *[_c(c).alias(f"{c}:r") for c in fields])
    return cands.join(lsel, "left_id").join(rsel, "right_id")


def _scored(
    cands: DataFrame,
    left: DataFrame,
    right: DataFrame,
    config: MatchConfig,
    lists: WordLists,
    model: fs.Model | None = None,
) -> DataFrame:
    """``score`` of the polars engine over each partition of the candidate pairs (under one ``model``,
    trained on the driver, when the config is Fellegi-Sunter)."""
    fields = [c for c in left.columns if c.startswith(("f:", "a:", "g:"))]
    data = _joined(cands, left, right, fields)

    def run(f: pl.DataFrame) -> pl.DataFrame:
        lf = f.select(pl.col("left_id").alias("id"), *fields).unique("id")
        rf = f.select(pl.col("right_id").alias("id"), *[pl.col(f"{c}:r").alias(c) for c in fields]).unique(
            "id"
        )
        return score(f.select("left_id", "right_id"), lf, rf, config, lists, model=model)

    return map_polars(data, run, PAIR_SCHEMA)


def _exact_u(left: DataFrame, right: DataFrame | None, column: str) -> tuple[float, float] | None:
    """``fs.exact_u`` of a ``prepare``d column counted by Spark: only the sums reach the driver."""
    from pyspark.sql import functions as F

    def counts(frame: DataFrame) -> DataFrame:
        return frame.where(_c(column).isNotNull()).groupBy(_c(column).alias("v")).count()

    lc = counts(left)
    if right is None:
        row = lc.agg(
            F.sum("count").alias("n"), F.sum(F.col("count") * (F.col("count") - 1)).alias("same")
        ).first()
        n, same = (row["n"] or 0, row["same"] or 0) if row else (0, 0)
        if n < 2:
            return None
        return float(same) / (n * (n - 1.0)), n * (n - 1.0) / 2
    rc = counts(right)
    nl = lc.agg(F.sum("count")).first()[0] or 0  # type: ignore[index]
    nr = rc.agg(F.sum("count")).first()[0] or 0  # type: ignore[index]
    if not nl or not nr:
        return None
    both = lc.join(rc.withColumnRenamed("count", "count_r"), "v")
    same = both.agg(F.sum(F.col("count") * F.col("count_r"))).first()[0] or 0  # type: ignore[index]
    return float(same) / (float(nl) * nr), float(nl) * nr


def _trained(
    cands: DataFrame, left: DataFrame, right: DataFrame | None, config: MatchConfig, lists: WordLists
) -> fs.Model:
    """A Fellegi-Sunter model trained on the driver, as the polars engine trains it: EM over a sample of
    the candidate pairs (``fs.TRAINING_PAIRS``), u over random pairs of a sample of the records, the
    exact levels' u and the ``tf`` shares counted over every record by Spark."""
    from pyspark.sql import functions as F

    fields = [c for c in left.columns if c.startswith(("f:", "a:", "g:", "b:"))]
    other = left if right is None else right
    total = cands.count()
    fraction = min(1.0, 1.2 * fs.TRAINING_PAIRS / max(total, 1))
    sample = cands if fraction >= 1 else cands.sample(fraction=fraction, seed=0)
    data = to_polars(_joined(sample, left, other, fields))

    def some(frame: DataFrame) -> pl.DataFrame:  # ``fs.chosen_records``, the smallest id hashes
        crc = F.crc32(F.col("id").cast("string").cast("binary"))
        part = frame.orderBy(crc, F.col("id")).limit(fs.RANDOM_RECORDS)
        return to_polars(part.select("id", *[_c(c) for c in fields]))

    lsome = some(left)
    random = random_pairs_data(lsome, None if right is None else some(right))
    shares, exact = {}, {}
    for i, rule in enumerate(config.fields):
        column = f"f:{i}"
        if rule.tf:
            both = left.select(_c(column).alias("v"))
            if right is not None:
                both = both.unionByName(right.select(_c(column).alias("v")))
            counted = both.where(F.col("v").isNotNull()).groupBy("v").count()
            frame = to_polars(
                counted.select(F.col("v").cast("string").alias("value"), F.col("count").alias("n"))
            )
            shares[i] = fs.shares_of(frame, int(frame["n"].sum() or 0))
        if not rule.also:
            exact[i] = _exact_u(left, right, column)
    compared = pair_levels(config, data, lists)
    return fit_model(config, data, compared, random, lists, shares=shares, exact=exact)


def find_duplicates_spark(
    frame: DataFrame,
    config: MatchConfig,
    *,
    id_column: str = "id",
    stats: dict[str, int] | None = None,
    lists: WordLists | None = None,
    model: fs.Model | None = None,
) -> DataFrame:
    """Scored duplicate pairs within one frame (live records), as ``crm_ops.match.find_duplicates``
    (the same arguments, the same checks)."""
    return _pairs(frame, None, config, stats, lists, (id_column, id_column), model)


def link_records_spark(
    left: DataFrame,
    right: DataFrame,
    config: MatchConfig,
    *,
    id_column: str = "id",
    right_id_column: str | None = None,
    stats: dict[str, int] | None = None,
    lists: WordLists | None = None,
    model: fs.Model | None = None,
) -> DataFrame:
    """Scored pairs between two frames, as ``crm_ops.match.link_records`` (the same arguments)."""
    return _pairs(left, right, config, stats, lists, (id_column, right_id_column or id_column), model)


def _pairs(
    left: DataFrame,
    right: DataFrame | None,
    config: MatchConfig,
    stats: dict[str, int] | None,
    lists: WordLists | None,
    ids: tuple[str, str],
    model: fs.Model | None = None,
) -> DataFrame:
    """Scored pairs between ``left`` and ``right``'s live records, or within ``left`` when it is None;
    ``ids``: the id column of each."""
    words = lists or shipped_lists()
    label = "frame" if right is None else "left frame"
    lp = prepare_spark(_live(left), config, "left", words, id_column=ids[0], label=label).persist()
    rp = None
    if right is not None:
        rp = prepare_spark(
            _live(right), config, "right", words, id_column=ids[1], label="right frame"
        ).persist()
    cands, capped = _candidates(lp, rp, config)
    cands = cands.localCheckpoint()
    if stats is not None:
        stats["candidates"] = stats.get("candidates", 0) + cands.count()
        blocks = sum(c.blocks for c in capped)
        if blocks:
            counts = {
                "blocks_capped": blocks,
                "records_in_capped_blocks": sum(c.records for c in capped),
                "pairs_not_compared": sum(_not_compared(c, cands) for c in capped),
            }
            log.warning("match.blocks_capped", rule=config.name, max_block=config.max_block, **counts)
            for name, n in counts.items():
                stats[name] = stats.get(name, 0) + n
    if config.model == "fellegi-sunter" and model is None:
        model = _trained(cands, lp, rp, config, words)
    return _scored(cands, lp, lp if rp is None else rp, config, words, model)


def clusters_spark(pairs: DataFrame, max_rounds: int = 100) -> DataFrame:
    """Connected components of the pairs: (id, cluster_id = the smallest id of its component)."""
    from pyspark.sql import functions as F

    edges = pairs.select(F.col("left_id").alias("a"), F.col("right_id").alias("b"))
    edges = edges.unionByName(edges.select(F.col("b").alias("a"), F.col("a").alias("b"))).distinct()
    edges = edges.localCheckpoint()
    labels = edges.groupBy("a").agg(F.least(F.min("b"), F.first("a")).alias("label"))
    labels = labels.select(F.col("a").alias("id"), "label").localCheckpoint()
    for _ in range(max_rounds):
        # each record takes the smallest label among itself and its neighbours
        moved = (
            edges.join(labels.select(F.col("id").alias("b"), F.col("label").alias("nl")), "b")
            .groupBy("a")
            .agg(F.min("nl").alias("nl"))
        )
        updated = (
            labels.join(moved.withColumnRenamed("a", "id"), "id", "left")
            .select("id", F.least("label", F.coalesce("nl", "label")).alias("label"))
            .localCheckpoint()
        )
        changed = updated.join(labels.withColumnRenamed("label", "old"), "id").where(
            F.col("label") != F.col("old")
        )
        labels = updated
        if changed.isEmpty():
            break
    return labels.select("id", F.col("label").alias("cluster_id"))


def one_to_one_spark(pairs: DataFrame, order: Sequence[str] = ("score",)) -> DataFrame:
    """Each record in at most one pair, best first: rounds of mutual best choices, as ``one_to_one``."""
    from pyspark.sql import functions as F

    # the polars ranking (order descending, then left_id, right_id) as one comparable struct
    rank = F.struct(*[(-F.col(c)).alias(f"o{i}") for i, c in enumerate(order)], "left_id", "right_id")
    ranked = pairs.withColumn("__rank", rank).localCheckpoint()
    kept = []
    while not ranked.isEmpty():
        best_left = ranked.groupBy("left_id").agg(F.min("__rank").alias("__rank"))
        best_right = ranked.groupBy("right_id").agg(F.min("__rank").alias("__rank"))
        mutual = (
            ranked.join(best_left, ["left_id", "__rank"], "left_semi")
            .join(best_right, ["right_id", "__rank"], "left_semi")
            .localCheckpoint()
        )
        kept.append(mutual)
        ranked = (
            ranked.join(mutual.select("left_id"), "left_id", "left_anti")
            .join(mutual.select("right_id"), "right_id", "left_anti")
            .localCheckpoint()
        )
    if not kept:
        return pairs.limit(0)
    return union_all(kept).drop("__rank")


def _union_kinds(parts: Mapping[str, DataFrame], key: str) -> DataFrame:
    """Frames of different shapes stacked (missing columns null) with a ``__kind`` column."""
    from pyspark.sql import functions as F

    out = None
    for kind, frame in parts.items():
        tagged = frame.withColumn("__kind", F.lit(kind))
        out = tagged if out is None else out.unionByName(tagged, allowMissingColumns=True)
    assert out is not None
    return out.repartition(F.col(key))


def drift_spark(
    entity: str,
    sf: DataFrame,
    hs: DataFrame,
    links: DataFrame,
    truth: Mapping[str, str],
    gate: SparkGate | None,
    lists: WordLists,
) -> DataFrame:
    """The polars ``drift`` on each linked pair's two records (``links``: sf_id, hs_id), gathered in one
    partition. With a gate,
    twice (``crm_ops.spark.gate``): the first pass collects the syncs to judge, Spark judges them all,
    and each verdict joins its pair's partition for the second."""
    from pyspark.sql import functions as F

    sf_schema, hs_schema = polars_schema(sf.schema), polars_schema(hs.schema)
    pairs = links.select(
        F.col("sf_id").alias("__key"), F.col("sf_id").alias("__sf"), F.col("hs_id").alias("__hs")
    )
    keys, twins = pairs.select("__key"), pairs.select("__key", "__hs")
    sf_rows = sf.join(keys, sf["id"] == keys["__key"])
    hs_rows = hs.join(twins, hs["id"] == twins["__hs"]).drop("__hs")
    renamed_hs = hs_rows.select("__key", *[F.col(f"`{c}`").alias(f"hs:{c}") for c in hs.columns])
    parts = {"pair": pairs, "sf": sf_rows, "hs": renamed_hs}

    def records(f: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        got = f.filter(pl.col("__kind") == "pair").select(
            pl.col("__sf").alias("sf_id"), pl.col("__hs").alias("hs_id")
        )
        left = f.filter(pl.col("__kind") == "sf").select(list(sf_schema))
        right = f.filter(pl.col("__kind") == "hs").select([pl.col(f"hs:{c}").alias(c) for c in hs_schema])
        return left, right, got

    answered, gated = False, gate is not None  # the closures below must not hold the gate (its frames)
    if gate is not None:
        fields = gate.fields

        def ask(f: pl.DataFrame) -> pl.DataFrame:
            recorder = RecordingGate(fields)
            drift(entity, *records(f), truth, recorder, lists)
            return recorder.questions()

        questions = map_polars(_union_kinds(parts, "__key"), ask, QUESTION_SCHEMA).localCheckpoint()
        groups = [(s, entity, c) for s in ("salesforce", "hubspot") for c in DRIFT_FIELDS.get(entity, {})]
        answers = gate.answer(questions, groups)
        if answers is not None:
            named = [F.col(c).alias(f"ans:{c}") for c in ANSWER_SCHEMA]
            into_sf = answers.where(F.col("system") == "salesforce").select(
                F.col("record_id").alias("__key"), *named
            )
            into_hs = answers.where(F.col("system") == "hubspot").join(
                pairs.select("__key", F.col("__hs").alias("record_id")), "record_id"
            )
            parts["answer"] = into_sf.unionByName(into_hs.select("__key", *named))
            answered = True

    def run(f: pl.DataFrame) -> pl.DataFrame:
        verdicts = None
        if gated:
            rows = f.filter(pl.col("__kind") == "answer") if answered else pl.DataFrame()
            verdicts = AnsweringGate(
                rows.select([pl.col(f"ans:{c}").alias(c) for c in ANSWER_SCHEMA])
                if answered
                else pl.DataFrame(schema=ANSWER_SCHEMA)
            )
        return drift(entity, *records(f), truth, verdicts, lists)

    return map_polars(_union_kinds(parts, "__key"), run, MATCH_FINDINGS_SCHEMA)


def _id_links(sf: DataFrame, hs: DataFrame, sf_link: str, hs_link: str) -> DataFrame:
    from pyspark.sql import functions as F

    a = sf.where(F.col(sf_link).isNotNull()).select(
        F.col("id").alias("left_id"), F.col(sf_link).alias("right_id")
    )
    b = hs.where(F.col(hs_link).isNotNull()).select(
        F.col(hs_link).alias("left_id"), F.col("id").alias("right_id")
    )
    pairs = a.unionByName(b).distinct()
    pairs = pairs.join(sf.select(F.col("id").alias("left_id")), "left_id", "left_semi").join(
        hs.select(F.col("id").alias("right_id")), "right_id", "left_semi"
    )
    return pairs.select(
        "left_id",
        "right_id",
        F.lit(1.0).alias("score"),
        F.lit("linked id").alias("reasons"),
        F.lit(None).cast("string").alias("explain"),
    )


def link_spark(
    sf: DataFrame,
    hs: DataFrame,
    config: MatchConfig,
    sf_link: str,
    hs_link: str,
    stats: dict[str, int],
    lists: WordLists,
) -> DataFrame:
    """One-to-one links as ``crm_ops.match.links.link``: by the ids each keeps of the other, then by
    the rules on what is left, the older record preferred between equals."""
    from pyspark.sql import functions as F

    by_id = one_to_one_spark(_id_links(sf, hs, sf_link, hs_link)).withColumn("method", F.lit("id"))
    rest_sf = sf.join(by_id.select(F.col("left_id").alias("id")), "id", "left_anti")
    rest_hs = hs.join(by_id.select(F.col("right_id").alias("id")), "id", "left_anti")
    scored = link_records_spark(rest_sf, rest_hs, config, stats=stats, lists=lists)
    if "explain" not in scored.columns:  # pairs scored before every pair explained itself
        scored = scored.withColumn("explain", F.lit(None).cast("string"))
    created = rest_sf.select(F.col("id").alias("left_id"), F.col("created_at").alias("__created"))
    scored = scored.join(created, "left_id", "left").withColumn(
        "__age", -F.coalesce(F.unix_millis(F.col("__created")), F.lit(0))
    )
    by_rule = one_to_one_spark(scored, order=("score", "__age")).drop("__created", "__age")
    by_rule = by_rule.withColumn("method", F.lit("match"))
    cols = ["left_id", "right_id", "method", "score", "reasons", "explain"]
    return by_id.select(*cols).unionByName(by_rule.select(*cols))


def _records(frame: DataFrame, ids: pl.Series) -> pl.DataFrame:
    """The records of ``frame`` whose ids are in ``ids`` (few: cluster members, pair members), collected."""
    spark = frame.sparkSession
    wanted = spark.createDataFrame(pl.DataFrame({"id": ids.unique()}).to_arrow())
    return to_polars(frame.join(wanted, "id", "left_semi"), polars_schema(frame.schema))


class SparkEngine:
    """``crm_ops.match.orchestrate.MatchEngine`` on Spark DataFrames: every proposal judged by Spark
    (``SparkGate`` of ``rules`` over ``frames``; none when ``rules`` is empty), the word lists
    ``lists`` (the shipped ones when None)."""

    def __init__(self, frames: SparkFrames, rules: Sequence[Rule], lists: WordLists | None) -> None:
        self.words = lists or shipped_lists()
        self.shared: dict[Any, Any] = {}
        self.gate = SparkGate(rules, frames, shared=self.shared) if rules else None

    def live(self, frame: DataFrame) -> DataFrame:
        """The records not deleted."""
        return _live(frame)

    def open_leads(self, leads: DataFrame) -> DataFrame:
        """The live leads not yet converted."""
        from pyspark.sql import functions as F

        return _live(leads).where(~F.coalesce(F.col("is_converted"), F.lit(False)))

    def with_account_names(self, contacts: DataFrame, accounts: DataFrame | None) -> DataFrame:
        """Contacts with their account's name as ``account_name``."""
        from pyspark.sql import functions as F

        if accounts is None:
            return contacts.withColumn("account_name", F.lit(None).cast("string"))
        names = accounts.select(F.col("id").alias("account_id"), F.col("name").alias("account_name"))
        return contacts.join(names, "account_id", "left")

    def duplicates(self, frame: DataFrame, config: MatchConfig, stats: dict[str, int]) -> pl.DataFrame:
        """``find_duplicates_spark``, collected."""
        return to_polars(find_duplicates_spark(frame, config, stats=stats, lists=self.words), PAIR_SCHEMA)

    def pairs(
        self, left: DataFrame, right: DataFrame, config: MatchConfig, stats: dict[str, int]
    ) -> pl.DataFrame:
        """``link_records_spark``, collected."""
        return to_polars(link_records_spark(left, right, config, stats=stats, lists=self.words), PAIR_SCHEMA)

    def link(
        self,
        sf: DataFrame,
        hs: DataFrame,
        config: MatchConfig,
        sf_link: str,
        hs_link: str,
        stats: dict[str, int],
    ) -> DataFrame:
        """``link_spark``, checkpointed (it is read several times)."""
        return link_spark(sf, hs, config, sf_link, hs_link, stats, self.words).localCheckpoint()

    def unlinked(self, frame: DataFrame, links: DataFrame, column: str) -> DataFrame:
        """The records whose id is not in ``links``' ``column``."""
        from pyspark.sql import functions as F

        return frame.join(links.select(F.col(column).alias("id")), "id", "left_anti")

    def cross_links(self, entity: str, links: Mapping[str, DataFrame]) -> DataFrame:
        """The links by Salesforce entity, stacked as ``LINK_SCHEMA``."""
        from pyspark.sql import functions as F

        out = None
        for sf_entity, frame in links.items():
            rows = frame.select(
                F.lit(entity).alias("entity"),
                F.lit(sf_entity).alias("sf_entity"),
                F.col("left_id").alias("sf_id"),
                F.col("right_id").alias("hs_id"),
                "method",
                "score",
                "reasons",
                "explain",
            )
            out = rows if out is None else out.unionByName(rows)
        assert out is not None, "no links to stack"
        return out.localCheckpoint()

    def collect(self, frame: DataFrame, schema: Mapping[str, Any]) -> pl.DataFrame:
        """The frame's ``schema`` columns, on the driver."""
        return to_polars(frame.select(*schema), schema)

    def records(self, frame: DataFrame, ids: pl.Series) -> pl.DataFrame:
        """The records whose id is in ``ids``, on the driver."""
        return _records(frame, ids)

    def drift(
        self, entity: str, sf: DataFrame, hs: DataFrame, links: DataFrame, truth: Mapping[str, str]
    ) -> pl.DataFrame:
        """``drift_spark`` with the gate, collected."""
        return to_polars(
            drift_spark(entity, sf, hs, links, truth, self.gate, self.words), MATCH_FINDINGS_SCHEMA
        )

    def proposals(self, make: Callable[..., pl.DataFrame]) -> pl.DataFrame:
        """``make`` on the driver with Spark's verdicts (``gated_on_driver``)."""
        return gated_on_driver(self.gate, make)

    def source_links(self, frames: Mapping[str, Mapping[str, DataFrame]]) -> pl.DataFrame:
        """``crm_ops.spark.sources.source_links_spark``."""
        return source_links_spark(frames, self.words)

    def close(self) -> None:
        """The gate's persisted frames unpersisted."""
        for persisted in self.shared.get("__persisted", []):
            persisted.unpersist()


def run_matching_spark(
    frames: SparkFrames,
    *,
    configs: Mapping[str, MatchConfig] | None = None,
    source_of_truth: Mapping[str, str] | None = None,
    merge_rules: MergeRules | None = None,
    rejected: Sequence[Mapping[str, Any]] = (),
    rules: Sequence[Rule] | None = None,
    lists: WordLists | None = None,
    linked_sources: pl.DataFrame | None = None,
    verdicts: Sequence[Mapping[str, Any]] = (),
    learn_from_decisions: bool = False,
) -> MatchResult:
    """Duplicates, lead-vs-contact, cross-CRM links and drift on Spark, as ``run_matching`` (the same
    arguments: ``rules`` every proposed value must pass, the shipped ones when None; ``lists`` the word
    lists; ``linked_sources`` the sources' links when the caller has them, else found by
    ``crm_ops.spark.sources``), in ``crm_ops.match.orchestrate``'s order.

    Blocking, scoring, links, unmatched records and drift run on Spark; the pairs found (a small share
    of the records) come to the driver, where the remembered rejections are left out and the merge and
    conversion proposals are made by the polars code over the records of those pairs only. Every
    proposal is judged by Spark (``crm_ops.spark.gate``)."""
    if rules is None:
        rules, _ = load_rules([])
    return orchestrate(
        SparkEngine(frames, rules, lists),
        frames,
        configs=configs,
        source_of_truth=source_of_truth,
        merge_rules=merge_rules,
        rejected=rejected,
        linked_sources=linked_sources,
        verdicts=verdicts,
        learn_from_decisions=learn_from_decisions,
    )
