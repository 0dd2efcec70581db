"""One contract, both connectors: the same assertions run against Salesforce and HubSpot."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from crm_ops.connectors.base import Change, Connector, FieldInfo
from crm_ops.errors import ConfigError, FatalApiError
from crm_ops.pull import connect
from crm_ops.sandbox.server import Sandbox
from crm_ops.schema.entities import ENTITIES
from crm_ops.state import now
from tests.pulling import profile_for

pytestmark = pytest.mark.integration
SYSTEMS = ["salesforce", "hubspot"]
# a custom column mapped in config, to prove user maps reach the frames
EXTRA = """
[profiles.sandbox.maps.salesforce.Contact]
custom_dept = "Department"

[profiles.sandbox.maps.hubspot.Contact]
custom_company_name = "company"
"""


@pytest.fixture(params=SYSTEMS)
def conn(request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path: Path) -> Connector:
    return connect(profile_for(sandbox, tmp_path, extra=EXTRA), request.param)


def _pull_all(conn: Connector, entity: str) -> tuple[pl.DataFrame, list[dict[str, object] | None]]:
    pages = list(conn.pull(entity, since=None, until=now(), cursor=None))
    cursors = [p.cursor for p in pages]
    frames = [p.frame for p in pages if p.frame.height]
    return pl.concat(frames, how="diagonal_relaxed"), cursors


def test_connector_satisfies_the_protocol(conn: Connector) -> None:
    assert isinstance(conn, Connector)
    assert {"Account", "Contact", "Opportunity", "Owner", "ContactRole"} <= set(conn.entities())
    assert set(conn.entities()) <= set(ENTITIES)


def test_describe_names_the_fields_behind_the_canonical_columns(conn: Connector) -> None:
    fields = conn.describe("Contact")
    assert all(isinstance(f, FieldInfo) for f in fields)
    canonical = {f.canonical for f in fields if f.canonical}
    assert {"id", "email", "first_name", "last_name", "updated_at"} <= canonical


def test_full_pull_pages_are_canonical_and_resumable(conn: Connector) -> None:
    frame, cursors = _pull_all(conn, "Contact")
    schema = ENTITIES["Contact"]
    assert frame.columns[: len(schema)] == list(schema)
    assert {c: frame.schema[c] for c in schema} == schema
    assert "custom_dept" in frame.columns or "custom_company_name" in frame.columns
    assert frame["id"].is_unique().all()
    assert frame["source_system"].unique().to_list() == [conn.system]
    assert cursors[-1] is None, "the last page must say the pull is complete"
    assert all(json.loads(json.dumps(c)) == c for c in cursors[:-1]), "cursors must survive JSON"
    assert frame.filter(~pl.col("is_deleted")).height <= conn.count("Contact", None) <= frame.height


def test_pull_resumes_from_any_cursor_without_loss_or_duplicates(conn: Connector) -> None:
    whole, _ = _pull_all(conn, "Contact")
    pages = list(conn.pull("Contact", since=None, until=now(), cursor=None))
    middle = next(p.cursor for p in pages if p.cursor and p.frame.height)
    head = pl.concat(
        [p.frame for p in pages[: pages.index(next(p for p in pages if p.cursor is middle)) + 1]]
    )
    tail = [p.frame for p in conn.pull("Contact", since=None, until=now(), cursor=middle) if p.frame.height]
    joined = pl.concat([head, *tail], how="diagonal_relaxed")
    assert joined.height == whole.height
    assert set(joined["id"]) == set(whole["id"])


def test_read_returns_current_values_by_id(conn: Connector) -> None:
    whole, _ = _pull_all(conn, "Contact")
    live = whole.filter(~pl.col("is_deleted")).sort("id")
    ids = live["id"].to_list()[:5]
    again = conn.read("Contact", ids).sort("id")
    assert again["id"].to_list() == ids
    assert again.select(list(ENTITIES["Contact"])).equals(live.head(5).select(list(ENTITIES["Contact"])))


def test_push_writes_and_reports_each_record(conn: Connector) -> None:
    whole, _ = _pull_all(conn, "Contact")
    target = whole.filter(~pl.col("is_deleted")).sort("id")["id"].to_list()[-3:]
    missing = "0038d0000009999999AAA" if conn.system == "salesforce" else "199999999"
    changes = [Change(target[0], {"title": "Head of Hygiene"}), Change(target[1], {"title": "Data Steward"})]
    results = conn.push("Contact", [*changes, Change(missing, {"title": "x"})])
    assert [r.ok for r in results] == [True, True, False]
    assert results[2].error
    after = conn.read("Contact", target[:2]).sort("id")
    assert after["title"].to_list() == ["Head of Hygiene", "Data Steward"]
    with pytest.raises(ConfigError, match="source_system does not map to a writable"):
        conn.push("Contact", [Change(target[2], {"source_system": "x"})])


def test_an_unknown_mapped_field_is_a_clear_error(sandbox: Sandbox, tmp_path: Path) -> None:
    extra = '\n[profiles.sandbox.maps.salesforce.Contact]\nemail = "Email_Adress__c"\n'
    conn = connect(profile_for(sandbox, tmp_path, extra=extra), "salesforce")
    with pytest.raises(ConfigError, match=r"no field 'Email_Adress__c' \(mapped to Contact.email\)"):
        list(conn.pull("Contact", since=None, until=now(), cursor=None))


@pytest.mark.parametrize("system", SYSTEMS)
def test_bad_credentials_fail_fast_without_retrying_or_leaking(
    system: str, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = profile_for(sandbox, tmp_path)
    variable = "CRM_OPS_SF_ACCESS_TOKEN" if system == "salesforce" else "CRM_OPS_HUBSPOT_TOKEN"
    monkeypatch.setenv(variable, "not-a-valid-token-123")
    conn = connect(profile, system)
    with pytest.raises(FatalApiError) as raised:
        conn.describe("Contact")
    assert raised.value.status == 401
    assert conn.api_calls == 1, "a 401 must not be retried"
    assert "not-a-valid-token-123" not in str(raised.value)
