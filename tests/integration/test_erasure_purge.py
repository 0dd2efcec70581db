"""The purge of an erased person from real state built on the sandbox (issue 31): three pulls and runs
(three snapshot generations, run reports and logs), a match, a plan merging the person's HubSpot copy into
their contact, applied with another person's fix; after ``purge_state`` no trace of their e-mails, name
or phone is left under the state dir, the others' rows are as they were, plan.csv is still accepted by
apply's contract, and undo refuses the erased merge (exit 7, ERASED) and undoes the rest, never creating
the person again."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from crm_ops import csvio
from crm_ops.api import open_profile
from crm_ops.erasure.purge import Trace, find_traces, purge_state
from crm_ops.exitcodes import ExitCode
from crm_ops.plan.format import read_plan
from crm_ops.plan.reviewfile import read_review_file
from crm_ops.pull import KEEP_SNAPSHOTS
from crm_ops.sandbox.server import Sandbox
from crm_ops.state import State
from tests.applying import journal_of, type_in_hubspot_duplicates
from tests.command import crm_ops
from tests.pulling import fast_sandbox, profile_for

pytestmark = pytest.mark.integration
RUN = """
[profiles.sandbox.run]
auto_apply = ["person.email.normalised"]
min_confidence = 0.95
"""


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(600, 61) as sb:
        type_in_hubspot_duplicates(sb, 3)  # the same people typed in twice: merges to plan
        yield sb


def _hubspot_people(box: Sandbox, emails: set[str]) -> int:
    contacts = box.hubspot.objects["contacts"].frame()
    wanted = [e.lower() for e in emails]
    return contacts.filter(~pl.col("archived") & pl.col("email").str.to_lowercase().is_in(wanted)).height


def test_an_erased_person_leaves_no_trace_and_undo_refuses_only_their_entries(
    box: Sandbox, tmp_path: Path
) -> None:
    profile_for(box, tmp_path, extra=RUN)
    config = tmp_path / "crm-ops.toml"
    env = {**os.environ, **box.env}
    for _ in range(3):  # three pulls: three generations of every snapshot, three run folders
        done = crm_ops("run", "-c", config, env=env)
        assert done.returncode in (0, 1), done.stderr
    ws = open_profile(config, "sandbox")
    ws.match()
    planned = ws.plan()
    merge = next(
        a
        for a in planned.plan.actions
        if (a.kind, a.system, a.entity, a.rule) == ("merge", "hubspot", "Contact", "match.duplicate")
    )
    other = next(
        a
        for a in planned.plan.actions
        if a.kind == "update" and a.record_id not in (merge.record_id, merge.proposed_value)
    )
    # the person: the merged-away copy, its survivor, and their Salesforce twin by e-mail
    state_dir = tmp_path / "state"
    state = State(state_dir / "state.sqlite")
    hs = state.current("hubspot", "Contact").snapshot.read()  # type: ignore[union-attr]
    sf = state.current("salesforce", "Contact").snapshot.read()  # type: ignore[union-attr]
    state.close()
    records = hs.filter(pl.col("id").is_in([merge.record_id, merge.proposed_value]))
    assert records.height == 2
    emails = {e for e in records["email"].to_list() if e}
    person = records.filter(pl.col("id") == merge.proposed_value).row(0, named=True)
    twins = sf.filter(pl.col("email").str.to_lowercase().is_in([e.lower() for e in emails]))["id"].to_list()
    ids = frozenset({merge.record_id, merge.proposed_value, *twins})
    values = frozenset({*emails, f"{person['first_name']} {person['last_name']}", person["phone"]} - {None})

    # a person reviews: the person's merge and another's fix approved, the rest left undecided
    table = csvio.read_file(planned.review_file)
    chosen = {merge.action_id, other.action_id}
    answer = {r.get("action_id"): "yes" if r.get("action_id") in chosen else "" for r in table}
    rows = [[answer[r.get("action_id")] if c == "approve" else r.get(c) for c in table.header] for r in table]
    csvio.write_file(planned.review_file, table.header, rows, neutralise_values=False)
    applied = ws.apply(planned.folder, review=planned.review_file, write=True)
    journal = journal_of(tmp_path, planned.plan.header.plan_id)
    assert journal[merge.action_id]["status"] == "done" and journal[other.action_id]["status"] == "done"
    assert applied.report_file.exists()
    people_after_merge = _hubspot_people(box, emails)

    traces = find_traces(state_dir, values)
    assert any(t.startswith("snapshots/hubspot/Contact/") for t in traces)
    assert sum(t.startswith("snapshots/") for t in traces) >= 3  # every generation
    assert any("plan.jsonl" in t for t in traces) and any("state.sqlite" in t for t in traces)
    snapshots = sorted((state_dir / "snapshots").glob("*/*/*.parquet"))
    before = {p: pl.read_parquet(p) for p in snapshots}

    state = State(state_dir / "state.sqlite")
    generations = state.recent_snapshots("hubspot", "Contact", KEEP_SNAPSHOTS)
    assert len(generations) == 3 and all(ids & set(g.read()["id"]) for g in generations)
    purged = purge_state(state_dir, state, Trace(ids, values))
    assert purged.problems == []
    assert purged.journal_erased >= 1
    # the two HubSpot records, in every file holding them (an incremental pull's generation is a layer
    # over the base it shares with the one before: issue 30); gone from every generation
    assert purged.places["snapshots"].rows >= 2
    assert not any(ids & set(g.read()["id"]) for g in generations)
    assert find_traces(state_dir, values) == []
    again = purge_state(state_dir, state, Trace(ids, values))  # a second purge: nothing left to do
    assert not again.changed and again.problems == []
    # the others' rows as they were: only the person's rows gone and lookups to them cleared
    for path, frame in before.items():
        texts = [c for c, t in frame.schema.items() if t == pl.String and c != "id"]
        expected = frame.filter(~pl.col("id").is_in(list(ids))).with_columns(
            pl.when(pl.col(c).is_in(list(ids))).then(None).otherwise(pl.col(c)).alias(c) for c in texts
        )
        assert pl.read_parquet(path).equals(expected), path
    # the plan keeps the other's fix, and its review file is still accepted by apply's contract
    kept = read_plan(planned.plan_file)
    assert other.action_id in {a.action_id for a in kept.actions}
    assert merge.action_id not in {a.action_id for a in kept.actions}
    assert read_review_file(planned.review_file, kept).approvals()[other.action_id]
    dry = ws.apply(planned.folder, review=planned.review_file)
    assert dry.exit_code == ExitCode.OK

    # undo: the erased merge refused (never creating the person again), the other's fix undone
    undone = ws.undo(planned.folder, write=True)
    assert undone.exit_code == ExitCode.FAILED
    assert [g.error for g in undone.failed] == ["ERASED"]
    assert [r["record_id"] for r in undone.failed[0].records] == [merge.record_id]
    assert "erased on" in undone.failed[0].records[0]["error"]
    back = journal_of(tmp_path, f"undo-{planned.plan.header.plan_id}")
    assert [e["record_id"] for e in back.values() if e["status"] == "done"] == [other.record_id]
    assert _hubspot_people(box, emails) == people_after_merge
    state.close()
