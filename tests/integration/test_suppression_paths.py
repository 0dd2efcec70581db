"""The suppression list through each writing path, on the sandbox (issue 31): once a person is on it, a
drift sync copying their e-mail, an undone merge re-creating their record and a write to their record are
never sent (the CRM keeps what it had; each entry says why, naming no value), the other actions of the same
plan are; and a pull leaves their rows out of our copy and names a record created again with their e-mail."""

from __future__ import annotations

import json
from collections.abc import Iterator

import polars as pl
import pytest

from crm_ops.config import Profile
from crm_ops.plan.apply import Applier
from crm_ops.plan.format import Action, Header, Plan, new_plan_id
from crm_ops.pull import Puller
from crm_ops.sandbox.server import Sandbox
from crm_ops.suppression import EMAIL, ID, Suppression
from tests.pulling import fast_sandbox, profile_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Profile]]:
    folder = tmp_path_factory.mktemp("suppression")
    with fast_sandbox(400, 5) as sb:
        yield sb, profile_for(sb, folder)


def _action(**values: object) -> Action:
    base: dict[str, object] = {
        "kind": "update", "system": "salesforce", "entity": "Contact", "field": "title", "seen_value": None,
        "rule": "test.suppression", "severity": "warning", "confidence": 1.0, "reason": "test",
    }  # fmt: skip
    return Action(**{**base, **values}).with_id()  # type: ignore[arg-type]


def test_no_path_writes_an_erased_person_back(world: tuple[Sandbox, Profile]) -> None:
    _, profile = world
    puller = Puller(profile)
    try:
        puller.pull_many(["salesforce", "hubspot"], ["Contact"])
        sf = puller.state.current("salesforce", "Contact").snapshot.read()  # type: ignore[union-attr]
        hs = puller.state.current("hubspot", "Contact").snapshot.read()  # type: ignore[union-attr]
        twins = hs.filter(~pl.col("is_deleted")).select("id", lower=pl.col("email").str.to_lowercase())
        live = sf.filter(~pl.col("is_deleted") & pl.col("email").is_not_null()).with_columns(
            lower=pl.col("email").str.to_lowercase()
        )
        live = live.join(twins.rename({"id": "twin"}), on="lower", how="left").sort(pl.col("twin").is_null())
        erased, other, third = live.row(0, named=True), live.row(1, named=True), live.row(2, named=True)
        email, twin = erased["email"], erased["twin"]
        assert twin is not None
        key = Suppression(puller.state.suppression_key())
        puller.state.suppress("e-test", {key.email(email): EMAIL, key.record("salesforce", erased["id"]): ID})
        actions = (
            # a drift sync copying the erased e-mail onto another record
            _action(record_id=other["id"], field="email", seen_value=other["email"], proposed_value=email),
            # a write to the erased record itself
            _action(record_id=erased["id"], field="title", seen_value=erased["title"], proposed_value="CEO"),
            # an undone merge re-creating a record from its journaled values
            _action(
                kind="unmerge",
                record_id="003000000000000AAA",
                seen_value=third["id"],
                proposed_value=json.dumps({"record": {"id": "003000000000000AAA", "email": email.upper()}}),
                field=None,
            ),
            # and a write nobody erased
            _action(record_id=third["id"], field="title", seen_value=third["title"], proposed_value="Buyer"),
        )
        plan = Plan(Header(new_plan_id(), "now", "sandbox"), actions)
        report = Applier(puller.state, puller.connector).apply(
            plan.header.plan_id, plan.actions, dry_run=False
        )
        by_id = {o["action_id"]: o for o in report.outcomes}
        for action in actions[:3]:
            outcome = by_id[action.action_id]
            assert outcome["status"] == "failed" and outcome["error"].startswith("not sent:"), outcome
            assert "erase" in outcome["error"] and email.lower() not in outcome["error"].lower()
        assert by_id[actions[3].action_id]["status"] == "done"
        now = puller.connector("salesforce").read("Contact", [other["id"], erased["id"], third["id"]])
        values = {r["id"]: r for r in now.iter_rows(named=True)}
        assert values[other["id"]]["email"] == other["email"]  # never overwritten with the erased e-mail
        assert values[erased["id"]]["title"] == erased["title"]
        assert values[third["id"]]["title"] == "Buyer"
        journal = puller.state.journal(plan.header.plan_id)
        assert {journal[a.action_id]["status"] for a in actions[:3]} == {"failed"}  # never sent again
    finally:
        puller.close()

    # their HubSpot twin, never erased, still holds the e-mail (as a record typed in again would): the
    # next pull leaves it out of our copy and names it
    puller = Puller(profile)
    try:
        back = puller.pull("hubspot", "Contact", full=True)
        assert twin in back.erased_back
        assert any(twin in n and "erased" in n for n in back.erasure_notices())
        snapshot = back.snapshot.read()
        assert twin not in set(snapshot["id"])
        assert snapshot.filter(pl.col("email").str.to_lowercase() == email.lower()).is_empty()
        again = puller.pull("salesforce", "Contact", full=True)
        assert erased["id"] not in set(again.snapshot.read()["id"])  # the erased record itself
        assert again.erased >= 1 and erased["id"] not in again.erased_back
    finally:
        puller.close()
