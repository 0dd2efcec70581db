"""Exit codes that cannot be mistaken: a crash (70), an operational error (8), an HTML page answering
the token call (3), a rule that raises (7): never the findings code 1, and the cron wrapper pages on
each (exits non-zero)."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from crm_ops.cli import EXIT_API, EXIT_CRASH, EXIT_FAILED, EXIT_FINDINGS, EXIT_OPERATIONAL, ExitCode, exit_for
from crm_ops.sandbox.server import Sandbox
from tests.pagefront import serving
from tests.pulling import fast_sandbox, profile_for

pytestmark = pytest.mark.integration
CRM_OPS = str(Path(sys.executable).parent / "crm-ops")
WRAPPER = Path(__file__).resolve().parents[2] / "examples" / "cron" / "nightly.sh"
CRASH = """
import crm_ops.runner

def _crash(*args, **kwargs):
    raise RuntimeError("an unexpected bug")

crm_ops.runner.run_batch = _crash
"""
RAISING_RULE = """
import polars as pl
from crm_ops.rules import rule


@rule(id="team.broken", entity="Contact", field="email", severity="error", description="A buggy rule.")
def broken(frame, ctx, params):
    raise ZeroDivisionError("a rule with a bug")
"""


def _bare_config(folder: Path) -> Path:
    config = folder / "crm-ops.toml"
    config.write_text('[profiles.sandbox]\nstate_dir = "state"\n')
    return config


def _wrapper(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "CRM_OPS": CRM_OPS, "CRM_OPS_PROFILE": "sandbox"}
    return subprocess.run(
        ["sh", str(WRAPPER)], capture_output=True, text=True, env={**base, **env}, check=False, timeout=600
    )


def test_the_table_keeps_crashes_and_the_machine_apart_from_findings() -> None:
    codes = [int(c) for c in ExitCode]
    assert len(codes) == len(set(codes)) and int(ExitCode.FINDINGS) == 1
    full = exit_for(OSError(errno.ENOSPC, "No space left on device", "/var/lib/crm-ops/state.sqlite"))
    assert full is not None and full[0] == EXIT_OPERATIONAL and "No space left on device" in full[1]
    readonly = exit_for(sqlite3.OperationalError("attempt to write a readonly database"))
    assert readonly is not None and readonly[0] == EXIT_OPERATIONAL
    assert exit_for(RuntimeError("bug")) is None  # a crash: main() exits 70 with the traceback


def test_a_crashing_run_exits_70_with_its_traceback_and_the_wrapper_pages(tmp_path: Path) -> None:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(CRASH)
    config = _bare_config(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(hook)}
    done = subprocess.run(
        [CRM_OPS, "run", "-c", str(config)], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == EXIT_CRASH, done.stderr
    assert "Traceback" in done.stderr and "RuntimeError: an unexpected bug" in done.stderr
    paged = _wrapper(tmp_path, {"PYTHONPATH": str(hook), "CRM_OPS_CONFIG": str(config)})
    assert paged.returncode == EXIT_CRASH, paged.stderr
    assert "crashed (exit 70" in paged.stderr


def test_a_state_dir_that_cannot_be_made_is_an_operational_error(tmp_path: Path) -> None:
    config = _bare_config(tmp_path)
    (tmp_path / "state").write_text("a file where the state dir should be")
    done = subprocess.run([CRM_OPS, "run", "-c", str(config)], capture_output=True, text=True, check=False)
    assert done.returncode == EXIT_OPERATIONAL, done.stderr
    assert "operational error" in done.stderr and "Traceback" not in done.stderr
    paged = _wrapper(tmp_path, {"CRM_OPS_CONFIG": str(config)})
    assert paged.returncode == EXIT_OPERATIONAL, paged.stderr


class _LoginPage(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = b"<html><body><form action='/sso'>Sign in to Acme SSO</form></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def login_page() -> Iterator[str]:
    with serving(_LoginPage) as url:
        yield url


def test_an_html_login_page_answering_the_token_call_is_a_crm_error(tmp_path: Path, login_page: str) -> None:
    config = tmp_path / "crm-ops.toml"
    config.write_text(
        '[profiles.sandbox]\nstate_dir = "state"\n[profiles.sandbox.salesforce]\nauth = "password"\n'
        f'login_url = "{login_page}"\nusername = "ops@example.com"\nclient_id = "3MVG9"\nretry_attempts = 1\n'
    )
    env = {**os.environ, "CRM_OPS_SF_PASSWORD": "hunter2", "CRM_OPS_SF_CLIENT_SECRET": "s3cr3t"}
    done = subprocess.run(
        [CRM_OPS, "pull", "-c", str(config)], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == EXIT_API, done.stderr
    assert "answered 200 with text/html, not a token (an HTML login page?" in done.stderr
    assert "hunter2" not in done.stderr and "s3cr3t" not in done.stderr


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(300, 41) as sb:
        yield sb


def test_a_rule_that_raises_makes_check_and_run_exit_7_and_the_wrapper_pages(
    box: Sandbox, tmp_path: Path
) -> None:
    rules = tmp_path / "team-rules"
    rules.mkdir()
    (rules / "broken.py").write_text(RAISING_RULE)
    profile_for(box, tmp_path, extra='[profiles.sandbox.rules]\nfolders = ["team-rules"]\n')
    config = str(tmp_path / "crm-ops.toml")
    env = {**os.environ, **box.env}
    pulled = subprocess.run(
        [CRM_OPS, "pull", "-c", config], capture_output=True, text=True, env=env, check=False
    )
    assert pulled.returncode == 0, pulled.stderr
    checked = subprocess.run(
        [CRM_OPS, "check", "-c", config, "--fail-on", "never"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert checked.returncode == EXIT_FAILED, checked.stderr
    assert "rule error: team.broken" in checked.stderr and "ZeroDivisionError" in checked.stderr
    secrets = tmp_path / "secrets.env"
    box.write_env(secrets)
    cron = subprocess.run(
        ["sh", "-c", f'. "{secrets}" && sh "{WRAPPER}"'],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CRM_OPS": CRM_OPS, "CRM_OPS_CONFIG": config,
             "CRM_OPS_PROFILE": "sandbox"},
        check=False,
    )  # fmt: skip
    assert cron.returncode == EXIT_FAILED != EXIT_FINDINGS, cron.stderr
