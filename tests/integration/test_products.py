"""Products and line items as a shipped object map (issue 26): a profile enabling
``object_maps = ["products"]`` pulls Salesforce ``Product2``, ``PricebookEntry`` and ``OpportunityLineItem``
and HubSpot ``products`` and ``line_items`` (associated with deals) as the entities Product,
PricebookEntry and LineItem, incrementally after changes; the shipped product rules find exactly what the
pulled snapshots say is wrong, which is exactly the seeded defects (line items not adding up to the deal's
amount, negative quantities, unit prices above the list or product price, lines of deleted products); the
amount fix is planned, applied on the sandbox and undone; a profile without the map pulls and checks as
before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests

from crm_ops.api import Workspace
from crm_ops.pull import Puller
from crm_ops.rules.testing import run_examples
from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.generator.products import CATALOG
from crm_ops.sandbox.hubspot import DEFAULT_SCOPES, HubSpotLimits
from crm_ops.sandbox.server import Sandbox, SandboxConfig
from tests.pulling import fast_sandbox
from tests.pulling import object_maps_profile as _profile

pytestmark = pytest.mark.integration
TOTAL, QUANTITY, EXISTS = (
    "opportunity.line_items.total",
    "line_item.quantity.positive",
    "line_item.product.exists",
)
ABOVE_LIST, ABOVE_PRICE = "line_item.unit_price.above_list", "line_item.unit_price.above_product_price"
RULES = {TOTAL, QUANTITY, EXISTS, ABOVE_LIST, ABOVE_PRICE}
ENTITIES = ["Product", "PricebookEntry", "LineItem"]
KIND_RULE = {
    "line_item_total": TOTAL,
    "line_item_negative_quantity": QUANTITY,
    "line_item_deleted_product": EXISTS,
    "line_item_above_list": ABOVE_LIST,  # on HubSpot: above the product's price
}


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(600, 2626) as sb:
        yield sb


def _snapshots(puller: Puller, entities: list[str]) -> dict[tuple[str, str], pl.DataFrame]:
    out = {}
    for system in ("salesforce", "hubspot"):
        for entity in entities:
            current = puller.state.current(system, entity)
            if current is not None:
                out[(system, entity)] = current.snapshot.read().sort("id")
    return out


def _pull(profile: object, entities: list[str]) -> tuple[list[object], dict[tuple[str, str], pl.DataFrame]]:
    puller = Puller(profile)  # type: ignore[arg-type]
    try:
        results = puller.pull_many(["salesforce", "hubspot"], entities)
        return list(results), _snapshots(puller, entities)
    finally:
        puller.close()


def _expected(frames: dict[tuple[str, str], pl.DataFrame]) -> set[tuple[str, str, str]]:
    """What each product rule should find, computed from the pulled snapshots alone."""
    out: set[tuple[str, str, str]] = set()
    for system in ("salesforce", "hubspot"):
        lines = frames[(system, "LineItem")].filter(~pl.col("is_deleted"))
        products = frames[(system, "Product")].filter(~pl.col("is_deleted"))
        opps = frames[(system, "Opportunity")].filter(~pl.col("is_deleted"))
        sums = lines.group_by("opportunity_id").agg(pl.col("total_price").sum().alias("sum"))
        off = opps.join(sums, left_on="id", right_on="opportunity_id").filter(
            ((pl.col("sum") - pl.col("amount")).abs() > 0.01) | pl.col("amount").is_null()
        )
        out |= {(system, i, TOTAL) for i in off["id"]}
        out |= {(system, i, QUANTITY) for i in lines.filter(~(pl.col("quantity") > 0))["id"]}
        gone = lines.filter(
            pl.col("product_id").is_not_null() & ~pl.col("product_id").is_in(products["id"].implode())
        )
        out |= {(system, i, EXISTS) for i in gone["id"]}
        if system == "salesforce":
            above = lines.filter(pl.col("unit_price") > pl.col("list_price"))
            out |= {(system, i, ABOVE_LIST) for i in above["id"]}
        else:
            priced = lines.join(products.select("id", "price"), left_on="product_id", right_on="id")
            out |= {
                (system, i, ABOVE_PRICE) for i in priced.filter(pl.col("unit_price") > pl.col("price"))["id"]
            }
    return out


def test_a_profile_without_the_products_map_pulls_and_checks_as_before(box: Sandbox, tmp_path: Path) -> None:
    ws = Workspace(_profile(box, tmp_path))
    rules, problems = ws.rules()
    assert not problems and not RULES & {r.id for r in rules}
    run = ws.pull()
    assert not run.failures
    assert not set(ENTITIES) & {r.entity for r in run.results}
    checked = ws.check()
    assert not checked.problems and not checked.result.errors
    assert not set(ENTITIES) & set(checked.result.findings["entity"])
    assert not RULES & set(checked.result.findings["rule"])


def test_the_shipped_products_map_pulls_both_crms_and_its_rules_find_the_seeded_defects(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = _profile(box, tmp_path, '["products"]')
    data = box.data
    sf_lines, hs_lines = data.salesforce["OpportunityLineItem"], data.hubspot["line_items"]
    # a few line items per opportunity that has any
    assert 2 <= sf_lines.height / sf_lines["OpportunityId"].n_unique() <= 3.5
    first, frames = _pull(profile, [*ENTITIES, "Opportunity"])
    assert {(r.system, r.entity, r.mode) for r in first} >= {  # type: ignore[attr-defined]
        ("salesforce", "Product", "full"),
        ("salesforce", "PricebookEntry", "full"),
        ("salesforce", "LineItem", "full"),
        ("hubspot", "Product", "full"),
        ("hubspot", "LineItem", "full"),
    }
    assert ("hubspot", "PricebookEntry") not in frames  # Salesforce's own

    # every record, typed from describe and the properties API
    sf, hs = frames[("salesforce", "LineItem")], frames[("hubspot", "LineItem")]
    assert (sf.height, hs.height) == (sf_lines.height, hs_lines.height)
    assert (
        frames[("hubspot", "Product")]["is_deleted"].sum() == data.hubspot["products"]["archived"].sum() > 0
    )
    assert sf.schema["quantity"] == sf.schema["unit_price"] == sf.schema["list_price"] == pl.Float64
    assert hs.schema["total_price"] == pl.Float64 and hs.schema["product_id"] == pl.String
    want = sf_lines.select("Id", "OpportunityId", "Product2Id", "PricebookEntryId", "Quantity", "TotalPrice")
    got = sf.select("id", "opportunity_id", "product_id", "pricebook_entry_id", "quantity", "total_price")
    assert sorted(got.rows()) == sorted(want.rows())
    # a HubSpot line item's opportunity is its associated deal; its product the hs_product_id
    links = data.hubspot_associations[("line_items", "deals")]
    assert set(hs.select("id", "opportunity_id").rows()) == {
        (str(a), str(b)) for a, b in links.select("from_id", "to_id").rows()
    }
    products = {str(int(p)) for p in hs_lines["hs_product_id"].drop_nulls()}
    assert set(hs["product_id"].drop_nulls()) == products
    assert hs["product_id"].null_count() > 0  # the services lines made in the deal editor

    # the shipped product rules: their examples pass, and they find exactly what the snapshots say,
    # which is exactly the seeded defects
    ws = Workspace(profile)
    rules, problems = ws.rules()
    assert not problems and {r.id for r in rules} >= RULES
    assert all(e.ok for e in run_examples([r for r in rules if r.id in RULES]))
    checked = ws.check()
    assert not checked.problems and not checked.result.errors
    found = checked.result.findings.filter(pl.col("rule").is_in(list(RULES)))
    got_findings = {(s, r, rule) for s, r, rule in found.select("system", "record_id", "rule").rows()}
    expected = _expected(frames)
    assert got_findings == expected
    defects = data.manifest.defects.filter(pl.col("kind").is_in(list(KIND_RULE)))
    truth = {
        (s, r, ABOVE_PRICE if (s, k) == ("hubspot", "line_item_above_list") else KIND_RULE[k])
        for s, r, k in defects.select("system", "record_id", "kind").rows()
    }
    assert {rule for _, _, rule in truth} == RULES and {s for s, _, _ in truth} == {"salesforce", "hubspot"}
    assert expected == truth
    # Salesforce keeps each opportunity's Amount to the sum of its line items: no such finding there
    assert not {f for f in got_findings if f[0] == "salesforce" and f[2] == TOTAL}

    # a change on each CRM (a line's quantity made negative, a line item deleted), then incremental pulls
    sfc: Any = salesforce_client(box.env)
    hsc = hubspot_client(box.env)
    clean_sf = sf.filter(pl.col("quantity") > 0)["id"].to_list()
    sfc.OpportunityLineItem.update(clean_sf[0], {"Quantity": -1})
    sfc.OpportunityLineItem.delete(clean_sf[1])
    clean_hs = hs.filter(pl.col("product_id").is_not_null() & (pl.col("quantity") > 0))["id"].to_list()
    hsc.crm.objects.basic_api.archive("line_items", clean_hs[0])
    hsc.crm.objects.basic_api.update(  # HubSpot recalculates the line's amount, not the deal's
        "line_items", clean_hs[1], simple_public_object_input={"properties": {"quantity": "7"}}
    )
    second, frames2 = _pull(profile, [*ENTITIES, "Opportunity"])
    assert {r.mode for r in second} == {"incremental"}  # type: ignore[attr-defined]
    sf2, hs2 = frames2[("salesforce", "LineItem")], frames2[("hubspot", "LineItem")]
    assert sf2.filter(pl.col("id") == clean_sf[0])["quantity"][0] == -1.0
    assert sf2.filter(pl.col("id") == clean_sf[1])["is_deleted"][0] is True
    assert hs2.filter(pl.col("id") == clean_hs[0])["is_deleted"][0] is True
    again = Workspace(profile).check().result.findings
    quantity = again.filter(pl.col("rule") == QUANTITY)
    assert ("salesforce", clean_sf[0]) in set(quantity.select("system", "record_id").rows())
    # Salesforce rolled the opportunities' Amounts up to their line items again; HubSpot did not
    totals = again.filter(pl.col("rule") == TOTAL)
    assert set(totals["system"]) == {"hubspot"}
    opps = frames2[("salesforce", "Opportunity")]
    changed = sf2.filter(pl.col("id").is_in([clean_sf[0], clean_sf[1]]))["opportunity_id"].to_list()
    lines = sf2.filter(~pl.col("is_deleted"))
    for opp in changed:
        amount = opps.filter(pl.col("id") == opp)["amount"][0]
        assert abs(lines.filter(pl.col("opportunity_id") == opp)["total_price"].sum() - amount) < 0.01
    deal = hs.filter(pl.col("id") == clean_hs[0])["opportunity_id"][0]
    assert ("hubspot", deal) in set(totals.select("system", "record_id").rows())
    seven = hs2.filter(pl.col("id") == clean_hs[1]).row(0, named=True)
    assert (seven["quantity"], seven["total_price"]) == (7.0, round(7 * seven["unit_price"], 2))
    assert ("hubspot", seven["opportunity_id"]) in set(totals.select("system", "record_id").rows())


def test_the_line_items_total_fix_is_planned_applied_and_undone_on_the_sandbox(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = _profile(box, tmp_path, '["products"]')
    ws = Workspace(profile)
    ws.pull()
    checked = ws.check()
    off = checked.result.findings.filter(pl.col("rule") == TOTAL)
    assert off.height > 0
    planned = ws.plan()
    fixes = [a for a in planned.plan.actions if a.rule == TOTAL]
    assert {(a.system, a.record_id) for a in fixes} == set(off.select("system", "record_id").rows())
    # each proposal is the deal's line items' sum
    frames = _pull(profile, ["LineItem", "Opportunity"])[1]
    lines = frames[("hubspot", "LineItem")].filter(~pl.col("is_deleted"))
    sums = dict(lines.group_by("opportunity_id").agg(pl.col("total_price").sum()).rows())
    assert all(abs(float(a.proposed_value or "nan") - sums[a.record_id]) < 0.01 for a in fixes)
    before = dict(frames[("hubspot", "Opportunity")].select("id", "amount").rows())

    applied = ws.apply(planned.folder, all_actions=True, write=True, rules=[TOTAL])
    assert applied.counts.get("done") == len(fixes), applied.counts
    after = dict(_pull(profile, ["Opportunity"])[1][("hubspot", "Opportunity")].select("id", "amount").rows())
    assert all(abs(after[a.record_id] - sums[a.record_id]) < 0.01 for a in fixes)
    assert not Workspace(profile).check().result.findings.filter(pl.col("rule") == TOTAL).height
    undone = ws.undo(planned.folder, write=True)
    assert undone.counts.get("done") == len(fixes), undone.counts
    restored = dict(
        _pull(profile, ["Opportunity"])[1][("hubspot", "Opportunity")].select("id", "amount").rows()
    )
    assert all(restored[a.record_id] == before[a.record_id] for a in fixes)


def test_products_and_line_items_are_served_under_their_own_scopes_or_the_legacy_e_commerce_one() -> None:
    """HubSpot reads products and line items (and their properties and their associations with deals)
    under ``crm.objects.products.*`` / ``crm.objects.line_items.*``; a private app made before those
    holds ``e-commerce``, which HubSpot still honours; without either, the granular scope is named."""
    granular = {f"crm.objects.{t}.{a}" for t in ("products", "line_items") for a in ("read", "write")}
    paths = (
        "/crm/v3/objects/line_items?limit=1",
        "/crm/v3/properties/products",
        "/crm/v3/objects/products/search",
    )

    def answers(scopes: frozenset[str]) -> list[requests.Response]:
        config = SandboxConfig(
            seed=SeedConfig(records=300, org="plain"), hubspot_limits=HubSpotLimits(scopes=scopes)
        )
        with Sandbox(config) as sandbox:
            auth = {"Authorization": f"Bearer {sandbox.env['CRM_OPS_HUBSPOT_TOKEN']}"}
            base = sandbox.env["CRM_OPS_HUBSPOT_BASE_URL"]
            out = [
                requests.request(
                    "POST" if p.endswith("search") else "GET",
                    base + p,
                    headers=auth,
                    timeout=10,
                    json={"limit": 1} if p.endswith("search") else None,
                )
                for p in paths
            ]
            linked = requests.post(
                base + "/crm/v4/associations/line_items/deals/batch/read",
                json={"inputs": [{"id": "900000000"}]},
                headers=auth,
                timeout=10,
            )
            return [*out, linked]

    granted = answers(DEFAULT_SCOPES)
    assert [a.status_code for a in granted] == [200] * 4
    assert granted[0].json()["results"][0]["id"] == "900000000"
    assert {p["name"] for p in granted[1].json()["results"]} >= {"name", "hs_sku", "price"}
    assert granted[2].json()["total"] == len(CATALOG)  # the live library: the retired products archived
    assert (
        granted[3].json()["results"][0]["to"][0]["associationTypes"][0]["typeId"] == 20
    )  # line item to deal
    legacy = answers((DEFAULT_SCOPES - granular) | {"e-commerce"})
    assert [a.status_code for a in legacy] == [200] * 4
    neither = answers(DEFAULT_SCOPES - granular)
    assert [a.status_code for a in neither] == [403] * 4
    assert [a.json()["errors"][0]["context"]["requiredScopes"] for a in neither] == [
        ["crm.objects.line_items.read"],
        ["crm.objects.products.read"],
        ["crm.objects.products.read"],
        ["crm.objects.line_items.read"],
    ]
