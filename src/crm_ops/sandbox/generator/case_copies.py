"""Support cases opened twice (issue 26): a customer writes again about the same problem before the
first case is answered, or two agents log one phone call. Both CRMs merge cases (Salesforce ``Case``,
HubSpot ``tickets``), so the sandbox seeds such pairs with ground truth.

A copy is of a live, clean case: the same contact and account, type, origin, priority and owner; a
subject as people's second messages have it (``COPY_KINDS``: the very same, a reply's ``RE:`` prefix, in
other case, one slip of the keyboard); opened hours to two days after the original and, when the original
is closed, before it was (half-way at most: the customer wrote again before the answer came; a problem
back after its case was closed is a new case, not a copy), and still new (open, no close date). Each
pair is a cluster in the manifest's duplicates, its kind the subject's difference. Built from a random
stream of its own, after the cases, so nothing else of a seed changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox.generator.common import copy_pairs
from crm_ops.sandbox.generator.duplicates import _typo
from crm_ops.sandbox.objects import HUBSPOT_OBJECTS, SALESFORCE_OBJECTS, sf_ids

DUPLICATED = 0.03  # the share of cases opened twice
COPY_KINDS = ("exact", "reply", "subject_case", "typo")
MAX_LATER_HOURS = 48  # how long after the original a copy is opened, at most


def copy_subject(rng: np.random.Generator, kind: str, subject: str) -> str:
    """``subject`` as the copy of ``kind`` has it."""
    if kind == "reply":
        return f"RE: {subject}"
    if kind == "subject_case":
        return subject.lower()
    if kind == "typo":
        return _typo(rng, subject)
    return subject


def before_answer(
    created: np.ndarray, later: np.ndarray, closed: np.ndarray, today_end: np.datetime64
) -> np.ndarray:
    """When copies of cases opened at ``created`` are opened: ``later`` after them, never after today,
    and for an original closed at ``closed`` (NaT: still open) half-way to its close at most."""
    waited = np.where(np.isnat(closed), later, np.minimum(later, (closed - created) // 2))
    out: np.ndarray = np.minimum(created + waited, today_end)
    return out


def unlabelled_copies(
    contact: np.ndarray, subject: np.ndarray, created: np.ndarray, closed: np.ndarray, kept: np.ndarray
) -> np.ndarray:
    """The rows of cases that are, by chance, what ``case_copies`` makes: one contact's case on the very
    subject of another of theirs opened up to ``MAX_LATER_HOURS`` before it and not yet closed (NaT:
    still open). The later of each such pair is returned, or the earlier when the later is ``kept`` (a
    seeded copy or its original, whose subject must stay); a pair both kept is left."""
    return CaseTimes(contact, created, closed, kept).unlabelled_copies(subject)


class CaseTimes:
    """Cases' contacts, open and close times and which are ``kept``, built once to look for unlabelled
    copies under one subject column after another."""

    def __init__(
        self, contact: np.ndarray, created: np.ndarray, closed: np.ndarray, kept: np.ndarray
    ) -> None:
        self.frame = pl.DataFrame(
            {
                "row": np.arange(len(contact)),
                "contact": pl.Series(contact.astype(str)),
                "created": pl.Series(created.astype("datetime64[ms]")),
                "closed": pl.Series(closed.astype("datetime64[ms]")),
                "kept": pl.Series(kept, dtype=pl.Boolean),
            }
        )

    def unlabelled_copies(self, subject: np.ndarray) -> np.ndarray:
        """``unlabelled_copies`` of these cases with ``subject``."""
        frame = self.frame.with_columns(subject=pl.Series(subject.tolist(), dtype=pl.String)).filter(
            pl.col("subject").is_not_null()
        )
        window = np.timedelta64(MAX_LATER_HOURS, "h")
        by = ["contact", "subject"]
        # each case after the one before it in its contact's and subject's run (a shift, not a window)
        pairs = (
            frame.sort([*by, "created"])
            .with_columns(pl.col(*by, "row", "closed", "created", "kept").shift(1).name.prefix("prev_"))
            .filter(
                pl.col("contact") == pl.col("prev_contact"),
                pl.col("subject") == pl.col("prev_subject"),
                pl.col("created") - pl.col("prev_created") <= pl.lit(window),
                pl.col("prev_closed").is_null() | (pl.col("created") <= pl.col("prev_closed")),
            )
        )
        chosen = pairs.select(
            pl.when(~pl.col("kept")).then(pl.col("row")).when(~pl.col("prev_kept")).then(pl.col("prev_row"))
        ).to_series()
        return np.asarray(chosen.drop_nulls().unique().sort().to_numpy(), dtype=np.int64)


def case_copies(
    rng: np.random.Generator, system: str, frame: pl.DataFrame, taken: set[str], today_end: np.datetime64
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """``frame`` (Salesforce ``Case`` or HubSpot ``tickets``) with a few of its live records not in
    ``taken`` (the defects) opened again, and the manifest's duplicates rows of each pair."""
    sfs = system == "salesforce"
    obj = "Case" if sfs else "tickets"
    key, subject = ("Id", "Subject") if sfs else ("id", "subject")
    created, modified = ("CreatedDate", "LastModifiedDate") if sfs else ("createdate", "hs_lastmodifieddate")
    ids = frame[key].cast(pl.String)
    live = ~frame["IsDeleted"] if sfs else ~frame["archived"].fill_null(False)
    clean = (live & ~ids.is_in(pl.Series(sorted(taken), dtype=pl.String).implode())).arg_true().to_numpy()
    k = min(len(clean), max(1, int(frame.height * DUPLICATED)))
    rows = np.sort(rng.choice(clean, k, replace=False))
    kinds = np.asarray(COPY_KINDS, dtype=object)[rng.integers(0, len(COPY_KINDS), k)]
    later = (rng.uniform(0.5, MAX_LATER_HOURS, k) * 3_600_000).astype("timedelta64[ms]")
    n = frame.height
    originals = frame[rows.tolist()]
    subjects = [
        copy_subject(rng, kind, str(text))
        for kind, text in zip(kinds.tolist(), originals[subject].to_list(), strict=True)
    ]
    closed = originals["ClosedDate" if sfs else "closed_date"].to_numpy().astype("datetime64[ms]")
    opened = before_answer(originals[created].to_numpy().astype("datetime64[ms]"), later, closed, today_end)
    stamps = pl.Series(opened).cast(frame.schema[created])
    if sfs:
        new_ids: list[Any] = sf_ids(SALESFORCE_OBJECTS[obj].key_prefix, n, k).to_list()
        state: dict[str, Any] = {
            "CaseNumber": pl.Series([f"{n + j + 1:08d}" for j in range(k)], dtype=pl.String),
            "Status": pl.lit("New"),
            "IsClosed": pl.lit(False),
            "IsEscalated": pl.lit(False),
            "ClosedDate": pl.lit(None, dtype=frame.schema["ClosedDate"]),
            "SystemModstamp": stamps,
        }
    else:
        new_ids = (HUBSPOT_OBJECTS[obj].id_base + n + np.arange(k)).tolist()
        state = {
            "hs_pipeline_stage": pl.lit("1"),
            "closed_date": pl.lit(None, dtype=frame.schema["closed_date"]),
        }
    copies = originals.with_columns(
        pl.Series(key, new_ids, dtype=frame.schema[key]),
        pl.Series(subject, subjects, dtype=pl.String),
        stamps.alias(created),
        stamps.alias(modified),
        **state,
    )
    truth = copy_pairs(system, obj, rows.tolist(), kinds.tolist(), ids, new_ids)
    out: pl.DataFrame = pl.concat([frame, copies.select(frame.columns)])
    return out, truth
