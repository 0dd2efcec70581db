"""The org-change diff (issue 27): the compact metadata of both CRMs, each change's id and severity (loud
for what the tool uses, info for unmapped churn), and the versions the state keeps."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from crm_ops.connectors.orgmeta import ObjectMeta, hubspot_property, salesforce_field
from crm_ops.monitors.compat import incompatible_values
from crm_ops.monitors.schema import diff_metadata, watch_object
from crm_ops.state import ORG_VERSIONS_KEPT, State

USES = {"email": ("map salesforce Contact.Email -> Contact.email", "rule person.email.format")}


def _sf(name: str, **extra: object) -> dict[str, object]:
    return {"name": name, "type": "string", "length": 80, "nillable": True, "createable": True,
            "updateable": True, **extra}  # fmt: skip


def test_salesforce_describe_kept_compact() -> None:
    raw = _sf(
        "Rating__c",
        type="picklist",
        length=255,
        picklistValues=[{"value": "Hot", "active": True}, {"value": "Old", "active": False}],
        label="Rating",
        inlineHelpText="secret-free help",
    )
    assert salesforce_field(raw) == {"type": "picklist", "length": 255, "picklist": ["Hot"]}
    assert salesforce_field(_sf("LastName", nillable=False))["required"] is True
    # not nillable but defaulted on create (OwnerId), or not createable: not required of a caller
    assert "required" not in salesforce_field(_sf("OwnerId", nillable=False, defaultedOnCreate=True))
    assert salesforce_field(_sf("Name", nillable=False, createable=False)) == {
        "length": 80,
        "createable": False,
    }


def test_hubspot_property_kept_compact() -> None:
    raw = {
        "name": "lifecyclestage",
        "type": "enumeration",
        "fieldType": "radio",
        "options": [{"value": "lead", "hidden": False}, {"value": "other", "hidden": True}],
        "hidden": False,
        "hasUniqueValue": False,
        "modificationMetadata": {"readOnlyValue": False},
        "label": "Lifecycle stage",
    }
    assert hubspot_property(raw) == {"type": "enumeration", "field_type": "radio", "picklist": ["lead"]}
    flags = hubspot_property({"name": "x", "type": "bool", "fieldType": "booleancheckbox", "hidden": True,
                              "options": [{"value": "true"}], "calculated": True,
                              "hasUniqueValue": True})  # fmt: skip
    assert flags == {"type": "bool", "field_type": "booleancheckbox", "hidden": True, "calculated": True,
                     "unique": True}  # fmt: skip


def _changes(before: ObjectMeta, after: ObjectMeta) -> dict[str, str]:
    return {
        f"{f.field} {f.monitor}": f.severity
        for f in diff_metadata("salesforce", "Contact", before, after, USES)
    }


def test_a_used_field_is_loud_and_an_unused_one_is_info() -> None:
    before: ObjectMeta = {"Email": {"type": "email", "length": 80}, "Fax": {"length": 40}}
    assert _changes(before, {}) == {
        "Email monitor.schema.field_removed": "error",
        "Fax monitor.schema.field_removed": "info",
    }
    retyped: ObjectMeta = {"Email": {"type": "double"}, "Fax": {"type": "double"}}
    assert _changes(before, retyped) == {
        "Email monitor.schema.field_retyped": "error",  # text to a number: values no longer fit
        "Fax monitor.schema.field_retyped": "info",
    }
    same_column: ObjectMeta = {"Email": {"type": "string", "length": 40}, "Fax": {"length": 20}}
    assert _changes(before, same_column) == {
        "Email monitor.schema.field_retyped": "warning",  # still text
        "Email monitor.schema.length_changed": "warning",
        "Fax monitor.schema.length_changed": "info",
    }
    longer: ObjectMeta = {"Email": {"type": "email", "length": 255}, "Fax": {"length": 40}}
    assert _changes(before, longer) == {"Email monitor.schema.length_changed": "info"}


def test_required_write_access_hidden_and_added() -> None:
    before: ObjectMeta = {"Email": {"type": "email"}}
    after: ObjectMeta = {
        "Email": {"type": "email", "required": True, "updateable": False},
        "Shoe__c": {"type": "double"},
    }
    assert _changes(before, after) == {
        "Shoe__c monitor.schema.field_added": "info",
        "Email monitor.schema.required_changed": "warning",
        "Email monitor.schema.write_lost": "warning",
    }
    hidden = diff_metadata("hubspot", "Contact", {"email": {}, "fax": {}}, {"email": {"hidden": True},
                           "fax": {"hidden": True}}, USES)  # fmt: skip
    assert [(f.field, f.monitor, f.severity) for f in hidden] == [
        ("email", "monitor.schema.field_hidden", "warning"),
        ("fax", "monitor.schema.field_hidden", "info"),
    ]
    assert hidden[0].affects == USES["email"] and "used by map salesforce" in hidden[0].message


def test_a_picklist_value_removed_is_a_warning_only_while_records_hold_it() -> None:
    before: ObjectMeta = {"LeadSource": {"type": "picklist", "picklist": ["Web", "Phone", "Fair"]}}
    after: ObjectMeta = {"LeadSource": {"type": "picklist", "picklist": ["Web", "Email"]}}
    held = {"Phone": 1234, "Fair": 0}
    found = diff_metadata("salesforce", "Contact", before, after, held=lambda f, v: held[v])
    assert [(f.monitor, f.severity, f.observed, f.expected) for f in found] == [
        ("monitor.schema.picklist_value_added", "info", "Email", None),
        ("monitor.schema.picklist_value_removed", "warning", "1,234 records", "Phone"),
        ("monitor.schema.picklist_value_removed", "info", "0 records", "Fair"),
    ]
    assert "1,234 pulled record(s) hold it" in found[1].message


def test_the_state_keeps_a_few_versions_and_the_first_pull_is_a_baseline(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    first = {"Email": {"type": "email"}}
    assert watch_object(state, "salesforce", "Contact", first, USES) == []
    assert watch_object(state, "salesforce", "Contact", first, USES) == []  # nothing changed
    assert state.metadata_versions("salesforce", "Contact") == 1
    for n in range(ORG_VERSIONS_KEPT + 2):
        state.keep_metadata("salesforce", "Contact", {"Email": {"type": "email", "length": 10 + n}})
    assert state.metadata_versions("salesforce", "Contact") == ORG_VERSIONS_KEPT
    kept = state.metadata("salesforce", "Contact")
    assert kept is not None and kept[1] == {"Email": {"type": "email", "length": 10 + ORG_VERSIONS_KEPT + 1}}
    assert state.metadata("hubspot", "Contact") is None
    state.close()


def test_linked_values_the_other_side_refuses() -> None:
    frame = pl.DataFrame(
        {
            "linked_id": ["1", "2", "3", None, "5"],
            "is_deleted": [False, False, False, False, True],
            "stage": ["Won", "Lost", "Lost", "Odd", "Odd"],
            "title": ["VP", "Head of Everything", None, "Far too long a title", "Far too long a title"],
        }
    )
    meta: ObjectMeta = {"Stage": {"type": "picklist", "picklist": ["Won"]}, "Title": {"length": 10}}
    found = incompatible_values(
        "Opportunity",
        "hubspot",
        frame,
        "salesforce",
        meta,
        {"stage": "Stage", "title": "Title"},
        ["stage", "title"],
    )
    # the unlinked and the deleted record are left out
    assert [(f.monitor, f.observed) for f in found] == [
        ("monitor.compat.value_not_in_options", "2 records"),
        ("monitor.compat.too_long", "1 records, longest 18"),
    ]
    assert "'Lost' (2)" in found[0].message and found[0].expected == "salesforce Stage options: Won"
