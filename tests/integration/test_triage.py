"""Routing and workflow on the sandbox (issue 27): new and resolved per owner across two runs, the digest
and the webhook with an https report link; mutes that expire (a muted finding is not counted and not
auto-applied; expired, it counts again); the findings CSV with labels, links and neutralised values."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.api import Workspace
from crm_ops.errors import ConfigError
from crm_ops.sandbox.clients import hubspot_client
from crm_ops.sandbox.server import Sandbox
from tests.command import crm_ops
from tests.pulling import fast_sandbox, profile_for
from tests.webhook import webhook

pytestmark = pytest.mark.integration
OWNERS = """
[profiles.sandbox.owners]
default = "crm-team"
rules = { "person.email.normalised" = "mops", "tag:format" = "ops" }
[profiles.sandbox.owners.people.mops]
email = "mops@example.com"
[profiles.sandbox.owners.people.ops]
channel = "#crm-ops"
[profiles.sandbox.owners.people.crm-team]
[profiles.sandbox.notify]
webhook_env = "CRM_OPS_WEBHOOK_URL"
report_url = "https://reports.example.com/crm/runs"
"""


@pytest.fixture
def box() -> Iterator[Sandbox]:
    with fast_sandbox(300, 27) as sb:
        yield sb


def _set_email(box: Sandbox, email: str) -> str:
    """A HubSpot contact's e-mail set to ``email``; its id."""
    hs: Any = hubspot_client(box.env)
    victim = str(hs.crm.contacts.basic_api.get_page(limit=1).results[0].id)
    hs.crm.contacts.basic_api.update(victim, simple_public_object_input={"properties": {"email": email}})
    return victim


def _counts(folder: Path) -> dict[str, int]:
    return dict(pl.read_parquet(folder / "findings.parquet").group_by("rule").len().iter_rows())


def test_new_and_resolved_per_owner_reach_the_digest_and_the_webhook(
    box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace(profile_for(box, tmp_path, extra=OWNERS))
    first = ws.run()
    assert first.summary["new"] is None and first.summary["owners"]["mops"]["open"] == 2
    # between the runs: the e-mail fixes applied through the API, and a contact's e-mail broken
    done = ws.apply(first.folder, rules=["person.email.normalised"], all_actions=True, write=True)
    assert done.counts.get("done") == 2
    victim = _set_email(box, "not-an-address")

    with webhook() as hook:
        monkeypatch.setenv("CRM_OPS_WEBHOOK_URL", hook.url)
        second = ws.run()
    assert second.exit_code == 1
    s = second.summary
    assert s["owners"]["mops"] | {"rules": {}} == {
        "open": 0, "new": 0, "resolved": 2, "muted": 0, "acknowledged": 0, "rules": {},
        "email": "mops@example.com",
    }  # fmt: skip
    broken = pl.read_parquet(second.folder / "findings.parquet").filter(pl.col("record_id") == victim)
    assert "person.email.valid" in broken["rule"].to_list()  # new, the default owner's
    assert s["owners"]["crm-team"]["new"] >= 1 and s["new"] >= 1 and s["resolved"] >= 2
    link = f"https://reports.example.com/crm/runs/{second.run_id}/report.html"
    assert s["report_link"] == link
    (body,) = hook.bodies
    text = body["blocks"][1]["text"]["text"]
    assert "*Owner* mops: 0 open (0 new, 2 resolved)" in text and f"*Report:* {link}" in text
    assert (
        f"*Owner* crm-team: {s['owners']['crm-team']['open']:,} open ({s['owners']['crm-team']['new']} new"
        in text
    )
    report = (second.folder / "report.html").read_text()
    assert "<h2>Owners and muted findings</h2>" in report and "mops@example.com" in report

    digest = ws.digest()
    assert digest.run_id == second.run_id and digest.report_link == link
    assert "mops: 0 open (0 new, 2 resolved)  [mops@example.com]" in digest.text()
    assert digest.as_dict()["owners"]["mops"]["resolved"] == 2
    out = tmp_path / "digest.json"
    printed = crm_ops(
        "digest", "--json", "--out", out, "-c", tmp_path / "crm-ops.toml", env={**os.environ, **box.env}
    )
    assert printed.returncode == 0, printed.stderr
    assert (
        json.loads(printed.stdout) == json.loads(out.read_text()) == json.loads(json.dumps(digest.as_dict()))
    )


def test_a_mute_hides_a_finding_until_it_expires_and_the_csv_says_so(box: Sandbox, tmp_path: Path) -> None:
    run = '\n[profiles.sandbox.run]\nauto_apply = ["tag:format"]\n'
    ws = Workspace(profile_for(box, tmp_path, extra=OWNERS + run))
    victim = _set_email(box, "=HYPERLINK(1)")  # a CRM value that looks like a formula
    now = datetime.now(UTC)
    with pytest.raises(ConfigError, match=r'did you mean "person\.email\.valid"'):
        ws.mute("person.emial.valid", note="typo", now=now)
    short = ws.mute(
        "person.email.valid", note="bad import, ticket 12", until=(now + timedelta(days=3)).date(), now=now
    )
    ws.mute("person.phone.e164", note="phones wait for the dialer migration", now=now)  # 30 days
    ws.acknowledge("person.last_name.format", note="ops look at it", system="hubspot", now=now)
    marks = ws.marks(now=now)
    assert [m["status"] for m in marks] == ["muted", "muted", "acknowledged"]
    assert short["until"].startswith((now + timedelta(days=3)).date().isoformat())
    assert marks[1]["until"].startswith((now + timedelta(days=30)).date().isoformat())  # never forever unsaid

    first = ws.run(now=now)
    before = _counts(first.folder)
    s = first.summary
    assert s["muted"] == before["person.email.valid"] + before["person.phone.e164"] > 0
    serious = pl.read_parquet(first.folder / "findings.parquet").filter(
        (pl.col("severity") == "error") & (pl.col("rule") != "person.email.valid")
    )
    assert s["threshold"]["serious"] == serious.height  # the muted error findings do not count
    found = pl.read_parquet(first.folder / "findings.parquet")
    acked = found.filter((pl.col("rule") == "person.last_name.format") & (pl.col("system") == "hubspot"))
    assert s["owners"]["ops"]["acknowledged"] == acked.height > 0  # acknowledged: still counted as open
    report = (first.folder / "report.html").read_text()
    assert "phones wait for the dialer migration" in report and "muted" in report

    path = ws.export_findings(tmp_path / "findings.csv", now=now)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert len(rows) == sum(before.values())
    formula = next(r for r in rows if r["record_id"] == victim and r["rule"] == "person.email.valid")
    assert formula["current_value"] == "'=HYPERLINK(1)" and formula["state"] == "muted"
    assert formula["mark_note"] == "bad import, ticket 12" and formula["owner"] == "crm-team"
    assert formula["url"].startswith("https://app.hubspot.com/contacts/") and formula["url"].endswith(
        f"/0-1/{victim}"
    )
    sf_row = next(r for r in rows if r["system"] == "salesforce" and r["entity"] == "Contact")
    assert (
        sf_row["url"]
        == f"{box.env['CRM_OPS_SF_INSTANCE_URL']}/lightning/r/Contact/{sf_row['record_id']}/view"
    )
    # the label is the plan's: "first last <email>" from our copy, the formula-like e-mail inside it
    hs: Any = hubspot_client(box.env)
    held = hs.crm.contacts.basic_api.get_by_id(victim, properties=["firstname", "lastname"]).properties
    person = " ".join(p for p in (held.get("firstname"), held.get("lastname")) if p)
    assert formula["label"] == (f"{person} <=HYPERLINK(1)>" if person else "'=HYPERLINK(1)")
    phone = next(r for r in rows if r["rule"] == "person.phone.e164")
    assert phone["owner"] == "ops" and phone["state"] == "muted"

    # five days on: the 3-day mute has run out (counted again); the phones stayed muted, so never applied
    later = ws.run(now=now + timedelta(days=5))
    after = _counts(later.folder)
    assert after["person.phone.e164"] == before["person.phone.e164"]
    assert later.summary["muted"] == after["person.phone.e164"]
    assert later.summary["expired_marks"] == after["person.email.valid"]
    assert later.summary["threshold"]["serious"] > s["threshold"]["serious"]
    assert "expired mute" in (later.folder / "report.html").read_text()
    assert [m["status"] for m in ws.marks(now=now + timedelta(days=5))] == [
        "expired",
        "muted",
        "acknowledged",
    ]
    assert ws.unmute("person.phone.e164") == 1 and len(ws.marks()) == 2
