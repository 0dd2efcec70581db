"""Running rules: one pandera schema per (system, entity), failures to findings, fixers on the failures.

For each entity of each CRM, every applicable rule's check becomes a named ``pandera.Check`` of one
``DataFrameSchema`` (polars backend) validated on the live records, eagerly and with ``lazy=True`` so
every failure of every check is collected in one pass (a LazyFrame would only have its schema checked).
Pandera's failure cases give the failing rows; a check that raises comes back as a rule error, not a
crash. A rule's ``when`` joins its check's expression (the rows it does not hold for pass); a rule
within its ``tolerance`` has its findings downgraded to info. Fixers then run on the failing rows only.

Every proposal passes the rules of the field it would write before it is proposed: ``ProposalGate``
puts the proposed values into the target records and runs the same checks (``run_entity``, fixers
off) on that frame; a fixer's value that fails one is withheld (the finding stays, without a fix, and
its message names the rule). Matching gates its drift syncs and merge values through the same gate.
A proposal that clears a field (null) is not checked: removing a value writes nothing to judge.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

import pandera.polars as pa
import polars as pl
import structlog

from crm_ops.config_tables import CHUNK_ROWS
from crm_ops.layered import Snapshot
from crm_ops.rules.chunks import chunk_safe, chunks
from crm_ops.rules.model import FINDINGS_SCHEMA, Rule, RuleContext
from crm_ops.rules.tolerance import tolerate
from crm_ops.schema.entities import live as live_records

log = structlog.get_logger("crm_ops.rules")


@dataclass(frozen=True)
class RuleError:
    """A rule that raised while running (its other entities and every other rule still ran)."""

    rule: str
    system: str
    entity: str
    error: str


@dataclass
class CheckResult:
    """Findings of a run, rule errors, and per-rule timings."""

    findings: pl.DataFrame
    errors: list[RuleError] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def as_expr(result: pl.Series | pl.Expr, height: int, rule: Rule) -> pl.Expr:
    """A check's result as a boolean expression (null passes), checked for its length and type."""
    if isinstance(result, pl.Expr):
        return result.fill_null(True)
    if isinstance(result, pl.Series):
        if result.len() != height:
            raise ValueError(f"check returned {result.len()} values for {height} rows")
        return pl.lit(result.cast(pl.Boolean).fill_null(True))
    raise TypeError(f"check returned {type(result).__name__}, expected a polars Series or expression")


def run_entity(
    rules: Sequence[Rule], frame: pl.DataFrame, ctx: RuleContext, system: str, entity: str
) -> CheckResult:
    """Run ``rules`` over one entity's frame (deleted records are not judged)."""
    live = live_records(frame)
    applicable = [r for r in rules if r.applies_to(system, entity)]
    errors: list[RuleError] = []
    # Every rule's expression is evaluated in one polars pass over the live records (shared work,
    # both cores); pandera then runs one named check per rule, on the rule's field when it has one (so
    # its failure cases carry the value) or on the frame, over a narrow frame of those masks.
    exprs: list[pl.Expr] = []
    owners: list[Rule] = []
    timings: dict[str, float] = {}
    for r in applicable:
        started = time.perf_counter()
        try:
            ok = as_expr(r.check(live, ctx, r.params), live.height, r)
            if r.when is not None:  # the rows the condition does not hold for pass
                ok = ok | ~r.when.expr(live, ctx)
            exprs.append(ok.alias(f"__ok{len(owners)}"))
        except Exception as exc:  # noqa: BLE001 - a rule's bug is reported, not fatal
            errors.append(RuleError(r.id, system, entity, f"{type(exc).__name__}: {exc}"))
            continue
        owners.append(r)
        timings[r.id] = time.perf_counter() - started
    masks = live.select(pl.lit(True).alias("__all"))
    if exprs:
        started = time.perf_counter()
        try:
            masks = live.select(exprs)
        except Exception:  # noqa: BLE001 - find the rule at fault, run the others
            good, kept = [], []
            for e, r in zip(exprs, owners, strict=True):
                try:
                    live.select(e)
                except Exception as exc:  # noqa: BLE001
                    errors.append(RuleError(r.id, system, entity, f"{type(exc).__name__}: {exc}"))
                    continue
                good.append(e)
                kept.append(r)
            owners = kept
            masks = live.select([e.alias(f"__ok{i}") for i, e in enumerate(good)]) if good else masks
        timings["(rule expressions)"] = time.perf_counter() - started
    fields = sorted({r.field for r in owners if r.field and r.field in live.columns})
    narrow = pl.concat([live.select(fields), masks], how="horizontal")
    by_column: dict[str | None, list[Rule]] = {}
    checks: dict[str | None, list[pa.Check]] = {}
    for i, r in enumerate(owners):
        column = r.field if r.field in fields else None
        by_column.setdefault(column, []).append(r)
        checks.setdefault(column, []).append(
            pa.Check(
                lambda data, c=f"__ok{i}": data.lazyframe.select(pl.col(c)), name=r.id, error=r.description
            )
        )
    failing: dict[str, tuple[Rule, pl.Series]] = {}
    if owners and live.height:
        started = time.perf_counter()
        schema = pa.DataFrameSchema(
            {c: pa.Column(None, nullable=True, checks=v) for c, v in checks.items() if c},
            checks=checks.get(None, []),
            name=f"{system}.{entity}",
        )
        try:
            schema.validate(narrow, lazy=True)
        except pa.errors.SchemaErrors as exc:
            cases = exc.failure_cases.select("column", "check_number", "index", "failure_case")
            for (column, number), group in cases.group_by(["column", "check_number"]):
                if number is None:
                    continue
                # a frame-level check's failures name the schema ("salesforce.Contact"), not a column
                rule = by_column[column if column in fields else None][int(number)]
                if group["index"].is_null().all():
                    errors.append(RuleError(rule.id, system, entity, str(group["failure_case"][0])))
                    continue
                failing[rule.id] = (rule, group["index"].drop_nulls().cast(pl.UInt32))
        timings["(pandera validate)"] = time.perf_counter() - started
    frames = []
    for rule, rows_idx in failing.values():
        rows = live[rows_idx.sort()]
        frames.append(_findings(rule, rows, ctx, system, entity, errors))
    findings = pl.concat(frames) if frames else pl.DataFrame(schema=FINDINGS_SCHEMA)
    for rule, _ in failing.values():
        if rule.tolerance is not None:
            findings = tolerate(findings, rule.id, rule.tolerance, judged_rows(rule, live, ctx))
    if any(r.fix is not None for r in owners) and findings.height:
        started = time.perf_counter()
        findings = _gate_fixes(findings, owners, live, ctx, system, entity)
        timings["(fixes checked)"] = time.perf_counter() - started
    return CheckResult(findings, errors, timings)


def judged_rows(rule: Rule, live: pl.DataFrame, ctx: RuleContext) -> int:
    """How many of the live rows ``rule`` judges (those its ``when`` holds for)."""
    if rule.when is None:
        return live.height
    return int(live.select(rule.when.expr(live, ctx).sum()).item())


def proposal_failures(
    rules: Sequence[Rule],
    frame: pl.DataFrame,
    ctx: RuleContext,
    system: str,
    entity: str,
    column: str,
    proposals: pl.DataFrame,
) -> dict[tuple[str, str], list[str]]:
    """The rules each proposed value fails once written into its record: ``proposals`` (record_id,
    proposed_value as text) against ``frame``'s records, by every rule of ``column`` that applies.

    Returns (record id, proposed value) -> the failed rule ids; values that pass are left out. A null
    proposal (clearing the field) is not checked. Each distinct (record, value) is judged once."""
    judged = [replace(r, fix=None) for r in rules if r.field == column and r.applies_to(system, entity)]
    if not judged or column not in frame.columns or proposals.is_empty():
        return {}
    wanted = (
        proposals.select(pl.col("record_id").cast(pl.String), pl.col("proposed_value").cast(pl.String))
        .filter(pl.col("proposed_value").is_not_null())
        .unique()
        .with_columns(pl.int_range(pl.len()).over("record_id").alias("__round"))
    )
    dtype = frame.schema[column]
    if dtype == pl.Boolean:
        value = pl.col("__value").str.strip_chars().str.to_lowercase().is_in(["true", "1", "yes", "y"])
    elif dtype == pl.String:
        value = pl.col("__value")
    elif dtype == pl.Date:
        value = pl.col("__value").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    elif isinstance(dtype, pl.Datetime):
        value = pl.col("__value").str.to_datetime(time_unit=dtype.time_unit, strict=False)
        value = value.dt.replace_time_zone(dtype.time_zone) if dtype.time_zone else value
    else:
        value = pl.col("__value").cast(dtype, strict=False)
    failed: dict[tuple[str, str], list[str]] = {}
    # the records proposed for, found before the whole frame is re-typed and joined (a few of a million)
    frame = frame.filter(pl.col("id").cast(pl.String).is_in(wanted["record_id"].implode()))
    # two values proposed for one record are judged in separate rounds (a check sees one row per id)
    for (_,), group in wanted.group_by("__round"):
        rows = frame.with_columns(pl.col("id").cast(pl.String)).join(
            group.select("record_id", pl.col("proposed_value").alias("__value")),
            left_on="id",
            right_on="record_id",
        )
        if rows.is_empty():
            continue
        result = run_entity(
            judged, rows.with_columns(value.alias(column)).drop("__value"), ctx, system, entity
        )
        for e in result.errors:
            log.warning("rules.gate_error", rule=e.rule, system=system, entity=entity, error=e.error)
        hits = (
            result.findings.select("record_id", "rule")
            .unique()
            .join(rows.select(pl.col("id").alias("record_id"), "__value"), on="record_id")
        )
        for rid, rule_id, proposed in hits.iter_rows():
            failed.setdefault((rid, proposed), []).append(rule_id)
    return {k: sorted(v) for k, v in failed.items()}


def _gate_fixes(
    findings: pl.DataFrame,
    rules: Sequence[Rule],
    live: pl.DataFrame,
    ctx: RuleContext,
    system: str,
    entity: str,
) -> pl.DataFrame:
    """Fixers' proposals that fail a rule of their field withheld: no fix, the message says which rule."""
    proposed = findings.filter(pl.col("proposed_value").is_not_null() & pl.col("confidence").is_not_null())
    withheld: list[tuple[str, str, str, str]] = []
    for (column,), group in proposed.group_by("field"):
        if column is not None:
            failures = proposal_failures(rules, live, ctx, system, entity, str(column), group)
            withheld += [(str(column), rid, value, ", ".join(ids)) for (rid, value), ids in failures.items()]
    if not withheld:
        return findings
    keys = pl.DataFrame(
        withheld,
        schema={
            "field": pl.String,
            "record_id": pl.String,
            "proposed_value": pl.String,
            "__failed": pl.String,
        },
        orient="row",
    )
    joined = findings.join(
        keys, on=["field", "record_id", "proposed_value"], how="left", maintain_order="left"
    )
    return withhold(joined)


def withhold(joined: pl.DataFrame) -> pl.DataFrame:
    """Findings with ``__failed`` (the rules their proposal fails, null where it passes): those that fail
    lose their fix, and their message says which rules (the Spark engine applies it per partition)."""
    hit = pl.col("__failed").is_not_null()
    return joined.with_columns(
        pl.when(hit)
        .then(pl.format("{} (fix {} withheld: it fails {})", "message", "proposed_value", "__failed"))
        .otherwise(pl.col("message"))
        .alias("message"),
        pl.when(hit).then(None).otherwise(pl.col("proposed_value")).alias("proposed_value"),
        pl.when(hit).then(None).otherwise(pl.col("confidence")).alias("confidence"),
    ).drop("__failed")


class Gate(Protocol):
    """What matching asks before it proposes a value: the rules each proposal fails (``ProposalGate``;
    the Spark engine's gates answer the same)."""

    def failures(
        self, system: str, entity: str, column: str, proposals: pl.DataFrame
    ) -> dict[tuple[str, str], list[str]]: ...


class ProposalGate:
    """The rules a proposed value must pass before it is proposed, over a run's frames (both CRMs)."""

    def __init__(
        self,
        rules: Sequence[Rule],
        frames: Mapping[str, Mapping[str, pl.DataFrame]],
        *,
        now: datetime | None = None,
    ) -> None:
        self.rules = list(rules)
        self.frames = frames
        self.ctx = RuleContext(frames, now=now)
        self.fields = {r.field for r in self.rules if r.field}

    def failures(
        self, system: str, entity: str, column: str, proposals: pl.DataFrame
    ) -> dict[tuple[str, str], list[str]]:
        """``proposal_failures`` for values to write into ``system``'s ``entity`` records."""
        frame = self.frames.get(system, {}).get(entity)
        if frame is None or column not in self.fields:
            return {}
        ctx = self.ctx.for_system(system)
        # only the records proposed for are judged: those found first, not every live record copied
        ids = proposals.get_column("record_id").cast(pl.String).implode()
        judged = live_records(frame.filter(pl.col("id").cast(pl.String).is_in(ids)))
        return proposal_failures(self.rules, judged, ctx, system, entity, column, proposals)


def _findings(
    rule: Rule, rows: pl.DataFrame, ctx: RuleContext, system: str, entity: str, errors: list[RuleError]
) -> pl.DataFrame:
    column = rule.field if rule.field and rule.field in rows.columns else None
    current = rows[column].cast(pl.String) if column else pl.Series([None] * rows.height, dtype=pl.String)
    out = pl.DataFrame(
        {
            "rule": rule.id,
            "entity": entity,
            "system": system,
            "record_id": rows["id"],
            "field": rule.field,
            "current_value": current,
            "severity": rule.severity,
            "message": rule.description,
        },
        schema={k: v for k, v in FINDINGS_SCHEMA.items() if k not in ("proposed_value", "confidence")},
    )
    proposed = pl.Series("proposed_value", [None] * rows.height, dtype=pl.String)
    confidence = pl.Series("confidence", [None] * rows.height, dtype=pl.Float64)
    if rule.fix is not None:
        try:
            fixes = rule.fix(rows, ctx, rule.params)
            fixes = fixes.select(
                pl.col("record_id").cast(pl.String),
                pl.col("proposed_value").cast(pl.String),
                pl.col("confidence").cast(pl.Float64),
            ).unique("record_id", keep="first")
            joined = out.select("record_id").join(fixes, on="record_id", how="left", maintain_order="left")
            keep = joined["confidence"].fill_null(0.0) > 0
            return out.with_columns(
                pl.when(keep).then(joined["proposed_value"]).otherwise(None).alias("proposed_value"),
                pl.when(keep).then(joined["confidence"]).otherwise(None).alias("confidence"),
            )
        except Exception as exc:  # noqa: BLE001 - a fixer's bug is reported, not fatal
            errors.append(RuleError(rule.id, system, entity, f"fixer failed: {type(exc).__name__}: {exc}"))
    return out.with_columns(proposed, confidence)


def run_rules(
    rules: Sequence[Rule],
    frames: Mapping[str, Mapping[str, pl.DataFrame]],
    *,
    now: datetime | None = None,
    cache: Mapping[str, object] | None = None,
    large: Mapping[str, Mapping[str, Snapshot]] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> CheckResult:
    """Run every rule over every entity of every system in ``frames`` ({system: {entity: frame}}).

    ``cache`` seeds the rules' shared cache with what the caller computed already (the run gives the
    sources' links, ``source_links``, so that rules and matching use the same ones, computed once).
    ``large`` ({system: {entity: snapshot path}}, ``crm_ops.snapshots.split_frames``) are tables too large
    to hold whole: each is checked ``chunk_rows`` rows at a time (``crm_ops.rules.chunks``)."""
    ctx = RuleContext(frames, now=now, large=large)
    ctx.cache.update(cache or {})
    results = []
    errors: list[RuleError] = []
    seconds: dict[str, float] = {}
    tables: list[tuple[str, str, pl.DataFrame | Snapshot]] = [
        *((s, e, f) for s, entities in frames.items() for e, f in entities.items()),
        *((s, e, p) for s, paths in (large or {}).items() for e, p in paths.items()),
    ]
    for system, entity, table in tables:
        sctx = ctx.for_system(system)
        started = time.perf_counter()
        if isinstance(table, Snapshot):
            result, records = run_large(rules, table, sctx, system, entity, chunk_rows)
        else:
            result, records = run_entity(rules, table, sctx, system, entity), table.height
        results.append(result.findings)
        errors += result.errors
        for k, v in result.seconds.items():
            seconds[k] = seconds.get(k, 0.0) + v
        log.info(
            "rules.entity",
            system=system,
            entity=entity,
            records=records,
            findings=result.findings.height,
            seconds=round(time.perf_counter() - started, 3),
        )
    for e in errors:
        log.warning("rules.error", rule=e.rule, system=e.system, entity=e.entity, error=e.error)
    findings = pl.concat(results) if results else pl.DataFrame(schema=FINDINGS_SCHEMA)
    return CheckResult(findings, errors, seconds)


def run_large(
    rules: Sequence[Rule],
    path: Snapshot,
    ctx: RuleContext,
    system: str,
    entity: str,
    chunk_rows: int = CHUNK_ROWS,
) -> tuple[CheckResult, int]:
    """Run ``rules`` over a table too large to hold whole (its snapshot at ``path``), and how many records
    it has. The rules that judge a row on its own (``chunks.chunk_safe``) run a chunk of ``chunk_rows``
    rows at a time, a tolerance counting the judged rows of every chunk; the others run once over the
    whole table (logged, as that reads it all)."""
    applicable = [r for r in rules if r.applies_to(system, entity)]
    chunked = [replace(r, tolerance=None) for r in applicable if chunk_safe(r)]
    whole = [r for r in applicable if not chunk_safe(r)]
    tolerant = {r.id: r for r in applicable if r.tolerance is not None and chunk_safe(r)}
    judged = dict.fromkeys(tolerant, 0)
    findings: list[pl.DataFrame] = []
    errors: list[RuleError] = []
    seconds: dict[str, float] = {}
    records = 0
    for number, chunk in enumerate(chunks(path, chunk_rows)):
        records += chunk.height
        result = run_entity(chunked, chunk, ctx, system, entity)
        findings.append(result.findings)
        errors += [e for e in result.errors if number == 0 or e not in errors]
        for k, v in result.seconds.items():
            seconds[k] = seconds.get(k, 0.0) + v
        if tolerant:
            live = live_records(chunk)
            for rule in tolerant.values():
                judged[rule.id] += judged_rows(rule, live, ctx)
    if whole:
        log.info("rules.whole_table", system=system, entity=entity, rules=[r.id for r in whole])
        result = run_entity(whole, path.read(), ctx, system, entity)
        findings.append(result.findings)
        errors += result.errors
        for k, v in result.seconds.items():
            seconds[k] = seconds.get(k, 0.0) + v
    found = pl.concat(findings) if findings else pl.DataFrame(schema=FINDINGS_SCHEMA)
    for rule in tolerant.values():
        found = tolerate(found, rule.id, rule.tolerance, judged[rule.id]) if rule.tolerance else found
    return CheckResult(found, errors, seconds), records


def summary(findings: pl.DataFrame) -> pl.DataFrame:
    """Findings per rule: count, severity, how many carry a proposed fix (clearing a value is one)."""
    return (
        findings.group_by("rule", "system", "entity", "severity")
        .agg(pl.len().alias("findings"), pl.col("confidence").is_not_null().sum().alias("with fix"))
        .sort(["findings", "rule"], descending=[True, False])
    )
