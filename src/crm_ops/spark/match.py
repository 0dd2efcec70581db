"""Matching on Spark: the same pairs, clusters and links as ``crm_ops.match`` on polars.

- normalising and blocking keys: the polars engine's ``_prepared`` and key expressions, per partition;
- blocking: a Spark join per blocking key, the blocks above ``max_block`` (by a Spark count) left out;
- scoring: each partition of candidate pairs, joined with both records' prepared fields, goes through
  the polars engine's ``_score`` (rapidfuzz, the same comparators and weights);
- clusters: connected components by iterated min-label propagation over the pairs (Spark joins), the
  cluster id the smallest member id, as union-find gives;
- one-to-one links: rounds of mutual best choices, each a pair of Spark aggregations;
- drift: each linked pair's two records meet in one partition, where the polars ``drift`` runs;
- merge and conversion proposals: the pairs found (a small share of the records) come to the driver,
  with the records of those pairs only, for the rejections, clusters, ``survivorship`` and ``conversions``.

``run_matching_spark(frames)`` returns the polars ``MatchResult``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import polars as pl
import structlog

from crm_ops.match.config import DEFAULTS, LEAD_CONTACT, MatchConfig
from crm_ops.match.decisions import active, drop_rejected
from crm_ops.match.engine import PAIR_SCHEMA, _prepared, _score, clusters, one_to_one
from crm_ops.match.links import DRIFT_FIELDS, drift
from crm_ops.match.merges import MATCH_FINDINGS_SCHEMA, conversions, survivorship
from crm_ops.match.run import (
    CROSS_ENTITIES,
    LINK_SCHEMA,
    PAIRS_SCHEMA,
    MatchResult,
    _twins,
    matched_fields,
)
from crm_ops.match.sources import link_counts
from crm_ops.match.survivor import MergeRules
from crm_ops.rules.loader import load_rules
from crm_ops.rules.model import Rule
from crm_ops.spark.frames import map_polars, polars_schema, to_polars
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
SEP = "\x1f"


def _live(frame: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    if "is_deleted" not in frame.columns:
        return frame
    return frame.where(~F.coalesce(F.col("is_deleted"), F.lit(False)))


def _c(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col(f"`{name}`")


def prepare(frame: DataFrame, config: MatchConfig, side: str, lists: WordLists) -> DataFrame:
    """Each record's normalised fields (``f:<field>``), secondary values (``a:``), guards (``g:``) and
    blocking keys (``k<i>``), per partition, with the word lists ``lists``."""
    schema = polars_schema(frame.schema)
    empty = _prepared(pl.DataFrame(schema=schema), config, side, lists)
    out = dict(empty.schema)
    keys = []
    for i, key in enumerate(config.blocking):
        columns = [f"f:{k}" for k in key]
        if all(c in empty.columns for c in columns):
            keys.append((f"k{i}", columns))
            out[f"k{i}"] = pl.String()

    def run(f: pl.DataFrame) -> pl.DataFrame:
        prepared = _prepared(f, config, side, lists)
        return prepared.with_columns(
            [
                pl.concat_str([pl.col(c).cast(pl.String) for c in cols], separator=SEP).alias(name)
                for name, cols in keys
            ]
        )

    return map_polars(frame, run, out)


def _candidates(left: DataFrame, right: DataFrame | None, config: MatchConfig) -> DataFrame:
    from pyspark.sql import functions as F

    spark = left.sparkSession
    pairs = None
    for i, key in enumerate(config.blocking):
        name = f"k{i}"
        if name not in left.columns:
            continue
        lk = left.select("id", F.col(name).alias("key")).where(F.col("key").isNotNull())
        rk = right.select("id", F.col(name).alias("key")).where(F.col("key").isNotNull()) if right else lk
        sizes = lk.select("key") if right is None else lk.select("key").unionAll(rk.select("key"))
        big = sizes.groupBy("key").count().where(F.col("count") > config.max_block).select("key")
        lk = lk.join(big, "key", "left_anti")
        rk = rk.join(big, "key", "left_anti") if right is not None else lk
        joined = (
            lk.alias("l")
            .join(rk.alias("r"), "key")
            .select(F.col("l.id").alias("left_id"), F.col("r.id").alias("right_id"))
        )
        if right is None:
            joined = joined.where(F.col("left_id") < F.col("right_id"))
        pairs = joined if pairs is None else pairs.unionByName(joined)
        for extra in _secondary(left, right, key, config):
            pairs = pairs.unionByName(extra)
    if pairs is None:
        return spark.createDataFrame([], "left_id string, right_id string")
    return pairs.distinct()


def _secondary(
    left: DataFrame, right: DataFrame | None, key: tuple[str, ...], config: MatchConfig
) -> list[DataFrame]:
    """Pairs where one record's value of a one-field key is among the other's secondary values
    (``match.engine._secondary_candidates``)."""
    from pyspark.sql import functions as F

    if len(key) != 1:
        return []
    value, also = f"f:{key[0]}", f"a:{key[0]}"
    other = right if right is not None else left
    out = []
    for values, lists, flip in ((left, other, False), (other, left, True)):
        if value not in values.columns or also not in lists.columns:
            continue
        keys = values.select("id", _c(value).alias("key")).where(F.col("key").isNotNull())
        items = lists.select(F.col("id").alias("id_r"), F.explode(_c(also)).alias("key"))
        items = items.where(F.col("key").isNotNull())
        sizes = keys.select("key").unionAll(items.select("key")).groupBy("key").count()
        big = sizes.where(F.col("count") > config.max_block).select("key")
        joined = keys.join(big, "key", "left_anti").join(items, "key")
        a, b = ("id_r", "id") if flip else ("id", "id_r")
        pairs = joined.select(F.col(a).alias("left_id"), F.col(b).alias("right_id"))
        if right is None:
            pairs = pairs.where(F.col("left_id") != F.col("right_id")).select(
                F.least("left_id", "right_id").alias("left_id"),
                F.greatest("left_id", "right_id").alias("right_id"),
            )
        out.append(pairs)
    return out


def _scored(
    cands: DataFrame, left: DataFrame, right: DataFrame, config: MatchConfig, lists: WordLists
) -> DataFrame:
    """``_score`` of the polars engine over each partition of the candidate pairs."""
    from pyspark.sql import functions as F

    fields = [c for c in left.columns if c.startswith(("f:", "a:", "g:"))]
    lsel = left.select(F.col("id").alias("left_id"), *[_c(c) for c in fields])
    rsel = right.select(F.col("id").alias("right_id"), *[_c(c).alias(f"{c}:r") for c in fields])
    data = cands.join(lsel, "left_id").join(rsel, "right_id")

    def run(f: pl.DataFrame) -> pl.DataFrame:
        lf = f.select(pl.col("left_id").alias("id"), *fields).unique("id")
        rf = f.select(pl.col("right_id").alias("id"), *[pl.col(f"{c}:r").alias(c) for c in fields]).unique(
            "id"
        )
        return _score(f.select("left_id", "right_id"), lf, rf, config, lists)

    return map_polars(data, run, PAIR_SCHEMA)


def find_duplicates_spark(
    frame: DataFrame,
    config: MatchConfig,
    *,
    stats: dict[str, int] | None = None,
    lists: WordLists | None = None,
) -> DataFrame:
    """Scored duplicate pairs within one frame (live records), as ``crm_ops.match.find_duplicates``."""
    return _pairs(frame, None, config, stats, lists)


def link_records_spark(
    left: DataFrame,
    right: DataFrame,
    config: MatchConfig,
    *,
    stats: dict[str, int] | None = None,
    lists: WordLists | None = None,
) -> DataFrame:
    """Scored pairs between two frames, as ``crm_ops.match.link_records``."""
    return _pairs(left, right, config, stats, lists)


def _pairs(
    left: DataFrame,
    right: DataFrame | None,
    config: MatchConfig,
    stats: dict[str, int] | None,
    lists: WordLists | None,
) -> DataFrame:
    """Scored pairs between ``left`` and ``right``'s live records, or within ``left`` when it is None."""
    words = lists or shipped_lists()
    lp = prepare(_live(left), config, "left", words).persist()
    rp = None if right is None else prepare(_live(right), config, "right", words).persist()
    cands = _candidates(lp, rp, config)
    if stats is not None:
        stats["candidates"] = stats.get("candidates", 0) + cands.count()
    return _scored(cands, lp, lp if rp is None else rp, config, words)


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
    out = kept[0]
    for k in kept[1:]:
        out = out.unionByName(k)
    return out.drop("__rank")


def _union_kinds(parts: Mapping[str, DataFrame], key: str) -> DataFrame:
    """Frames of different shapes stacked (missing columns null) with a ``__kind`` column."""
    from pyspark.sql import functions as F

    out = None
    for kind, frame in parts.items():
        tagged = frame.withColumn("__kind", F.lit(kind))
        out = tagged if out is None else out.unionByName(tagged, allowMissingColumns=True)
    assert out is not None
    return out.repartition(F.col(key))


def _drift_spark(
    entity: str,
    sf: DataFrame,
    hs: DataFrame,
    links: DataFrame,
    truth: Mapping[str, str],
    gate: SparkGate | None,
    lists: WordLists,
) -> DataFrame:
    """The polars ``drift`` on each linked pair's two records, gathered in one partition. With a gate,
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
    return pairs.select("left_id", "right_id", F.lit(1.0).alias("score"), F.lit("linked id").alias("reasons"))


def _link(
    sf: DataFrame,
    hs: DataFrame,
    config: MatchConfig,
    sf_link: str,
    hs_link: str,
    stats: dict[str, int],
    lists: WordLists,
) -> DataFrame:
    from pyspark.sql import functions as F

    by_id = one_to_one_spark(_id_links(sf, hs, sf_link, hs_link)).withColumn("method", F.lit("id"))
    rest_sf = sf.join(by_id.select(F.col("left_id").alias("id")), "id", "left_anti")
    rest_hs = hs.join(by_id.select(F.col("right_id").alias("id")), "id", "left_anti")
    scored = link_records_spark(rest_sf, rest_hs, config, stats=stats, lists=lists)
    created = rest_sf.select(F.col("id").alias("left_id"), F.col("created_at").alias("__created"))
    scored = scored.join(created, "left_id", "left").withColumn(
        "__age", -F.coalesce(F.unix_millis(F.col("__created")), F.lit(0))
    )
    by_rule = one_to_one_spark(scored, order=("score", "__age")).drop("__created", "__age")
    by_rule = by_rule.withColumn("method", F.lit("match"))
    cols = ["left_id", "right_id", "method", "score", "reasons"]
    return by_id.select(*cols).unionByName(by_rule.select(*cols))


def _records(frame: DataFrame, ids: pl.Series) -> pl.DataFrame:
    """The records of ``frame`` whose ids are in ``ids`` (few: cluster members, pair members), collected."""
    spark = frame.sparkSession
    wanted = spark.createDataFrame(pl.DataFrame({"id": ids.unique()}).to_arrow())
    return to_polars(frame.join(wanted, "id", "left_semi"), polars_schema(frame.schema))


def _rejections_for(rejected: Sequence[Mapping[str, Any]], system: str, entity: str) -> pl.Series:
    mine = [r for r in rejected if r["system"] == system and r["entity"] == entity]
    return pl.Series("id", [str(r[k]) for r in mine for k in ("record_id", "other_id")], dtype=pl.String)


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
) -> MatchResult:
    """Duplicates, lead-vs-contact, cross-CRM links and drift on Spark, as ``run_matching`` (the same
    arguments: ``rules`` every proposed value must pass, the shipped ones when None; ``lists`` the word
    lists; ``linked_sources`` the sources' links when the caller has them, else found by
    ``crm_ops.spark.sources``).

    Blocking, scoring, links, unmatched records and drift run on Spark; the pairs found (a small share
    of the records) come to the driver, where the remembered rejections are left out and the merge and
    conversion proposals are made by the polars code over the records of those pairs only. Every
    proposal is judged by Spark (``crm_ops.spark.gate``)."""
    from pyspark.sql import functions as F

    cfg = {**DEFAULTS, **(configs or {})}
    if rules is None:
        rules, _ = load_rules([])
    words = lists or shipped_lists()
    shared: dict[Any, Any] = {}
    gate = SparkGate(rules, frames, shared=shared) if rules else None
    merging = merge_rules or MergeRules()
    truth = dict(source_of_truth or {})
    dups: list[pl.DataFrame] = []
    findings: list[DataFrame | pl.DataFrame] = []
    links: list[pl.DataFrame] = []
    unmatched: list[pl.DataFrame] = []
    stats: dict[str, Any] = {}
    found: list[tuple[str, str, DataFrame, pl.DataFrame]] = []
    for system, entities in frames.items():
        for entity, key in (("Contact", "Contact"), ("Account", "Account")):
            frame = entities.get(entity)
            if frame is None:
                continue
            records = _live(frame)
            counts: dict[str, int] = {}
            pairs = to_polars(
                find_duplicates_spark(records, cfg[key], stats=counts, lists=words), PAIR_SCHEMA
            )
            ids = _rejections_for(rejected, system, entity)
            fields = matched_fields(cfg[key])
            skip = active(rejected, system, entity, _records(records, ids), None, fields) if ids.len() else []
            kept = drop_rejected(pairs, skip)
            stats[f"{system}.{entity}.candidates"] = counts.get("candidates", 0)
            stats[f"{system}.{entity}.duplicate_pairs"] = kept.height
            if pairs.height != kept.height:
                stats[f"{system}.{entity}.rejected_pairs_left_out"] = pairs.height - kept.height
            if kept.height:
                found.append((system, entity, records, kept))
    sf = frames.get("salesforce", {})
    leads = None
    if "Lead" in sf:
        leads = _live(sf["Lead"]).where(~F.coalesce(F.col("is_converted"), F.lit(False)))
    if leads is not None and "Contact" in sf:
        contacts = _live(sf["Contact"])
        if "Account" in sf:
            names = sf["Account"].select(F.col("id").alias("account_id"), F.col("name").alias("account_name"))
            contacts = contacts.join(names, "account_id", "left")
        lead_cfg = cfg.get("Lead-Contact", LEAD_CONTACT)
        matched = [r.field for r in lead_cfg.fields]
        lead_pairs = to_polars(link_records_spark(leads, contacts, lead_cfg, lists=words), PAIR_SCHEMA)
        ids = _rejections_for(rejected, "salesforce", "Lead-Contact")
        skip = []
        if ids.len():
            skip = active(
                rejected, "salesforce", "Lead-Contact", _records(leads, ids), _records(contacts, ids), matched
            )
        lead_pairs = one_to_one(drop_rejected(lead_pairs, skip, cluster=False))
        stats["salesforce.Lead-Contact.pairs"] = lead_pairs.height
        if lead_pairs.height:
            dups.append(
                lead_pairs.with_columns(
                    pl.col("left_id").alias("cluster_id"),
                    pl.lit("salesforce").alias("system"),
                    pl.lit("Lead-Contact").alias("entity"),
                )
            )
            lead_records = _records(leads, lead_pairs["left_id"])
            contact_records = _records(contacts, lead_pairs["right_id"])
            made = partial(conversions, lead_records, contact_records, lead_pairs, merging, matched=matched)
            findings.append(gated_on_driver(gate, made))
    hs = frames.get("hubspot", {})
    if sf and hs:
        for entity, key in CROSS_ENTITIES:
            if entity not in sf or entity not in hs:
                continue
            left, right = _live(sf[entity]), _live(hs[entity])
            counts = {}
            linked = (
                _link(left, right, cfg[key], "linked_id", "linked_id", counts, words)
                .withColumn("sf_entity", F.lit(entity))
                .localCheckpoint()
            )
            if entity == "Contact" and leads is not None:
                rest = right.join(linked.select(F.col("right_id").alias("id")), "id", "left_anti")
                lead_links = _link(
                    leads, rest, cfg[key], "linked_id", "linked_lead_id", counts, words
                ).withColumn("sf_entity", F.lit("Lead"))
                linked = linked.unionByName(lead_links).localCheckpoint()
            linked = linked.select(
                F.lit(entity).alias("entity"),
                "sf_entity",
                F.col("left_id").alias("sf_id"),
                F.col("right_id").alias("hs_id"),
                "method",
                "score",
                "reasons",
            )
            collected = to_polars(linked, LINK_SCHEMA)
            links.append(collected)
            stats[f"cross.{entity}.links"] = collected.height
            stats[f"cross.{entity}.candidates"] = counts.get("candidates", 0)
            only_sf = left.join(linked.select(F.col("sf_id").alias("id")), "id", "left_anti").select("id")
            only_hs = right.join(linked.select(F.col("hs_id").alias("id")), "id", "left_anti").select("id")
            for side, rows in (("salesforce", only_sf), ("hubspot", only_hs)):
                unmatched.append(
                    to_polars(rows).with_columns(pl.lit(side).alias("system"), pl.lit(entity).alias("entity"))
                )
            findings.append(
                _drift_spark(
                    entity, left, right, linked.where(F.col("sf_entity") == entity), truth, gate, words
                )
            )
    all_links = pl.concat(links) if links else pl.DataFrame(schema=LINK_SCHEMA)
    for system, entity, records, pairs in found:
        members = clusters(pairs)
        dups.append(
            pairs.join(members, left_on="left_id", right_on="id").with_columns(
                pl.lit(system).alias("system"), pl.lit(entity).alias("entity")
            )
        )
        member_records = _records(records, members["id"])
        twins = None
        if any(merging.rule_for(entity, c).startswith("from:") for c in member_records.columns):
            other = "hubspot" if system == "salesforce" else "salesforce"
            twin_frame = frames.get(other, {}).get(entity)
            if twin_frame is not None:
                here, there = ("sf_id", "hs_id") if system == "salesforce" else ("hs_id", "sf_id")
                twin_ids = all_links.filter(pl.col(here).is_in(members["id"].implode()))[there]
                restricted = {other: {entity: _records(twin_frame, twin_ids)}}
                twins = _twins(system, entity, restricted, all_links)
        fields = matched_fields(cfg[entity])
        made = partial(
            survivorship, member_records, pairs, system, entity, merging, matched=fields, twins=twins
        )
        findings.append(gated_on_driver(gate, made))
    collected_findings = [
        f if isinstance(f, pl.DataFrame) else to_polars(f, MATCH_FINDINGS_SCHEMA) for f in findings
    ]
    for persisted in shared.get("__persisted", []):
        persisted.unpersist()
    sourced = source_links_spark(frames, words) if linked_sources is None else linked_sources
    stats.update(link_counts(sourced))
    return MatchResult(
        duplicates=pl.concat([d.select(*PAIRS_SCHEMA) for d in dups])
        if dups
        else pl.DataFrame(schema=PAIRS_SCHEMA),
        links=all_links,
        unmatched=pl.concat([u.select("system", "entity", "id") for u in unmatched])
        if unmatched
        else pl.DataFrame(schema={"system": pl.String, "entity": pl.String, "id": pl.String}),
        findings=pl.concat(collected_findings)
        if collected_findings
        else pl.DataFrame(schema=MATCH_FINDINGS_SCHEMA),
        stats=stats,
        source_links=sourced,
    )
