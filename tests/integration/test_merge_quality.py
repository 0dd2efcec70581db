"""Merges that keep what matters, on both emulated CRMs: the survivor ends opted out when only the
merged-away record was, its values come from the merge rules (Salesforce: in the merge call itself),
secondary e-mails are kept, a rejected pair stays rejected until a matched field changes, a lead
converts into its contact; and undo restores each case exactly, or the plan said beforehand what it
cannot restore."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.config import Profile
from crm_ops.connectors.base import Change
from crm_ops.match import survivorship
from crm_ops.match.config import DEFAULTS
from crm_ops.match.run import matched_fields, run_matching
from crm_ops.plan import build_plan, write_plan
from crm_ops.plan.apply import Applier, undo_plan
from crm_ops.plan.format import Action, read_plan
from crm_ops.plan.review import Review, rejections
from crm_ops.plan.reviewfile import read_rejections
from crm_ops.pull import Puller
from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.server import Sandbox
from crm_ops.schema.entities import ENTITIES
from tests.command import crm_ops
from tests.integration.test_merge import _plan
from tests.pulling import changed_cells, fast_sandbox, profile_for

pytestmark = pytest.mark.integration
PULLED = ["Account", "Contact", "Lead", "Opportunity", "ContactRole"]


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(1200, 91) as sb:
        yield sb


def _state(profile: Profile, system: str) -> dict[str, pl.DataFrame]:
    """What the CRM holds now (a fresh full pull), without modification stamps."""
    puller = Puller(profile)
    puller.pull_many([system], PULLED if system == "salesforce" else PULLED[:2] + PULLED[3:], full=True)
    out = {}
    for c in puller.state.all_current():
        if c.system == system:
            columns = [k for k in ENTITIES[c.entity] if k != "updated_at"]
            out[c.entity] = c.snapshot.read().select(columns).sort("id")
    puller.close()
    return out


def _frames(puller: Puller, system: str, entities: list[str]) -> dict[str, pl.DataFrame]:
    puller.pull_many([system], entities, full=True)
    out = {}
    for entity in entities:
        current = puller.state.current(system, entity)
        assert current is not None
        out[entity] = current.snapshot.read()
    return out


def _merge_plan(frame: pl.DataFrame, ids: list[str], system: str, plan_id: str) -> list[Action]:
    """The plan's merge actions for ``ids`` as one cluster (the shipped merge rules)."""
    cluster = frame.filter(pl.col("id").is_in(ids))
    n = len(ids) - 1
    pairs = pl.DataFrame(
        {"left_id": [ids[0]] * n, "right_id": ids[1:], "score": [0.97] * n, "reasons": ["email"] * n}
    )
    findings = survivorship(cluster, pairs, system, "Contact", matched=matched_fields(DEFAULTS["Contact"]))
    plan = build_plan(findings, profile="sandbox", review=Review())
    return [a for a in plan.actions if a.kind == "merge"]


def _row(conn: Any, entity: str, record_id: str) -> dict[str, Any]:
    return dict(conn.read(entity, [record_id]).row(0, named=True))


def test_a_salesforce_survivor_ends_opted_out_in_the_merge_call_and_undo_restores_it(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = profile_for(box, tmp_path)
    puller = Puller(profile)
    contacts = _frames(puller, "salesforce", ["Contact"])["Contact"]
    original = contacts.filter(
        ~pl.col("is_deleted") & ~pl.col("email_opt_out") & pl.col("account_id").is_not_null()
        & pl.col("phone").is_not_null() & pl.col("email").is_not_null()
    ).row(0, named=True)  # fmt: skip
    sf: Any = salesforce_client(box.env)
    sf.Contact.update(original["id"], {"Department": None})  # a blank the duplicate fills
    # the same person typed in again, opted out, with a department the original lacks
    dup_id = sf.Contact.create(
        {"FirstName": original["first_name"], "LastName": original["last_name"], "Email": original["email"],
         "HasOptedOutOfEmail": True, "Department": "Procurement"}
    )["id"]  # fmt: skip
    before = _state(profile, "salesforce")
    contacts = _frames(puller, "salesforce", ["Contact"])["Contact"]
    (merge,) = _merge_plan(contacts, [original["id"], dup_id], "salesforce", "opt-sf")
    assert merge.proposed_value == original["id"] and merge.record_id == dup_id
    values = {v["field"]: v for v in (merge.detail or {})["values"]}
    assert values["email_opt_out"]["value"] is True and values["email_opt_out"]["from"] == [dup_id]
    assert values["department"]["value"] == "Procurement"

    conn = puller.connector("salesforce")
    applier = Applier(puller.state, puller.connector)
    calls = conn.api_calls
    assert applier.apply("opt-sf", [merge], dry_run=False).counts == {"done": 1}
    # re-read, links, one merge call carrying the values, the survivor read after: no separate update
    assert conn.api_calls - calls == 4
    survivor = _row(conn, "Contact", original["id"])
    assert survivor["email_opt_out"] is True and survivor["department"] == "Procurement"
    assert conn.read("Contact", [dup_id]).height == 0 or _row(conn, "Contact", dup_id)["is_deleted"]

    undo = undo_plan(puller.state, _plan("opt-sf", [merge]))
    assert applier.apply(undo.header.plan_id, undo.actions, dry_run=False).counts == {"done": 1}
    restored = _state(profile, "salesforce")
    for entity, frame in before.items():
        assert changed_cells(frame, restored[entity]) == set(), entity


def test_a_hubspot_survivor_ends_opted_out_keeps_the_address_and_the_plan_says_undo_cannot_resubscribe(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = profile_for(box, tmp_path)
    puller = Puller(profile)
    contacts = _frames(puller, "hubspot", ["Contact"])["Contact"]
    original = contacts.filter(
        ~pl.col("is_deleted") & pl.col("email").is_not_null() & pl.col("phone").is_not_null()
        & pl.col("title").is_not_null() & pl.col("account_id").is_not_null()
    ).row(3, named=True)  # fmt: skip
    hs: Any = hubspot_client(box.env)
    dup_email = "ann.second@dup-example.org"
    dup_id = str(
        hs.crm.contacts.basic_api.create(
            simple_public_object_input_for_create={
                "properties": {"firstname": original["first_name"], "lastname": original["last_name"],
                               "email": dup_email, "phone": original["phone"]}
            }
        ).id
    )  # fmt: skip
    conn = puller.connector("hubspot")
    # the duplicate's address opted out of all e-mail (the only way HubSpot writes it)
    (opted,) = conn.push("Contact", [_change(dup_id, {"email_opt_out": True})])
    assert opted.ok, opted.error
    assert _row(conn, "Contact", dup_id)["email_opt_out"] is True
    # and a person may not subscribe it again through crm-ops
    (refused,) = conn.push("Contact", [_change(dup_id, {"email_opt_out": False})])
    assert not refused.ok and "does not resubscribe" in (refused.error or "")
    before = _row(conn, "Contact", original["id"])
    contacts = _frames(puller, "hubspot", ["Contact"])["Contact"]
    (merge,) = _merge_plan(contacts, [original["id"], dup_id], "hubspot", "opt-hs")
    assert merge.proposed_value == original["id"]
    values = {v["field"]: v["value"] for v in (merge.detail or {})["values"]}
    assert values["email_opt_out"] is True
    assert dup_email in str(values["additional_emails"]).split(";")
    # before anyone approves it, the plan says what undo cannot put back
    assert merge.approved is False and "HubSpot does not resubscribe" in merge.review_reason

    applier = Applier(puller.state, puller.connector)
    report = applier.apply("opt-hs", [merge], dry_run=False)
    assert report.counts == {"done": 1}, report.outcomes
    survivor = _row(conn, "Contact", original["id"])
    assert survivor["email_opt_out"] is True
    assert dup_email in str(survivor["additional_emails"]).split(";")  # the duplicate is not created again
    created = hs.crm.contacts.basic_api
    with pytest.raises(Exception, match=r"409|already exists"):
        created.create(simple_public_object_input_for_create={"properties": {"email": dup_email}})

    undo = undo_plan(puller.state, _plan("opt-hs", [merge]))
    report = applier.apply(undo.header.plan_id, undo.actions, dry_run=False)
    assert report.counts == {"done": 1}, report.outcomes
    (outcome,) = report.outcomes
    assert "resubscribe" in (outcome["error"] or "")  # said again, after the undo
    back = _row(conn, "Contact", original["id"])
    for column in ENTITIES["Contact"]:
        if column in ("updated_at", "email_opt_out"):
            continue
        assert back[column] == before[column], column
    assert back["email_opt_out"] is True  # HubSpot keeps the opt-out, as the plan said
    new_id = puller.state.journal(undo.header.plan_id)[undo.actions[0].action_id]["after"]
    again = _row(conn, "Contact", new_id)
    assert again["email"] == dup_email and again["first_name"] == original["first_name"]


def _change(record_id: str, values: dict[str, Any]) -> Change:
    return Change(record_id, values)


def test_a_rejected_pair_is_not_proposed_again_until_a_matched_field_changes(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = profile_for(box, tmp_path)
    puller = Puller(profile)
    contacts = _frames(puller, "salesforce", ["Contact", "Account"])["Contact"]
    person = contacts.filter(
        ~pl.col("is_deleted") & pl.col("phone").is_not_null() & pl.col("email").is_not_null()
    ).row(40, named=True)
    sf: Any = salesforce_client(box.env)
    twin_id = sf.Contact.create(
        {"FirstName": person["first_name"], "LastName": person["last_name"], "Email": person["email"],
         "Phone": person["phone"], "AccountId": person["account_id"]}
    )["id"]  # fmt: skip

    def proposed() -> set[str]:
        frames = {"salesforce": {e: _frames(puller, "salesforce", [e])[e] for e in ("Contact", "Account")}}
        found = run_matching(frames, rejected=puller.state.rejections()).findings
        merges = found.filter(pl.col("rule") == "match.duplicate")
        return {r for r, s in merges.select("record_id", "proposed_value").iter_rows() if {r, s} >= {twin_id}}

    assert proposed()
    frames = {"salesforce": {e: _frames(puller, "salesforce", [e])[e] for e in ("Contact", "Account")}}
    plan = build_plan(run_matching(frames).findings, profile="sandbox", review=Review())
    folder = tmp_path / "plan"
    write_plan(plan, folder)
    with (folder / "plan.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    pair = [a for a in plan.actions if a.kind == "merge" and twin_id in (a.record_id, a.proposed_value)]
    ours = [r for r in rows if r["action_id"] in {a.action_id for a in pair}]
    assert ours and all(r["approve"] == "" for r in ours)  # undecided until a person says
    for r in ours:
        r["approve"] = "no"  # not a duplicate
    with (folder / "plan.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    # the CLI remembers it when the reviewed plan is applied
    env = {**os.environ, **box.env, "CRM_OPS_CONFIG": str(tmp_path / "crm-ops.toml")}
    done = crm_ops("apply", folder, "--review", folder / "plan.csv", "--yes", env=env)
    assert done.returncode == 0, done.stderr
    assert "rejected pair(s) remembered" in done.stdout
    remembered = puller.state.rejections()
    assert {(r["record_id"], r["other_id"]) for r in remembered} >= {
        (a.record_id, a.proposed_value) for a in pair
    }
    # and keeps the verdict with the pair's explanation: the model's precision is held to it (issue 28)
    said = {(v["record_id"], v["other_id"]): v for v in puller.state.verdicts()}
    for a in pair:
        verdict = said[(a.record_id, str(a.proposed_value))]
        assert verdict["verdict"] == "not_duplicate" and verdict["explain"].startswith("prior ")
    assert read_rejections(folder / "plan.csv", read_plan(folder / "plan.jsonl"))
    assert rejections([]) == []
    assert not proposed()  # not proposed on the next run

    sf.Contact.update(twin_id, {"Title": "Head of Rejections"})  # not a matched field
    assert not proposed()
    # a matched field changes (written another way, still the same number): a person should look again
    digits = "".join(c for c in str(person["phone"]) if c.isdigit())
    sf.Contact.update(twin_id, {"Phone": f"{digits[:-7]}-{digits[-7:-4]}-{digits[-4:]}"})
    assert proposed()
    sf.Contact.update(twin_id, {"Phone": person["phone"]})
    assert not proposed()  # back as it was when rejected
    forgot = crm_ops("match", "--forget", env=env)
    assert forgot.returncode == 0, forgot.stderr
    assert f"forgot {len(remembered)} rejected pair(s)" in forgot.stdout
    assert proposed()


def test_a_lead_converts_into_its_contact_and_the_plan_says_it_cannot_be_undone(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = profile_for(box, tmp_path)
    puller = Puller(profile)
    frames = _frames(puller, "salesforce", ["Contact", "Account", "Lead"])
    contact = frames["Contact"].filter(
        ~pl.col("is_deleted") & pl.col("account_id").is_not_null() & pl.col("email").is_not_null()
        & pl.col("phone").is_not_null() & ~pl.col("email_opt_out")
    ).row(7, named=True)  # fmt: skip
    sf: Any = salesforce_client(box.env)
    sf.Contact.update(contact["id"], {"Title": None})  # a blank the lead fills
    lead_id = sf.Lead.create(
        {"FirstName": contact["first_name"], "LastName": contact["last_name"], "Email": contact["email"],
         "Phone": contact["phone"], "Company": "Acme <b>Corp</b>", "Status": "Open - Not Contacted",
         "Title": "Chief Buyer", "HasOptedOutOfEmail": True}
    )["id"]  # fmt: skip
    before = _state(profile, "salesforce")
    pulled = {"salesforce": _frames(puller, "salesforce", ["Contact", "Account", "Lead"])}
    plan = build_plan(run_matching(pulled).findings, profile="sandbox", review=Review())
    (convert,) = [a for a in plan.actions if a.kind == "convert" and a.record_id == lead_id]
    assert convert.proposed_value == contact["id"]
    assert convert.approved is False and "cannot be undone" in convert.review_reason
    assert "Salesforce cannot unconvert a lead" in convert.review_reason
    values = {v["field"]: v["value"] for v in (convert.detail or {})["values"]}
    assert values["email_opt_out"] is True and values["title"] == "Chief Buyer"
    folder = tmp_path / "plan"
    write_plan(plan, folder)
    with (folder / "plan.csv").open(encoding="utf-8", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["action_id"] == convert.action_id)
    assert row["approve"] == "" and "cannot be undone" in row["review_reason"]
    assert "email_opt_out = true (any_true" in row["survivor_values"]

    applier = Applier(puller.state, puller.connector)
    report = applier.apply(plan.header.plan_id, [convert], dry_run=False)
    assert report.counts == {"done": 1}, report.outcomes
    conn = puller.connector("salesforce")
    lead = _row(conn, "Lead", lead_id)
    assert lead["is_converted"] and lead["converted_contact_id"] == contact["id"]
    assert lead["converted_account_id"] == contact["account_id"] and lead["converted_opportunity_id"] is None
    merged = _row(conn, "Contact", contact["id"])
    assert merged["email_opt_out"] is True and merged["title"] == "Chief Buyer"
    # converting again changes nothing
    assert applier.apply(plan.header.plan_id, [convert], dry_run=False).counts == {"already done": 1}

    undo = undo_plan(puller.state, plan)
    (back,) = [a for a in undo.actions if a.record_id == lead_id]
    assert back.kind == "unconvert"
    report = applier.apply(undo.header.plan_id, [back], dry_run=False)
    assert report.counts == {"irreversible": 1}
    assert "stays converted" in (report.outcomes[0]["error"] or "")
    after = _state(profile, "salesforce")
    for entity, frame in before.items():
        moved = changed_cells(frame, after[entity])
        if entity == "Lead":  # what the plan said undo cannot do: the lead stays converted
            assert {c for _, c in moved} <= {"is_converted", "converted_date", "converted_account_id",
                                              "converted_contact_id", "status"}  # fmt: skip
            assert {r for r, _ in moved} == {lead_id}
        else:
            assert moved == set(), entity
    payload = json.loads(back.proposed_value or "{}")
    assert (
        payload["contact"]["record"]["title"] is None
        and payload["contact"]["after"]["title"] == "Chief Buyer"
    )
