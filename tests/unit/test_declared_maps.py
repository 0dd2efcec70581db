"""Entities declared by maps: an object map file loads with the CRM's system columns by default, its
columns typed by the map or the CRM's metadata, its parents named; mistakes fail with file, line and the
nearest valid name; the declared schema is known to the rest of crm_ops."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from crm_ops.config import load_profile
from crm_ops.errors import ConfigError
from crm_ops.schema.entities import BOOL, COMMON, DATE, FLOAT, INT, STR, TIME, columns, is_entity
from crm_ops.schema.mapapply import apply
from crm_ops.schema.maploading import load_map, load_object_map

PROJECTS = """\
system: salesforce
entities:
  Project:
    object: Project__c
    required:
      name: Name
    optional:
      account_id: {field: Account__c, parent: Account}
      budget: Budget__c
      phase_count: {field: Phases__c, type: int}
"""


def _write(tmp_path: Path, text: str, name: str = "objects.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_declared_entity_gets_the_system_columns_its_parents_and_a_known_schema(tmp_path: Path) -> None:
    fmap = load_object_map(_write(tmp_path, PROJECTS))
    emap = fmap.entity("Project")
    assert fmap.system == "salesforce" and emap.declared and emap.object == "Project__c"
    assert {c: s.names for c, s in emap.columns.items() if c in COMMON} == {
        "id": ("Id",),
        "updated_at": ("SystemModstamp",),
        "is_deleted": ("IsDeleted",),
        "created_at": ("CreatedDate",),
        "owner_id": ("OwnerId",),
    }
    assert not emap.columns["id"].optional and emap.columns["owner_id"].optional
    assert emap.parents() == {"account_id": "Account"}
    assert is_entity("Project")
    assert list(columns("Project"))[: len(COMMON)] == list(COMMON)
    assert columns("Project")["phase_count"] == INT
    # the shipped map and the declared one together, for the CRM the file is for only
    both = load_map("salesforce", declared=[_write(tmp_path, PROJECTS)])
    assert "Project" in both.entities and "Contact" in both.entities
    assert "Project" not in load_map("hubspot", declared=[_write(tmp_path, PROJECTS)]).entities


def test_columns_without_a_type_take_the_crms_and_apply_converts_the_wire_strings(tmp_path: Path) -> None:
    emap = load_object_map(_write(tmp_path, PROJECTS)).entity("Project")
    metadata: dict[str, pl.DataType] = {
        "Id": STR,
        "SystemModstamp": TIME,
        "IsDeleted": BOOL,
        "CreatedDate": TIME,
        "Name": STR,
        "Account__c": STR,
        "Budget__c": FLOAT,
        "Phases__c": FLOAT,  # the map's type wins: int
    }
    resolved = emap.resolve(metadata)
    # OwnerId absent (a detail object has no owner): an empty column and a warning, not an error
    assert resolved.map.columns["owner_id"].field is None and len(resolved.warnings) == 1
    raw = pl.DataFrame(
        {
            "Id": ["a0P000000000001AAA"],
            "SystemModstamp": ["2026-03-01T10:00:00.000+0000"],
            "IsDeleted": ["false"],
            "CreatedDate": ["2025-01-02T00:00:00.000Z"],
            "Name": ["Rollout"],
            "Account__c": ["001000000000001AAA"],
            "Budget__c": ["1250.5"],
            "Phases__c": ["3.0"],
        }
    )
    frame = apply(resolved.map, raw)
    assert frame.schema["budget"] == FLOAT and frame.schema["phase_count"] == INT
    assert frame.schema["updated_at"] == TIME and frame.schema["owner_id"] == STR
    row = frame.row(0, named=True)
    assert row["budget"] == 1250.5 and row["phase_count"] == 3 and row["account_id"] == "001000000000001AAA"
    assert row["updated_at"] == datetime(2026, 3, 1, 10, tzinfo=UTC) and row["is_deleted"] is False
    assert row["source_system"] == "salesforce" and row["owner_id"] is None
    assert row["created_at"] == datetime(2025, 1, 2, tzinfo=UTC)


def test_mistakes_in_an_object_map_are_named_with_file_line_and_nearest_name(tmp_path: Path) -> None:
    text = (
        PROJECTS.replace("type: int}", "type: integer}")
        .replace("parent: Account}", "parent: Acount}")
        .replace("      budget: Budget__c", "      Budget: Budget__c")
        + "  Contact:\n    object: Contact\n"
        + "  project_task:\n    object: Task__c\n"
    )
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_object_map(path)
    problems = caught.value.problems
    known = "known: string, float, int, bool, date, datetime"
    assert f"{path}:10: unknown type 'integer' (did you mean 'int'?); {known}" in problems
    assert any(p.startswith(f"{path}:9: Project.Budget: a column name is lower case") for p in problems)
    parent = "Project.account_id: parent 'Acount' is no entity (did you mean 'Account'?)"
    assert any(p.startswith(f"{path}:8: {parent}") for p in problems)
    assert any(p.startswith(f"{path}:11: Contact is a core entity") for p in problems)
    assert any(p.startswith(f"{path}:13: entity name 'project_task'") for p in problems)
    hubspot = _write(tmp_path, "system: hubspot\nentities:\n  Project:\n    objekt: p_projects\n", "hs.yaml")
    with pytest.raises(ConfigError, match=r"hs.yaml:3: Project needs 'object'"):
        load_object_map(hubspot)
    with pytest.raises(ConfigError, match=r"'system' must be one of salesforce, hubspot, got 'pipedrive'"):
        load_object_map(_write(tmp_path, "system: pipedrive\nentities: {}\n", "pd.yaml"))


def test_entities_declared_in_the_profile_itself_are_checked_and_named_by_setting(tmp_path: Path) -> None:
    config = tmp_path / "crm-ops.toml"
    config.write_text(
        "[profiles.p]\n"
        "[profiles.p.objects.salesforce.Milestone]\n"
        'object = "Milestone__c"\n'
        'required = {name = "Name"}\n'
        "[profiles.p.objects.salesforce.Milestone.optional]\n"
        'project_id = {field = "Project__c", parent = "Projet"}\n'
        'due = {field = "Due__c", type = "day"}\n'
        "[profiles.p.objects.hubspot.Milestone]\n"
        'objekt = "p_milestones"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_profile(config, "p")
    where = f"{config} profiles.p objects"
    problems = caught.value.problems
    assert any(
        p.startswith(f"{where}.salesforce.Milestone.optional.due: unknown type 'day'") for p in problems
    )
    assert any(
        p.startswith(
            f"{where}.salesforce.Milestone.optional.project_id: Milestone.project_id: parent 'Projet'"
        )
        for p in problems
    )
    needs = "Milestone needs 'object', the CRM object it comes from (did you mean 'object'?)"
    assert f"{where}.hubspot.Milestone: {needs}" in problems
    config.write_text(
        "[profiles.p]\n"
        "[profiles.p.objects.hubspot.Milestone]\n"
        'object = "p_milestones"\n'
        'required = {name = "milestone_name"}\n'
        "[profiles.p.objects.hubspot.Milestone.optional]\n"
        'project_id = {association = "p_projects"}\n'
        'due = {property = "due_date", type = "date"}\n'
    )
    profile = load_profile(config, "p")
    assert set(profile.objects["hubspot"]) == {"Milestone"}
    emap = load_map("hubspot", declared_tables=profile.objects["hubspot"]).entity("Milestone")
    assert emap.declared and emap.object == "p_milestones" and emap.associations() == ["p_projects"]
    assert columns("Milestone")["due"] == DATE


def test_the_shipped_rules_of_an_object_map_wake_only_for_the_profiles_that_enable_it(tmp_path: Path) -> None:
    from crm_ops.check import profile_rules
    from crm_ops.schema.objectmaps import shipped_object_map

    for path in shipped_object_map("cases"):
        load_object_map(path)  # another profile of this process enabled the cases map
    assert is_entity("Case")
    config = tmp_path / "crm-ops.toml"
    config.write_text(
        '[profiles.plain]\nstate_dir = "a"\n[profiles.cases]\nstate_dir = "b"\nobject_maps = ["cases"]\n'
    )
    plain, _ = profile_rules(load_profile(config, "plain"))
    with_cases, _ = profile_rules(load_profile(config, "cases"))
    case_rules = {"case.subject.required", "case.closed_date.required"}
    assert not case_rules & {r.id for r in plain}
    assert case_rules <= {r.id for r in with_cases}
