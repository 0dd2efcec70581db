"""Clear errors for every bad input: plan lines that are not objects, not UTF-8 or of the wrong types;
review files too big, in the wrong encoding, with a BOM; config values of the wrong type; and no
secret echoed in a message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crm_ops.cli import exit_for
from crm_ops.config import load_profile
from crm_ops.errors import ConfigError
from crm_ops.plan import build_plan, read_plan, write_plan
from crm_ops.plan.reviewfile import read_review
from tests.unit.test_config import _file
from tests.unit.test_plan import FINDINGS


def _plan(tmp_path: Path) -> tuple[Path, Path]:
    return write_plan(build_plan(FINDINGS, profile="sandbox"), tmp_path)


def test_a_damaged_plan_line_is_named_never_a_traceback(tmp_path: Path) -> None:
    jsonl, _ = _plan(tmp_path)
    lines = jsonl.read_bytes().split(b"\n")
    action = json.loads(lines[1])
    lines[1] = json.dumps([action]).encode()  # a list, not an object
    lines[2] = lines[2].replace(b'"type"', b'"t\xe9pe"', 1)  # a Windows-1252 byte
    lines[3] = json.dumps({**json.loads(lines[3]), "confidence": "high", "approved": "yes"}).encode()
    jsonl.write_bytes(b"\n".join(lines))
    with pytest.raises(ConfigError) as raised:
        read_plan(jsonl)
    text = str(raised.value)
    assert f"{jsonl}:2: expected a JSON object, got a list" in text
    assert f"{jsonl}:3: column " in text and "not UTF-8 (byte 0xE9)" in text
    assert f"{jsonl}:4: confidence: expected a number from 0 to 1 or null, got 'high'" in text
    assert f"{jsonl}:4: approved: expected true, false or null, got 'yes'" in text


def test_review_files_big_bommed_or_in_another_encoding(tmp_path: Path) -> None:
    _, review = _plan(tmp_path)
    text = review.read_text(encoding="utf-8")
    header, first, *rest = text.split("\n")
    huge = first.replace("warning", "w" * 1_000_000, 1)  # a 1 MB value
    review.write_bytes(b"\xef\xbb\xbf" + "\n".join([header.replace(",", ";"), *[
        r.replace(",", ";") for r in [huge, *rest] if r and "," in r and '"' not in r
    ]]).encode())  # fmt: skip
    assert read_review(review)  # read: BOM, ';' and the 1 MB field
    review.write_bytes((text.split("\n")[0] + "\nyes,caf\xe9\n").encode("cp1252"))
    with pytest.raises(ConfigError, match=r"plan.csv:2: column 8: byte 0xE9 is not UTF-8.*Windows-1252"):
        read_review(review)
    review.write_bytes(text.encode("utf-16"))
    assert read_review(review)  # UTF-16 with its byte-order mark: read


def test_config_values_of_the_wrong_type_are_errors(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        '[profiles.prod]\nproduction = "yes"\nentities = "Contact"\nstate_dir = 5\n'
        '[profiles.prod.run]\nauto_apply = "tag:format"\nmin_confidence = "high"\nmax_findings = -1\n'
        "[profiles.prod.match]\n",
    )
    with pytest.raises(ConfigError) as raised:
        load_profile(path, "prod")
    text = str(raised.value)
    for expected in (
        "profiles.prod.run.auto_apply: expected a list of rule ids or tag:<tag>",
        "got 'tag:format'",
        "profiles.prod.run.min_confidence: expected a number from 0 to 1, got 'high'",
        "profiles.prod.run.max_findings: expected a whole number (0 or more), got -1",
        "profiles.prod.production: expected true or false, got 'yes'",
        "profiles.prod.entities: expected a list of entity names, got 'Contact'",
        "profiles.prod.state_dir: expected a path (text), got 5",
    ):
        assert expected in text, text
    good = _file(tmp_path, '[profiles.p]\n[profiles.p.run]\nauto_apply = ["tag:format"]\n')
    assert load_profile(good, "p").run.auto_apply == ("tag:format",)


def test_a_secret_expanded_into_a_config_key_is_never_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_VALUE", "pat-na1-0123456789abcdef")
    monkeypatch.setenv("CRM_OPS_HUBSPOT_TOKEN", "pat-na1-fedcba9876543210")
    path = _file(
        tmp_path,
        '[profiles.p.salesforce]\nauth = "${ACME_VALUE}"\nbulk_threshold = "${ACME_VALUE}"\n'
        '[profiles.p.run]\nauto_apply = "${ACME_VALUE}"\n',
    )
    with pytest.raises(ConfigError) as raised:
        load_profile(path, "p")
    text = str(raised.value)
    assert "pat-na1-0123456789abcdef" not in text
    assert "${ACME_VALUE}" in text and "profiles.p.salesforce.auth" in text
    named = exit_for(ConfigError("got pat-na1-fedcba9876543210 somewhere"))
    assert named is not None and "pat-na1-fedcba9876543210" not in named[1]
    assert "${CRM_OPS_HUBSPOT_TOKEN}" in named[1]
