"""``crm-ops erase``: one person (or a file of them) erased from both CRMs and from crm_ops' own state, in
one resumable operation that ends in a certificate (issue 31).

The order, each step safe to run again (a kill at any point is finished by the next ``erase`` or
``erase --resume``; the nightly run names an unfinished one until then):

1. under the run's lock (no nightly run in between) and with no apply or undo of any plan running, the
   person's records are found in the current snapshots (``crm_ops.erasure.find``);
2. a working file (``erasures/<id>/work.json``, private, deleted at the end) keeps what the later steps
   need: the records' ids and the e-mails and names to remove; then the erasure is recorded as started
   and the person is put on the suppression list (``crm_ops.suppression``), before anything is deleted:
   from then on no apply, undo, sync or pull brings them back;
3. each CRM deletes the person's records through its own permanent path (``Connector.erase``: HubSpot's
   GDPR delete; Salesforce's delete and the recycle bin emptied for those ids), journaled under the plan
   ``erase-<id>`` (ids and outcomes only, never values); records that only mention the person (a deal
   named after them) are read again: what the CRM did not delete with the person is named;
4. our own copies are purged (``crm_ops.erasure.purge``: every snapshot generation, findings, matches,
   plans and review files, reports, logs, journal values, the state file's freed pages);
5. every byte under the state dir is searched for the e-mails and names (``find_traces``);
6. the certificate (``erasures/<id>/certificate.json``): every place erased with its counts, what is
   left to do and by whom (a source's owner, a record the CRM kept), never the values.

The sources (billing, product data) are read-only to crm_ops: their records of the person are named in
the certificate for their owners, and left out of every later pull of ours.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from crm_ops import durable
from crm_ops.config import Profile
from crm_ops.connectors.base import Connector
from crm_ops.erasure.find import CRMS, FoundRecord, Person, all_values, find_people
from crm_ops.erasure.purge import Trace, find_traces, purge_state
from crm_ops.erasure.subjects import Subject
from crm_ops.exitcodes import ExitCode
from crm_ops.locks import RunLock, plan_lock
from crm_ops.pull import connect
from crm_ops.state import State
from crm_ops.suppression import EMAIL, ID, Suppression

log = structlog.get_logger("crm_ops.erasure")
FOLDER = "erasures"
WORK = "work.json"
CERTIFICATE = "certificate.json"
FORMAT = "crm_ops.erasure_certificate"


@dataclass
class Erasure:
    """What ``erase`` found and, writing, did: the people, each CRM record's outcome, the purge's counts,
    the places still holding a value (``traces``: none when all went well) and what is left to do
    (``left``: each a line for a person). A dry run only finds."""

    erasure_id: str
    people: list[Person]
    dry_run: bool
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    purged: dict[str, Any] = field(default_factory=dict)
    traces: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    certificate: Path | None = None
    resumed: list[str] = field(default_factory=list)  # unfinished erasures finished first

    @property
    def exit_code(self) -> ExitCode:
        """``FAILED`` (7) when something is left for a person (a CRM refused, the recycle bin could not be
        emptied, a source or a record the CRM kept holds the person, a trace left), else ``OK``."""
        return ExitCode.FAILED if self.left else ExitCode.OK


def _records(people: Sequence[Person]) -> list[FoundRecord]:
    seen: dict[tuple[str, str, str], FoundRecord] = {}
    for person in people:
        for record in person.records:
            seen.setdefault((record.system, record.entity, record.record_id), record)
    return list(seen.values())


def _digests(suppression: Suppression, people: Sequence[Person]) -> dict[str, str]:
    out: dict[str, str] = {}
    for person in people:
        for email in person.emails:
            out[suppression.email(email)] = EMAIL
        # a source's records of theirs and those naming them: a source is read-only to us, so its rows
        # are left out of our pulls from now on (a CRM's mention is edited there, and pulled again then)
        for record in (*person.records, *(m for m in person.mentions if m.source)):
            out[suppression.record(record.system, record.record_id)] = ID
        subject = person.subject
        if subject.system and subject.record_id:
            out[suppression.record(subject.system, subject.record_id)] = ID
    return out


def _locks(stack: ExitStack, profile: Profile) -> None:
    """The run's lock, and every plan's (no apply or undo may be writing while the person is erased)."""
    lock = RunLock(profile.state_dir / "run.lock", "another run or erasure")
    lock.acquire()
    stack.callback(lock.release)
    for path in sorted((profile.state_dir / "locks").glob("plan-*.lock")):
        stack.enter_context(plan_lock(profile.state_dir, path.stem.removeprefix("plan-")))


def erase(
    profile: Profile,
    subjects: Sequence[Subject],
    *,
    write: bool = False,
    reference: str | None = None,
    connector: Callable[[str], Connector] | None = None,
) -> Erasure:
    """Erase ``subjects`` (a dry run, which only finds and shows, unless ``write``); an unfinished
    erasure is finished first. ``connector``: the CRMs' connectors (default: the profile's)."""
    state = State(profile.state_dir / "state.sqlite")
    opened: dict[str, Connector] = {}

    def conn(system: str) -> Connector:
        if connector is not None:
            return connector(system)
        if system not in opened:
            opened[system] = connect(profile, system)
        return opened[system]

    try:
        if not write:
            people = find_people(state, subjects, profile.all_systems())
            return Erasure("dry-run", people, dry_run=True)
        with ExitStack() as stack:
            _locks(stack, profile)
            resumed, left = _resume(profile, state, conn)
            if not subjects:
                return Erasure("resume", [], dry_run=False, left=left, resumed=resumed)
            people = find_people(state, subjects, profile.all_systems())
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            work = _Work(f"{stamp}-{uuid.uuid4().hex[:8]}", reference, people, len(subjects))
            durable.private_dir(profile.state_dir / FOLDER / work.erasure_id)
            durable.write_text(_work_path(profile, work.erasure_id), json.dumps(work.as_json()))
            done = _carry_out(profile, state, work, conn)
            done.resumed, done.left = resumed, [*left, *done.left]
            return done
    finally:
        for c in opened.values():
            c.close()
        state.close()


@dataclass
class _Work:
    """What an erasure's later steps need, kept in its working file until the certificate is written."""

    erasure_id: str
    reference: str | None
    people: list[Person]
    subjects: int

    def as_json(self) -> dict[str, Any]:
        return {
            "erasure_id": self.erasure_id,
            "reference": self.reference,
            "subjects": self.subjects,
            "people": [
                {
                    "subject": asdict(p.subject),
                    "records": [asdict(r) for r in p.records],
                    "mentions": [asdict(r) for r in p.mentions],
                    "emails": sorted(p.emails),
                    "names": sorted(p.names),
                }
                for p in self.people
            ],
        }


def _work_path(profile: Profile, erasure_id: str) -> Path:
    return profile.state_dir / FOLDER / erasure_id / WORK


def _load_work(profile: Profile, erasure_id: str) -> _Work:
    raw = json.loads(_work_path(profile, erasure_id).read_text())
    people = [
        Person(
            Subject(**p["subject"]),
            records=[FoundRecord(**r) for r in p["records"]],
            emails=set(p["emails"]),
            names=set(p["names"]),
            mentions=[FoundRecord(**r) for r in p["mentions"]],
        )
        for p in raw["people"]
    ]
    return _Work(raw["erasure_id"], raw["reference"], people, int(raw.get("subjects", len(people))))


def _resume(profile: Profile, state: State, conn: Callable[[str], Connector]) -> tuple[list[str], list[str]]:
    """Finish every erasure a kill left unfinished: those recorded started, and a working file written
    just before the kill (the erasure not yet recorded); their ids, and what each left for a person."""
    started = [e["erasure_id"] for e in state.erasures(unfinished=True)]
    written = sorted(p.parent.name for p in (profile.state_dir / FOLDER).glob(f"*/{WORK}"))
    resumed, left = [], []
    for erasure_id in dict.fromkeys([*started, *written]):
        if not _work_path(profile, erasure_id).exists():
            state.finish_erasure(erasure_id, {"working_file": "missing"})
            left.append(f"erasure {erasure_id}: its working file is gone; erase its subjects again")
            continue
        done = _carry_out(profile, state, _load_work(profile, erasure_id), conn)
        resumed.append(erasure_id)
        left += [f"erasure {erasure_id}: {line}" for line in done.left]
    return resumed, left


def _carry_out(profile: Profile, state: State, work: _Work, conn: Callable[[str], Connector]) -> Erasure:
    """Every step after the working file, each safe to run again: the erasure recorded and the person
    suppressed, the CRMs' deletes, the purge, the search, the certificate."""
    state.start_erasure(work.erasure_id, work.reference, work.subjects)
    state.suppress(work.erasure_id, _digests(Suppression(state.suppression_key()), work.people))
    done = Erasure(work.erasure_id, work.people, dry_run=False)
    plan_id = f"erase-{work.erasure_id}"
    journal = state.journal(plan_id)
    records = _records(work.people)
    groups: dict[tuple[str, str], list[FoundRecord]] = {}
    for record in records:
        if record.deletable:
            groups.setdefault((record.system, record.entity), []).append(record)
        elif record.source:
            done.left.append(
                f"{record.system} {record.entity} {record.record_id} holds the person: {record.system} is a "
                "source crm_ops only reads; its owner erases it there (left out of our pulls from now on)"
            )
    for (system, entity), group in sorted(groups.items()):
        todo = [r for r in group if (journal.get(_action(r)) or {}).get("status") != "done"]
        done.outcomes += [
            {
                "system": system,
                "entity": entity,
                "record_id": r.record_id,
                "status": "done",
                "hard_deleted": not journal[_action(r)]["error"],  # its note: deleted, not emptied
            }
            for r in group
            if r not in todo
        ]
        done.left += [
            f"{system} {entity} {r.record_id}: deleted, but not permanently "
            f"({journal[_action(r)]['error']}): empty it in the CRM"
            for r in group
            if r not in todo and journal[_action(r)]["error"]
        ]
        if not todo:
            continue
        entries = [_entry(r, "pending") for r in todo]
        state.record_actions(plan_id, entries)
        results = conn(system).erase(entity, [r.record_id for r in todo])
        finished = []
        for record, result in zip(todo, results, strict=True):
            hard = bool(result.extra.get("hard_deleted", result.ok))
            error = result.error if not result.ok else (None if hard else result.extra.get("note"))
            finished.append(_entry(record, "done" if result.ok else "failed", error=error))
            status = "done" if result.ok else "failed"
            done.outcomes.append(
                {
                    "system": system,
                    "entity": entity,
                    "record_id": record.record_id,
                    "status": status,
                    "hard_deleted": hard and result.ok,
                }
            )
            if not result.ok:
                done.left.append(
                    f"{system} {entity} {record.record_id}: the CRM refused the delete: {result.error}"
                )
            elif not hard:
                done.left.append(
                    f"{system} {entity} {record.record_id}: deleted, but not permanently "
                    f"({result.extra.get('note') or 'the recycle bin was not emptied'}): empty it in the CRM"
                )
        state.record_actions(plan_id, finished)
    done.left += _kept_mentions(work.people, conn)
    done.left += [
        f"{m.system} {m.entity} {m.record_id} mentions the person ({m.how.removeprefix('mention ')}): "
        f"{m.system} is a source crm_ops only reads; its owner edits it there (our copy is redacted, and "
        "the record left out of our pulls from now on)"
        for person in work.people
        for m in person.mentions
        if m.source
    ]
    values = all_values(work.people)
    trace = Trace(ids=frozenset(r.record_id for r in records), values=values)
    work_file = _work_path(profile, work.erasure_id)
    purged = purge_state(profile.state_dir, state, trace, keep=[work_file])
    done.purged = {k: v for k, v in purged.summary().items() if k != "problems"}
    done.left += [f"our state: {p}" for p in purged.problems]
    done.traces = [t for t in find_traces(profile.state_dir, values) if _not_work(t, work_file, profile)]
    done.left += [f"our state: a trace is left in {t}" for t in done.traces]
    done.certificate = _certify(profile, state, work, done)
    state.finish_erasure(work.erasure_id, {"left": len(done.left), "records": len(done.outcomes)})
    work_file.unlink(missing_ok=True)
    log.info("erase.done", erasure_id=work.erasure_id, records=len(done.outcomes), left=len(done.left))
    return done


def _not_work(trace: str, work_file: Path, profile: Profile) -> bool:
    """Whether a trace (a place under the state dir, as ``find_traces`` names it) is not the erasure's
    own working file, which holds the values until the certificate is written."""
    return not trace.startswith(str(work_file.relative_to(profile.state_dir)))


def _action(record: FoundRecord) -> str:
    return f"erase:{record.system}:{record.entity}:{record.record_id}"


def _entry(record: FoundRecord, status: str, error: str | None = None) -> dict[str, Any]:
    return {
        "action_id": _action(record),
        "system": record.system,
        "entity": record.entity,
        "record_id": record.record_id,
        "field": None,
        "before": None,
        "after": None,
        "status": status,
        "error": error,
    }


def _kept_mentions(people: Sequence[Person], conn: Callable[[str], Connector]) -> list[str]:
    """The CRM records that mention a person (a deal named after them) and still do after the deletes:
    each named for a person to edit (the CRM may have deleted or cleared others with the person)."""
    left = []
    for person in people:
        values = [v.lower() for v in (*person.emails, *person.names)]
        by_entity: dict[tuple[str, str], list[FoundRecord]] = {}
        for m in person.mentions:
            if m.system in CRMS:
                by_entity.setdefault((m.system, m.entity), []).append(m)
        for (system, entity), mentions in sorted(by_entity.items()):
            frame = conn(system).read(entity, [m.record_id for m in mentions])
            for row in frame.iter_rows(named=True):
                if row.get("is_deleted"):
                    continue
                columns = [
                    k for k, v in row.items() if isinstance(v, str) and any(x in v.lower() for x in values)
                ]
                if columns:
                    left.append(
                        f"{system} {entity} {row['id']} still mentions the person in {', '.join(columns)}: "
                        "edit it in the CRM"
                    )
    return left


def _certify(profile: Profile, state: State, work: _Work, done: Erasure) -> Path:
    """Write the certificate: counts by place, what is left and for whom, the subjects by their request
    reference and keyed digest; never a value."""
    suppression = Suppression(state.suppression_key())
    crm: dict[str, dict[str, int]] = {}
    for o in done.outcomes:
        counts = crm.setdefault(
            f"{o['system']}.{o['entity']}", {"deleted": 0, "hard_deleted": 0, "failed": 0}
        )
        counts["deleted" if o["status"] == "done" else "failed"] += 1
        counts["hard_deleted"] += bool(o["hard_deleted"])
    subjects = []
    for person in work.people:
        s = person.subject
        digest = (
            suppression.email(s.email) if s.email else suppression.record(s.system or "", s.record_id or "")
        )
        by_place: dict[str, int] = {}
        for r in person.records:
            by_place[f"{r.system}.{r.entity}"] = by_place.get(f"{r.system}.{r.entity}", 0) + 1
        subjects.append(
            {
                "request": s.label,
                "reference": s.reference,
                "digest": digest,
                "records": by_place,
                "mentions": len(person.mentions),
                "found": person.found,
            }
        )
    certificate = {
        "format": FORMAT,
        "version": 1,
        "erasure_id": work.erasure_id,
        "profile": profile.name,
        "reference": work.reference,
        "finished_at": datetime.now(UTC).isoformat(),
        "subjects": subjects,
        "crms": crm,
        "our_state": done.purged,
        "verification": {"searched": "every file under the state dir", "traces_left": len(done.traces)},
        "left": done.left,
        "suppression": "each e-mail and record id is on the suppression list (keyed digests): no apply, "
        "undo, sync or pull brings the person back",
        "complete": not done.left,
    }
    path = profile.state_dir / FOLDER / work.erasure_id / CERTIFICATE
    durable.write_text(path, json.dumps(certificate, indent=2, sort_keys=True) + "\n")
    return path
