"""Cases, tickets and deals found twice (issue 26): a profile with the shipped cases map,
``[match.Opportunity]`` and ``[match.Case]`` finds the sandbox's seeded duplicate cases (both CRMs) and
deals (HubSpot) by the default rule sets; tickets and deals become merges, Salesforce cases flags (its
API does not merge them); a deal merge counts the contact roles it moves; the ticket merges apply and
undo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from crm_ops.api import Workspace
from crm_ops.config import load_profile
from crm_ops.sandbox.server import Sandbox
from crm_ops.schema.entities import live
from tests.integration.test_dedupe_any_object import ws_frame
from tests.match_eval import CASES, DEALS, dedupe_scores
from tests.pulling import changed_cells, fast_sandbox, object_maps_profile

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(2_000, 2604) as sb:
        yield sb


def test_seeded_case_ticket_and_deal_duplicates_are_found_and_the_ticket_merges_undone(
    box: Sandbox, tmp_path: Path
) -> None:
    object_maps_profile(box, tmp_path, '["cases"]')
    config = tmp_path / "crm-ops.toml"
    config.write_text(
        config.read_text() + "\n[profiles.sandbox.match.Opportunity]\n[profiles.sandbox.match.Case]\n"
    )
    ws = Workspace(load_profile(config, "sandbox"))
    assert not ws.pull(entities=["Case", "Account", "Contact", "Opportunity", "ContactRole"]).failures

    matched = ws.match()
    scores = {
        (s.system, s.entity): s
        for s in dedupe_scores(box.data.manifest.duplicates, matched.result, {**CASES, **DEALS})
    }
    for key in (("salesforce", "Case"), ("hubspot", "Case"), ("hubspot", "Opportunity")):
        score = scores[key]
        assert score.seeded >= 5 and score.precision >= 0.95 and score.recall >= 0.9, score

    planned = ws.plan()
    dupes = [
        a for a in planned.plan.actions if a.rule == "match.duplicate" and a.entity in ("Case", "Opportunity")
    ]
    kinds = {(a.system, a.entity, a.kind) for a in dupes}
    assert {
        ("salesforce", "Case", "flag"),
        ("hubspot", "Case", "merge"),
        ("hubspot", "Opportunity", "merge"),
    } <= kinds
    assert all(a.kind == ("merge" if a.system == "hubspot" else "flag") for a in dupes)
    # a deal merge moves the merged-away deal's contact roles (HubSpot: its contact associations)
    roles = live(ws_frame(ws, "hubspot", "ContactRole"))
    for a in (a for a in dupes if a.system == "hubspot" and a.entity == "Opportunity"):
        n = roles.filter(pl.col("opportunity_id") == a.record_id).height
        assert (a.detail or {})["moves"] == ({"ContactRole.opportunity_id": n} if n else {}), a.record_id

    before = {s: ws_frame(ws, s, "Case") for s in ("salesforce", "hubspot")}
    merges = [a for a in dupes if a.entity == "Case" and a.kind == "merge"]
    applied = ws.apply(
        planned.folder, all_actions=True, write=True, entities=["Case"], rules=["match.duplicate"]
    )
    # the flags write nothing; every ticket merge is done
    done = [o for o in applied.report.outcomes if o["status"] == "done"]
    assert len(done) == len(merges) and {o["system"] for o in done} == {"hubspot"}, applied.report.outcomes
    assert not ws.pull(entities=["Case"]).failures
    gone = {a.record_id for a in merges}
    now = live(ws_frame(ws, "hubspot", "Case"))
    assert gone and not gone & set(now["id"].to_list())
    assert now.height == live(before["hubspot"]).height - len(gone)
    drop = ["updated_at"]
    sf_before, sf_after = (
        f.drop(drop).sort("id") for f in (before["salesforce"], ws_frame(ws, "salesforce", "Case"))
    )
    assert changed_cells(sf_before, sf_after) == set()  # no Salesforce case touched

    undone = ws.undo(planned.folder, write=True)
    assert {o["status"] for o in undone.report.outcomes} == {"done"}
    assert not ws.pull(entities=["Case"]).failures
    # HubSpot's tickets made again, under new ids
    assert live(ws_frame(ws, "hubspot", "Case")).height == live(before["hubspot"]).height
