"""HubSpot as real portals answer (issue 15): each behaviour switched on in the sandbox, crm-ops doing
the right thing through the unchanged hubspot-api-client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import requests

from crm_ops.pull import Puller
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.realworld import RealWorld
from crm_ops.sandbox.server import Sandbox, SandboxConfig
from tests.pulling import FAST_HUBSPOT, assert_same, expected, profile_for

pytestmark = pytest.mark.integration
HS_ENTITIES = {"Contact": "contacts", "Account": "companies", "Opportunity": "deals"}


@pytest.fixture(scope="module")
def wide() -> Iterator[Sandbox]:
    """A portal with 500 custom properties (with data) on each CRM object."""
    config = SandboxConfig(
        seed=SeedConfig(records=400, seed=31),
        hubspot_limits=FAST_HUBSPOT,
        real_world=RealWorld(custom_properties=500),
    )
    with Sandbox(config) as sb:
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
        snapshot = pl.read_parquet(current.snapshot)
        assert_same(snapshot, expected("hubspot", entity, data.hubspot, data.hubspot_associations), entity)
        # every custom property arrived, joined on the record id
        table = wide.hubspot.objects[obj].frame()
        for i in (0, 250, 499):
            prop = f"ops_{obj[:-1]}_custom_property_{i:04d}"
            want = dict(zip(table["id"].cast(pl.String), table[prop], strict=True))
            got = dict(zip(snapshot["id"], snapshot[f"custom_{prop}"], strict=True))
            assert got == {k: want[k] for k in got}, prop
    assert wide.hubspot_layer.draws.counts.get("414", 0) == 1  # only the direct call above
