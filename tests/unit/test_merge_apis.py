"""Which duplicates become merges (issue 26): only those of objects their CRM merges by API
(``crm_ops.schema.relations.MERGE_APIS``: Salesforce Account, Contact, Lead, Case; HubSpot contacts,
companies, deals, tickets); the rest are flags naming the record they duplicate, and a merge counts the
child records it moves."""

from __future__ import annotations

import polars as pl

from crm_ops.plan import build_plan
from crm_ops.plan.context import Context
from crm_ops.rules.model import FINDINGS_SCHEMA, example_frame
from crm_ops.schema.maploading import load_map
from crm_ops.schema.objectmaps import shipped_object_map
from crm_ops.schema.relations import CRM_MERGE_APIS, MERGE_APIS, relations, shipped_relations


def _duplicate(system: str, entity: str, record_id: str, survivor: str) -> dict[str, object]:
    return {"rule": "match.duplicate", "entity": entity, "system": system, "record_id": record_id,
            "field": "merge_into", "severity": "warning", "message": f"Duplicate of {survivor}",
            "proposed_value": survivor, "confidence": 0.95}  # fmt: skip


def test_a_duplicate_merges_only_where_its_crm_has_a_merge_api() -> None:
    rows = [
        _duplicate("salesforce", "Account", "a2", "a1"),
        _duplicate("salesforce", "Opportunity", "o2", "o1"),  # Salesforce merges no opportunities
        _duplicate("hubspot", "Opportunity", "d2", "d1"),  # HubSpot merges deals
        _duplicate("hubspot", "Contact", "h2", "h1"),
    ]
    findings = pl.DataFrame(rows, schema=FINDINGS_SCHEMA)
    plan = build_plan(findings, profile="p")
    kinds = {(a.system, a.entity): a.kind for a in plan.actions}
    assert kinds == {
        ("salesforce", "Account"): "merge",
        ("salesforce", "Opportunity"): "flag",
        ("hubspot", "Opportunity"): "merge",
        ("hubspot", "Contact"): "merge",
    }
    (flag,) = [a for a in plan.actions if a.kind == "flag"]
    assert flag.reason == (
        "Duplicate of o1: duplicates; Salesforce has no merge for Opportunity: merge by hand or delete one"
    )
    assert flag.other_id == "o1" and flag.proposed_value is None
    # every object a CRM merges by API, crm_ops merges (and undoes): deals and tickets included; not
    # Salesforce's cases, which its API's merge() does not take
    assert (
        {
            "salesforce": frozenset({"Account", "Contact", "Lead"}),
            "hubspot": frozenset({"contacts", "companies", "deals", "tickets"}),
        }
        == MERGE_APIS
        == CRM_MERGE_APIS
    )


def test_tickets_merge_and_salesforce_cases_are_flagged_for_the_merge_cases_page() -> None:
    cases = shipped_object_map("cases")
    fmaps = [load_map(system, declared=cases) for system in ("salesforce", "hubspot")]
    rels = relations(fmaps)
    rows = [_duplicate("salesforce", "Case", "c2", "c1"), _duplicate("hubspot", "Case", "t2", "t1")]
    plan = build_plan(pl.DataFrame(rows, schema=FINDINGS_SCHEMA), profile="p", relations=rels)
    assert {(a.system, a.kind, a.other_id or a.proposed_value) for a in plan.actions} == {
        ("salesforce", "flag", "c1"), ("hubspot", "merge", "t1"),
    }  # fmt: skip
    (flag,) = [a for a in plan.actions if a.kind == "flag"]
    assert flag.reason == (
        "Duplicate of c1: duplicates; Salesforce merges cases on the case's Merge Cases page (or in Apex), "
        "not through its API: merge by hand or close one"
    )
    assert rels.object_of("hubspot", "Case") == "tickets"


def test_a_merge_counts_the_live_children_of_the_merged_away_record() -> None:
    contacts = example_frame(
        "Contact",
        [{"id": "c1", "account_id": "a2"}, {"id": "c2", "account_id": "a2"}, {"id": "c3", "account_id": "a1"},
         {"id": "c4", "account_id": "a2", "is_deleted": True}],
        "salesforce",
    )  # fmt: skip
    opportunities = example_frame("Opportunity", [{"id": "o1", "account_id": "a2"}], "salesforce")
    accounts = example_frame("Account", [{"id": "a1"}, {"id": "a2"}, {"id": "a3"}], "salesforce")
    frames = {"salesforce": {"Account": accounts, "Contact": contacts, "Opportunity": opportunities}}
    findings = pl.DataFrame(
        [_duplicate("salesforce", "Account", "a2", "a1"), _duplicate("salesforce", "Account", "a3", "a1")],
        schema=FINDINGS_SCHEMA,
    )
    plan = build_plan(findings, profile="p", context=Context(frames), relations=shipped_relations())
    moves = {a.record_id: (a.detail or {})["moves"] for a in plan.actions}
    assert moves == {"a2": {"Contact.account_id": 2, "Opportunity.account_id": 1}, "a3": {}}
