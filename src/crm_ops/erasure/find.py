"""Finding every record of a person (issue 31), in the current snapshots of both CRMs and the sources.

From each subject (an e-mail, or a record's id in one system), the search grows until nothing new turns up:

- records whose e-mail or secondary e-mails (HubSpot's ``hs_additional_emails``: ``additional_emails``)
  are one of the person's, in every entity that has them (contacts, leads, a source's product users);
- the record an id names, and every e-mail it holds (so an id finds the person's other records);
- linked twins: the record the other CRM's cross-CRM id field points at, either way (``linked_id``), a
  lead converted into a found contact or the lead a contact records (``converted_contact_id``,
  ``linked_lead_id``).

The person's records in the CRMs' person entities (``PERSON_ENTITIES``) are what ``crm-ops erase``
deletes; records a source holds are listed for their owner (sources are read-only to crm_ops). Then every
other record that mentions the person (their e-mail or full name in any text cell: a deal named after
them, a note, a billing customer who is a sole trader) is listed as a mention: our copies are redacted,
and the CRM's are checked again after the deletes (the CRM may delete or clear them with the person).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from crm_ops.erasure.subjects import Subject
from crm_ops.state import State
from crm_ops.suppression import normal_email, split_emails

CRMS = ("salesforce", "hubspot")
PERSON_ENTITIES = ("Contact", "Lead")  # what erase deletes in a CRM; other entities' records are mentions
NOT_PEOPLE = ("Owner",)  # the org's users: colleagues, not data subjects; never searched by e-mail
LINKS = ("linked_id", "linked_lead_id", "converted_contact_id")  # ids of the same person elsewhere
READ = ("id", "is_deleted", "email", "additional_emails", "first_name", "last_name", *LINKS)
MIN_NAME = 6  # a full name shorter than this ("Al Li") is too common to redact in other records' text


@dataclass(frozen=True)
class FoundRecord:
    """One record of a person: where, how it was found, and whether erase deletes it (a CRM's person
    record) or lists it (a source's record, or a mention)."""

    system: str
    entity: str
    record_id: str
    how: str  # "e-mail", "id", "linked twin", "mention (column)"
    deletable: bool
    source: bool = False  # held by a source: its owner erases it

    @property
    def key(self) -> tuple[str, str]:
        """(system, id): how the suppression list and the purge name it."""
        return (self.system, self.record_id)


@dataclass
class Person:
    """One subject's records, e-mails and full names (the values the purge removes from our copies)."""

    subject: Subject
    records: list[FoundRecord] = field(default_factory=list)
    emails: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    mentions: list[FoundRecord] = field(default_factory=list)

    @property
    def found(self) -> bool:
        """Whether any record of the person was found."""
        return bool(self.records)


@dataclass
class _Table:
    system: str
    entity: str
    frame: pl.DataFrame  # the columns of READ it has, e-mails lower-cased, additional e-mails listed


def _tables(state: State, systems: Sequence[str], by_id: set[str]) -> list[_Table]:
    """The snapshots a person is searched in: those with e-mails (people), and the others of the systems
    an id names (``by_id``); only the columns the search reads."""
    out = []
    for c in state.all_current():
        if c.system not in systems or c.entity in NOT_PEOPLE or not c.snapshot.exists():
            continue
        scan = c.snapshot.scan()
        names = scan.collect_schema().names()
        columns = [col for col in READ if col in names]
        if "id" not in columns or ("email" not in columns and c.system not in by_id):
            continue
        frame = scan.select(columns)
        if "email" in columns:
            frame = frame.with_columns(pl.col("email").str.strip_chars().str.to_lowercase())
        if "additional_emails" in columns:
            frame = frame.with_columns(
                pl.col("additional_emails")
                .str.to_lowercase()
                .str.replace_all(r"[;,\s]+", ";")  # as suppression.split_emails splits a cell
                .str.split(";")
                .list.eval(pl.element().filter(pl.element() != ""))
                .alias("additional_emails")
            )
        out.append(_Table(c.system, c.entity, frame.collect()))
    return out


def find_people(state: State, subjects: Sequence[Subject], systems: Sequence[str]) -> list[Person]:
    """Each subject's records in the current snapshots of ``systems`` (the profile's CRMs and sources),
    and the mentions of them in every other record."""
    tables = _tables(state, systems, {s.system for s in subjects if s.system})
    merges = [_Merge.of(m) for m in state.merges() if m["system"] in systems]
    people = [_closure(subject, tables, merges) for subject in subjects]
    _mentions(state, people, systems)
    return people


@dataclass(frozen=True)
class _Merge:
    """A merge the journal says landed: the merged-away record and its survivor are one person's."""

    system: str
    entity: str
    merged: str
    survivor: str
    emails: frozenset[str]  # the merged-away record's, as journaled (it may be gone from every snapshot)
    name: str | None

    @classmethod
    def of(cls, entry: dict[str, Any]) -> _Merge:
        try:
            before = json.loads(entry["before"] or "{}")
        except ValueError:
            before = {}
        before = before if isinstance(before, dict) else {}
        before = before["record"] if isinstance(before.get("record"), dict) else before  # a merge's
        emails = {normal_email(before["email"])} if isinstance(before.get("email"), str) else set()
        if isinstance(before.get("additional_emails"), str):
            emails.update(split_emails(before["additional_emails"]))
        first, last = (str(before.get(k) or "").strip() for k in ("first_name", "last_name"))
        name = f"{first} {last}" if first and last and len(f"{first} {last}") >= MIN_NAME else None
        return cls(
            entry["system"],
            entry["entity"],
            entry["record_id"],
            str(entry["survivor"]),
            frozenset(emails),
            name,
        )


def _closure(subject: Subject, tables: list[_Table], merges: list[_Merge]) -> Person:
    person = Person(subject)
    emails = {subject.email} if subject.email else set()
    ids: set[tuple[str, str]] = set()
    if subject.record_id and subject.system:
        ids.add((subject.system, subject.record_id))
    links: set[str] = set()  # ids a found record names as the same person's (either CRM)
    how: dict[tuple[str, str, str], str] = {}
    for _ in range(5):  # e-mail -> records -> their e-mails and twins -> ...: a person has few
        before = (len(emails), len(ids), len(links))
        for table in tables:
            frame = table.frame
            hit = pl.repeat(False, frame.height, eager=True)
            own = frame["id"].cast(pl.String).is_in(sorted(i for s, i in ids if s == table.system))
            hit = hit | own.fill_null(False)
            if emails and "email" in frame.columns:
                hit = hit | frame["email"].is_in(sorted(emails)).fill_null(False)
            if emails and "additional_emails" in frame.columns:
                listed = frame["additional_emails"].list.eval(pl.element().is_in(sorted(emails))).list.any()
                hit = hit | listed.fill_null(False)
            linked = pl.repeat(False, frame.height, eager=True)
            if "email" in frame.columns:  # twins are people: an account's linked_id is not a person's
                linked = frame["id"].cast(pl.String).is_in(sorted(links)).fill_null(False)
                for column in (c for c in LINKS if c in frame.columns):
                    linked = linked | frame[column].is_in(sorted(i for _, i in ids)).fill_null(False)
            rows = frame.with_columns(__hit=hit).filter(hit | linked)
            for row in rows.iter_rows(named=True):
                key = (table.system, table.entity, str(row["id"]))
                reason = "id" if (table.system, str(row["id"])) in ids else "e-mail"
                how.setdefault(key, reason if row["__hit"] else "linked twin")
                ids.add((table.system, str(row["id"])))
                emails.update(e for e in [row.get("email")] if e)
                emails.update(e for e in (row.get("additional_emails") or []) if e)
                if "email" in frame.columns:
                    links.update(str(row[c]) for c in LINKS if row.get(c))
                first, last = (row.get("first_name") or "").strip(), (row.get("last_name") or "").strip()
                if first and last and len(f"{first} {last}") >= MIN_NAME:
                    person.names.add(f"{first} {last}")
        for m in merges:  # a record merged into one of theirs (or theirs merged away): theirs too
            if (m.system, m.merged) in ids or (m.system, m.survivor) in ids:
                for record_id, reason in ((m.merged, "merged away"), (m.survivor, "merge survivor")):
                    how.setdefault((m.system, m.entity, record_id), reason)
                    ids.add((m.system, record_id))
                emails.update(m.emails)
                person.names.update([m.name] if m.name else [])
        if (len(emails), len(ids), len(links)) == before:
            break
    person.emails = emails
    for (system, entity, record_id), reason in sorted(how.items()):
        source = system not in CRMS
        person.records.append(
            FoundRecord(
                system,
                entity,
                record_id,
                reason,
                deletable=not source and entity in PERSON_ENTITIES,
                source=source,
            )
        )
    return person


def _mentions(state: State, people: list[Person], systems: Sequence[str]) -> None:
    """Every record (outside a person's own) holding one of their e-mails or full names in a text cell."""
    values = {v.lower(): p for p in people for v in (*p.emails, *p.names)}
    if not values:
        return
    own = {(r.system, r.record_id) for p in people for r in p.records}
    needles = sorted(values)
    for c in state.all_current():
        if c.system not in systems or not c.snapshot.exists():
            continue
        scan = c.snapshot.scan()
        schema = scan.collect_schema()
        text = [n for n, t in schema.items() if t == pl.String and n != "id"]
        if not text or "id" not in schema:
            continue
        holds = [
            pl.col(n).str.contains_any(needles, ascii_case_insensitive=True).fill_null(False) for n in text
        ]
        rows = scan.filter(pl.any_horizontal(holds)).select("id", *text).collect()
        for row in rows.iter_rows(named=True):
            if (c.system, str(row["id"])) in own:
                continue
            for column in text:
                cell = (row.get(column) or "").lower()
                hits = [v for v in needles if v in cell]
                if hits:
                    record = FoundRecord(
                        c.system,
                        c.entity,
                        str(row["id"]),
                        f"mention ({column})",
                        deletable=False,
                        source=c.system not in CRMS,
                    )
                    person = values[hits[0]]
                    if all(m.key != record.key for m in person.mentions):
                        person.mentions.append(record)


def all_values(people: Iterable[Person]) -> frozenset[str]:
    """Every e-mail and full name of ``people``: what no file of ours may hold after the erasure."""
    return frozenset(v for p in people for v in (*p.emails, *p.names))
