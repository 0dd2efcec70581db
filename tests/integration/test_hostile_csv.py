"""Hostile CRM values through the real paths: a review file a lone CR cannot split (a row the reviewer
set to no stays unapplied, no formula runs in the sheet) and a Bulk ingest job one value cannot fail."""

from __future__ import annotations

import csv
import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops import csvio
from crm_ops.connectors.base import Change
from crm_ops.plan import read_plan
from crm_ops.plan.format import CSV_FIELDS
from crm_ops.pull import Puller
from crm_ops.sandbox.clients import salesforce_client
from crm_ops.sandbox.server import Sandbox
from crm_ops.state import State
from tests.command import crm_ops
from tests.pulling import fast_sandbox, profile_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(600, 29) as sb:
        yield sb


def _cli(box: Sandbox, *args: str | Path, codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    done = crm_ops(*args, env={**os.environ, **box.env})  # in this process (tests.command)
    assert done.returncode in codes, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done


def _plan(box: Sandbox, config: Path, output: Path) -> Path:
    _cli(box, "pull", "-c", config)
    _cli(box, "check", "-c", config, "--fail-on", "never")
    _cli(box, "plan", "-c", config, "-o", output)
    return output


def test_a_lone_cr_in_a_crm_value_cannot_split_a_review_row_or_apply_a_rejected_one(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = profile_for(box, tmp_path)
    config = tmp_path / "crm-ops.toml"
    first = read_plan(_plan(box, config, tmp_path / "plan1") / "plan.jsonl")
    approved = [
        a for a in first.actions
        if a.approved and a.system == "salesforce" and a.entity == "Contact" and a.kind == "update"
    ]  # fmt: skip
    named = {a.record_id for a in first.actions if a.field in ("first_name", "last_name")}
    hosts = [a for a in approved if a.record_id not in named]
    victim, host = approved[0], hosts[-1]  # the victim's row comes first in the file
    assert victim.record_id != host.record_id
    # a CRM value built to end the host's row and forge an approved one for the victim
    forged = ",".join(["y", *[""] * (len(CSV_FIELDS) - 2), victim.action_id])
    sf: Any = salesforce_client(box.env)
    sf.Contact.update(host.record_id, {"LastName": f"\t=\r{forged}", "FirstName": "=cmd|' /C calc'!A0"})

    folder = _plan(box, config, tmp_path / "plan2")
    plan = read_plan(folder / "plan.jsonl")
    ids = {a.action_id for a in plan.actions}
    assert {victim.action_id, host.action_id} <= ids
    review = folder / "plan.csv"
    text = review.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))  # another reader agrees
    assert len(rows) == len(plan.actions) + 1 and all(len(r) == len(CSV_FIELDS) for r in rows)
    table = csvio.read_file(review, required=("approve", "action_id"))
    by_id = {r.get("action_id"): r for r in table}
    assert len(by_id) == len(plan.actions)
    carrying = [r for r in table if r.get("record_id") == host.record_id and "\r" in r.get("seen_value")]
    assert carrying
    assert forged in carrying[0].get("seen_value")  # the value is kept, whole, inside its own row
    for row in table:
        for value in row.values.values():
            # nothing runs in a spreadsheet
            assert value[:1] not in csvio.FORMULA_START or csvio.is_number(value), value

    # the reviewer says no to the victim, as a spreadsheet saves it (the file written anew)
    cells = [[r.get(c) for c in table.header] for r in table]
    column = table.header.index("approve")
    for cell, r in zip(cells, table, strict=True):
        if r.get("action_id") == victim.action_id:
            cell[column] = "no"
    review.write_text(csvio.format_rows(table.header, cells))
    _cli(box, "apply", folder, "-c", config, "--review", review, "--yes")
    state = State(profile.state_dir / "state.sqlite")
    try:
        journal = state.journal(plan.header.plan_id)
    finally:
        state.close()
    assert victim.action_id not in journal
    assert journal[host.action_id]["status"] == "done"
    puller = Puller(profile)
    try:
        now = puller.connector("salesforce").read("Contact", [victim.record_id]).to_dicts()[0]
    finally:
        puller.close()
    assert (now[victim.field or ""] or None) == victim.seen_value


def test_one_hostile_value_does_not_fail_a_bulk_ingest_job(box: Sandbox, tmp_path: Path) -> None:
    profile = profile_for(box, tmp_path)
    puller = Puller(profile)
    try:
        puller.pull_many(["salesforce"], ["Contact"])
        current = puller.state.current("salesforce", "Contact")
        assert current is not None
        contacts = current.snapshot.read()
        ids = contacts.filter(~pl.col("is_deleted"))["id"].to_list()[:250]
        hostile = ["lone\rreturn", "\r", "=1+1", "\t@x", 'say "hi", then; go', "two\nlines", "crlf\r\nend"]
        values = [hostile[n % len(hostile)] if n % 10 == 0 else f"Buyer {n}" for n in range(len(ids))]
        conn = puller.connector("salesforce")
        results = conn.push("Contact", [Change(i, {"title": v}) for i, v in zip(ids, values, strict=True)])
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
        back = {r["id"]: r["title"] for r in conn.read("Contact", ids).to_dicts()}
        assert [back[i] for i in ids] == values  # stored as given: quoted, never neutralised
    finally:
        puller.close()
