"""Field maps: the shipped ones load and match the CRMs; bad maps fail with file and line; values convert."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from crm_ops.errors import ConfigError
from crm_ops.sandbox.objects import HUBSPOT_OBJECTS, SALESFORCE_OBJECTS
from crm_ops.schema.entities import ENTITIES
from crm_ops.schema.fieldmap import apply, load_map


def test_shipped_maps_load_and_name_only_fields_the_crms_have() -> None:
    sf = load_map("salesforce")
    assert set(sf.entities) == set(ENTITIES)
    for emap in sf.entities.values():
        emap.check_fields(f.name for f in SALESFORCE_OBJECTS[emap.object].fields)
    hs = load_map("hubspot")
    assert "Lead" not in hs.entities  # HubSpot keeps leads as contacts
    for emap in hs.entities.values():
        if emap.object in HUBSPOT_OBJECTS:
            emap.check_fields([p.name for p in HUBSPOT_OBJECTS[emap.object].properties], ignore=["archived"])


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "map.yaml"
    path.write_text(text)
    return path


def test_unknown_column_names_file_and_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "system: salesforce\nentities:\n  Contact:\n    object: Contact\n    columns:\n"
        "      id: Id\n      updated_at: SystemModstamp\n      is_deleted: IsDeleted\n      emial: Email\n",
    )
    with pytest.raises(ConfigError) as raised:
        load_map("salesforce", path)
    assert f"{path}:9: Contact has no canonical column 'emial'" in str(raised.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "system: salesforce\nentities:\n  Contakt:\n    object: Contact\n    columns: {}\n"
        "  Account:\n    object: Account\n    columns:\n      id: Id\n"
        "      name: {field: Name, transform: upper}\n",
    )
    with pytest.raises(ConfigError) as raised:
        load_map("salesforce", path)
    problems = raised.value.problems
    assert any(":3: unknown entity 'Contakt'" in p for p in problems)
    assert any(":10: unknown transform 'upper'" in p for p in problems)
    assert any("Account must map updated_at, is_deleted" in p for p in problems)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "system: salesforce\nentities:\n  Contact: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+: invalid YAML"):
        load_map("salesforce", path)


def test_check_fields_names_the_missing_field_and_its_line(tmp_path: Path) -> None:
    emap = load_map("salesforce").entity("Contact")
    with pytest.raises(ConfigError, match=r"salesforce.yaml:\d+: salesforce Contact has no field 'Email'"):
        emap.check_fields(["Id", "SystemModstamp"] + [f for f in emap.fields() if f != "Email"])


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
