"""The data-quality score: per object (``system.entity``), the share of live records that passed every
error- and warning-level rule (info findings do not count against it), with the counts behind it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from crm_ops.layered import Snapshot

DEFINITION = (
    "Score: the share of an object's live (not deleted) records that passed every error- and "
    "warning-level rule, as a percentage (info findings do not count against it). Owners and contact "
    "roles are not scored."
)


@dataclass(frozen=True)
class Score:
    """One object's score and the counts behind it."""

    records: int
    passed: int

    @property
    def percent(self) -> float:
        """100 x passed / records."""
        return round(100.0 * self.passed / self.records, 2) if self.records else 100.0


def score_counts(
    frames: Mapping[str, Mapping[str, pl.DataFrame]],
    findings: pl.DataFrame,
    large: Mapping[str, Mapping[str, Snapshot]] | None = None,
) -> dict[str, Score]:
    """Per ``system.entity``: live records and those without an error or warning finding. ``large``
    (snapshot paths of tables too large to hold whole) are counted from their ids, streamed."""
    out = {}
    bad = findings.filter(pl.col("severity").is_in(["error", "warning"]))
    tables: list[tuple[str, str, pl.LazyFrame]] = [
        *((s, e, f.lazy()) for s, entities in frames.items() for e, f in entities.items()),
        *((s, e, p.scan(ordered=False)) for s, paths in (large or {}).items() for e, p in paths.items()),
    ]
    for system, entity, table in tables:
        if entity in ("Owner", "ContactRole"):
            continue
        alive = table
        if "is_deleted" in table.collect_schema().names():
            alive = table.filter(~pl.col("is_deleted").fill_null(False))
        flagged = bad.filter((pl.col("system") == system) & (pl.col("entity") == entity))["record_id"]
        records, n_bad = (
            alive.select(pl.len(), pl.col("id").is_in(flagged.implode()).sum())
            .collect(engine="streaming")
            .row(0)
        )
        if records:
            out[f"{system}.{entity}"] = Score(records, records - n_bad)
    return out


def scores(frames: Mapping[str, Mapping[str, pl.DataFrame]], findings: pl.DataFrame) -> dict[str, float]:
    """Per ``system.entity``: the score as a percentage (see ``DEFINITION``)."""
    return {k: v.percent for k, v in score_counts(frames, findings).items()}
