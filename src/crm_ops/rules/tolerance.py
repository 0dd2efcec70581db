"""A rule's ``tolerance:``: how many failing rows a rule lets through before it counts at its severity.

``tolerance: 2%`` (a share of the rows the rule judges: the live rows of one entity of one CRM that
its ``when:`` holds for) or ``tolerance: 10`` (a number of rows). When no more rows fail than that, the
rule's findings are kept, with their fixes, but as ``info``, their message saying so: a few gaps are
worked through at leisure, and only a rule failing beyond its tolerance fails a run (``--fail-on``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl

HELP = (
    "a share (`2%`) or number (`10`) of the judged rows that may fail: within it, the findings are kept "
    "as info (see the Tolerance section)"
)


@dataclass(frozen=True)
class Tolerance:
    """How many of the judged rows may fail: ``rows`` failing rows, or a ``percent`` of them."""

    rows: int | None = None
    percent: float | None = None

    def allowed(self, judged: int) -> int:
        """How many of ``judged`` rows may fail."""
        if self.rows is not None:
            return self.rows
        return math.floor(judged * (self.percent or 0.0) / 100 + 1e-9)

    def __str__(self) -> str:
        return f"{self.rows} rows" if self.rows is not None else f"{self.percent:g}%"


def parse_tolerance(raw: Any) -> tuple[Tolerance | None, str | None]:
    """``tolerance:`` as written (``2%``, ``0.5%``, ``10``), or the problem."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return Tolerance(rows=raw), None
    if isinstance(raw, str) and raw.strip().endswith("%"):
        try:
            percent = float(raw.strip()[:-1])
        except ValueError:
            percent = -1.0
        if 0 <= percent <= 100:
            return Tolerance(percent=percent), None
    return None, f"tolerance: a share of the judged rows (2%) or a number of rows (10), got {raw!r}"


def tolerate(findings: pl.DataFrame, rule_id: str, tolerance: Tolerance, judged: int) -> pl.DataFrame:
    """``findings`` with those of ``rule_id`` downgraded to info when no more rows fail than allowed."""
    mine = pl.col("rule") == rule_id
    failing = findings.filter(mine)["record_id"].n_unique()
    if failing == 0 or failing > tolerance.allowed(judged):
        return findings
    note = f" (within tolerance: {failing} of {judged} rows fail, {tolerance} allowed)"
    return findings.with_columns(
        pl.when(mine).then(pl.lit("info")).otherwise(pl.col("severity")).alias("severity"),
        pl.when(mine).then(pl.col("message") + note).otherwise(pl.col("message")).alias("message"),
    )
