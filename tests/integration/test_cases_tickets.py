"""Cases and tickets as a shipped object map (issue 26): a profile enabling ``object_maps = ["cases"]``
pulls Salesforce ``Case`` and HubSpot ``tickets`` as the entity ``Case`` (parents: the account and the
contact), and the shipped case rules find exactly the seeded defects; a profile without it pulls and
checks as before, its case rules dormant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.api import Workspace
from crm_ops.doctor import run_doctor
from crm_ops.errors import ConfigError
from crm_ops.match.sources import source_links
from crm_ops.pull import Puller
from crm_ops.rules.crosssource import CACHE_KEY
from crm_ops.rules.testing import run_examples
from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.server import Sandbox
from crm_ops.schema.entities import entity_names
from crm_ops.schema.objectmaps import dormant_entities
from tests.pulling import fast_sandbox
from tests.pulling import object_maps_profile as _profile

pytestmark = pytest.mark.integration
RULES = {"case.subject.required", "case.closed_date.required"}


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(1_500, 2601) as sb:
        yield sb


def test_a_profile_without_the_cases_map_pulls_and_checks_as_before(box: Sandbox, tmp_path: Path) -> None:
    # first in this module: nothing has declared Case yet, so the shipped case rules are dormant
    ws = Workspace(_profile(box, tmp_path))
    rules, problems = ws.rules()
    assert not problems and not RULES & {r.id for r in rules}
    # a rule of the user's own on Case is refused, naming the map that brings the entity
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "rules:\n  - {id: my.case.origin, entity: Case, field: origin, severity: info,"
        " description: Origin set., check: not_null}\n"
    )
    _, problems = ws.rules([mine])
    # the entities this profile knows: not those of shipped maps it does not enable (another profile of
    # this process may have enabled them)
    known = [e for e in entity_names() if e not in dormant_entities()]
    assert [p.message for p in problems] == [
        f"unknown entity Case; known: {', '.join(known)}; Case comes with the shipped object map "
        "'cases': add it to the profile's object_maps"
    ]
    run = ws.pull()
    assert not run.failures
    assert "Case" not in {r.entity for r in run.results}
    checked = ws.check()
    assert not checked.problems and not checked.result.errors
    assert "Case" not in set(checked.result.findings["entity"])


def test_an_unknown_shipped_map_names_the_shipped_ones(box: Sandbox, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _profile(box, tmp_path, '["casse", "cases"]')
    assert (
        "profiles.sandbox.object_maps: no shipped object map 'casse' (did you mean 'cases'?); "
        "shipped: activities, campaigns, cases"
    ) in str(caught.value)


def test_the_shipped_cases_map_pulls_both_crms_and_its_rules_find_the_seeded_defects(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = _profile(box, tmp_path, '["cases"]')
    truth_sf, truth_hs = box.data.salesforce["Case"], box.data.hubspot["tickets"]
    puller = Puller(profile)
    try:
        puller.pull_many(["salesforce", "hubspot"], ["Case"])
        frames = {s: _snapshot(puller, s) for s in ("salesforce", "hubspot")}
    finally:
        puller.close()
    sf, hs = frames["salesforce"], frames["hubspot"]

    # every record, deleted ones as tombstones, typed from the CRMs' metadata
    assert sf.height == truth_sf.height and hs.height == truth_hs.height
    assert sf["is_deleted"].sum() == truth_sf["IsDeleted"].sum() > 0
    assert hs["is_deleted"].sum() == truth_hs["archived"].sum() > 0
    assert sf.schema["is_closed"] == pl.Boolean
    assert sf.schema["closed_date"] == hs.schema["closed_date"] == pl.Datetime("ms", "UTC")
    want = truth_sf.select("Id", "CaseNumber", "Status", "AccountId", "ContactId").rows()
    assert sorted(sf.select("id", "case_number", "status", "account_id", "contact_id").rows()) == sorted(want)
    # HubSpot's parents are the ticket's associated company and contact
    links = box.data.hubspot_associations
    for column, target in (("account_id", "companies"), ("contact_id", "contacts")):
        pairs = links[("tickets", target)].select("from_id", "to_id").rows()
        got = {(i, v) for i, v in hs.select("id", column).rows() if v is not None}
        assert got == {(str(a), str(b)) for a, b in pairs} and got

    # doctor's inventory says which entity maps each object
    lines = {f.detail for f in run_doctor(profile) if f.check == "inventory"}
    live_sf, live_hs = (~truth_sf["IsDeleted"]).sum(), (~truth_hs["archived"]).sum()
    assert f"Case (Case, standard): {live_sf:,} records; mapped to Case" in lines
    assert f"tickets (Tickets, standard): {live_hs:,} records; mapped to Case" in lines

    # the shipped case rules run (their examples pass) and find exactly the seeded defects of live cases
    ws = Workspace(profile)
    rules, problems = ws.rules()
    cases = [r for r in rules if r.id in RULES]
    assert not problems and {r.id for r in cases} == RULES
    assert all(e.ok for e in run_examples(cases))
    # and the one reading billing too (open cases on churned accounts: no billing source here, no finding)
    shipped = [r for r in rules if r.id.startswith("case.")]
    assert {r.id for r in shipped} == {*RULES, "case.open.churned_account"}
    assert all(e.ok for e in run_examples(shipped, cache={CACHE_KEY: source_links}))
    ws.pull()  # the other entities, so the whole check runs as a nightly one does
    checked = ws.check()
    assert not checked.problems and not checked.result.errors
    found = checked.result.findings.filter(pl.col("entity") == "Case")
    rule_of = {"Subject": "case.subject.required", "subject": "case.subject.required"}
    defects = box.data.manifest.defects.filter(pl.col("kind") == "case_blank")
    truth = {
        (s, r, rule_of.get(f, "case.closed_date.required"))
        for s, r, f in defects.select("system", "record_id", "field").rows()
    }
    assert {"salesforce", "hubspot"} == {s for s, _, _ in truth}
    assert {(s, r, rule) for s, r, rule in found.select("system", "record_id", "rule").rows()} == truth

    # Salesforce closes a case from its status (IsClosed, ClosedDate); a ticket given its close date
    # leaves the findings; an incremental pull brings both
    open_sf = sf.filter(~pl.col("is_deleted") & ~pl.col("is_closed"))["id"][0]
    no_date = next(r for s, r, rule in truth if s == "hubspot" and rule == "case.closed_date.required")
    sfc: Any = salesforce_client(box.env)
    sfc.Case.update(open_sf, {"Status": "Closed"})
    hubspot_client(box.env).crm.tickets.basic_api.update(
        no_date, simple_public_object_input={"properties": {"closed_date": "2026-11-30T09:00:00Z"}}
    )
    assert {r.mode for r in ws.pull(entities=["Case"]).results} == {"incremental"}
    puller = Puller(profile)
    try:
        after_sf, after_hs = (_snapshot(puller, s) for s in ("salesforce", "hubspot"))
    finally:
        puller.close()
    row = after_sf.filter(pl.col("id") == open_sf)
    assert row["is_closed"][0] is True and row["closed_date"][0] is not None
    assert after_hs.filter(pl.col("id") == no_date)["closed_date"][0] is not None
    rechecked = ws.check().result.findings.filter(pl.col("entity") == "Case")
    assert {(s, r) for s, r in rechecked.select("system", "record_id").rows()} == {
        (s, r) for s, r, _ in truth if r != no_date
    }

    # a profile without the map, checked after Case is known: no Case entity pulled, no rule error
    plain = Workspace(_profile(box, tmp_path / "plain"))
    assert "Case" not in {r.entity for r in plain.pull().results}
    again = plain.check()
    assert not again.problems and not again.result.errors
    assert "Case" not in set(again.result.findings["entity"])


def _snapshot(puller: Puller, system: str) -> pl.DataFrame:
    current = puller.state.current(system, "Case")
    assert current is not None
    return current.snapshot.read().sort("id")
