"""Remembered decisions: pairs a person rejected ("not a duplicate") are not proposed again while the
two records are unchanged in the fields they were matched on.

A rejection names a record, the other record it was proposed to merge into (or a lead and the contact
it was proposed to convert into), and the fingerprint of each one's matched fields when the person
decided (``crm_ops.match.survivor.fingerprint``). ``drop_rejected`` removes such pairs from matching's
pairs, and keeps the rejected record out of the other's cluster (a third record matching both does not
bring them together again). A change in a matched field of either record changes its fingerprint: the
rejection then no longer holds, and the pair is proposed again if it still matches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from crm_ops.match.engine import clusters
from crm_ops.match.survivor import fingerprint


def active(
    rejections: Sequence[Mapping[str, Any]],
    system: str,
    entity: str,
    left: pl.DataFrame,
    right: pl.DataFrame | None,
    matched: Sequence[str],
) -> list[tuple[str, str]]:
    """The (record, other) pairs of ``rejections`` for this system and entity whose records are both
    still as they were (same fingerprints); ``left`` holds the records, ``right`` the others (None: the
    same frame)."""
    mine = [r for r in rejections if r["system"] == system and r["entity"] == entity]
    if not mine:
        return []
    ids = {r["record_id"] for r in mine} | {r["other_id"] for r in mine}
    prints: dict[str, str] = {}
    for frame in (left, right) if right is not None else (left,):
        columns = [c for c in ("id", *matched) if c in frame.columns]
        for row in frame.filter(pl.col("id").is_in(list(ids))).select(columns).iter_rows(named=True):
            prints[str(row["id"])] = fingerprint(row, matched)
    return [
        (r["record_id"], r["other_id"])
        for r in mine
        if prints.get(r["record_id"]) == r["record_print"] and prints.get(r["other_id"]) == r["other_print"]
    ]


def drop_rejected(
    pairs: pl.DataFrame, rejected: Sequence[tuple[str, str]], *, cluster: bool = True
) -> pl.DataFrame:
    """``pairs`` without the rejected ones; with ``cluster``, also without the pairs that would put a
    rejected record back in a cluster with the record it was rejected for."""
    if not rejected or pairs.is_empty():
        return pairs
    banned = {frozenset(p) for p in rejected}
    keep = [frozenset((a, b)) not in banned for a, b in pairs.select("left_id", "right_id").iter_rows()]
    pairs = pairs.filter(pl.Series(keep, dtype=pl.Boolean))
    if not cluster:
        return pairs
    for _ in range(5):  # each round detaches the rejected records still clustered with their other
        groups = dict(clusters(pairs).iter_rows()) if pairs.height else {}
        detach: dict[str, str] = {}
        for record, other in rejected:
            if record in groups and groups.get(record) == groups.get(other):
                detach[record] = groups[record]
        if not detach:
            break
        rows = pairs.select("left_id", "right_id").iter_rows()
        keep = [
            not ((a in detach and groups.get(b) == detach[a]) or (b in detach and groups.get(a) == detach[b]))
            for a, b in rows
        ]
        pairs = pairs.filter(pl.Series(keep, dtype=pl.Boolean))
    return pairs
