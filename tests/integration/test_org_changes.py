"""The org's metadata kept and diffed (issue 27): each change an admin makes between two pulls (a field
dropped, hidden, retyped or shortened, a picklist value or HubSpot option removed, a field added) is
reported by the next pull and run, with its severity and what of the tool it affects; a mapped field gone
does not stop the pull of the others; nothing changed, nothing reported."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from crm_ops.api import Workspace
from crm_ops.doctor import run_doctor
from crm_ops.monitors import MonitorFinding, breaker_reasons
from crm_ops.pull import read_snapshot
from crm_ops.sandbox import orgchanges as oc
from crm_ops.sandbox.clients import salesforce_client
from crm_ops.sandbox.hs_objects import HsProperty
from crm_ops.sandbox.server import Sandbox
from crm_ops.sandbox.sf_objects import SfField
from tests.command import crm_ops
from tests.pulling import fast_sandbox, profile_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(300, 2701) as sb:
        yield sb


@pytest.fixture(autouse=True)
def undone(box: Sandbox) -> Iterator[None]:
    """Each test's changes to the org undone after it."""
    before = oc.saved(box)
    yield
    oc.restore(box, before)


def _baseline(box: Sandbox, folder: Path) -> Workspace:
    """A workspace whose first pull of Contact kept the org's metadata (and reported nothing)."""
    ws = Workspace(profile_for(box, folder))
    first = ws.pull(entities=["Contact"])
    assert not first.failures and first.monitors == []
    return ws


def _by_field(found: list[MonitorFinding]) -> dict[tuple[str, str | None, str], MonitorFinding]:
    return {(f.system, f.field, f.monitor.removeprefix("monitor.schema.")): f for f in found}


def test_nothing_changed_nothing_reported(box: Sandbox, tmp_path: Path) -> None:
    ws = _baseline(box, tmp_path)
    again = ws.pull(entities=["Contact"])
    assert not again.failures and again.monitors == []


def test_a_mapped_salesforce_field_dropped_is_an_error_and_the_rest_is_pulled(
    box: Sandbox, tmp_path: Path
) -> None:
    ws = _baseline(box, tmp_path)
    oc.sf_drop_field(box, "Contact", "MobilePhone")
    # the emulator answers as Salesforce does: the field is absent from SOQL too
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_FIELD"):
        salesforce_client(box.env).query("SELECT Id, MobilePhone FROM Contact LIMIT 1")
    run = ws.pull(entities=["Contact"])
    assert not run.failures and {r.system for r in run.results} == {"salesforce", "hubspot"}
    found = _by_field(run.monitors)
    gone = found[("salesforce", "MobilePhone", "field_removed")]
    assert gone.severity == "error" and gone.entity == "Contact"
    assert gone.affects[0] == "map salesforce Contact.MobilePhone -> Contact.mobile_phone"
    assert "MobilePhone" in breaker_reasons(run.monitors)[0]
    assert any("MobilePhone" in w for w in run.warnings)
    # a full pull reads the other fields and leaves the dropped one's column empty; the change was
    # reported once: the metadata kept is now this one
    full = ws.pull(entities=["Contact"], systems=["salesforce"], full=True)
    assert not full.failures and full.monitors == []
    pulled = read_snapshot(ws.state_dir, "salesforce", "Contact")
    assert pulled["last_name"].null_count() == 0 and pulled["email"].drop_nulls().len() > 100
    assert pulled["mobile_phone"].drop_nulls().len() == 0


def test_a_required_mapped_field_dropped_fails_that_pull_only_and_says_which(
    box: Sandbox, tmp_path: Path
) -> None:
    ws = _baseline(box, tmp_path)
    oc.hs_archive_property(box, "contacts", "lastname")
    run = ws.pull(entities=["Contact"])
    assert [(f.system, f.entity) for f in run.failures] == [("hubspot", "Contact")]
    assert "lastname" in str(run.failures[0])
    assert {r.system for r in run.results} == {"salesforce"}
    gone = _by_field(run.monitors)[("hubspot", "lastname", "field_removed")]
    assert gone.severity == "error" and "map hubspot contacts.lastname -> Contact.last_name" in gone.affects


def test_salesforce_retype_length_picklist_and_added_field(box: Sandbox, tmp_path: Path) -> None:
    ws = _baseline(box, tmp_path)
    held = (
        read_snapshot(ws.state_dir, "salesforce", "Contact")
        .filter(pl.col("lead_source") == "Partner Referral")
        .height
    )
    assert held > 0
    oc.sf_change_field(box, "Contact", "DoNotCall", type="string", length=5)  # values no longer fit
    oc.sf_change_field(box, "Contact", "Department", type="textarea")  # still text
    oc.sf_change_field(box, "Contact", "Title", length=40)
    oc.sf_remove_picklist_value(box, "Contact", "LeadSource", "Partner Referral")
    oc.sf_add_field(box, "Contact", SfField("Shoe_Size__c", "double", label="Shoe Size"), pl.Float64())
    run = ws.pull(entities=["Contact"], systems=["salesforce"])
    assert not run.failures
    found = _by_field(run.monitors)
    assert {k: f.severity for k, f in found.items()} == {
        ("salesforce", "DoNotCall", "field_retyped"): "error",
        ("salesforce", "Department", "field_retyped"): "warning",
        ("salesforce", "Title", "length_changed"): "warning",
        ("salesforce", "LeadSource", "picklist_value_removed"): "warning",
        ("salesforce", "Shoe_Size__c", "field_added"): "info",
    }
    removed = found[("salesforce", "LeadSource", "picklist_value_removed")]
    assert f"{held:,} pulled record(s) hold it" in removed.message and removed.observed == f"{held:,} records"
    assert found[("salesforce", "Title", "length_changed")].affects == (
        "map salesforce Contact.Title -> Contact.title",
        "rule person.title.placeholder",
        "drift sync match.drift.title",
    )
    assert found[("salesforce", "Shoe_Size__c", "field_added")].affects == ()
    assert "longer values will be refused" in found[("salesforce", "Title", "length_changed")].message


def test_hubspot_option_removed_property_hidden_and_added(box: Sandbox, tmp_path: Path) -> None:
    ws = _baseline(box, tmp_path)
    stages = (
        read_snapshot(ws.state_dir, "hubspot", "Contact")["lifecycle_stage"]
        .drop_nulls()
        .value_counts(sort=True)
    )
    used, count = stages.row(0)
    oc.hs_remove_option(box, "contacts", "lifecyclestage", used)
    oc.hs_hide_property(box, "contacts", "phone")
    oc.hs_add_property(
        box, "contacts", HsProperty("shoe_size", "number", "number", "Shoe size", stored=False)
    )
    run = ws.pull(entities=["Contact"], systems=["hubspot"])
    assert not run.failures
    found = _by_field(run.monitors)
    assert {k: f.severity for k, f in found.items()} == {
        ("hubspot", "lifecyclestage", "picklist_value_removed"): "warning",
        ("hubspot", "phone", "field_hidden"): "warning",
        ("hubspot", "shoe_size", "field_added"): "info",
    }
    assert (
        f"{count:,} pulled record(s) hold it"
        in found[("hubspot", "lifecyclestage", "picklist_value_removed")].message
    )
    hidden = found[("hubspot", "phone", "field_hidden")]
    assert "match Contact blocking key [phone]" in hidden.affects
    assert "cross-CRM link cross.Contact field phone" in hidden.affects
    # a hidden property is still read: its column is filled
    assert read_snapshot(ws.state_dir, "hubspot", "Contact")["phone"].drop_nulls().len() > 0


def test_the_nightly_run_lists_the_changes_in_its_summary(box: Sandbox, tmp_path: Path) -> None:
    ws = Workspace(profile_for(box, tmp_path))
    assert ws.run().summary["monitors"] == []
    oc.sf_remove_picklist_value(box, "Account", "Industry", "Media")
    oc.hs_archive_property(box, "companies", "city")
    result = ws.run()
    summary = json.loads((result.folder / "summary.json").read_text())
    assert [
        (m["monitor"], m["system"], m["entity"], m["field"], m["severity"]) for m in summary["monitors"]
    ] == [
        ("monitor.schema.picklist_value_removed", "salesforce", "Account", "Industry", "warning"),
        ("monitor.schema.field_removed", "hubspot", "Account", "city", "error"),
    ]
    # a field the map reads gone trips the circuit breaker: nothing applied unattended, exit 9
    assert summary["breaker"]["tripped"] and result.exit_code == 9
    assert [r for r in summary["breaker"]["reasons"] if "hubspot.Account.city" in r]
    report = (result.folder / "report.html").read_text()  # warnings and errors among the report's notices
    assert "org changed: hubspot Account.city is gone" in report
    assert "used by map hubspot companies.city -&gt; Account.city" in report


def test_crm_ops_pull_prints_a_line_per_change(box: Sandbox, tmp_path: Path) -> None:
    _baseline(box, tmp_path)
    oc.hs_archive_property(box, "contacts", "jobtitle")
    done = crm_ops("pull", "-c", tmp_path / "crm-ops.toml", "-e", "Contact", env={**os.environ, **box.env})
    assert done.returncode == 0, done.stderr
    assert (
        "org changed: error: monitor.schema.field_removed hubspot.Contact.jobtitle "
        "(affects map hubspot contacts.jobtitle -> Contact.title +2)"
    ) in done.stderr


def test_linked_values_the_other_crm_will_not_take(box: Sandbox, tmp_path: Path) -> None:
    ws = _baseline(box, tmp_path)
    hubspot = read_snapshot(ws.state_dir, "hubspot", "Contact").filter(pl.col("linked_id").is_not_null())
    too_long = hubspot.filter(pl.col("title").str.len_chars() > 12).height
    off = hubspot.filter(pl.col("country").is_not_null() & ~pl.col("country").is_in(["DE", "FR"])).height
    assert too_long and off
    oc.sf_change_field(box, "Contact", "Title", length=12)
    oc.sf_change_field(box, "Contact", "MailingCountry", type="picklist", picklist=("DE", "FR"))
    run = ws.pull(entities=["Contact"])
    compat = {f.monitor: f for f in run.monitors if f.monitor.startswith("monitor.compat.")}
    assert set(compat) == {"monitor.compat.too_long", "monitor.compat.value_not_in_options"}
    long = compat["monitor.compat.too_long"]
    assert (long.system, long.field, long.severity) == ("hubspot", "title", "warning")
    assert long.observed is not None and long.observed.startswith(f"{too_long:,} records")
    assert long.affects[0] == "drift sync match.drift.title"
    options = compat["monitor.compat.value_not_in_options"]
    assert (options.system, options.field, options.observed) == ("hubspot", "country", f"{off:,} records")
    assert "'US' (" in options.message and "they will not sync" in options.message
    # a clean org (the first pull, and the next with nothing changed) has none: no nightly noise
    assert not [f for f in ws.pull(entities=["Contact"]).monitors if f.monitor.startswith("monitor.schema.")]


def test_doctor_shows_the_changes_since_the_last_pull_without_keeping_them(
    box: Sandbox, tmp_path: Path
) -> None:
    ws = _baseline(box, tmp_path)
    assert not [f for f in run_doctor(ws.profile) if f.check == "org changes"]
    oc.sf_drop_field(box, "Contact", "Email")
    oc.sf_add_field(box, "Contact", SfField("Shoe_Size__c", "double", label="Shoe Size"), pl.Float64())
    lines = [(f.system, f.status, f.detail) for f in run_doctor(ws.profile) if f.check == "org changes"]
    assert [(s, st) for s, st, _ in lines] == [("salesforce", "fail"), ("salesforce", "ok")]
    assert "Contact.Email is gone" in lines[0][2] and lines[1][2].startswith("1 change(s)")
    # the doctor kept nothing: the next pull still reports the change
    found = _by_field(ws.pull(entities=["Contact"], systems=["salesforce"]).monitors)
    assert found[("salesforce", "Email", "field_removed")].severity == "error"
