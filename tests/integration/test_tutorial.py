"""docs/tutorial-first-rule.md, run as written: its files written, its commands run in order."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from crm_ops.sandbox.server import Sandbox
from tests.pulling import profile_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def steps() -> list[tuple[str, str]]:
    """The page's blocks in order: ("yaml" | "toml", text) for files, ("command", line) for commands."""
    text = (ROOT / "docs" / "tutorial-first-rule.md").read_text()
    found = []
    for m in re.finditer(r"```(\w+)\n(.*?)```|^    (crm-ops [^\n]+|\. [^\n]+)$", text, re.S | re.M):
        if m.group(1):
            found.append((m.group(1), m.group(2)))
        else:
            found.append(("command", m.group(3).strip()))
    return found


def test_the_tutorial_runs_as_written(sandbox: Sandbox, tmp_path: Path) -> None:
    profile_for(sandbox, tmp_path)  # what `sandbox serve --config-file crm-ops.toml` writes
    env = {**os.environ, **sandbox.env, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("CRM_OPS_CONFIG", None)
    outputs: list[tuple[str, subprocess.CompletedProcess[str]]] = []
    kinds = [k for k, _ in steps()]
    assert kinds.count("yaml") == 1 and kinds.count("toml") == 1
    for kind, body in steps():
        if kind == "yaml":
            name = body.splitlines()[0].removeprefix("# ").strip()
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(body)
        elif kind == "toml":
            with (tmp_path / "crm-ops.toml").open("a") as config:
                config.write("\n" + body)
        elif body.startswith(("crm-ops sandbox serve", ". ")):
            continue  # the sandbox is served by the fixture; its secrets are in env
        else:
            done = subprocess.run(
                shlex.split(body),
                check=False,
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, f"{body}\n{done.stdout}\n{done.stderr}"
            outputs.append((body, done))
    by_command = dict(outputs)
    assert (
        "6 of 6 examples passed, 3 rules"
        in by_command["crm-ops rules test --rules my_rules/ --no-shipped"].stdout
    )
    assert "acme.lead.company.spaces" in by_command["crm-ops rules list --rules my_rules/"].stdout
    findings = sorted((tmp_path / "state" / "findings").glob("*.parquet"))
    assert len(findings) == 2  # the check with --rules, then the one from the profile
    first, second = (pl.read_parquet(f) for f in findings)
    stale = [f.filter(pl.col("rule") == "acme.contact.stale").height for f in (first, second)]
    assert stale[0] > 0 and stale[0] >= stale[1]  # 730 days finds no more than 365 did
    assert "acme.contact.stale" in set(second["rule"])
    if "acme.lead.company.spaces" in set(second["rule"]):
        assert set(second.filter(pl.col("rule") == "acme.lead.company.spaces")["severity"]) == {"info"}


def test_the_tutorial_s_mistakes_say_what_it_says(tmp_path: Path) -> None:
    """The page quotes the error for a misspelt field and check: they are what the loader says."""
    body = next(b for k, b in steps() if k == "yaml")
    (tmp_path / "my_rules").mkdir()
    broken = body.replace("field: company", "field: compnay").replace("not_stale", "not_stal")
    (tmp_path / "my_rules" / "acme.yaml").write_text(broken)
    done = subprocess.run(
        [str(BIN / "crm-ops"), "rules", "test", "--rules", "my_rules/", "--no-shipped"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    page = " ".join((ROOT / "docs" / "tutorial-first-rule.md").read_text().split())
    quoted = re.search(r"`(my_rules/acme\.yaml:\d+: rule [^`]+?), \.\.\.`", page)
    assert quoted is not None
    assert quoted.group(1) in done.stderr
    assert "unknown check 'not_stal'; known: account_exists" in done.stderr
