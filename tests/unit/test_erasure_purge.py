"""The purge of an erased person from crm_ops' own state (issue 31): every kind of file under a state dir
and the state file rewritten without them, the others' data left as it was, nothing left that
``find_traces`` finds (escaped, upper-case, compressed or in a freed page), a second purge a no-op, a
purge killed midway finished by the next, and undo refusing what the erasure took."""

from __future__ import annotations

import errno
import functools
import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops import durable
from crm_ops import state as state_module
from crm_ops.erasure import purge as purge_module
from crm_ops.erasure.purge import Trace, find_traces, purge_state
from crm_ops.plan.apply import erased_refusals, undo_plan
from crm_ops.plan.format import Action, Header, Plan, read_plan
from crm_ops.plan.reviewfile import read_review_file
from crm_ops.plan.writing import write_plan
from crm_ops.state import State

ERASED_ON = datetime(2026, 12, 1, 9, tzinfo=UTC)
OLD = datetime(2026, 1, 2, tzinfo=UTC)
PERSON, TWIN = "0038d000000PERSONA", "90001"  # their Salesforce contact and HubSpot contact
OTHER, BOSS = "0038d000000OTHERAA", "0038d000000BOSSAAA"
EMAIL, NAME, PHONE = "Zoe.OBrien@Example.com", "Zoë O'Brien", "+44 20 7946 0958"
TRACE = Trace(frozenset({PERSON, TWIN}), frozenset({EMAIL, NAME, PHONE}))


def _contacts(generation: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [PERSON, OTHER, BOSS],
            "first_name": ["Zoë", "Joann", "Max"],
            "last_name": ["O'Brien", "Leeds", "Boss"],
            "full": [NAME.upper() if generation == 2 else NAME, "Joann Leeds", "Max Boss"],
            "email": [EMAIL.lower(), "joann.zoe.obrien@example.com", f"max{generation}@example.com"],
            "phone": [PHONE, "+44 20 7946 0000", None],
            "reports_to_id": [None, PERSON, OTHER],  # a lookup to the person: cleared
            "notes": [None, f"met {NAME} at the fair", "call back"],
            "additional_emails": [[EMAIL], ["joann@example.com", EMAIL.upper()], []],
            "address": [{"street": "1 Erased Rd", "contact": PHONE}, {"street": "2 Kept St", "contact": None},
                        None],
            "linked_id": [TWIN, None, None],
            "n": [1, 2, 3],
        }
    )  # fmt: skip


def _stamp(path: Path, when: datetime = OLD) -> Path:
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return _stamp(path)


def _parquet(path: Path, frame: pl.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    return _stamp(path)


def _action(kind: str, record_id: str, **values: Any) -> Action:
    base = {"field": "email", "seen_value": None, "proposed_value": None, "rule": "person.email.normalised",
            "severity": "warning", "confidence": 0.99, "reason": "lower-case", "approved": True}  # fmt: skip
    return Action(kind=kind, system="salesforce", entity="Contact", record_id=record_id,
                  **{**base, **values}).with_id()  # fmt: skip


def _plan() -> Plan:
    actions = (
        _action("merge", PERSON, field=None, proposed_value=OTHER, rule="match.duplicate", label=NAME,
                other_label="Joann Leeds", approved=False,
                detail={"values": [{"field": "phone", "value": PHONE, "from": [PERSON]}]}),
        _action("merge", BOSS, field=None, proposed_value=OTHER, rule="match.duplicate", label="Max Boss",
                other_label="Joann Leeds", approved=False,
                detail={"fingerprints": {PERSON: "ab", BOSS: "cd"}}),
        _action("update", OTHER, seen_value="Joann@x.com", proposed_value="joann@x.com",
                label=f"Joann Leeds (assistant to {NAME})"),
        _action("update", BOSS, field="assistant", seen_value=None, proposed_value=NAME, label="Max Boss"),
        _action("update", BOSS, field="title", seen_value="ceo", proposed_value="CEO", label="Max Boss"),
    )  # fmt: skip
    return Plan(Header(plan_id="20261130T000000-abcdef", created_at="2026-11-30", profile="p"), actions)


def _state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, State, Plan]:
    root = tmp_path / "state"
    state = State(root / "state.sqlite")
    for g in (1, 2, 3):  # every generation, not only the current
        _parquet(root / "snapshots" / "salesforce" / "Contact" / f"g{g}.parquet", _contacts(g))
    _parquet(root / "pulls" / "p9" / "part-00001.parquet", _contacts(3).head(1))  # an unfinished pull
    finding = {"rule": "person.email.normalised", "record_id": PERSON, "current_value": EMAIL, "message": "x",
               "proposed_value": EMAIL.lower(), "detail": None}  # fmt: skip
    findings = pl.DataFrame(
        [
            finding,
            {**finding, "record_id": OTHER, "message": f"duplicates contact {PERSON}", "current_value": "a"},
            {**finding, "record_id": BOSS, "current_value": f"{NAME}'s boss", "proposed_value": "b"},
            {**finding, "record_id": BOSS, "current_value": "c", "proposed_value": "d",
             "detail": json.dumps({"survivor": TWIN})},
            {**finding, "record_id": OTHER, "current_value": "kept", "proposed_value": f"x {EMAIL}"},
            {**finding, "record_id": OTHER, "current_value": "kept", "proposed_value": "kept"},
        ]
    )  # fmt: skip
    _parquet(root / "findings" / "20261130T000000.parquet", findings)
    pairs = pl.DataFrame({"left_id": [PERSON, OTHER], "right_id": [BOSS, BOSS], "score": [0.9, 0.8]})
    _parquet(root / "match" / "20261130T000000" / "duplicates.parquet", pairs)
    plan = _plan()
    folder = root / "plans" / plan.header.plan_id
    write_plan(plan, folder)
    for name in ("plan.jsonl", "plan.csv"):
        _stamp(folder / name)
    report = {"plan_id": plan.header.plan_id, "counts": {"done": 3},
              "failed": {"INVALID": [{"record_id": PERSON, "error": "bad"},
                                     {"record_id": BOSS, "error": "x"}]},
              "edited": [{"action_id": "a1", "value": EMAIL.upper()}]}  # fmt: skip
    _write(folder / "reports" / "apply-20261130T010000.json", json.dumps(report, indent=2))
    run = root / "runs" / "20261130T020000-aaaaaa"
    _write(run / "summary.json", json.dumps({"notices": [f"refused {NAME}", "fine"], "exit_code": 1}))
    page = f"<p>Zo&#235; O&#x27;Brien</p><td>ZOË O&#39;BRIEN</td><a href='https://x/r/Contact/{PERSON}/view'>x</a>"
    _write(run / "report.html", f"<html><body>{page}<p>Joann Leeds</p></body></html>\n")
    log_lines = [
        {"event": "apply.failed", "record_id": PERSON, "run_id": "r"},
        {"event": "apply.note", "message": f"value {json.dumps(EMAIL)[1:-1]} refused", "run_id": "r"},
        {"event": "run.done", "run_id": "r"},
    ]
    _write(run / "run.log", "".join(json.dumps(line, ensure_ascii=True) + "\n" for line in log_lines))
    _write(run / "plan.jsonl", (folder / "plan.jsonl").read_text())
    _write(root / "run.lock", json.dumps({"pid": 1, "command": f"crm-ops erase {EMAIL}"}))
    _write(root / "snapshots" / "salesforce" / "Contact" / "g4.parquet.tmp", f"partial {PHONE}")
    # the state file: an applied plan, pairs, marks, statistics
    monkeypatch.setattr(state_module, "now", lambda: datetime(2026, 11, 30, tzinfo=UTC))
    entries: list[dict[str, Any]] = [
        {"action_id": plan.actions[0].action_id, "system": "salesforce", "entity": "Contact",
         "record_id": PERSON, "field": None, "before": json.dumps({"record": {"Email": EMAIL, "Name": NAME}}),
         "after": OTHER, "status": "done"},
        {"action_id": plan.actions[2].action_id, "system": "salesforce", "entity": "Contact",
         "record_id": OTHER, "field": "email", "before": "Joann@x.com", "after": "joann@x.com",
         "status": "done"},
        {"action_id": plan.actions[3].action_id, "system": "salesforce", "entity": "Contact",
         "record_id": BOSS, "field": "assistant", "before": None, "after": NAME, "status": "done"},
        {"action_id": plan.actions[4].action_id, "system": "salesforce", "entity": "Contact",
         "record_id": BOSS, "field": "title", "before": "ceo", "after": "CEO", "status": "failed",
         "error": f"INVALID: {EMAIL} is taken"},
    ]  # fmt: skip
    state.record_actions(plan.header.plan_id, entries)
    pair = {"system": "salesforce", "entity": "Contact", "record_id": PERSON, "other_id": OTHER}
    state.remember_rejections("p0", [{**pair, "record_print": "a", "other_print": "b"}])
    state.remember_rejections("p0", [{**pair, "record_id": BOSS, "record_print": "a", "other_print": "b"}])
    state.remember_verdicts("p0", [{**pair, "record_id": OTHER, "other_id": TWIN, "verdict": "duplicate"}])
    state.add_mark({"kind": "mute", "rule": "r", "system": "salesforce", "record_id": PERSON, "note": "n",
                    "created_at": "2026-11-30"})  # fmt: skip
    state.add_mark({"kind": "mute", "rule": "r", "system": "salesforce", "record_id": OTHER,
                    "note": f"same person as {NAME.upper()}", "created_at": "2026-11-30"})  # fmt: skip
    stats = {"columns": {"full": {"top": {"Zo\u00eb O'Brien": 0.5, "Max Boss": 0.5}}}}
    state.db.execute(
        "INSERT INTO entity_stats (pull_id, system, entity, taken_at, stats) VALUES ('p', 's', 'e', 't', ?)",
        (json.dumps(stats),),  # ASCII-escaped JSON: the value is only there once decoded
    )
    monkeypatch.setattr(state_module, "now", lambda: ERASED_ON)
    return root, state, plan


def _mtimes(root: Path) -> dict[Path, tuple[int, bytes]]:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}


def test_the_person_is_gone_from_every_file_and_the_others_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, state, plan = _state_dir(tmp_path, monkeypatch)
    (root / "notes.bin").write_bytes(b"\x00\x01" + EMAIL.upper().encode() + b"\x00")  # a kind not rewritten
    contacts = root / "snapshots" / "salesforce" / "Contact"
    before = {g: pl.read_parquet(contacts / f"g{g}.parquet") for g in (1, 2, 3)}
    places = find_traces(root, TRACE.values)
    for expected in (
        "snapshots/salesforce/Contact/g1.parquet: column email",
        "snapshots/salesforce/Contact/g2.parquet: column full",  # upper-case
        "snapshots/salesforce/Contact/g3.parquet: column additional_emails",  # a list column
        "snapshots/salesforce/Contact/g3.parquet: column address",  # a struct column
        "state.sqlite: table entity_stats column stats",  # only once the JSON is decoded
        "runs/20261130T020000-aaaaaa/report.html line 1",  # HTML-escaped
        "runs/20261130T020000-aaaaaa/run.log line 2",  # JSON-escaped
        "run.lock line 1",  # the holder's command line
        "notes.bin: raw bytes near byte 2",
    ):
        assert expected in places, (expected, places)
    assert not any(v in p for p in places for v in (EMAIL, NAME, PHONE))  # places, never the values

    lock = (root / "run.lock").stat().st_ino
    purged = purge_state(root, state, TRACE)

    assert (root / "run.lock").stat().st_ino == lock  # rewritten in place: a holder's lock stays on it
    assert purged.problems == [
        "notes.bin: holds an erased value in a kind of file crm_ops does not rewrite: delete it or erase "
        "the value by hand"
    ]
    (root / "notes.bin").unlink()
    state.close()
    assert find_traces(root, TRACE.values) == []
    # the others' rows keep their place and values; a lookup to the person is cleared, their values in
    # another's text replaced, another person's look-alike address untouched
    for g, frame in before.items():
        after = pl.read_parquet(contacts / f"g{g}.parquet")
        kept = frame.filter(pl.col("id") != PERSON)
        assert after.drop("reports_to_id", "notes", "additional_emails").equals(
            kept.drop("reports_to_id", "notes", "additional_emails")
        )
        assert after["reports_to_id"].to_list() == [None, OTHER]
        assert after["notes"].to_list() == ["met [erased] at the fair", "call back"]
        assert after["additional_emails"].to_list() == [["joann@example.com", "[erased]"], []]
        assert after["email"][0] == "joann.zoe.obrien@example.com"
    assert (
        not (root / "pulls" / "p9" / "part-00001.parquet").exists()
        or pl.read_parquet(root / "pulls" / "p9" / "part-00001.parquet").is_empty()
    )
    assert not (root / "snapshots" / "salesforce" / "Contact" / "g4.parquet.tmp").exists()
    # derived data: rows naming the person (a message, a JSON detail) or writing their value go
    findings = pl.read_parquet(root / "findings" / "20261130T000000.parquet")
    assert findings.select("record_id", "current_value", "proposed_value").rows() == [
        (BOSS, "[erased]'s boss", "b"),
        (OTHER, "kept", "kept"),
    ]
    pairs = pl.read_parquet(root / "match" / "20261130T000000" / "duplicates.parquet")
    assert pairs["left_id"].to_list() == [OTHER]
    # the plan: the person's merge, a merge naming them in its detail, a write of their name: gone; a
    # label with their name: replaced; plan.csv still held to its plan
    folder = root / "plans" / plan.header.plan_id
    kept_plan = read_plan(folder / "plan.jsonl")
    assert [a.action_id for a in kept_plan.actions] == [plan.actions[2].action_id, plan.actions[4].action_id]
    assert kept_plan.actions[0].label == "Joann Leeds (assistant to [erased])"
    review = read_review_file(folder / "plan.csv", kept_plan)
    assert set(review.answers) == {a.action_id for a in kept_plan.actions}
    report = json.loads((folder / "reports" / "apply-20261130T010000.json").read_text())
    assert report["failed"] == {"INVALID": [{"record_id": BOSS, "error": "x"}]}
    assert report["edited"] == [{"action_id": "a1", "value": "[erased]"}]
    run = root / "runs" / "20261130T020000-aaaaaa"
    lines = [json.loads(line) for line in (run / "run.log").read_text().splitlines()]
    assert [line["event"] for line in lines] == ["apply.note", "run.done"]
    assert lines[0]["message"] == "value [erased] refused"
    assert json.loads((run / "summary.json").read_text())["notices"] == ["refused [erased]", "fine"]
    page = (run / "report.html").read_text()
    assert "Joann Leeds" in page and PERSON not in page and page.count("[erased]") == 3
    # the state file: the person's journal entry without values; another's write of their name too
    state = State(root / "state.sqlite")
    journal = state.journal(plan.header.plan_id)
    erased = {e["action_id"]: e for e in state.erased(plan.header.plan_id)}
    assert set(erased) == {plan.actions[0].action_id, plan.actions[3].action_id}
    assert all(e["erased_at"] == ERASED_ON for e in erased.values())
    assert journal[plan.actions[0].action_id]["before"] is None
    assert journal[plan.actions[0].action_id]["after"] is None
    assert journal[plan.actions[2].action_id]["before"] == "Joann@x.com"  # another's, untouched
    assert journal[plan.actions[4].action_id]["error"] == "INVALID: [erased] is taken"
    assert [r["record_id"] for r in state.rejections()] == [BOSS]
    assert state.verdicts() == []
    assert [m["record_id"] for m in state.marks()] == [OTHER]
    assert state.marks()[0]["note"] == "same person as [erased]"
    assert purged.journal_erased == 1 and purged.journal_redacted == 2  # the write of their name, an error
    assert (purged.decisions_deleted, purged.verdicts_deleted, purged.marks_deleted) == (1, 1, 1)
    assert purged.places["snapshots"].files == 3 and purged.places["snapshots"].rows == 3
    assert purged.places["temporary files"].rows == 1
    assert purged.places["review files"].files == 1 and purged.places["plans"].files == 2
    assert not any(v in json.dumps(purged.summary()) for v in (EMAIL, NAME, PHONE, PERSON))

    # a second purge finds nothing to do and writes nothing
    held = _mtimes(root)
    again = purge_state(root, state, TRACE)
    assert not again.changed and again.problems == []
    assert {p: v for p, v in _mtimes(root).items() if p.name.startswith("state.sqlite") is False} == {
        p: v for p, v in held.items() if p.name.startswith("state.sqlite") is False
    }
    state.close()


def test_undo_refuses_what_the_erasure_took_and_undoes_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, state, plan = _state_dir(tmp_path, monkeypatch)
    one_at_a_time = functools.partial(state_module._journal_rows, chunk=1)  # a long journal, read in chunks
    monkeypatch.setattr(state_module, "_journal_rows", one_at_a_time)
    purge_state(root, state, TRACE)
    reverse = undo_plan(state, plan)  # the plan as applied (its erased actions included)
    assert [a.record_id for a in reverse.actions] == [OTHER]  # the other's update; never "[erased]" back
    assert reverse.actions[0].proposed_value == "Joann@x.com"
    refused = erased_refusals(state, plan.header.plan_id)
    assert [(r["record_id"], r["status"]) for r in refused] == [(PERSON, "failed"), (BOSS, "failed")]
    assert refused[0]["error"].startswith("ERASED: the record's journaled values were erased on 2026-12-01")
    state.close()


def test_a_purge_killed_midway_is_finished_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, state, _ = _state_dir(tmp_path, monkeypatch)
    real = purge_module._purge_file
    done: list[Path] = []

    def dies_on_the_sixth(path: Path, *args: Any) -> None:
        if len(done) == 5:
            raise KeyboardInterrupt  # a kill: nothing after it runs
        real(path, *args)
        done.append(path)

    monkeypatch.setattr(purge_module, "_purge_file", dies_on_the_sixth)
    with pytest.raises(KeyboardInterrupt):
        purge_state(root, state, TRACE)
    assert find_traces(root, TRACE.values)  # half done
    assert not list(root.rglob("*.tmp.tmp"))
    monkeypatch.setattr(purge_module, "_purge_file", real)
    purged = purge_state(root, state, TRACE)
    assert purged.problems == [] and purged.changed
    state.close()
    assert find_traces(root, TRACE.values) == []


def test_a_value_too_short_to_look_for_is_refused_and_nothing_is_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, state, _ = _state_dir(tmp_path, monkeypatch)
    held = _mtimes(root / "snapshots")
    with pytest.raises(ValueError, match="1 identifying value") as caught:
        purge_state(root, state, Trace(frozenset({PERSON}), frozenset({EMAIL, "Zo"})))
    assert "Zo" not in str(caught.value)
    assert _mtimes(root / "snapshots") == held
    state.close()


def test_a_file_that_cannot_be_rewritten_is_named_and_the_rest_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, state, _ = _state_dir(tmp_path, monkeypatch)
    (root / "runs" / "broken.csv").write_text('a,b\n"unclosed,1\n', encoding="utf-8")  # no person: no problem
    real = durable.replace_durably

    def full_disk(tmp: Path, path: Path) -> None:
        if path.name == "summary.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(tmp, path)

    monkeypatch.setattr(durable, "replace_durably", full_disk)
    purged = purge_state(root, state, TRACE)
    assert purged.problems == [
        "runs/20261130T020000-aaaaaa/summary.json: could not be rewritten (No space left on device)"
    ]
    state.close()
    assert find_traces(root, TRACE.values) == ["runs/20261130T020000-aaaaaa/summary.json line 1"]


def test_a_state_file_from_before_erasure_gets_its_column(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with sqlite3.connect(path) as db:  # the journal as crm_ops wrote it before issue 31
        db.execute(
            "CREATE TABLE journal (plan_id TEXT NOT NULL, action_id TEXT NOT NULL, system TEXT NOT NULL, "
            "entity TEXT NOT NULL, record_id TEXT NOT NULL, field TEXT, before TEXT, after TEXT, "
            "status TEXT NOT NULL, error TEXT, updated_at TEXT NOT NULL, PRIMARY KEY (plan_id, action_id))"
        )
        db.execute(
            "INSERT INTO journal VALUES ('p', 'a', 'salesforce', 'Contact', ?, 'email', ?, 'x', 'done', "
            "NULL, '2026-01-01')",
            (PERSON, EMAIL),
        )
    db.close()
    state = State(path)
    assert state.erased("p") == []
    state.erase({PERSON}, lambda text: text)
    assert [e["record_id"] for e in state.erased("p")] == [PERSON]
    assert state.journal("p")["a"]["before"] is None
    state.close()
