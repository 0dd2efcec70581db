"""Scoring duplicate detection and cross-CRM matching against the sandbox's ground truth."""

from __future__ import annotations

import polars as pl

from crm_ops.match import MatchResult


def _pairs(frame: pl.DataFrame, a: str, b: str) -> set[tuple[str, str]]:
    return {tuple(sorted(p)) for p in frame.select(a, b).iter_rows()}


def duplicate_scores(duplicates: pl.DataFrame, result: MatchResult) -> tuple[float, float, int, int]:
    """Precision and recall of duplicate pairs (contact copies and lead-vs-contact), found and true counts."""
    truth_pairs = set()
    for _, group in duplicates.group_by("cluster_id"):
        ids = sorted(group["record_id"].to_list())
        truth_pairs |= {(ids[i], ids[j]) for i in range(len(ids)) for j in range(i + 1, len(ids))}
    found = _pairs(result.duplicates.filter(pl.col("system") == "salesforce"), "left_id", "right_id")
    hits = len(found & truth_pairs)
    return hits / max(1, len(found)), hits / max(1, len(truth_pairs)), len(found), len(truth_pairs)


def link_scores(matches: pl.DataFrame, result: MatchResult) -> tuple[float, float, int, int]:
    """Precision and recall of Salesforce-HubSpot pairs."""
    truth = set(matches.select("sf_id", "hs_id").iter_rows())
    found = set(result.links.select("sf_id", "hs_id").iter_rows())
    hits = len(found & truth)
    return hits / max(1, len(found)), hits / max(1, len(truth)), len(found), len(truth)
