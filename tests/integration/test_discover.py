"""``crm-ops discover`` (issue 26): map files for the org's custom objects no map reads, written from the
org's metadata, that a profile enables as they are: the sandbox's ``Subscription__c`` (a lookup to Account)
and HubSpot ``p_subscriptions`` type (associated with companies) pull with their parents' ids."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from crm_ops.api import Workspace
from crm_ops.errors import ConfigError
from crm_ops.pull import Puller
from crm_ops.sandbox.server import Sandbox
from tests.command import crm_ops
from tests.pulling import fast_sandbox, object_maps_profile

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(600, 2605) as sb:
        yield sb


def test_discovered_maps_declare_the_unmapped_custom_objects_and_pull_as_written(
    box: Sandbox, tmp_path: Path
) -> None:
    ws = Workspace(object_maps_profile(box, tmp_path / "first"))
    folder = tmp_path / "maps"
    found = {d.system: d for d in ws.discover(folder)}
    assert {s: d.entities for s, d in found.items()} == {
        "salesforce": {"Subscription__c": "SfSubscription"},  # Subscription is the billing entity
        "hubspot": {"p_subscriptions": "Subscriptions"},
    }
    sf = yaml.safe_load(found["salesforce"].path.read_text())["entities"]["SfSubscription"]
    assert sf["object"] == "Subscription__c" and sf["required"] == {"name": "Name"}
    assert sf["optional"]["account_id"] == {"field": "Account__c", "parent": "Account"}
    assert sf["optional"]["status"] == "Status__c" and "owner_id" not in sf["optional"]
    assert not {"CreatedById", "LastModifiedDate", "SystemModstamp"} & set(map(str, sf["optional"].values()))
    hs = yaml.safe_load(found["hubspot"].path.read_text())["entities"]["Subscriptions"]
    assert hs["required"] == {"name": "subscription_name"}
    assert hs["optional"]["account_id"] == {"association": "companies", "parent": "Account"}
    assert not any(str(v).startswith("hs_") for v in hs["optional"].values())

    # a file already there is not replaced; an object the org lacks is named with the nearest one
    with pytest.raises(ConfigError, match="exists; add --force"):
        ws.discover(folder)
    with pytest.raises(ConfigError, match=r"no object 'Subscriptoin__c' .* did you mean 'Subscription__c'"):
        ws.discover(tmp_path / "other", objects=["Subscriptoin__c"])

    # enabled as written, the files pull both objects, with their accounts
    files = f'["{found["salesforce"].path}", "{found["hubspot"].path}"]'
    profile = object_maps_profile(box, tmp_path / "second", files)
    puller = Puller(profile)
    try:
        pulled = puller.pull_many(["salesforce", "hubspot"], ["SfSubscription", "Subscriptions"])
        assert {(r.system, r.entity) for r in pulled} == {
            ("salesforce", "SfSubscription"),
            ("hubspot", "Subscriptions"),
        }
        snapshots = {
            r.system: puller.state.current(r.system, r.entity).snapshot.read()  # type: ignore[union-attr]
            for r in pulled
        }
    finally:
        puller.close()
    truth_sf = box.data.salesforce["Subscription__c"]
    got = snapshots["salesforce"].select("id", "name", "account_id", "status").sort("id").rows()
    assert got == truth_sf.select("Id", "Name", "Account__c", "Status__c").sort("Id").rows()
    truth_hs = box.data.hubspot["p_subscriptions"]
    assert snapshots["hubspot"].height == truth_hs.height
    links = box.data.hubspot_associations[("p_subscriptions", "companies")]
    pairs = {(str(a), str(b)) for a, b in links.select("from_id", "to_id").rows()}
    hs_rows = snapshots["hubspot"].select("id", "account_id").rows()
    assert {(i, a) for i, a in hs_rows if a is not None} == pairs


def test_the_command_names_the_files_and_the_setting_to_add(box: Sandbox, tmp_path: Path) -> None:
    object_maps_profile(box, tmp_path)
    done = crm_ops(
        "discover", "--object", "Subscription__c", "--out", "maps",
        env={**os.environ, **box.env, "CRM_OPS_CONFIG": str(tmp_path / "crm-ops.toml")},
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote maps/discovered-salesforce.yaml: Subscription__c as SfSubscription" in done.stdout
    assert 'object_maps = ["maps/discovered-salesforce.yaml"]' in done.stdout
    assert not (tmp_path / "maps" / "discovered-hubspot.yaml").exists()  # only the object named


def test_an_object_already_mapped_is_refused_naming_its_entity(box: Sandbox, tmp_path: Path) -> None:
    ws = Workspace(object_maps_profile(box, tmp_path, '["cases"]'))
    with pytest.raises(ConfigError, match=r"Case \(mapped to Case\) already mapped"):
        ws.discover(tmp_path / "maps", objects=["Case"])
    assert not (tmp_path / "maps").exists() or not any((tmp_path / "maps").iterdir())
