"""The README's "Your first real org" section, every command in its order, against the sandbox.

The commands are read from the README itself, so the section and this test cannot drift apart. The
only changes are the org's own values: `init`'s URL, user and client id become the sandbox's (and its CA
bundle and HubSpot URL are added, as a TLS-inspecting proxy's would be), and the secrets the `export`
line names come from the sandbox's environment; `review`, which serves until it is interrupted, runs
with `--no-browser` (there is none here), is asked for the page the address it prints opens, and is
then interrupted as a person would (Ctrl-C).
"""

from __future__ import annotations

import csv
import http.client
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_ops.pull import read_snapshot
from crm_ops.sandbox.server import Sandbox
from tests.pulling import fast_sandbox

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def section_commands() -> list[str]:
    """The indented command lines of the README's "Your first real org" section."""
    text = (ROOT / "README.md").read_text()
    body = text.split("## Your first real org\n", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in body.splitlines() if re.match(r"^    (crm-ops|export) ", line)]


@pytest.fixture(scope="module")
def org() -> Iterator[Sandbox]:
    with fast_sandbox(1200, 31) as sb:
        yield sb


def _init_for(command: str, sandbox: Sandbox) -> list[str]:
    """`init` as written, with the sandbox's values in place of the example org's."""
    words = shlex.split(command)
    values = {
        "--login-url": sandbox.env["CRM_OPS_SF_LOGIN_URL"],
        "--username": sandbox.env["CRM_OPS_SF_USERNAME"],
        "--client-id": sandbox.env["CRM_OPS_SF_CLIENT_ID"],
    }
    for i, word in enumerate(words):
        if word in values:
            words[i + 1] = values[word]
    return [
        *words,
        "--ca-bundle",
        sandbox.env["CRM_OPS_SF_CA_BUNDLE"],
        "--hubspot-url",
        sandbox.env["CRM_OPS_HUBSPOT_BASE_URL"],
    ]


def test_the_first_real_org_section_runs_as_written(org: Sandbox, tmp_path: Path) -> None:
    commands = section_commands()
    assert [c.split()[1] for c in commands] == [
        "init", "CRM_OPS_SF_JWT_KEY_FILE=/etc/crm-ops/jwt-key.pem", "doctor", "pull", "check", "match",
        "plan", "plan", "review", "apply", "apply", "undo",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_OPS")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    outputs: dict[str, str] = {}
    plan = ""
    for command in commands:
        if command.startswith("export "):
            # the variables the README exports are those init named; their values are the sandbox's
            exported = [a.split("=", 1)[0] for a in shlex.split(command)[1:]]
            assert set(exported) == set(re.findall(r"export (\w+)=", outputs["init"]))
            env |= {name: org.env[name] for name in exported}
            continue
        if command.startswith("crm-ops review"):
            outputs["review"] = _review_served(command, tmp_path, {**env, "PLAN": plan})
            continue
        argv = _init_for(command, org) if command.startswith("crm-ops init") else ["sh", "-c", command]
        done = subprocess.run(
            argv,
            cwd=tmp_path,
            env={**env, "PLAN": plan},
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        # check: 1 = error-level findings; undo: 7 = values the CRM refused to take back (listed)
        allowed = (
            {0, 1} if command.startswith("crm-ops check") else {0, 7} if "crm-ops undo" in command else {0}
        )
        assert done.returncode in allowed, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        key = " ".join(command.split()[1:3]) if command.startswith("crm-ops plan") else command.split()[1]
        outputs[key if key not in outputs else f"{key} --yes"] = done.stdout
        if command.startswith("crm-ops plan --profile"):
            found = re.search(r"^plan: (.+)/plan\.jsonl$", done.stdout, re.MULTILINE)
            assert found, done.stdout
            plan = found.group(1)
    assert "signed in as" in outputs["doctor"] and "FAIL" not in outputs["doctor"]
    assert plan.split("/")[-1] in outputs["review"]  # the review page of the plan just made
    assert "dry run" in outputs["apply"] and "dry run" not in outputs["apply --yes"]
    written = _approved_cells(tmp_path / plan / "plan.csv")
    assert written, "the untouched review file approves the safe fixes"
    # the undo put back every value the apply replaced that the CRM takes back (an e-mail with spaces, say,
    # it refuses, and undo counts it failed): a fresh full pull shows the values seen at plan time
    pulled = subprocess.run(
        ["sh", "-c", "crm-ops pull --profile prod --full -s salesforce -s hubspot"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    state = tmp_path / ".crm-ops" / "prod"
    not_back = []
    for (system, entity), cells in written.items():
        snapshot = read_snapshot(state, system, entity)
        values = {r["id"]: r for r in snapshot.iter_rows(named=True)}
        for record_id, field, seen in cells:
            now = values[record_id][field]
            if (None if now is None else str(now)) != (seen or None):
                not_back.append((system, entity, record_id, field, seen))
    undone = re.search(r"done (\d+), failed (\d+)", outputs["undo"])
    assert undone, outputs["undo"]
    assert int(undone.group(1)) + int(undone.group(2)) == sum(len(c) for c in written.values())
    assert len(not_back) == int(undone.group(2)), not_back


def _review_served(command: str, cwd: Path, env: dict[str, str]) -> str:
    """Run the README's ``crm-ops review`` line (without a browser), sign in with the address it prints
    and return the page that address opens; then interrupt it, as a person would, and check it ends."""
    line = command.split("  #", 1)[0].strip()
    server = subprocess.Popen(
        ["sh", "-c", f"exec {line} --no-browser"], cwd=cwd, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        address = None
        for text in server.stdout:  # the address is printed once the plan is read and the app listens
            found = re.search(r"http://127\.0\.0\.1:(\d+)(/\?token=\S+)", text)
            if found:
                address = found
                break
        assert address, server.stderr.read() if server.stderr else ""
        connection = http.client.HTTPConnection("127.0.0.1", int(address.group(1)), timeout=30)
        connection.request("GET", address.group(2))
        signed_in = connection.getresponse()
        signed_in.read()
        assert signed_in.status == 303, signed_in.status
        cookie = str(signed_in.getheader("set-cookie")).split(";")[0]
        connection.request("GET", "/", headers={"Cookie": cookie})
        page = connection.getresponse()
        html = page.read().decode()
        assert page.status == 200, html[:500]
        connection.close()
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)  # its pipes read to the end and closed
    assert server.returncode in (0, 130), server.returncode
    return html


def _approved_cells(review: Path) -> dict[tuple[str, str], list[tuple[str, str, str]]]:
    """(system, entity) -> (record id, field, value seen at plan time) of every update approved yes."""
    cells: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    with review.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["approve"] == "yes" and row["kind"] == "update":
                seen = row["seen_value"].removeprefix("'")  # formula-looking cells are quoted
                cells.setdefault((row["system"], row["entity"]), []).append(
                    (row["record_id"], row["field"], seen)
                )
    return cells
