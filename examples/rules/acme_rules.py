"""A team's own rule, in Python: titles should spell out "Vice President"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from crm_ops.rules import RuleContext, row_level, rule

VP = r"(?i)^\s*(s?vp|evp)\b\.?"


@rule(
    id="acme.person.title.vp_spelled_out",
    entity=["Contact", "Lead"],
    field="title",
    severity="info",
    tags=["acme", "format"],
    description='Job titles spell out "Vice President" rather than VP.',
    examples=[
        {"pass": {"title": "Vice President Sales"}},
        {"fail": {"title": "VP Sales"}, "fix": "Vice President Sales"},
        {"fail": {"title": "SVP Marketing"}, "fix": "Senior Vice President Marketing"},
    ],
)
@row_level  # it judges each row on its own: a large table is checked a chunk at a time, Spark per partition
def vp_spelled_out(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Pass unless the title starts with VP, SVP or EVP."""
    return ~pl.col("title").str.contains(VP)


@vp_spelled_out.fixer
def spell_out(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """VP -> Vice President, SVP -> Senior Vice President, EVP -> Executive Vice President."""
    title = pl.col("title").str.strip_chars()
    spelled = (
        title.str.replace(r"(?i)^svp\b\.?", "Senior Vice President")
        .str.replace(r"(?i)^evp\b\.?", "Executive Vice President")
        .str.replace(r"(?i)^vp\b\.?", "Vice President")
    )
    return rows.select(
        pl.col("id").alias("record_id"), spelled.alias("proposed_value"), pl.lit(0.9).alias("confidence")
    )
