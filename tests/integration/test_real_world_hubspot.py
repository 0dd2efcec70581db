"""HubSpot as real portals answer (issue 15): each behaviour switched on in the sandbox, crm-ops doing
the right thing through the unchanged hubspot-api-client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import requests

from crm_ops.errors import BudgetExhaustedError, PartialPullError
from crm_ops.pull import Puller
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.hubspot import DEFAULT_SCOPES, HubSpotLimits
from crm_ops.sandbox.server import Sandbox, SandboxConfig
from tests.pulling import assert_same, expected, profile_for, real_world_sandbox

pytestmark = pytest.mark.integration
HS_ENTITIES = {"Contact": "contacts", "Account": "companies", "Opportunity": "deals"}


@pytest.fixture(scope="module")
def wide() -> Iterator[Sandbox]:
    """A portal with 500 custom properties (with data) on each CRM object."""
    with real_world_sandbox(400, 31, custom_properties=500) as sb:
        yield sb


def test_a_list_call_naming_every_custom_property_is_refused_414_as_html(wide: Sandbox) -> None:
    names = [p.name for p in wide.hubspot.types["contacts"].properties if not p.hubspot_defined]
    assert len(names) >= 500
    response = requests.get(
        f"{wide.env['CRM_OPS_HUBSPOT_BASE_URL']}/crm/v3/objects/contacts",
        params=[("limit", "10"), *(("properties", n) for n in names)],
        headers={"Authorization": f"Bearer {wide.env['CRM_OPS_HUBSPOT_TOKEN']}"},
        timeout=30,
    )
    assert response.status_code == 414
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<title>414 Request-URI Too Large</title>" in response.text


class _StopError(Exception):
    """Ends a pull half-way, as a kill would."""


def test_full_pull_of_hundreds_of_custom_properties_equals_ground_truth_and_resumes(
    wide: Sandbox, tmp_path: Path
) -> None:
    profile = profile_for(wide, tmp_path, hubspot={"part_rows": 100})
    seen = {"pages": 0}

    def stop_after_two(job: object, rows: int) -> None:
        seen["pages"] += 1
        if seen["pages"] == 2:
            raise _StopError

    interrupted = Puller(profile, on_page=stop_after_two)
    with pytest.raises(_StopError):
        interrupted.pull("hubspot", "Contact")
    interrupted.close()

    puller = Puller(profile)
    results = {e: puller.pull("hubspot", e) for e in HS_ENTITIES}
    assert results["Contact"].resumed
    data = wide.data
    for entity, obj in HS_ENTITIES.items():
        current = puller.state.current("hubspot", entity)
        assert current is not None
        snapshot = current.snapshot.read()
        assert_same(snapshot, expected("hubspot", entity, data.hubspot, data.hubspot_associations), entity)
        # every custom property arrived, joined on the record id
        table = wide.hubspot.objects[obj].frame()
        for i in (0, 250, 499):
            prop = f"ops_{obj[:-1]}_custom_property_{i:04d}"
            want = dict(zip(table["id"].cast(pl.String), table[prop], strict=True))
            got = dict(zip(snapshot["id"], snapshot[f"custom_{prop}"], strict=True))
            assert got == {k: want[k] for k in got}, prop
    assert wide.hubspot_layer.draws.counts.get("414", 0) == 1  # only the direct call above


QUICK = {"retry_attempts": 12, "retry_initial_wait": 0.01, "retry_max_wait": 0.05}


def test_daily_429_stops_resumably_while_423_and_477_are_waited_out(tmp_path: Path) -> None:
    with real_world_sandbox(1500, 33, "locked=0.05,migration=0.03,daily_after=30") as box:
        profile = profile_for(box, tmp_path, hubspot={"part_rows": 200, **QUICK})
        puller = Puller(profile)
        with pytest.raises(BudgetExhaustedError, match=r"daily limit.*resumes on the next run"):
            puller.pull_many(["hubspot"])
        layer = box.hubspot_layer
        assert layer.calls == 30, "a DAILY 429 must end the pull, never be retried"
        assert layer.draws.counts["daily"] == 1
        puller.close()

        again = Puller(profile)
        results = again.pull_many(["hubspot"])
        assert any(r.resumed for r in results)
        data = box.data
        tables = {**data.hubspot, "owners": data.hubspot_owners}
        for entity in ("Account", "Contact", "Opportunity", "Owner", "ContactRole"):
            current = again.state.current("hubspot", entity)
            assert current is not None
            truth = expected("hubspot", entity, tables, data.hubspot_associations)
            assert_same(current.snapshot.read(), truth, entity)
        assert layer.draws.counts["locked"] >= 1 and layer.draws.counts["migration"] >= 1


def test_a_missing_scope_fails_only_its_entity_and_names_the_scope_to_grant(tmp_path: Path) -> None:
    limits = HubSpotLimits(
        per_ten_seconds=1_000_000,
        search_per_second=100_000,
        scopes=DEFAULT_SCOPES - {"crm.objects.owners.read"},
    )
    config = SandboxConfig(seed=SeedConfig(records=300, seed=35), hubspot_limits=limits)
    with Sandbox(config) as box:
        puller = Puller(profile_for(box, tmp_path))
        with pytest.raises(PartialPullError) as raised:
            puller.pull_many(["hubspot"])
    failures = raised.value.failures
    assert [(f.system, f.entity) for f in failures] == [("hubspot", "Owner")]
    text = str(failures[0].error)
    assert "403 MISSING_SCOPES" in text and "the private app needs crm.objects.owners.read" in text
    assert {r.entity for r in raised.value.results} == {"Account", "Contact", "Opportunity", "ContactRole"}


def test_association_reads_paged_per_record_are_read_to_the_last_page(tmp_path: Path) -> None:
    with real_world_sandbox(600, 37, association_page=2) as box:
        table = box.hubspot.associations[("deals", "contacts")]
        first = table.frame().row(0, named=True)
        contacts = box.hubspot.objects["contacts"].frame().filter(~pl.col("archived"))["id"]
        for contact in contacts[:5]:  # one deal with six contacts: three pages of two
            table.append({**first, "to_id": contact})
        links = {key: t.frame() for key, t in box.hubspot.associations.items()}
        assert links[("deals", "contacts")].group_by("from_id").len()["len"].max() == 6
        puller = Puller(profile_for(box, tmp_path))
        data = box.data
        for entity in ("ContactRole", "Contact", "Opportunity"):
            result = puller.pull("hubspot", entity)
            truth = expected("hubspot", entity, data.hubspot, links)
            assert_same(result.snapshot.read(), truth, entity)
