"""Data monitors and the circuit breaker (issue 27): after a few clean learning runs, records hidden from
the integration user are a volume drop that trips the breaker (exit 9, nothing applied, said in the
summary, the report and the webhook) until a person overrides it; a stalled side of the sync and a
null-rate jump are reported; ten clean nights of ordinary edits fire nothing."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspot.crm.contacts import PublicObjectSearchRequest
from simple_salesforce.exceptions import SalesforceResourceNotFound

from crm_ops.api import Workspace
from crm_ops.config import load_profile
from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.server import Sandbox
from tests.command import crm_ops
from tests.pulling import fast_sandbox, profile_for
from tests.webhook import webhook

pytestmark = pytest.mark.integration
NOTIFY = '\n[profiles.sandbox.notify]\nwebhook_env = "CRM_OPS_WEBHOOK_URL"\n'
APPLY = '\n[profiles.sandbox.run]\nauto_apply = ["person.email.normalised", "tag:format"]\n'


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(700, 27) as sb:
        yield sb


def _workspace(box: Sandbox, folder: Path, extra: str = "") -> Workspace:
    profile_for(box, folder, extra=extra)
    config = folder / "crm-ops.toml"
    text = config.read_text().replace(
        "[profiles.sandbox]\n", '[profiles.sandbox]\nentities = ["Contact", "Account"]\n', 1
    )
    config.write_text(text)
    return Workspace(load_profile(config, "sandbox"))


def _cli(box: Sandbox, folder: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    # in this process (tests.command)
    return crm_ops("run", *args, "-c", folder / "crm-ops.toml", env={**os.environ, **box.env, **(env or {})})


def _summary(folder: Path) -> dict[str, Any]:
    runs = sorted(p for p in (folder / "state" / "runs").iterdir() if p.is_dir())
    summary: dict[str, Any] = json.loads((runs[-1] / "summary.json").read_text())
    return {**summary, "folder": str(runs[-1])}


def _fired(summary: dict[str, Any]) -> set[tuple[str, str, str, str | None]]:
    return {(m["monitor"], m["system"], m["entity"], m["field"]) for m in summary["monitors"]}


def test_hidden_contacts_trip_the_breaker_until_a_person_overrides_it(box: Sandbox, tmp_path: Path) -> None:
    ws = _workspace(box, tmp_path)
    for _ in range(3):  # learning: the monitors say nothing yet
        assert ws.run().summary["monitors"] == []
    ws = _workspace(box, tmp_path, APPLY + NOTIFY)  # from now on the run would apply safe fixes
    box.controls.hide("salesforce", "Contact", 0.4, seed=1)
    try:
        with webhook() as hook:
            braked = _cli(box, tmp_path, env={"CRM_OPS_WEBHOOK_URL": hook.url})
        assert braked.returncode == 9, braked.stderr
        summary = _summary(tmp_path)
        assert ("monitor.volume.drop", "salesforce", "Contact", None) in _fired(summary)
        (drop,) = [m for m in summary["monitors"] if m["monitor"] == "monitor.volume.drop"]
        assert drop["severity"] == "error" and "40% fewer than usual" in drop["message"]
        assert "hidden from the integration user" in drop["message"]
        assert summary["breaker"]["tripped"] and not summary["breaker"]["overridden"]
        assert any("monitor.volume.drop salesforce.Contact" in r for r in summary["breaker"]["reasons"])
        # auto_apply had fixes to apply; the breaker held every one back
        assert summary["auto_apply_chosen"] > 0
        assert summary["applied"] == {"withheld (circuit breaker)": summary["auto_apply_chosen"]}
        report = (Path(summary["folder"]) / "report.html").read_text()
        assert report.index("<h2>Circuit breaker</h2>") < report.index("<h2>Data monitors</h2>")
        assert report.index("<h2>Data monitors</h2>") < report.index("<h2>Score per object</h2>")
        assert "monitor.volume.drop" in report
        trend = report.split("<h2>Data monitors</h2>", 1)[1].split("<h2>", 1)[0]
        assert "Live records per entity" in trend and "<title>salesforce.Contact</title>" in trend
        (body,) = hook.bodies
        assert body["text"].endswith("exit 9, the circuit breaker tripped: nothing was applied")
        assert "*Circuit breaker tripped (nothing applied):*" in body["blocks"][1]["text"]["text"]
        assert "salesforce Contact" in body["blocks"][1]["text"]["text"]
        assert "circuit breaker tripped" in braked.stderr

        overridden = _cli(box, tmp_path, "--override-breaker")
        assert overridden.returncode in (0, 1), overridden.stderr
        summary = _summary(tmp_path)
        assert summary["breaker"] == {**summary["breaker"], "tripped": True, "overridden": True}
        assert summary["applied"].get("done", 0) > 0
    finally:
        box.controls.reveal("salesforce", "Contact")


def test_a_stalled_side_of_the_sync_is_reported(box: Sandbox, tmp_path: Path) -> None:
    ws = _workspace(box, tmp_path)
    for day in range(4):
        box.controls.daily_edits(seed=100 + day, updates=10, creates=2, deletes=1)
        assert ws.run().summary["monitors"] == []
    box.controls.stall("hubspot")
    try:
        for day in range(2):
            box.controls.daily_edits(seed=200 + day, updates=10, creates=2, deletes=1)
            result = ws.run()
    finally:
        box.controls.resume("hubspot")
    summary = result.summary
    assert ("monitor.freshness.stalled", "hubspot", "Contact", None) in _fired(summary)
    assert result.exit_code == 9 and summary["breaker"]["tripped"]
    (stall,) = [m for m in summary["monitors"] if m["monitor"] == "monitor.freshness.stalled"]
    assert "while salesforce's kept changing" in stall["message"]


def test_a_field_blanked_on_many_records_is_a_null_rate_jump(box: Sandbox, tmp_path: Path) -> None:
    ws = _workspace(box, tmp_path)
    for _ in range(3):
        ws.run()
    sf: Any = salesforce_client(box.env)
    filled = sf.query_all("SELECT Id FROM Contact WHERE IsDeleted = false AND Phone != null")["records"]
    for record in filled[: int(len(filled) * 0.7)]:
        sf.Contact.update(record["Id"], {"Phone": None})
    summary = ws.run().summary
    assert ("monitor.nulls.jump", "salesforce", "Contact", "phone") in _fired(summary)
    (jump,) = [m for m in summary["monitors"] if m["monitor"] == "monitor.nulls.jump"]
    assert jump["severity"] == "warning" and "salesforce Contact.phone is empty on" in jump["message"]
    assert not summary["breaker"]["tripped"]  # a warning: reported, not braked


def test_ten_clean_nights_of_ordinary_edits_fire_no_monitor(box: Sandbox, tmp_path: Path) -> None:
    ws = Workspace(profile_for(box, tmp_path))  # every entity of both CRMs
    for day in range(10):
        edits = box.controls.daily_edits(seed=300 + day, updates=30, creates=8, deletes=4)
        assert edits == {"salesforce": 42, "hubspot": 42}
        summary = ws.run().summary
        assert summary["monitors"] == [], (day, summary["monitors"])
        assert not summary["breaker"]["tripped"]


def test_hidden_records_are_absent_for_the_integration_user_everywhere_but_not_deleted(box: Sandbox) -> None:
    sf: Any = salesforce_client(box.env)
    soql = "SELECT Id, SystemModstamp FROM Contact"
    before = {r["Id"]: r["SystemModstamp"] for r in sf.query_all(soql)["records"]}
    everything = len(sf.query_all(soql, include_deleted=True)["records"])
    hs = hubspot_client(box.env)
    hs_total = _hs_search_total(hs)
    box.controls.hide("salesforce", "Contact", 0.25, seed=5)
    box.controls.hide("hubspot", "contacts", 0.25, seed=5)
    try:
        shown = {r["Id"]: r["SystemModstamp"] for r in sf.query_all(soql)["records"]}
        gone = set(before) - set(shown)
        assert len(gone) == round(0.25 * len(before)) and set(shown) < set(before)
        assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == len(shown)
        # not deleted: queryAll and Bulk do not show them either, and nothing moved
        assert len(sf.query_all(soql, include_deleted=True)["records"]) == everything - len(gone)
        chunks = sf.bulk2.Contact.query_all("SELECT Id FROM Contact", max_records=100_000, wait=1)
        bulk = {row["Id"] for chunk in chunks for row in csv.DictReader(io.StringIO(chunk))}
        assert len(bulk) == everything - len(gone) and not bulk & gone
        with pytest.raises(SalesforceResourceNotFound):
            sf.Contact.get(next(iter(gone)))
        assert _hs_search_total(hs) == hs_total - round(0.25 * hs_total)
        listed = {c.id for c in hs.crm.contacts.get_all()}
        assert len(listed) == hs_total - round(0.25 * hs_total)
    finally:
        box.controls.reveal("salesforce", "Contact")
        box.controls.reveal("hubspot", "contacts")
    assert {r["Id"]: r["SystemModstamp"] for r in sf.query_all(soql)["records"]} == before
    assert _hs_search_total(hs) == hs_total


def _hs_search_total(hs: Any) -> int:
    request = PublicObjectSearchRequest(filter_groups=[], properties=["email"], limit=1)
    return int(hs.crm.contacts.search_api.do_search(public_object_search_request=request).total)
