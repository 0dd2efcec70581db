"""The context a partition's rules need, found by Spark joins and attached to its rows, and rebuilt in
the partition as the polars engine's ``RuleContext`` (``Rebuild.context``). Both Spark passes build on it:
the rules (``crm_ops.spark.rules``) and the proposal gate (``crm_ops.spark.gate``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from crm_ops.rules.model import FINDINGS_SCHEMA, Rule, RuleContext
from crm_ops.spark import needs as N
from crm_ops.spark.frames import polars_schema, to_polars, union_all

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from crm_ops.spark.sessions import SparkFrames

OUT_SCHEMA: dict[str, pl.DataType] = {**FINDINGS_SCHEMA, "error": pl.String()}  # findings and rule errors


@dataclass(frozen=True)
class FramePlan:
    """How a partition rebuilds one context frame from the column its rows carry."""

    column: str
    system: str
    entity: str
    schema: dict[str, pl.DataType]
    nonempty: bool


@dataclass(frozen=True)
class Rebuild:
    """Everything a partition needs to rebuild its ``RuleContext`` (picklable: plain polars data)."""

    systems: tuple[str, ...]
    system: str
    now: datetime
    frames: tuple[FramePlan, ...]
    wholes: tuple[tuple[str, str, pl.DataFrame], ...]
    caches: tuple[tuple[str, Any, Callable[[pl.DataFrame], Any]], ...]
    row_schema: dict[str, pl.DataType]

    def context(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, RuleContext]:
        """A partition's rows (without the attached columns) and the ``RuleContext`` rebuilt from them."""
        frames: dict[str, dict[str, pl.DataFrame]] = {s: {} for s in self.systems}
        for p in self.frames:
            found = (
                frame.select(pl.col(p.column).explode())
                .filter(pl.col(p.column).is_not_null())
                .unnest(p.column)
                .unique()
            )
            found = found.select([pl.col(c).cast(t) for c, t in p.schema.items()])
            if p.nonempty:
                found = pl.concat([found, _sentinel(p.schema)])
            frames[p.system][p.entity] = found
        for system, entity, whole in self.wholes:
            frames[system][entity] = whole
        ctx = RuleContext(frames, system=self.system, now=self.now)
        for column, key, build in self.caches:
            entries = (
                frame.select(pl.col(column).explode()).filter(pl.col(column).is_not_null()).unnest(column)
            )
            ctx.cache[key] = build(entries)
        rows = frame.select([c for c in self.row_schema if c in frame.columns])
        return rows, ctx


def _sentinel(schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    row: dict[str, Any] = dict.fromkeys(schema)
    row["id"] = N.SENTINEL_ID
    if "is_deleted" in schema:
        row["is_deleted"] = True
    return pl.DataFrame([row], schema=dict(schema), orient="row")


def live_rows(frame: DataFrame) -> DataFrame:
    """The records of ``frame`` that are not deleted."""
    from pyspark.sql import functions as F

    if "is_deleted" not in frame.columns:
        return frame
    return frame.where(~F.coalesce(F.col("is_deleted"), F.lit(False)))


def _nonempty(shared: dict[Any, Any], system: str, entity: str, frame: DataFrame) -> bool:
    key = ("nonempty", system, entity)
    if key not in shared:
        shared[key] = not frame.isEmpty()
    return bool(shared[key])


def attach(
    rows: DataFrame,
    found: Sequence[N.Need],
    frames: SparkFrames,
    system: str,
    now: datetime,
    shared: dict[Any, Any],
) -> tuple[DataFrame, Rebuild]:
    """The rows with their context attached (one list column per context frame and per cache)."""
    from pyspark.sql import functions as F

    row_schema = polars_schema(rows.schema)
    links: dict[tuple[str, str], list[N.Link]] = {}
    wholes: dict[tuple[str, str], set[str]] = {}
    caches: dict[Any, list[N.CacheLink]] = {}
    for need in found:
        if isinstance(need, N.Link):
            links.setdefault((need.system, need.entity), []).append(need)
        elif isinstance(need, N.Whole):
            wholes.setdefault((need.system, need.entity), set()).update(need.columns)
        else:
            caches.setdefault(need.key, []).append(need)
    plans = []
    out = rows
    for i, ((sys_, entity), group) in enumerate(sorted(links.items())):
        ctx = frames[sys_][entity]
        wanted = {"id", "is_deleted"} | {c for link in group for c in link.columns}
        cols = [c for c in ctx.columns if c in wanted]
        pairs = union_all([link.pairs for link in group])
        name = f"__ctx{i}"
        agg = (
            pairs.distinct()
            .join(ctx.select(F.col("id").alias(N.CID), *cols), N.CID)
            .groupBy(N.RID)
            .agg(F.collect_list(F.struct(*cols)).alias(name))
        )
        out = out.join(agg, out["id"] == agg[N.RID], "left").drop(N.RID)
        schema = polars_schema(ctx.select(*cols).schema)
        plans.append(FramePlan(name, sys_, entity, schema, _nonempty(shared, sys_, entity, ctx)))
    shipped = []
    for (sys_, entity), columns in sorted(wholes.items()):
        source = frames.get(sys_, {}).get(entity)
        if source is None:
            continue
        key = ("whole", sys_, entity, tuple(sorted(columns)))
        if key not in shared:
            shared[key] = to_polars(source.select(*[c for c in source.columns if c in columns]))
        shipped.append((sys_, entity, shared[key]))
    cache_plans = []
    for i, (key, group_c) in enumerate(caches.items()):
        entries = union_all([c.entries for c in group_c])
        name = f"__cache{i}"
        agg = entries.groupBy(N.RID).agg(F.collect_list(F.struct("__slot", "__ck", "__cv")).alias(name))
        out = out.join(agg, out["id"] == agg[N.RID], "left").drop(N.RID)
        cache_plans.append((name, key, group_c[0].build))
    rebuild = Rebuild(
        tuple(frames), system, now, tuple(plans), tuple(shipped), tuple(cache_plans), row_schema
    )
    return out, rebuild


def found_needs(
    rules: Sequence[Rule],
    table: Mapping[Callable[..., Any], N.Provider],
    fn: Callable[[Rule], Callable[..., Any] | None],
    rows_for: Callable[[Rule], DataFrame],
    frames: SparkFrames,
    system: str,
    shared: dict[Any, Any],
) -> list[N.Need]:
    """What ``rules`` need attached to their rows: for each rule whose function (``fn``: its check or its
    fixer) ``table`` knows, that provider's needs over the rule's rows (``rows_for``)."""
    found: list[N.Need] = []
    for r in rules:
        f = fn(r)
        if f is not None and f in table:
            found += table[f](N.NeedArgs(rows_for(r), frames, system, r.params, shared))
    return found
