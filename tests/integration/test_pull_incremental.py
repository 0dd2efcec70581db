"""Incremental pulls bring exactly what changed, in both CRMs: updates, new records, deletions,
including more than 10,000 HubSpot changes in one window (past the search API's cap)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hubspot import HubSpot

from crm_ops.pull import Puller
from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.server import Sandbox
from tests.pulling import fast_sandbox, profile_for

pytestmark = pytest.mark.integration
HS_CHANGES = 10_500


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(15_000, 21) as sb:
        yield sb


def _snapshot(puller: Puller, system: str, entity: str) -> pl.DataFrame:
    current = puller.state.current(system, entity)
    assert current is not None
    return current.snapshot.read().sort("id")


def _differing_ids(before: pl.DataFrame, after: pl.DataFrame) -> set[str]:
    """Ids whose row is new, gone or different between two snapshots."""
    joined = before.join(after, on="id", how="full", suffix="__new", coalesce=True, nulls_equal=True)
    differs = pl.lit(False)
    for column in before.columns:
        if column == "id":
            continue
        old, new = pl.col(column), pl.col(f"{column}__new")
        differs = differs | old.ne_missing(new)
    return set(joined.filter(differs)["id"].to_list())


def test_incremental_pull_returns_exactly_the_changes(box: Sandbox, tmp_path: Path) -> None:
    profile = profile_for(box, tmp_path)
    puller = Puller(profile)
    entities = ["Account", "Contact", "Opportunity"]
    puller.pull_many(["salesforce", "hubspot"], entities)
    before = {(s, e): _snapshot(puller, s, e) for s in ("salesforce", "hubspot") for e in entities}

    sf: Any = salesforce_client(box.env)  # simple-salesforce's sobject attributes are dynamic
    hs: HubSpot = hubspot_client(box.env)
    # Salesforce: 30 updates, 4 new contacts, 3 deleted contacts, one deleted account
    sf_contacts = before[("salesforce", "Contact")].filter(~pl.col("is_deleted"))["id"].to_list()
    updated = sf_contacts[:30]
    for i, cid in enumerate(updated):
        sf.Contact.update(cid, {"Title": f"Changed title {i}"})
    deleted = sf_contacts[100:103]
    for cid in deleted:
        sf.Contact.delete(cid)
    created = [
        str(sf.Contact.create({"LastName": f"Newperson{i}", "Email": f"new{i}@example.org"})["id"])
        for i in range(4)
    ]
    account = before[("salesforce", "Account")].filter(~pl.col("is_deleted"))["id"][0]
    sf.Account.delete(account)

    # HubSpot: 10,500 contacts updated (one search window past the 10,000 cap), 3 created, 2 archived
    hs_contacts = before[("hubspot", "Contact")].filter(~pl.col("is_deleted"))["id"].to_list()
    assert len(hs_contacts) > HS_CHANGES + 10
    hs_updated = hs_contacts[:HS_CHANGES]
    for start in range(0, HS_CHANGES, 100):
        chunk = hs_updated[start : start + 100]
        inputs = [{"id": i, "properties": {"jobtitle": f"Title {i}"}} for i in chunk]
        hs.crm.contacts.batch_api.update(batch_input_simple_public_object_batch_input={"inputs": inputs})
    hs_created = [
        hs.crm.contacts.basic_api.create(
            simple_public_object_input_for_create={"properties": {"email": f"fresh{i}@example.net"}}
        ).id
        for i in range(3)
    ]
    hs_archived = hs_contacts[-2:]
    for cid in hs_archived:
        hs.crm.contacts.basic_api.archive(cid)

    results = {(r.system, r.entity): r for r in puller.pull_many(["salesforce", "hubspot"], entities)}
    assert all(r.mode == "incremental" for r in results.values())
    after = {(s, e): _snapshot(puller, s, e) for s in ("salesforce", "hubspot") for e in entities}

    assert _differing_ids(before[("salesforce", "Contact")], after[("salesforce", "Contact")]) == {
        *updated,
        *deleted,
        *created,
    }
    assert _differing_ids(before[("salesforce", "Account")], after[("salesforce", "Account")]) == {account}
    assert (
        _differing_ids(before[("salesforce", "Opportunity")], after[("salesforce", "Opportunity")]) == set()
    )
    hs_diff = _differing_ids(before[("hubspot", "Contact")], after[("hubspot", "Contact")])
    assert hs_diff == {*hs_updated, *hs_created, *hs_archived}
    assert _differing_ids(before[("hubspot", "Account")], after[("hubspot", "Account")]) == set()

    contacts = after[("salesforce", "Contact")]
    assert contacts.filter(pl.col("id").is_in(deleted))["is_deleted"].all()
    assert contacts.filter(pl.col("id").is_in(updated[:1]))["title"].to_list() == ["Changed title 0"]
    hs_after = after[("hubspot", "Contact")]
    assert hs_after.filter(pl.col("id").is_in(hs_archived))["is_deleted"].all()
    last = hs_updated[-1]
    assert hs_after.filter(pl.col("id") == last)["title"].to_list() == [f"Title {last}"]
    # the pull brought the changes (and, at most, the few records in the overlap window), not everything
    hs_result = results[("hubspot", "Contact")]
    assert HS_CHANGES + 5 <= hs_result.changed <= HS_CHANGES + 5 + 50
    assert results[("salesforce", "Contact")].changed <= 37 + 50

    # and the incremental snapshot equals a fresh full pull of the CRMs as they are now
    fresh = Puller(profile_for(box, tmp_path / "fresh"))
    fresh.pull_many(["salesforce", "hubspot"], entities, full=True)
    for key, frame in after.items():
        assert _differing_ids(frame, _snapshot(fresh, *key)) == set(), key
