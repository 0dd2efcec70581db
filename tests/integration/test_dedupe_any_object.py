"""Duplicates on any object by a match config (issue 26): a profile declaring the sandbox's custom object
on each CRM (Salesforce ``Subscription__c``, HubSpot ``p_subscriptions``) and a match rule set for it
finds the subscriptions seeded twice; neither CRM has a merge API for them, so the plan flags each pair
for a person and applying writes nothing; an Account merge's preview counts the child records (contacts,
opportunities, subscriptions) it moves to the survivor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from crm_ops.api import Workspace
from crm_ops.errors import ConfigError
from crm_ops.plan.show import render
from crm_ops.sandbox.server import Sandbox
from crm_ops.schema.entities import live
from crm_ops.state import State
from tests.integration.test_custom_objects import ENTITY, _profile
from tests.match_eval import dedupe_scores
from tests.pulling import fast_sandbox

pytestmark = pytest.mark.integration
OBJECTS = {("salesforce", "Subscription__c"): ENTITY, ("hubspot", "p_subscriptions"): ENTITY}
# the same subscription entered twice: same account, plan and amount, its dates within a few days
MATCH = f"""
[profiles.sandbox.match.{ENTITY}]
threshold = 0.9
min_fields = 3
blocking = [["account_id", "plan"]]
fields = [
  {{field = "account_id", comparator = "exact", weight = 0.3}},
  {{field = "plan", comparator = "normalised", weight = 0.2}},
  {{field = "start_date", comparator = "date", weight = 0.3, days = 3}},
  {{field = "mrr", comparator = "exact", weight = 0.2}},
]
"""


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(2_000, 26) as sb:
        yield sb


def test_a_custom_objects_duplicates_are_found_flagged_not_merged_and_merges_count_children(
    box: Sandbox, tmp_path: Path
) -> None:
    ws = Workspace(_profile(box, tmp_path, tables=MATCH))
    pulled = ws.pull(entities=[ENTITY, "Account", "Contact", "Opportunity", "Lead"])
    assert not pulled.failures

    matched = ws.match()
    scores = {
        (s.system, s.entity): s
        for s in dedupe_scores(box.data.manifest.duplicates, matched.result, OBJECTS)
        if s.entity == ENTITY
    }
    # measured at 2,000 records, seed 26: 1.0 and 1.0 on both CRMs
    assert set(scores) == {("salesforce", ENTITY), ("hubspot", ENTITY)}
    for score in scores.values():
        assert score.seeded >= 5 and score.precision >= 0.9 and score.recall >= 0.9, score

    planned = ws.plan()
    dupes = [a for a in planned.plan.actions if a.entity == ENTITY and a.rule == "match.duplicate"]
    assert len(dupes) == sum(s.found for s in scores.values())
    assert {a.kind for a in dupes} == {"flag"}
    for a in dupes:
        crm, obj = (
            ("Salesforce", "Subscription__c") if a.system == "salesforce" else ("HubSpot", "p_subscriptions")
        )
        assert a.reason.endswith(f"duplicates; {crm} has no merge for {obj}: merge by hand or delete one")
        assert a.other_id and a.other_id != a.record_id  # the record it duplicates, for the person
    applied = ws.apply(
        planned.folder, all_actions=True, write=True, entities=[ENTITY], rules=["match.duplicate"]
    )
    assert len(applied.selected) == len(dupes)
    assert {o["status"] for o in applied.report.outcomes} == {"flagged"}  # nothing sent to either CRM
    before = {s: live(ws_frame(ws, s, ENTITY)).height for s in ("salesforce", "hubspot")}
    assert not ws.pull(entities=[ENTITY]).failures
    assert {s: live(ws_frame(ws, s, ENTITY)).height for s in ("salesforce", "hubspot")} == before

    # an Account merge moves the merged-away account's contacts, opportunities and subscriptions
    merges = [a for a in planned.plan.actions if a.kind == "merge" and a.entity == "Account"]
    assert merges
    counted = 0
    for a in merges:
        moves = (a.detail or {})["moves"]
        expected = {}
        for child in ("Contact", "Opportunity", ENTITY):
            frame = live(ws_frame(ws, a.system, child))
            n = frame.filter(pl.col("account_id") == a.record_id).height
            if n:
                expected[f"{child}.account_id"] = n
        assert moves == expected, a.record_id
        counted += sum(moves.values())
    assert counted > 0
    shown = ws.show(planned.folder, merges=len(merges) + 100)
    rows = [m for m in shown["merges"] if m["duplicate"]["entity"] == "Account"]
    assert {m["duplicate"]["id"]: m["moves"] for m in rows} == {
        a.record_id: (a.detail or {})["moves"] for a in merges
    }
    busiest = max(merges, key=lambda a: sum((a.detail or {})["moves"].values()))
    moves = (busiest.detail or {})["moves"]
    listed = ", ".join(f"{n} {where}" for where, n in moves.items())
    text = " ".join(render(shown, width=400).split())
    assert f"moves {sum(moves.values())} child records to the survivor: {listed}" in text
    print(
        f"\n{len(dupes)} subscription pairs flagged; {len(merges)} account merges moving {counted} children"
    )


def test_a_match_rule_for_an_entity_without_a_default_needs_fields_and_blocking(
    box: Sandbox, tmp_path: Path
) -> None:
    bare = f"[profiles.sandbox.match.{ENTITY}]\nthreshold = 0.9\n"
    with pytest.raises(ConfigError) as err:
        Workspace(_profile(box, tmp_path, tables=bare)).match()
    assert f"profiles.sandbox.match.{ENTITY}: {ENTITY} has no default match rule" in str(err.value)
    assert "must give fields and blocking" in str(err.value)
    with pytest.raises(ConfigError, match=r"match\.Subscriptoin: unknown setting"):
        Workspace(_profile(box, tmp_path, tables=MATCH.replace(ENTITY, "Subscriptoin"))).match()


def ws_frame(ws: Workspace, system: str, entity: str) -> pl.DataFrame:
    """The current snapshot of ``system``'s ``entity`` in ``ws``'s state."""
    state = State(ws.state_dir / "state.sqlite")
    try:
        current = state.current(system, entity)
    finally:
        state.close()
    assert current is not None
    return current.snapshot.read()
