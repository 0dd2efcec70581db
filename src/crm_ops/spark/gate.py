"""The proposal gate on Spark: every proposed value judged by the rules of its field, as
``crm_ops.rules.engine.ProposalGate`` judges it on polars (issue 18: fixers' values, drift syncs and
the values a merge or conversion gives its survivor).

``SparkGate.judge``: the proposals (record id, value) meet their records by a Spark join; the context
the field's checks need (``needs.CHECK_NEEDS``) is found for the records *as written*, the proposed
value in the field's place (so a proposed account id reaches its account), and attached; each partition
runs the polars engine's own ``proposal_failures`` on its records. A field judged by a YAML ``unique``
check is judged in one partition (the polars gate judges uniqueness among the proposed records, all of
them together); one judged by a user's check not known to be row-level, on the driver over the
collected frames.

Matching's polars code (``drift``, ``survivorship``, ``conversions``) asks its gate column by column.
On Spark it runs twice: once with a ``RecordingGate`` (every question kept, every value passing), then,
after one Spark pass has judged all the questions (``answer``), with an ``AnsweringGate`` holding the
verdicts. What those functions ask never depends on the answers, so the second run asks the same
questions and proposes what the polars run proposes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl
import structlog

from crm_ops.rules.engine import proposal_failures, withhold
from crm_ops.rules.model import Rule, RuleContext
from crm_ops.schema.entities import live as live_records
from crm_ops.spark import needs as N
from crm_ops.spark.context import OUT_SCHEMA, attach, found_needs, live_rows
from crm_ops.spark.frames import CHUNK_ROWS, map_polars, polars_schema, to_polars, union_all

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from crm_ops.spark.sessions import SparkFrames

log = structlog.get_logger("crm_ops.spark")
VERDICT_SCHEMA: dict[str, pl.DataType] = {
    "field": pl.String(),
    "record_id": pl.String(),
    "proposed_value": pl.String(),
    "fails": pl.List(pl.String()),
}
QUESTION_SCHEMA: dict[str, pl.DataType] = {
    "system": pl.String(),
    "entity": pl.String(),
    "field": pl.String(),
    "record_id": pl.String(),
    "proposed_value": pl.String(),
}
ANSWER_SCHEMA: dict[str, pl.DataType] = {**QUESTION_SCHEMA, "fails": pl.List(pl.String())}
Verdicts = dict[tuple[str, str], list[str]]


def _verdict_frame(column: str, failed: Verdicts) -> pl.DataFrame:
    return pl.DataFrame(
        [(column, rid, value, ids) for (rid, value), ids in failed.items()],
        schema=VERDICT_SCHEMA,
        orient="row",
    )


class SparkGate:
    """``ProposalGate`` over Spark frames: the rules a proposed value must pass, judged by Spark."""

    def __init__(
        self,
        rules: Sequence[Rule],
        frames: SparkFrames,
        *,
        now: datetime | None = None,
        shared: dict[Any, Any] | None = None,
        driver: Callable[[], RuleContext] | None = None,
    ) -> None:
        self.rules = list(rules)
        self.frames = frames
        self.now = now or datetime.now(UTC)
        self.fields = {r.field for r in self.rules if r.field}
        self.shared: dict[Any, Any] = {} if shared is None else shared
        self._driver = driver
        self._collected: list[RuleContext] = []

    def driver(self) -> RuleContext:
        """The frames collected on the driver, for checks Spark cannot place (once per gate)."""
        if self._driver is not None:
            return self._driver()
        if not self._collected:
            log.warning("spark.gate_on_driver", reason="checks not known to be row-level")
            collected = {s: {e: to_polars(f) for e, f in ents.items()} for s, ents in self.frames.items()}
            self._collected.append(RuleContext(collected, now=self.now))
        return self._collected[0]

    def _judged(self, system: str, entity: str, column: str) -> list[Rule]:
        return [
            replace(r, fix=None) for r in self.rules if r.field == column and r.applies_to(system, entity)
        ]

    def judge(
        self, system: str, entity: str, proposals: DataFrame, fields: Iterable[str]
    ) -> DataFrame | None:
        """(field, record_id, proposed_value, fails) for each proposal (field, record_id, proposed_value)
        into ``system``'s ``entity`` that fails a rule of its field (``fields``: those it may hold), in
        one Spark pass for the fields of plain and cross-record checks; None when no rule judges any."""
        from pyspark.sql import functions as F

        frame = self.frames.get(system, {}).get(entity)
        if frame is None:
            return None
        judged = {c: self._judged(system, entity, c) for c in sorted(set(fields))}
        judged = {c: rs for c, rs in judged.items() if rs and c in self.fields and c in frame.columns}
        if not judged:
            return None
        wanted = (
            proposals.select(
                F.col("field").cast("string").alias("__field"),
                F.col("record_id").cast("string").alias("__pid"),
                F.col("proposed_value").cast("string").alias("__pvalue"),
            )
            .where(F.col("__pvalue").isNotNull() & F.col("__field").isin(list(judged)))
            .distinct()
        )
        live = live_rows(frame)
        kinds = {c: {N.rule_kind(r, counting=False) for r in rs} for c, rs in judged.items()}
        plain = {c: rs for c, rs in judged.items() if kinds[c] <= {"row", "needs"}}
        out = []
        for column, rs in judged.items():
            mine = wanted.where(F.col("__field") == column)
            if "driver" in kinds[column]:
                out.append(self._on_driver(rs, system, entity, column, mine))
            elif column not in plain:  # a unique check: every proposal of the field in one partition
                out.append(self._pass(live, system, entity, {column: rs}, mine, together=True))
        if plain:
            mine = wanted.where(F.col("__field").isin(list(plain)))
            out.append(self._pass(live, system, entity, plain, mine, together=False))
        return union_all(out)

    def _pass(
        self,
        live: DataFrame,
        system: str,
        entity: str,
        judged: dict[str, list[Rule]],
        wanted: DataFrame,
        *,
        together: bool,
    ) -> DataFrame:
        """The polars ``proposal_failures`` over each partition of the proposals met with their records
        and the context their fields' checks need for the records as written."""
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        rows = live.join(wanted, live["id"] == wanted["__pid"]).drop("__pid").persist()
        self.shared.setdefault("__persisted", []).append(rows)

        def written(r: Rule) -> DataFrame:
            """The rows of ``r``'s field as they would be: the value in its place (the keys it looks up)."""
            column = str(r.field)
            mine = rows.where(F.col("__field") == column)
            if isinstance(live.schema[column].dataType, T.StringType):
                mine = mine.withColumn(column, F.col("__pvalue"))
            return mine

        rules = [r for rs in judged.values() for r in rs]
        found = found_needs(
            rules, N.CHECK_NEEDS, lambda r: r.check, written, self.frames, system, self.shared
        )
        attached, rebuild = attach(rows, found, self.frames, system, self.now, self.shared)
        if together:
            attached = attached.coalesce(1)

        def run(f: pl.DataFrame) -> pl.DataFrame:
            got, ctx = rebuild.context(f)
            out = []
            for (column,), group in got.group_by("__field"):
                original = group.drop("__field", "__pvalue").unique("id", keep="first", maintain_order=True)
                asked = group.select(
                    pl.col("id").alias("record_id"), pl.col("__pvalue").alias("proposed_value")
                )
                failed = proposal_failures(
                    judged[str(column)], original, ctx, system, entity, str(column), asked
                )
                out.append(_verdict_frame(str(column), failed))
            return pl.concat(out) if out else pl.DataFrame(schema=VERDICT_SCHEMA)

        return map_polars(attached, run, VERDICT_SCHEMA, rows=10**9 if together else CHUNK_ROWS)

    def _on_driver(
        self, judged: list[Rule], system: str, entity: str, column: str, wanted: DataFrame
    ) -> DataFrame:
        from crm_ops.spark.frames import spark_schema

        ctx = self.driver().for_system(system)
        asked = to_polars(wanted).select(
            pl.col("__pid").alias("record_id"), pl.col("__pvalue").alias("proposed_value")
        )
        failed = proposal_failures(
            judged, live_records(ctx.frame(entity)), ctx, system, entity, column, asked
        )
        spark = wanted.sparkSession
        verdicts = _verdict_frame(column, failed)
        if verdicts.is_empty():
            return spark.createDataFrame([], spark_schema(VERDICT_SCHEMA))
        return spark.createDataFrame(verdicts.to_arrow(), spark_schema(VERDICT_SCHEMA))

    def answer(self, questions: DataFrame, groups: Iterable[tuple[str, str, str]]) -> DataFrame | None:
        """The verdicts on ``questions`` (``QUESTION_SCHEMA``) of each (system, entity, field) in
        ``groups``, as one Spark DataFrame of ``ANSWER_SCHEMA`` rows (failures only): one pass per
        (system, entity)."""
        from pyspark.sql import functions as F

        by_target: dict[tuple[str, str], set[str]] = {}
        for system, entity, column in groups:
            by_target.setdefault((system, entity), set()).add(column)
        out = None
        for (system, entity), columns in sorted(by_target.items()):
            mine = questions.where((F.col("system") == system) & (F.col("entity") == entity))
            verdicts = self.judge(system, entity, mine, columns)
            if verdicts is None:
                continue
            tagged = verdicts.select(
                F.lit(system).alias("system"), F.lit(entity).alias("entity"), *VERDICT_SCHEMA
            )
            out = tagged if out is None else out.unionByName(tagged)
        return out

    def answer_polars(self, questions: pl.DataFrame) -> pl.DataFrame:
        """``answer`` for questions asked on the driver (a merge's survivors), collected."""
        from crm_ops.spark.frames import spark_schema

        if questions.is_empty():
            return pl.DataFrame(schema=ANSWER_SCHEMA)
        spark = next(f for ents in self.frames.values() for f in ents.values()).sparkSession
        asked = spark.createDataFrame(questions.to_arrow(), spark_schema(QUESTION_SCHEMA))
        groups = questions.select("system", "entity", "field").unique().iter_rows()
        answers = self.answer(asked, groups)
        return pl.DataFrame(schema=ANSWER_SCHEMA) if answers is None else to_polars(answers, ANSWER_SCHEMA)


class RecordingGate:
    """A gate that keeps every question and lets every value pass (the first of the two runs)."""

    def __init__(self, fields: set[str]) -> None:
        self.fields = fields
        self.asked: list[pl.DataFrame] = []

    def failures(self, system: str, entity: str, column: str, proposals: pl.DataFrame) -> Verdicts:
        if column in self.fields and not proposals.is_empty():
            self.asked.append(
                proposals.select(
                    pl.lit(system, pl.String).alias("system"),
                    pl.lit(entity, pl.String).alias("entity"),
                    pl.lit(column, pl.String).alias("field"),
                    pl.col("record_id").cast(pl.String),
                    pl.col("proposed_value").cast(pl.String),
                )
            )
        return {}

    def questions(self) -> pl.DataFrame:
        return pl.concat(self.asked) if self.asked else pl.DataFrame(schema=QUESTION_SCHEMA)


class AnsweringGate:
    """A gate answering from verdicts already reached (``ANSWER_SCHEMA`` rows)."""

    def __init__(self, answers: pl.DataFrame) -> None:
        self.verdicts: dict[tuple[str, str, str], Verdicts] = {}
        for system, entity, column, rid, value, fails in answers.select(list(ANSWER_SCHEMA)).iter_rows():
            self.verdicts.setdefault((system, entity, column), {})[(rid, value)] = list(fails)

    def failures(self, system: str, entity: str, column: str, proposals: pl.DataFrame) -> Verdicts:
        known = self.verdicts.get((system, entity, column))
        if not known:
            return {}
        asked = proposals.select(
            pl.col("record_id").cast(pl.String), pl.col("proposed_value").cast(pl.String)
        )
        return {key: known[key] for key in asked.unique().iter_rows() if key in known}


def gated_on_driver(gate: SparkGate | None, make: Callable[..., pl.DataFrame]) -> pl.DataFrame:
    """``make(gate=...)`` (polars code asking a gate) with Spark's verdicts: run twice, as the module
    says."""
    if gate is None:
        return make(gate=None)
    recorder = RecordingGate(gate.fields)
    make(gate=recorder)
    return make(gate=AnsweringGate(gate.answer_polars(recorder.questions())))


def withhold_failing(
    findings: DataFrame, gate: SparkGate, system: str, entity: str, fields: Iterable[str]
) -> DataFrame:
    """Fixers' findings (``context.OUT_SCHEMA``) whose proposal fails a rule of its field withheld, as the
    polars engine's ``_gate_fixes``: no fix, and the message names the rules."""
    from pyspark.sql import functions as F

    proposed = findings.where(
        F.col("proposed_value").isNotNull() & F.col("confidence").isNotNull() & F.col("error").isNull()
    ).select("field", "record_id", "proposed_value")
    judged = gate.judge(system, entity, proposed, fields)
    if judged is None:
        return findings
    verdicts = judged.select(
        "field", "record_id", "proposed_value", F.array_join("fails", ", ").alias("__failed")
    )
    joined = findings.join(verdicts, ["field", "record_id", "proposed_value"], "left")
    schema = polars_schema(joined.schema)
    return map_polars(joined, lambda f: withhold(f.select(list(schema))), OUT_SCHEMA)
