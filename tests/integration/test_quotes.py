"""Quotes as a shipped object map (issue 26): a profile enabling ``object_maps = ["quotes"]`` pulls
Salesforce ``Quote`` and HubSpot ``quotes`` (associated with deals) as the entity Quote, incrementally after
a change; the shipped rule ``quote.open.not_expired`` finds exactly what the pulled snapshots say, which is
exactly the seeded defects (expired quotes left open); a profile without the map has no Quote."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests

from crm_ops.api import Workspace
from crm_ops.pull import Puller
from crm_ops.rules.testing import run_examples
from crm_ops.sandbox.clients import salesforce_client
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.hubspot import DEFAULT_SCOPES, HubSpotLimits
from crm_ops.sandbox.server import Sandbox, SandboxConfig
from tests.pulling import fast_sandbox
from tests.pulling import object_maps_profile as _profile

pytestmark = pytest.mark.integration
RULE = "quote.open.not_expired"
OPEN = {"Draft", "Needs Review", "In Review", "Approved", "Presented"}
HS_OPEN = {"DRAFT", "PENDING_APPROVAL", "APPROVAL_NOT_NEEDED", "APPROVED"}


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(500, 2628) as sb:
        yield sb


def _pull(profile: Any) -> tuple[list[Any], dict[str, pl.DataFrame]]:
    puller = Puller(profile)
    try:
        results = puller.pull_many(["salesforce", "hubspot"], ["Quote"])
        frames = {}
        for system in ("salesforce", "hubspot"):
            current = puller.state.current(system, "Quote")
            assert current is not None
            frames[system] = current.snapshot.read().sort("id")
        return list(results), frames
    finally:
        puller.close()


def _expected(frames: dict[str, pl.DataFrame]) -> set[tuple[str, str]]:
    """The open quotes past their expiration date, from the snapshots alone."""
    today = datetime.now(UTC).date()
    out = set()
    for system, frame in frames.items():
        live = frame.filter(~pl.col("is_deleted") & (pl.col("expiration_date") < today))
        if system == "salesforce":
            live = live.filter(pl.col("status").is_in(list(OPEN)))
        else:
            live = live.filter(
                pl.col("status").is_in(list(HS_OPEN)) & (pl.col("sign_status") != "SIGNED").fill_null(True)
            )
        out |= {(system, i) for i in live["id"]}
    return out


def test_a_profile_without_the_quotes_map_has_no_quotes(box: Sandbox, tmp_path: Path) -> None:
    ws = Workspace(_profile(box, tmp_path, '["products"]'))
    rules, problems = ws.rules()
    assert not problems and RULE not in {r.id for r in rules}
    run = ws.pull()
    assert not run.failures and "Quote" not in {r.entity for r in run.results}
    checked = ws.check()
    assert not checked.problems and not checked.result.errors
    assert "Quote" not in set(checked.result.findings["entity"])


def test_the_shipped_quotes_map_pulls_both_crms_and_finds_the_expired_open_quotes(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = _profile(box, tmp_path, '["quotes"]')
    data = box.data
    first, frames = _pull(profile)
    assert {(r.system, r.mode) for r in first} == {("salesforce", "full"), ("hubspot", "full")}
    sf, hs = frames["salesforce"], frames["hubspot"]
    truth_sf, truth_hs = data.salesforce["Quote"], data.hubspot["quotes"]
    assert (sf.height, hs.height) == (truth_sf.height, truth_hs.height) and sf.height > 50
    assert sf["is_deleted"].sum() == truth_sf["IsDeleted"].sum() > 0
    assert hs["is_deleted"].sum() == truth_hs["archived"].sum() > 0
    assert sf.schema["expiration_date"] == hs.schema["expiration_date"] == pl.Date
    want = truth_sf.select("Id", "OpportunityId", "Status", "ExpirationDate", "GrandTotal").rows()
    assert sorted(
        sf.select("id", "opportunity_id", "status", "expiration_date", "grand_total").rows()
    ) == sorted(want)
    links = data.hubspot_associations[("quotes", "deals")]
    assert set(hs.select("id", "opportunity_id").rows()) == {
        (str(a), str(b)) for a, b in links.select("from_id", "to_id").rows()
    }

    ws = Workspace(profile)
    rules, problems = ws.rules()
    assert not problems and RULE in {r.id for r in rules}
    assert all(e.ok for e in run_examples([r for r in rules if r.id == RULE]))
    checked = ws.check()
    assert not checked.problems and not checked.result.errors
    found = {
        (s, r)
        for s, r in checked.result.findings.filter(pl.col("rule") == RULE)
        .select("system", "record_id")
        .rows()
    }
    defects = data.manifest.defects.filter(pl.col("kind") == "quote_expired_open")
    truth = set(defects.select("system", "record_id").rows())
    assert {s for s, _ in truth} == {"salesforce", "hubspot"}
    assert found == _expected(frames) == truth

    # a quote accepted on Salesforce, then an incremental pull: its finding is gone
    sfc: Any = salesforce_client(box.env)
    accepted = sorted(r for s, r in truth if s == "salesforce")[0]
    sfc.Quote.update(accepted, {"Status": "Accepted"})
    second, frames2 = _pull(profile)
    assert {r.mode for r in second} == {"incremental"}
    assert frames2["salesforce"].filter(pl.col("id") == accepted)["status"][0] == "Accepted"
    again = Workspace(profile).check().result.findings.filter(pl.col("rule") == RULE)
    assert {(s, r) for s, r in again.select("system", "record_id").rows()} == truth - {
        ("salesforce", accepted)
    }


def test_quotes_are_served_under_their_own_scopes() -> None:
    """HubSpot reads quotes under ``crm.objects.quotes.read`` (their properties under
    ``crm.schemas.quotes.read``); without it, a 403 names the scope."""
    without = DEFAULT_SCOPES - {"crm.objects.quotes.read", "crm.schemas.quotes.read"}
    for scopes, status in ((DEFAULT_SCOPES, 200), (without, 403)):
        config = SandboxConfig(
            seed=SeedConfig(records=300, org="plain"), hubspot_limits=HubSpotLimits(scopes=scopes)
        )
        with Sandbox(config) as sandbox:
            auth = {"Authorization": f"Bearer {sandbox.env['CRM_OPS_HUBSPOT_TOKEN']}"}
            base = sandbox.env["CRM_OPS_HUBSPOT_BASE_URL"]
            listed = requests.get(
                base + "/crm/v3/objects/quotes?limit=1&associations=deals", headers=auth, timeout=10
            )
            props = requests.get(base + "/crm/v3/properties/quotes", headers=auth, timeout=10)
            assert (listed.status_code, props.status_code) == (status, status)
            if status == 200:
                quote = listed.json()["results"][0]
                assert {"hs_title", "hs_expiration_date"} <= set(quote["properties"])
                assert quote["associations"]["deals"]["results"][0]["type"] == "quote_to_deal"
            else:
                assert listed.json()["errors"][0]["context"]["requiredScopes"] == ["crm.objects.quotes.read"]
                assert props.json()["errors"][0]["context"]["requiredScopes"] == ["crm.schemas.quotes.read"]
