"""The shipped maps against real orgs' recorded answers (shared/fixtures/recorded), served by a replay.

Every recorded Salesforce describe is pulled through the unchanged connector: the map resolves against
the real field list (optional fields the org lacks become warnings, never errors), and the snapshot
holds the recorded records' values. The recorded HubSpot owners are pulled likewise, and every recorded
property list is held to the map's types. A recording added to shared/ is picked up by these tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.config import load_profile
from crm_ops.pull import Puller, read_snapshot
from crm_ops.schema.entities import ENTITIES, TIME
from crm_ops.schema.fieldmap import canonical_type
from crm_ops.schema.maploading import load_map
from tests.replay import RECORDED, Replay, recorded_describes, recorded_records, recording, replay

pytestmark = pytest.mark.integration
if not RECORDED.is_dir():  # a checkout without shared/ beside it
    pytest.skip(f"recorded fixtures not found at {RECORDED}", allow_module_level=True)

DESCRIBED = sorted(recorded_describes())
SF_ENTITY = {emap.object: name for name, emap in load_map("salesforce").entities.items()}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    with replay(tmp_path_factory.mktemp("replay")) as r:
        yield r


def _puller(served: Replay, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Puller:
    monkeypatch.setenv("CRM_OPS_SF_ACCESS_TOKEN", "00D000000000001!REDACTED")
    monkeypatch.setenv("CRM_OPS_HUBSPOT_TOKEN", "pat-na1-REDACTED")
    config = folder / "crm-ops.toml"
    config.write_text(
        f"""[profiles.replay]
state_dir = "{(folder / "state").as_posix()}"
[profiles.replay.salesforce]
auth = "session"
instance_url = "{served.salesforce_url}"
ca_bundle = "{served.ca_path.as_posix()}"
[profiles.replay.hubspot]
base_url = "{served.hubspot_url}"
"""
    )
    return Puller(load_profile(config, "replay"))


def test_the_recordings_hold_a_describe_and_records_to_replay() -> None:
    assert "Contact" in DESCRIBED
    assert recorded_records()["Contact"], "the recorded Contact read holds a record"


@pytest.mark.parametrize("obj", DESCRIBED)
def test_each_recorded_describe_pulls_with_the_shipped_map(
    obj: str, served: Replay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entity = SF_ENTITY[obj]
    describe = recorded_describes()[obj]
    names = {f["name"] for f in describe["fields"]}
    puller = _puller(served, tmp_path, monkeypatch)
    try:
        (result,) = puller.pull_many(["salesforce"], [entity])
    finally:
        puller.close()
    emap = load_map("salesforce").entity(entity)
    absent = {c for c, s in emap.columns.items() if s.names and not any(n in names for n in s.names)}
    assert all(emap.columns[c].optional for c in absent), "a real org lacks only optional fields"
    # a column absent as some orgs' are by design (CurrencyIsoCode in a single-currency org) is no warning
    warned = {c for c in absent if not emap.columns[c].absent_ok}
    assert len(result.warnings) == len(warned)
    for column in warned:
        assert any(f"{entity}.{column}" in w for w in result.warnings)
    snapshot = read_snapshot(tmp_path / "state", "salesforce", entity)
    records = {r["Id"]: r for r in recorded_records().get(obj, [])}
    assert sorted(snapshot["id"]) == sorted(records)
    for row in snapshot.iter_rows(named=True):
        record = records[row["id"]]
        for column, src in emap.columns.items():
            if src.field in record and ENTITIES[entity].get(column) not in (TIME, None):
                value = record[src.field]
                assert row[column] == (None if value == "" else value), f"{entity}.{column}"
        # the org's own custom fields ride along
        for name in (f["name"] for f in describe["fields"] if f["custom"] and f["type"] != "address"):
            assert f"custom_{name}" in snapshot.columns


@pytest.mark.parametrize("obj", DESCRIBED)
def test_the_map_types_agree_with_each_recorded_describe(obj: str) -> None:
    entity = SF_ENTITY[obj]
    types = {f["name"]: f["type"] for f in recorded_describes()[obj]["fields"]}
    for column, src in load_map("salesforce").entity(entity).columns.items():
        if src.field in types and column in ENTITIES[entity]:
            assert canonical_type("salesforce", types[src.field]) == ENTITIES[entity][column], (
                f"{entity}.{column} is {ENTITIES[entity][column]} but {obj}.{src.field} is {types[src.field]}"
            )


def test_the_recorded_hubspot_owners_pull_as_owners(
    served: Replay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    puller = _puller(served, tmp_path, monkeypatch)
    try:
        (result,) = puller.pull_many(["hubspot"], ["Owner"])
    finally:
        puller.close()
    assert result.warnings == ()
    owners: list[dict[str, Any]] = recording(RECORDED / "hubspot" / "owners_list.json")["response"]["body"][
        "results"
    ]
    snapshot = read_snapshot(tmp_path / "state", "hubspot", "Owner").sort("id")
    assert snapshot["id"].to_list() == sorted(o["id"] for o in owners)
    by_id = {o["id"]: o for o in owners}
    for row in snapshot.iter_rows(named=True):
        owner = by_id[row["id"]]
        assert (row["email"], row["first_name"], row["last_name"]) == (
            owner["email"],
            owner["firstName"],
            owner["lastName"],
        )
        assert row["is_active"] is (not owner["archived"])
        assert row["updated_at"] is not None and row["updated_at"].tzinfo is not None


PROPERTY_LISTS = sorted((RECORDED / "hubspot").glob("properties_list_*.json"))
HS_ENTITY = {emap.object: name for name, emap in load_map("hubspot").entities.items()}


@pytest.mark.parametrize("path", PROPERTY_LISTS, ids=lambda p: p.stem)
def test_the_map_types_agree_with_each_recorded_property_list(path: Path) -> None:
    body = recording(path)["response"]["body"]
    entity = HS_ENTITY[path.stem.removeprefix("properties_list_")]
    emap = load_map("hubspot").entity(entity)
    checked = 0
    for prop in body["results"]:
        column = emap.column_for(prop["name"])
        if column is None or column not in ENTITIES[entity] or emap.columns[column].transform:
            continue
        expected: pl.DataType = ENTITIES[entity][column]
        got = canonical_type("hubspot", prop["type"])
        assert got == expected, f"{entity}.{column} is {expected} but {prop['name']} is {prop['type']}"
        checked += 1
    assert checked, f"{path.name} holds no property the map reads"
