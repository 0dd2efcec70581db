"""Field maps: the shipped ones load and match the CRMs; bad maps fail with file and line; values convert."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from crm_ops.errors import ConfigError
from crm_ops.sandbox.objects import HUBSPOT_OBJECTS, SALESFORCE_OBJECTS
from crm_ops.schema.entities import BOOL, CRM_ENTITIES, DATE, ENTITIES, FLOAT, STR
from crm_ops.schema.mapapply import apply
from crm_ops.schema.maploading import load_map


def test_shipped_maps_load_and_resolve_fully_against_the_sandbox_org() -> None:
    sf = load_map("salesforce")
    assert set(sf.entities) == set(CRM_ENTITIES)  # Subscription and ProductUser come from sources
    for emap in sf.entities.values():
        resolved = emap.resolve({f.name: STR for f in SALESFORCE_OBJECTS[emap.object].fields})
        assert resolved.warnings == []
        assert set(resolved.map.columns) == set(emap.columns)
    hs = load_map("hubspot")
    assert "Lead" not in hs.entities  # HubSpot keeps leads as contacts
    for emap in hs.entities.values():
        if emap.object in HUBSPOT_OBJECTS:
            props = {p.name: STR for p in HUBSPOT_OBJECTS[emap.object].properties}
            assert emap.resolve(props, ignore=["archived"]).warnings == []


def _fields_without(entity: str, *missing: str) -> dict[str, pl.DataType]:
    emap = load_map("salesforce").entity(entity)
    return {f: STR for f in [*emap.fields(), "Id", "SystemModstamp"] if f not in missing}


def test_an_optional_field_the_org_lacks_is_an_empty_column_and_one_warning() -> None:
    emap = load_map("salesforce").entity("Contact")
    resolved = emap.resolve(_fields_without("Contact", "HasOptedOutOfEmail"))
    assert resolved.map.columns["email_opt_out"].field is None
    (warning,) = resolved.warnings
    assert "'HasOptedOutOfEmail'" in warning and "Contact.email_opt_out" in warning
    assert "field-level security" in warning
    raw = pl.DataFrame(
        {"Id": ["003x"], "SystemModstamp": ["2026-01-01T00:00:00.000+0000"], "IsDeleted": [False]}
    )
    out = apply(resolved.map, raw)
    assert out.schema["email_opt_out"] == BOOL and out["email_opt_out"].to_list() == [None]


def test_a_required_field_the_org_lacks_fails_the_entity_naming_field_and_line() -> None:
    emap = load_map("salesforce").entity("Contact")
    with pytest.raises(ConfigError, match=r"salesforce.yaml:\d+: salesforce Contact has no field 'LastName'"):
        emap.resolve(_fields_without("Contact", "LastName"))


def test_linked_id_is_discovered_among_candidates_or_left_to_matching() -> None:
    emap = load_map("hubspot").entity("Contact")
    props = {f: STR for f in emap.fields() if "salesforce" not in f}
    resolved = emap.resolve(props, ignore=["archived"])
    assert resolved.map.columns["linked_id"].field is None
    assert resolved.map.columns["linked_lead_id"].field is None
    assert len(resolved.warnings) == 2
    assert all("Salesforce integration" in w for w in resolved.warnings)
    # the org's own spelling of the first candidate it has
    sf = load_map("salesforce").entity("Contact")
    fields = _fields_without("Contact", "HubSpot_Contact_Id__c")
    fields["hubspot_id__c"] = STR
    assert sf.resolve(fields).map.columns["linked_id"].field == "hubspot_id__c"


def test_profile_switches_optional_columns_off_but_not_required_ones() -> None:
    fmap = load_map("salesforce", overrides={"Contact": {"email_opt_out": False, "linked_id": {"off": True}}})
    contact = fmap.entity("Contact")
    assert "email_opt_out" not in contact.columns and "linked_id" not in contact.columns
    assert (
        contact.resolve(_fields_without("Contact", "HasOptedOutOfEmail", "HubSpot_Contact_Id__c")).warnings
        == []
    )
    with pytest.raises(ConfigError, match=r"Contact.last_name is required and cannot be switched off"):
        load_map("salesforce", overrides={"Contact": {"last_name": False}})
    with pytest.raises(ConfigError, match=r"Contact.id is required"):
        load_map("salesforce", overrides={"Contact": {"id": {"off": True}}})


def test_a_mapped_custom_field_is_typed_as_the_crm_says_and_a_typo_is_an_error() -> None:
    fmap = load_map(
        "hubspot",
        overrides={
            "Contact": {
                "custom_score": "lead_score_x",
                "custom_vip": "is_vip",
                "custom_renewal": "renewal_date",
                "custom_maybe": {"property": "not_there", "optional": True},
            }
        },
    )
    emap = fmap.entity("Contact")
    props: dict[str, pl.DataType] = {f: STR for f in emap.fields() if f not in ("not_there",)}
    props |= {"lead_score_x": FLOAT, "is_vip": BOOL, "renewal_date": DATE}
    resolved = emap.resolve(props, ignore=["archived"])
    assert [w for w in resolved.warnings if "not_there" in w]
    raw = pl.DataFrame(
        {
            "hs_object_id": ["1"],
            "lastmodifieddate": ["2026-01-02T03:04:05.678Z"],
            "archived": ["false"],
            "lead_score_x": ["12.5"],
            "is_vip": ["true"],
            "renewal_date": ["2026-03-31"],
        }
    )
    row = apply(resolved.map, raw).row(0, named=True)
    assert (row["custom_score"], row["custom_vip"], row["custom_renewal"]) == (12.5, True, date(2026, 3, 31))
    assert row["custom_maybe"] is None
    del props["is_vip"]
    with pytest.raises(
        ConfigError, match=r"maps.hubspot.Contact.custom_vip: hubspot contacts has no field 'is_vip'"
    ):
        emap.resolve(props, ignore=["archived"])


def test_a_constant_that_is_not_of_its_columns_type_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"Owner.is_active is Boolean; the constant '' is not one"):
        load_map("salesforce", overrides={"Owner": {"is_active": {"constant": ""}}})


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "map.yaml"
    path.write_text(text)
    return path


def test_unknown_column_names_file_and_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "system: salesforce\nentities:\n  Contact:\n    object: Contact\n    required:\n"
        "      id: Id\n      updated_at: SystemModstamp\n      is_deleted: IsDeleted\n      emial: Email\n",
    )
    with pytest.raises(ConfigError) as raised:
        load_map("salesforce", path)
    assert f"{path}:9: Contact has no canonical column 'emial'" in str(raised.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "system: salesforce\nentities:\n  Contakt:\n    object: Contact\n    required: {}\n"
        "  Account:\n    object: Account\n    required:\n      id: Id\n"
        "    optional:\n      name: {field: Name, transform: upper}\n    columns: {}\n",
    )
    with pytest.raises(ConfigError) as raised:
        load_map("salesforce", path)
    problems = raised.value.problems
    assert any(":3: unknown entity 'Contakt'" in p for p in problems)
    assert any(":11: unknown transform 'upper'" in p for p in problems)
    assert any("Account has unknown key(s) columns" in p for p in problems)
    assert any("Account must map updated_at, is_deleted" in p for p in problems)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "system: salesforce\nentities:\n  Contact: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+: invalid YAML"):
        load_map("salesforce", path)


def test_overrides_replace_and_add_custom_columns_and_reject_unknown_ones() -> None:
    fmap = load_map(
        "salesforce", overrides={"Contact": {"email": "Work_Email__c", "custom_segment": "Segment__c"}}
    )
    contact = fmap.entity("Contact")
    assert contact.columns["email"].field == "Work_Email__c"
    assert contact.columns["custom_segment"].field == "Segment__c"
    with pytest.raises(
        ConfigError, match=r"crm-ops.toml maps.salesforce.Contact.segment: Contact has no canonical"
    ):
        load_map(
            "salesforce", overrides={"Contact": {"segment": "Segment__c"}}, overrides_origin="crm-ops.toml"
        )


def test_apply_converts_wire_strings_to_canonical_types() -> None:
    emap = load_map("hubspot").entity("Opportunity")
    raw = pl.DataFrame(
        {
            "hs_object_id": ["300000001", "300000002"],
            "hs_lastmodifieddate": ["2026-01-02T03:04:05.678Z", "1767323045678"],
            "archived": ["false", "true"],
            "amount": ["1250.5", ""],
            "closedate": ["2026-03-31T00:00:00Z", None],
            "hs_deal_stage_probability": ["0.4", "1"],
            "dealname": ["Big deal", ""],
            "__assoc_companies": ["200000007", None],
            "my_custom_prop": ["x", None],
        }
    )
    out = apply(emap, raw, custom=["my_custom_prop"])
    assert list(out.columns[: len(ENTITIES["Opportunity"])]) == list(ENTITIES["Opportunity"])
    row = out.row(0, named=True)
    assert row["updated_at"] == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert out["updated_at"][1] == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert out["is_deleted"].to_list() == [False, True]
    assert out["amount"].to_list() == [1250.5, None]
    assert out["close_date"].to_list() == [date(2026, 3, 31), None]
    assert out["probability"].to_list() == [40.0, 100.0]
    assert out["name"].to_list() == ["Big deal", None]
    assert out["account_id"].to_list() == ["200000007", None]
    assert out["source_system"].to_list() == ["hubspot", "hubspot"]
    assert out["custom_my_custom_prop"].to_list() == ["x", None]


def test_apply_reads_salesforce_offsets_and_numbers() -> None:
    emap = load_map("salesforce").entity("Account")
    raw = pl.DataFrame(
        {
            "Id": ["0018d0000000001AAA"],
            "SystemModstamp": ["2026-05-06T07:08:09.000+0000"],
            "IsDeleted": [False],
            "NumberOfEmployees": [120.0],
            "AnnualRevenue": [1.5e6],
            "LastActivityDate": ["2026-05-01"],
        }
    )
    row = apply(emap, raw).row(0, named=True)
    assert row["updated_at"] == datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert row["employees"] == 120
    assert row["annual_revenue"] == 1.5e6
    assert row["last_activity_date"] == date(2026, 5, 1)
    assert row["name"] is None
