"""Routing and workflow (issue 27): [profiles.P.owners] checked, the most specific owner wins, marks
expire, counts per owner, the webhook's per-owner lines and https report link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from crm_ops.check import profile_rules
from crm_ops.config import load_profile
from crm_ops.config_owners import UNOWNED, Owner, OwnerSettings
from crm_ops.errors import ConfigError
from crm_ops.notify import message
from crm_ops.triage import Mark, Router, apply_marks, triage, until_of

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def _profile(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "crm-ops.toml"
    path.write_text(f'[profiles.prod]\nstate_dir = "state"\n{body}')
    return path


def _problems(path: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        profile_rules(load_profile(path, "prod"))
    return str(raised.value)


def test_owner_settings_load_and_bad_ones_are_each_named(tmp_path: Path) -> None:
    good = _profile(
        tmp_path,
        '[profiles.prod.owners]\ndefault = "crm"\nrules = { "tag:format" = "ops" }\n'
        '[profiles.prod.owners.people.ops]\nemail = "ops@example.com"\nchannel = "#crm-ops"\n'
        "[profiles.prod.owners.people.crm]\n"
        '[profiles.prod.notify]\nreport_url = "https://reports.example.com/crm"\n',
    )
    profile = load_profile(good, "prod")
    assert profile.owners.owner("ops") == Owner("ops", "ops@example.com", "#crm-ops")
    assert profile.notify.report_link("R1") == "https://reports.example.com/crm/R1/report.html"
    profile_rules(profile)  # tag:format is a tag of shipped rules

    bad = _profile(
        tmp_path,
        '[profiles.prod.owners]\ndefault = "crmm"\nsystem = {}\n'
        'systems = { hubspott = "ops" }\nentities = { "sf.Contact" = "ops" }\n'
        '[profiles.prod.owners.people.ops]\nchannel = "https://hooks.slack.com/services/T/B/x"\ntoken = "x"\n'
        "[profiles.prod.owners.people.crm]\n"
        '[profiles.prod.notify]\nreport_url = "http://reports.example.com/crm"\n',
    )
    with pytest.raises(ConfigError) as raised:
        load_profile(bad, "prod")
    text = str(raised.value)
    assert 'owners.system: unknown setting; did you mean "systems"?' in text
    assert "owners.systems.hubspott: no system 'hubspott'; did you mean \"hubspot\"?" in text
    assert "owners.entities.sf.Contact: no system 'sf'" in text
    assert "owners.people.ops.channel: https://... is an address" in text and "secret" in text
    assert "owners.people.ops.token: unknown setting" in text
    assert "owners.default: no owner 'crmm' in [profiles.prod.owners.people]; did you mean \"crm\"?" in text
    assert "notify.report_url: expected an https:// address" in text and "http://reports" in text
    assert "hooks.slack.com/services/T/B/x" not in text  # a webhook URL is never echoed whole


def test_an_unknown_rule_or_tag_in_owners_is_a_config_error_with_the_nearest_name(tmp_path: Path) -> None:
    path = _profile(
        tmp_path,
        '[profiles.prod.owners.rules]\n"person.email.normalisd" = "ops"\n"tag:formt" = "ops"\n'
        '"monitor.volume.drop" = "data-eng"\n',
    )
    text = _problems(path)
    wanted = 'no rule "person.email.normalisd"; did you mean "person.email.normalised"?'
    assert f"[profiles.prod.owners] rules: {wanted}" in text
    assert 'no tag "tag:formt"; did you mean "tag:format"?' in text
    assert "monitor.volume.drop" not in text  # a monitor's id is routed, not checked against the rules


def test_the_most_specific_owner_wins() -> None:
    settings = OwnerSettings(
        default="crm",
        rules={"person.email.normalised": "mops", "tag:format": "ops"},
        entities={"hubspot.Contact": "hs-contacts", "Contact": "contacts"},
        systems={"hubspot": "hs"},
    )
    router = Router(settings, {"person.email.normalised": ["format"], "person.phone.e164": ["format"]})
    assert router.owner_of("person.email.normalised", "hubspot", "Contact") == "mops"  # rule id
    assert router.owner_of("person.phone.e164", "hubspot", "Contact") == "ops"  # tag
    assert router.owner_of("person.email.valid", "hubspot", "Contact") == "hs-contacts"  # system.Entity
    assert router.owner_of("person.email.valid", "salesforce", "Contact") == "contacts"  # Entity
    assert router.owner_of("account.owner.active", "hubspot", "Account") == "hs"  # system
    assert router.owner_of("account.owner.active", "salesforce", "Account") == "crm"  # default
    assert Router(OwnerSettings()).owner_of("x", "salesforce", "Account") == UNOWNED


def _findings(*rows: tuple[str, str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"rule": r, "system": s, "entity": "Contact", "record_id": i, "field": "email", "severity": sev}
            for r, s, i, sev in rows
        ]
    )


def test_marks_expire_and_a_mute_wins_over_an_acknowledgement() -> None:
    findings = _findings(
        ("person.email.valid", "hubspot", "1", "error"),
        ("person.email.valid", "salesforce", "2", "error"),
        ("person.phone.e164", "hubspot", "3", "warning"),
    )
    mute = Mark("mute", "person.email.valid", "import", NOW, until_of("2026-12-10", NOW), system="hubspot")
    ack = Mark("ack", "person.email.valid", "ticket 7", NOW, until_of(None, NOW))
    assert ack.until == NOW + timedelta(days=30) and until_of("never", NOW) is None
    with pytest.raises(ConfigError, match="not in the future"):
        until_of("2026-12-01", NOW)
    states = apply_marks(findings, [mute, ack], NOW)["state"].to_list()
    assert states == ["muted", "acknowledged", "open"]
    later = apply_marks(findings, [mute, ack], NOW + timedelta(days=5))["state"].to_list()
    assert later == ["acknowledged", "acknowledged", "open"]  # the mute ran out; the ack still holds
    gone = apply_marks(findings, [mute, ack], NOW + timedelta(days=31))["state"].to_list()
    assert gone == ["expired mute", "expired ack", "open"]  # both ran out: each counts again


def test_counts_per_owner_of_open_new_resolved_and_muted() -> None:
    before = _findings(
        ("person.email.valid", "hubspot", "1", "error"), ("person.phone.e164", "hubspot", "9", "warning")
    )
    now = _findings(
        ("person.email.valid", "hubspot", "1", "error"),
        ("person.email.valid", "hubspot", "2", "error"),
        ("person.phone.e164", "hubspot", "3", "warning"),
    )
    router = Router(
        OwnerSettings(default="crm", rules={"tag:format": "ops"}), {"person.phone.e164": ["format"]}
    )
    mute = Mark("mute", "person.email.valid", "known", NOW, None, record_id="2")
    t = triage(now, before, router, [mute], NOW)
    assert t.owners["crm"] == {
        "open": 1,
        "new": 0,
        "resolved": 0,
        "muted": 1,
        "acknowledged": 0,
        "rules": {"person.email.valid": 1},
    }
    assert t.owners["ops"] | {"rules": {}} == {
        "open": 1,
        "new": 1,
        "resolved": 1,
        "muted": 0,
        "acknowledged": 0,
        "rules": {},
    }
    assert t.summary()["muted"] == 1 and t.counted().height == 2
    first = triage(now, None, router, [], NOW)
    assert first.summary()["new"] is None and first.owners["crm"]["new"] == 0


def test_the_webhook_counts_per_owner_without_the_muted_and_links_the_report_over_https() -> None:
    summary = {
        "run_id": "R2", "profile": "prod", "exit_code": 1, "findings": 12, "muted": 2,
        "findings_by_severity": {"error": 4, "warning": 6}, "new": 3, "resolved": 1,
        "owners": {
            "crm": {"open": 7, "new": 3, "resolved": 1, "muted": 2, "acknowledged": 0, "rules": {}},
            "ops": {"open": 3, "new": 0, "resolved": 0, "muted": 0, "acknowledged": 1, "rules": {}},
        },
        "report_link": "https://reports.example.com/crm/R2/report.html",
    }  # fmt: skip
    text = message(summary, "/var/lib/crm-ops/runs/R2/report.html")["blocks"][1]["text"]["text"]
    assert "*Findings:* 10 (error 4, warning 6); 2 muted, not counted" in text
    assert "*Owner* crm: 7 open (3 new, 1 resolved), 2 muted" in text
    assert "*Owner* ops: 3 open (0 new, 0 resolved), 1 acknowledged" in text
    assert "*Report:* https://reports.example.com/crm/R2/report.html" in text and "/var/lib" not in text


def test_the_findings_commands_keep_marks_and_a_lasting_mute_is_listed_as_such(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from crm_ops.cli import app

    path = _profile(tmp_path, "production = false\n")
    runner = CliRunner()

    def cli(*args: str) -> tuple[int, str]:
        done = runner.invoke(app, [*args, "-c", str(path), "-p", "prod"])
        return done.exit_code, done.output

    code, out = cli("findings", "mute", "person.email.valid", "--until", "never", "--note", "legacy import")
    assert code == 0 and "until never" in out, out
    code, out = cli("findings", "ack", "person.phone.e164", "--record", "003X", "--note", "sales call first")
    assert code == 0 and "acknowledged: person.phone.e164 on any system, record 003X" in out
    code, out = cli("findings", "mute", "person.email.valid", "--note", "  ")
    assert code == 2 and "--note" in out
    code, out = cli("findings", "mute", "person.emial.valid", "--note", "x")
    assert code == 2 and 'did you mean "person.email.valid"' in out
    code, out = cli("findings", "mute", "person.email.valid", "--until", "2001-01-01", "--note", "x")
    assert code == 2 and "not in the future" in out
    code, out = cli("findings", "muted")
    lines = out.strip().splitlines()
    assert (
        len(lines) == 2 and "until never; legacy import" in lines[0] and lines[1].startswith("acknowledged")
    )
    assert (
        cli("findings", "unmute", "person.email.valid")[1].strip()
        == "removed 1 mark(s) of person.email.valid"
    )
    code, out = cli("digest")
    assert code == 2 and "no run with a summary.json yet" in out
