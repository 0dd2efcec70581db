"""`crm-ops sandbox serve`, the env file, fault injection on the wire, the demo and the examples."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from crm_ops.sandbox.clients import salesforce_client
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.server import ENV_KEYS, Sandbox, SandboxConfig, read_env_file

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_serve_writes_a_private_env_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    env_file = tmp_path / "sandbox.env"
    proc = subprocess.Popen(
        [
            str(BIN / "crm-ops"),
            "sandbox",
            "serve",
            "--records",
            "200",
            "--seed",
            "3",
            "--env-file",
            str(env_file),
            "--config-file",
            str(tmp_path / "crm-ops.toml"),
            "--faults",
            "lost_reply_every=1,lost_reply_ops=create",  # every create's reply lost, after it is made
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not env_file.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the sandbox did not start in 120 s"
            time.sleep(0.1)
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        env = read_env_file(env_file)
        assert set(env) == set(ENV_KEYS)
        assert Path(env["CRM_OPS_SANDBOX_MANIFEST"]).is_file()
        sf = salesforce_client(env)
        assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] > 0
        hs = requests.get(
            f"{env['CRM_OPS_HUBSPOT_BASE_URL']}/crm/v3/objects/contacts",
            headers={"Authorization": f"Bearer {env['CRM_OPS_HUBSPOT_TOKEN']}"},
            timeout=10,
        )
        assert hs.status_code == 200
        auth = {"Authorization": f"Bearer {env['CRM_OPS_HUBSPOT_TOKEN']}"}
        search = f"{env['CRM_OPS_HUBSPOT_BASE_URL']}/crm/v3/objects/contacts/search"
        mine = {
            "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "l@r.io"}]}]
        }
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.post(
                f"{env['CRM_OPS_HUBSPOT_BASE_URL']}/crm/v3/objects/contacts",
                json={"properties": {"email": "l@r.io"}},
                headers=auth,
                timeout=10,
            )
        assert requests.post(search, json=mine, headers=auth, timeout=10).json()["total"] == 1  # it was made
        # the README's next step: source the env file in a shell that has none of it, then pull
        bare = {k: v for k, v in os.environ.items() if not k.startswith("CRM_OPS")}
        sourced = subprocess.run(
            [
                "sh",
                "-c",
                f'. "{env_file}" && "{BIN / "crm-ops"}" pull -c "{tmp_path / "crm-ops.toml"}" -e Owner',
            ],
            capture_output=True,
            text=True,
            env=bare,
            check=False,
            timeout=120,
        )
        assert sourced.returncode == 0, sourced.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    for key in ("CRM_OPS_SF_ACCESS_TOKEN", "CRM_OPS_HUBSPOT_TOKEN"):
        assert env[key] not in err, "tokens never reach the logs"


def test_serve_rejects_bad_sizes_naming_the_option(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "crm-ops"), "sandbox", "serve", "--records", "50", "--env-file", str(tmp_path / "e")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "records must be between 100 and 1,000,000" in result.stderr


def test_serve_rejects_a_bad_fault_profile(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "crm-ops"), "sandbox", "serve", "--faults", "429=7", "--env-file", str(tmp_path / "e")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "between 0 and 1" in result.stderr


def test_faults_reach_the_client_and_never_kill_the_server() -> None:
    config = SandboxConfig(seed=SeedConfig(records=100), faults="429=0.2,503=0.2,drop=0.1", fault_seed=9)
    with Sandbox(config) as sandbox:
        session = requests.Session()
        session.verify = sandbox.env["CRM_OPS_SF_CA_BUNDLE"]
        session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment overrides verify
        url = f"{sandbox.env['CRM_OPS_SF_INSTANCE_URL']}/services/data/v59.0/query"
        headers = {"Authorization": f"Bearer {sandbox.env['CRM_OPS_SF_ACCESS_TOKEN']}"}
        seen: dict[str, int] = {}
        for _ in range(150):
            try:
                status = str(
                    session.get(
                        url, params={"q": "SELECT Id FROM User"}, headers=headers, timeout=10
                    ).status_code
                )
            except requests.exceptions.ConnectionError:
                status = "dropped"
            seen[status] = seen.get(status, 0) + 1
        assert {"200", "429", "503", "dropped"} <= set(seen), seen
        counts = sandbox.salesforce.faults.counts
        assert counts["drop"] == seen["dropped"]
        assert counts["503"] == seen["503"]


def test_demo_runs_end_to_end() -> None:
    result = subprocess.run(
        [str(BIN / "crm-ops"), "demo", "--records", "300"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Full pull into snapshots" in result.stdout
    assert "Incremental pull after a few edits" in result.stdout
    assert "Data-quality findings" in result.stdout
    assert "Duplicates and Salesforce-HubSpot links" in result.stdout
    assert "applied the safe fixes (done" in result.stdout
    assert "report.html" in result.stdout
    assert "Injected defects" in result.stdout
    assert "Across billing and the CRM" in result.stdout and "pays in billing" in result.stdout


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "examples").glob("*.py")))
def test_examples_run_as_they_are(script: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
