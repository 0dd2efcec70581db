"""The tables the command line and the demo print: pulls, findings per rule, matching figures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl
from rich.table import Table

from crm_ops.pull import PullResult
from crm_ops.rules.engine import summary


def pull_table(title: str, results: Iterable[PullResult]) -> Table:
    """One row per pull: mode, rows changed and deleted, rows in the snapshot, API calls, seconds."""
    table = Table(title=title)
    for col in ("system", "entity", "mode", "changed", "deleted", "in snapshot", "API calls", "seconds"):
        table.add_column(col, justify="left" if col in ("system", "entity", "mode") else "right")
    for r in results:
        table.add_row(
            r.system,
            r.entity,
            r.mode + (" (resumed)" if r.resumed else ""),
            f"{r.changed:,}",
            f"{r.deleted:,}",
            f"{r.total:,}",
            f"{r.api_calls:,}",
            f"{r.seconds:.1f}",
        )
    return table


def findings_table(title: str, findings: pl.DataFrame, limit: int | None = None) -> Table:
    """Findings per rule, system and entity, most first, with how many carry a proposed fix."""
    table = Table(title=title)
    for col in ("rule", "system", "entity", "severity", "findings", "with fix"):
        table.add_column(col, justify="right" if col in ("findings", "with fix") else "left")
    rows = summary(findings)
    for row in (rows.head(limit) if limit else rows).iter_rows(named=True):
        table.add_row(
            row["rule"],
            row["system"],
            row["entity"],
            row["severity"],
            f"{row['findings']:,}",
            f"{row['with fix']:,}",
        )
    return table


def figures_table(title: str, figures: Mapping[str, int]) -> Table:
    """A measure per row (matching's counts, say)."""
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,}")
    return table
