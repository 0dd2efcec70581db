"""The data-quality score: per object (``system.entity``), the share of live records that passed every
error- and warning-level rule (info findings do not count against it), with the counts behind it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from crm_ops.schema.entities import live

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
    frames: Mapping[str, Mapping[str, pl.DataFrame]], findings: pl.DataFrame
) -> dict[str, Score]:
    """Per ``system.entity``: live records and those without an error or warning finding."""
    out = {}
    bad = findings.filter(pl.col("severity").is_in(["error", "warning"]))
    for system, entities in frames.items():
        for entity, frame in entities.items():
            if entity in ("Owner", "ContactRole"):
                continue
            records = live(frame)
            if records.is_empty():
                continue
            flagged = bad.filter((pl.col("system") == system) & (pl.col("entity") == entity))["record_id"]
            n_bad = records.filter(pl.col("id").is_in(flagged.implode())).height
            out[f"{system}.{entity}"] = Score(records.height, records.height - n_bad)
    return out


def scores(frames: Mapping[str, Mapping[str, pl.DataFrame]], findings: pl.DataFrame) -> dict[str, float]:
    """Per ``system.entity``: the score as a percentage (see ``DEFINITION``)."""
    return {k: v.percent for k, v in score_counts(frames, findings).items()}
