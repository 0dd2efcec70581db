"""The suppression list (issue 31): who was erased, kept as keyed hashes, so that nothing crm_ops writes or
copies brings an erased person back.

``crm-ops erase`` adds, before it deletes anything, a digest of each of the person's e-mail addresses
(trimmed, lower-cased) and of each of their records' ids (with the system: HubSpot's ids are numbers that
repeat across objects). A digest is BLAKE2b keyed with the state file's own secret
(``State.suppression_key``): the list names nobody to whoever reads it, and a guessed e-mail cannot be
tested against it without the state file's key.

Where it is consulted:

- every write an apply or undo sends (``crm_ops.plan.apply``): an action on an erased record, or whose
  values (a merge's survivor values, an undone merge's record, a drift sync's value) hold an erased
  e-mail, is never sent: its entry says the person was erased;
- every pull, of the CRMs and of the sources (``crm_ops.pull``): such rows are left out of our copies; a
  live record of a CRM holding an erased e-mail under an id we did not erase (the person was created
  again, by a form, a sync or a person) is named in the pull's result, the run's notices and exit code.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from crm_ops.state import State

EMAIL = "email"
ID = "id"
# an e-mail address inside any text (a survivor's values, a journaled record's JSON, a note)
EMAIL_IN_TEXT = re.compile(r"[^\s@<>()\[\]{},;:\"'`]+@[^\s@<>()\[\]{},;:\"'`]+\.[^\s@<>()\[\]{},;:\"'`]+")
# the canonical columns that hold e-mail addresses (``additional_emails``: ;-separated)
EMAIL_COLUMNS = ("email", "additional_emails")


def normal_email(value: str) -> str:
    """An e-mail as the list compares it: trimmed, lower-cased."""
    return value.strip().lower()


def emails_in(text: str) -> list[str]:
    """The e-mail addresses inside ``text``."""
    return EMAIL_IN_TEXT.findall(text) if "@" in text else []


@dataclass
class Suppression:
    """The suppression list as one process reads it: test identifiers against it."""

    key: bytes
    digests: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # digest -> erasure, when

    @classmethod
    def of(cls, state: State) -> Suppression:
        """The list of a state file (empty, and free to test against, until something is erased)."""
        digests = state.suppressed()
        return cls(state.suppression_key() if digests else b"", digests)

    def __bool__(self) -> bool:
        return bool(self.digests)

    def digest(self, kind: str, value: str) -> str:
        """The keyed digest of an identifier (``kind``: ``email`` or ``id``; an id as ``system:id``)."""
        text = normal_email(value) if kind == EMAIL else value
        return hashlib.blake2b(f"{kind}\x1f{text}".encode(), key=self.key, digest_size=16).hexdigest()

    def email(self, value: str) -> str:
        """The digest of an e-mail address."""
        return self.digest(EMAIL, value)

    def record(self, system: str, record_id: str) -> str:
        """The digest of a record's id in its system."""
        return self.digest(ID, f"{system}:{record_id}")

    def erased_email(self, value: str | None) -> bool:
        """Whether ``value`` is an erased e-mail address."""
        return bool(self.digests) and bool(value) and self.email(str(value)) in self.digests

    def erased_record(self, system: str, record_id: str | None) -> bool:
        """Whether the record ``record_id`` of ``system`` was erased."""
        return bool(self.digests) and bool(record_id) and self.record(system, str(record_id)) in self.digests

    def erased_in(self, values: Iterable[Any]) -> str | None:
        """Why a write holding ``values`` (texts, JSON-able structures) must not be sent: an erased e-mail
        inside one (the value itself is never named), or None."""
        if not self.digests:
            return None
        for text in _texts(values):
            for found in emails_in(text):
                if self.erased_email(found):
                    return f"it holds the e-mail of a person erased {self.when(self.email(found))}"
        return None

    def when(self, digest: str) -> str:
        """``on <day> (erasure <id>)`` for a digest on the list."""
        erasure, at = self.digests[digest]
        return f"on {at.date().isoformat()} (erasure {erasure})"

    def filter_frame(self, system: str, frame: pl.DataFrame) -> Filtered:
        """``frame`` (a page or snapshot of ``system``, canonical columns) without the rows of erased
        records or holding an erased e-mail; which rows went, by kind."""
        if not self.digests or frame.height == 0 or "id" not in frame.columns:
            return Filtered(frame)
        by_id = self._id_mask(system, frame)
        by_email = self._email_mask(frame)
        gone = by_id | by_email
        if not gone.any():
            return Filtered(frame)
        live = (
            ~frame["is_deleted"].fill_null(False)
            if "is_deleted" in frame.columns
            else pl.repeat(True, frame.height, eager=True)
        )
        back = frame.filter(by_email & ~by_id & live)["id"].cast(pl.String).to_list()
        return Filtered(frame.filter(~gone), dropped=int(gone.sum()), back=tuple(back))

    def _id_mask(self, system: str, frame: pl.DataFrame) -> pl.Series:
        ids = frame["id"].cast(pl.String)
        erased = {i for i in ids.unique().drop_nulls().to_list() if self.erased_record(system, i)}
        return ids.is_in(sorted(erased)).fill_null(False)

    def _email_mask(self, frame: pl.DataFrame) -> pl.Series:
        columns = [c for c in EMAIL_COLUMNS if c in frame.columns and frame.schema[c] == pl.String]
        mask = pl.repeat(False, frame.height, eager=True)
        for column in columns:
            values = frame[column]
            cells = values.unique().drop_nulls().to_list()
            found = {v for v in cells if any(map(self.erased_email, split_emails(v)))}
            if found:
                mask = mask | values.is_in(sorted(found)).fill_null(False)
        return mask


@dataclass(frozen=True)
class Filtered:
    """A frame with erased people's rows left out: how many went, and the ids of live records that hold
    an erased e-mail under an id that was not erased (someone created the person again)."""

    frame: pl.DataFrame
    dropped: int = 0
    back: tuple[str, ...] = ()


def split_emails(value: str | None) -> list[str]:
    """The e-mails of a cell that may hold several (HubSpot's ``hs_additional_emails``, a source's
    list), separated by ``;``, ``,`` or spaces, each as the list compares it."""
    return [normal_email(v) for v in re.split(r"[;,\s]+", value or "") if v]


def _texts(values: Iterable[Any]) -> Iterator[str]:
    for value in values:
        if value is None:
            continue
        if isinstance(value, str):
            yield value
        elif isinstance(value, Mapping):
            yield from _texts(value.keys())
            yield from _texts(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            yield from _texts(value)
        else:
            yield str(value)
