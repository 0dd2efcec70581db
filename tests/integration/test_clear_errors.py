"""Foreseeable bad input ends in a clear error and its exit code, never a crash (issue 24): a variable
unset, a key file that holds no key, a CRM that cannot be reached, a proxy's page in place of JSON."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_ops.cli import EXIT_CONFIG
from crm_ops.sandbox.server import Sandbox
from tests.pulling import fast_sandbox, profile_for

pytestmark = pytest.mark.integration
CRM_OPS = str(Path(sys.executable).parent / "crm-ops")


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CRM_OPS, *args], capture_output=True, text=True, timeout=300, env=env, check=False)


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(200, 24) as sb:
        yield sb


@pytest.mark.parametrize("command", ["pull", "run"])
def test_an_unset_token_variable_is_a_config_error_before_anything_is_pulled(
    box: Sandbox, tmp_path: Path, command: str
) -> None:
    profile_for(box, tmp_path)
    env = {k: v for k, v in {**os.environ, **box.env}.items() if k != "CRM_OPS_HUBSPOT_TOKEN"}
    done = _run(command, "-c", str(tmp_path / "crm-ops.toml"), env=env)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert "set CRM_OPS_HUBSPOT_TOKEN" in done.stderr
    assert not (tmp_path / "state" / "snapshots").exists()  # Salesforce was not pulled first
