"""Bulk API 2.0 ingest reads the CSV cell ``#N/A`` as "set the field to null": a plan whose value is the
text ``#N/A`` (a title typed that way, an old value undo puts back) must never reach the CRM as null.
Such records go through composite, the rest of the plan through one Bulk job (issue 24)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.connectors.base import Change
from crm_ops.plan.apply import Applier, undo_plan
from crm_ops.plan.format import Action, Header, Plan
from crm_ops.pull import Puller
from crm_ops.sandbox.server import Sandbox
from tests.pulling import fast_sandbox, profile_for

pytestmark = pytest.mark.integration
NA = "#N/A"


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(1500, 97) as sb:
        yield sb


def _titles(puller: Puller, ids: list[str]) -> dict[str, Any]:
    return {r["id"]: r["title"] for r in puller.connector("salesforce").read("Contact", ids).to_dicts()}


def _ingested(box: Sandbox) -> int:
    """Rows the sandbox's Bulk update jobs processed."""
    jobs = box.salesforce._jobs.values()  # the emulator's own record of what it ran
    return sum(len(j.successes) + len(j.failures) for j in jobs if j.info.get("operation") == "update")


def test_a_plan_writing_na_through_bulk_stores_the_text_and_undoes_cleanly(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = profile_for(box, tmp_path, salesforce={"bulk_write_threshold": 100, "bulk_write_batch": 2000})
    puller = Puller(profile)
    puller.pull_many(["salesforce"], ["Contact"], full=True)
    current = puller.state.current("salesforce", "Contact")
    assert current is not None
    ids = current.snapshot.read().filter(~pl.col("is_deleted"))["id"].sort().to_list()[:500]
    # a hundred records already hold the text #N/A (written through composite): undo puts it back
    held = ids[400:]
    written = puller.connector("salesforce").push("Contact", [Change(i, {"title": NA}) for i in held])
    assert all(r.ok for r in written)
    before = _titles(puller, ids)
    assert all(before[i] == NA for i in held)

    def update(record_id: str, value: str) -> Action:
        return Action(
            kind="update", system="salesforce", entity="Contact", record_id=record_id, field="title",
            seen_value=before[record_id], proposed_value=value, rule="test", severity="warning",
            confidence=0.99, reason="test",
        ).with_id()  # fmt: skip

    # 250 titles set to the text #N/A; 250 to plain text (a hundred of them held #N/A)
    actions = [update(i, NA) for i in ids[:250]] + [update(i, f"Buyer {n}") for n, i in enumerate(ids[250:])]
    plan = Plan(
        Header(plan_id="na-plan", created_at="2026-12-06T00:00:00+00:00", profile="sandbox"), tuple(actions)
    )
    applier = Applier(puller.state, puller.connector)
    ingested = _ingested(box)
    report = applier.apply(plan.header.plan_id, plan.actions, dry_run=False)
    assert report.counts == {"done": 500}, report.refusals()[:2]
    after = _titles(puller, ids)
    assert [after[i] for i in ids[:250]] == [NA] * 250  # the text, not null
    assert [after[i] for i in ids[250:]] == [f"Buyer {n}" for n in range(250)]
    assert _ingested(box) - ingested == 250  # the plain values went through one Bulk job

    undo = undo_plan(puller.state, plan)
    ingested = _ingested(box)
    undone = applier.apply(undo.header.plan_id, undo.actions, dry_run=False)
    assert undone.counts == {"done": 500}, undone.refusals()[:2]
    assert _ingested(box) - ingested == 400  # all but the hundred #N/A values put back through Bulk
    assert _titles(puller, ids) == before
    puller.close()
