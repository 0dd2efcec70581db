"""The rules engine on Spark: the same rules, the same findings as ``crm_ops.rules.engine`` on polars.

Per (system, entity), over the live records:

1. checks: the context every cross-record check needs (``needs.CHECK_NEEDS``) is found by Spark joins
   and attached to the rows; each partition rebuilds its ``RuleContext`` and runs the polars engine's
   own ``run_entity`` (every rule's expression in one polars select, then pandera) on its rows, fixers
   off. A YAML ``unique`` check runs the same way over the rows hash-partitioned by its field, so equal
   values meet in one partition.
2. fixers: the failing rows of each rule with a fixer, with the context its fixer needs
   (``needs.FIX_NEEDS``), run through the polars engine's ``_findings`` (same proposals, confidences);
   then each proposal through the rules of its field (``gate.SparkGate``), withheld when it fails one,
   as the polars engine's gate does.

Checks and fixers the engine cannot place (a user's own Python ones, not declared ``row_level``) run on
the driver over the collected frames, as do YAML rules whose condition reads other records (a parent's
value, an aggregate of children) or that carry a tolerance (``needs.rule_kind``); a condition on the
row's own columns runs on the partitions with its check. Findings come back as the polars engine's
``CheckResult``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl
import structlog

from crm_ops.rules.engine import CheckResult, RuleError, _findings, run_entity
from crm_ops.rules.model import FINDINGS_SCHEMA, Rule, RuleContext
from crm_ops.spark import needs as N
from crm_ops.spark.context import OUT_SCHEMA, Rebuild, attach, found_needs, live_rows
from crm_ops.spark.frames import map_polars, polars_schema, to_polars, union_all
from crm_ops.spark.gate import SparkGate, withhold_failing

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from crm_ops.spark.sessions import SparkFrames

log = structlog.get_logger("crm_ops.spark")
COLLECTORS = 2  # entities' findings collected at once (Spark runs their stages side by side)


def _rows_out(findings: pl.DataFrame, errors: Sequence[RuleError], system: str, entity: str) -> pl.DataFrame:
    out = findings.select(list(FINDINGS_SCHEMA)).with_columns(pl.lit(None, pl.String).alias("error"))
    if not errors:
        return out
    failed = pl.DataFrame(
        {
            "rule": [e.rule for e in errors],
            "entity": [entity] * len(errors),
            "system": [system] * len(errors),
            "error": [e.error for e in errors],
        }
    )
    return pl.concat([out, failed], how="diagonal_relaxed").select(
        [pl.col(c).cast(t) for c, t in OUT_SCHEMA.items()]
    )


def _check_pass(
    rules: Sequence[Rule], rows: DataFrame, rebuild: Rebuild, system: str, entity: str
) -> DataFrame:
    checking = [replace(r, fix=None) for r in rules]

    def run(frame: pl.DataFrame) -> pl.DataFrame:
        live, ctx = rebuild.context(frame)
        result = run_entity(checking, live, ctx, system, entity)
        return _rows_out(result.findings, result.errors, system, entity)

    return map_polars(rows, run, OUT_SCHEMA)


def _fix_pass(
    rules: Sequence[Rule], rows: DataFrame, rebuild: Rebuild, system: str, entity: str
) -> DataFrame:
    by_id = {r.id: r for r in rules}

    def run(frame: pl.DataFrame) -> pl.DataFrame:
        live, ctx = rebuild.context(frame)
        live = live.with_columns(frame["__rule"])
        out = []
        errors: list[RuleError] = []
        for (rule_id,), group in live.group_by(["__rule"]):
            rule = by_id[str(rule_id)]
            out.append(_findings(rule, group.drop("__rule"), ctx, system, entity, errors))
        findings = pl.concat(out) if out else pl.DataFrame(schema=FINDINGS_SCHEMA)
        return _rows_out(findings, errors, system, entity)

    return map_polars(rows, run, OUT_SCHEMA)


def run_entity_spark(
    rules: Sequence[Rule],
    frames: SparkFrames,
    system: str,
    entity: str,
    *,
    now: datetime,
    shared: dict[Any, Any],
    driver: Callable[[], RuleContext],
) -> DataFrame | tuple[DataFrame, pl.DataFrame]:
    """Findings (and error rows) of ``rules`` over one entity, as a Spark DataFrame of ``OUT_SCHEMA``
    (plus the polars findings of the rules that ran on the driver, if any)."""
    from pyspark.sql import functions as F

    frame = frames[system][entity]
    live = live_rows(frame)
    applicable = [
        r for r in rules if r.applies_to(system, entity) and not N.passes_everything(r.check, frames, system)
    ]
    kinds = {r.id: N.rule_kind(r) for r in applicable}
    fix_kinds = {r.id: N.kind_of(r.fix, N.FIX_NEEDS) for r in applicable if r.fix is not None}
    on_driver = [r for r in applicable if kinds[r.id] == "driver" or fix_kinds.get(r.id) == "driver"]
    distributed = [r for r in applicable if r not in on_driver]
    outputs = []
    plain = [r for r in distributed if kinds[r.id] in ("row", "needs")]
    if plain:
        found = found_needs(plain, N.CHECK_NEEDS, lambda r: r.check, lambda r: live, frames, system, shared)
        rows, rebuild = attach(live, found, frames, system, now, shared)
        outputs.append(_check_pass(plain, rows, rebuild, system, entity))
    for r in distributed:
        if kinds[r.id] != "unique":
            continue
        column = r.field or ""
        spread = live.repartition(F.col(column)) if column in live.columns else live
        _, rebuild = attach(live.limit(0), [], frames, system, now, shared)
        outputs.append(_check_pass([r], spread, rebuild, system, entity))
    # no empty frame to start the union from: a leaf that is not a shuffle keeps adaptive execution
    # from coalescing the partitions of the stages above it
    checked = union_all(outputs) if outputs else frame.sparkSession.createDataFrame([], map_polars_schema())
    checked = checked.persist()
    shared.setdefault("__persisted", []).append(checked)
    fixing = [r for r in distributed if r.fix is not None]
    fixed = None
    if fixing:
        failing = checked.where(F.col("error").isNull() & F.col("rule").isin([r.id for r in fixing]))
        keyed = failing.select(F.col("record_id").alias("__id"), F.col("rule").alias("__rule"))
        rows_all = live.join(keyed, live["id"] == keyed["__id"]).drop("__id")

        def rows_for(r: Rule) -> DataFrame:
            return rows_all.where(F.col("__rule") == r.id).drop("__rule")

        found = found_needs(fixing, N.FIX_NEEDS, lambda r: r.fix, rows_for, frames, system, shared)
        base_schema = polars_schema(live.schema)
        rows, rebuild = attach(rows_all, found, frames, system, now, shared)
        rebuild = replace(rebuild, row_schema=base_schema)
        fixed = _fix_pass(fixing, rows, rebuild, system, entity).persist()
        shared.setdefault("__persisted", []).append(fixed)
        # every fixer's value passes the rules of its field, or is withheld (the polars engine's gate)
        gate = SparkGate(applicable, frames, now=now, shared=shared, driver=driver)
        fixed = withhold_failing(fixed, gate, system, entity, [r.field for r in fixing if r.field])
    ids = [r.id for r in fixing]
    result = checked
    if fixed is not None:
        result = checked.where(F.col("error").isNotNull() | ~F.col("rule").isin(ids)).unionByName(fixed)
    if not on_driver:
        return result
    ctx = driver().for_system(system)
    polars_frame = ctx.frame(entity)
    # with the rules of the fields their fixers write too, so that those values are judged by every
    # rule of their field, as on polars (the gate reads no other rule); only the driver rules' findings
    # are kept (the others came from Spark)
    written = {r.field for r in on_driver if r.fix is not None and r.field}
    judging = [r for r in applicable if r in on_driver or r.field in written]
    done = run_entity(judging, polars_frame, ctx, system, entity)
    mine = [r.id for r in on_driver]
    errors = [e for e in done.errors if e.rule in mine]
    return result, _rows_out(done.findings.filter(pl.col("rule").is_in(mine)), errors, system, entity)


def map_polars_schema() -> Any:
    from crm_ops.spark.frames import spark_schema

    return spark_schema(OUT_SCHEMA)


def run_rules_spark(
    rules: Sequence[Rule],
    frames: SparkFrames,
    *,
    now: datetime | None = None,
    cache: Mapping[str, object] | None = None,
) -> CheckResult:
    """Every rule over every entity of ``frames`` ({system: {entity: Spark DataFrame}}), on Spark.

    ``cache`` seeds the shared cache of the rules run on the driver, as ``run_rules``'s does (the run
    gives the sources' links it found). Returns the polars engine's ``CheckResult`` (findings collected
    to the driver)."""
    when = now or datetime.now(UTC)
    shared: dict[Any, Any] = {}
    driver_ctx: list[RuleContext] = []

    def driver() -> RuleContext:
        if not driver_ctx:
            log.warning("spark.rules_on_driver", reason="checks or fixers not known to be row-level")
            collected = {s: {e: to_polars(f) for e, f in ents.items()} for s, ents in frames.items()}
            ctx = RuleContext(collected, now=when)
            ctx.cache.update(cache or {})
            driver_ctx.append(ctx)
        return driver_ctx[0]

    parts: list[pl.DataFrame] = []
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    # each entity's findings are collected as soon as its plan is built, while the driver builds the
    # next one's (planning an entity is seconds of driver work during which Spark would sit idle)
    with ThreadPoolExecutor(COLLECTORS, thread_name_prefix="crm-ops-spark-collect") as pool:
        pending = []
        for system, entities in frames.items():
            for entity in entities:
                out = run_entity_spark(rules, frames, system, entity, now=when, shared=shared, driver=driver)
                if isinstance(out, tuple):
                    parts.append(out[1])
                    out = out[0]
                pending.append(pool.submit(to_polars, out, OUT_SCHEMA))
        parts.extend(p.result() for p in pending)
    seconds["(spark)"] = time.perf_counter() - started
    for persisted in shared.get("__persisted", []):
        persisted.unpersist()
    everything = pl.concat(parts) if parts else pl.DataFrame(schema=OUT_SCHEMA)
    errors_frame = everything.filter(pl.col("error").is_not_null()).unique(
        ["rule", "system", "entity"], keep="first", maintain_order=True
    )
    errors = [
        RuleError(r["rule"], r["system"], r["entity"], r["error"]) for r in errors_frame.iter_rows(named=True)
    ]
    for e in errors:
        log.warning("rules.error", rule=e.rule, system=e.system, entity=e.entity, error=e.error)
    findings = everything.filter(pl.col("error").is_null()).drop("error")
    return CheckResult(findings, errors, seconds)
