"""What the commands print: --quiet, --verbose, --log-format, and the library printing nothing to stdout."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from rich.console import Console

from crm_ops import logs
from crm_ops.progress import bars
from crm_ops.sandbox.server import Sandbox
from tests.integration.test_pull_cli import _run
from tests.pulling import profile_for

pytestmark = pytest.mark.integration


def test_quiet_prints_nothing_but_errors(sandbox: Sandbox, tmp_path: Path) -> None:
    profile_for(sandbox, tmp_path)
    env = {**os.environ, **sandbox.env}
    config = str(tmp_path / "crm-ops.toml")
    pulled = _run("--quiet", "pull", "-c", config, "-e", "Contact", "-e", "Account", env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert (pulled.stdout, pulled.stderr) == ("", "")
    checked = _run("-q", "check", "-c", config, env=env)
    assert checked.returncode == 1  # the seeded defects include errors
    assert checked.stdout == ""
    assert checked.stderr.strip().splitlines() == [checked.stderr.strip()]  # the one error line
    assert "findings at --fail-on error" in checked.stderr
    broken = _run("-q", "check", "-c", config, "-p", "nope", env=env)
    assert broken.returncode == 2
    assert "no profile 'nope'; defined: sandbox" in broken.stderr and broken.stdout == ""


def test_log_format_and_verbose_win_over_the_command(sandbox: Sandbox, tmp_path: Path) -> None:
    profile_for(sandbox, tmp_path)
    env = {**os.environ, **sandbox.env}
    config = str(tmp_path / "crm-ops.toml")
    console = _run("--log-format", "console", "pull", "-c", config, "-e", "Account", env=env)
    assert console.returncode == 0, console.stderr
    assert "pull.done" in console.stderr and '"event"' not in console.stderr
    bad = _run("--log-format", "xml", "pull", "-c", config, env=env)
    assert bad.returncode == 2 and "use json or console" in bad.stderr


def test_verbose_wins_over_a_command_that_logs_warnings_only(capsys: pytest.CaptureFixture[str]) -> None:
    logs.set_overrides(level="debug", json=True)
    try:
        logs.configure(level="warning")  # what doctor asks for; --verbose wins
        structlog.get_logger("t").debug("api.retry", attempt=1)
        structlog.get_logger("t").info("pull.done")
    finally:
        logs.set_overrides()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    seen = [(line["event"], line["level"]) for line in lines]
    assert seen == [("api.retry", "debug"), ("pull.done", "info")]


def test_quiet_keeps_the_run_log_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--quiet silences the console, not a run's own log file."""
    logs.set_overrides(level="error", quiet=True)
    try:
        logs.configure(level="info", file=tmp_path / "run.log")
        structlog.get_logger("t").info("run.done", exit_code=0)
        structlog.get_logger("t").error("run.failed")
    finally:
        logs.set_overrides()
    assert [json.loads(line)["event"] for line in capsys.readouterr().err.splitlines()] == ["run.failed"]
    logged = [json.loads(line)["event"] for line in (tmp_path / "run.log").read_text().splitlines()]
    assert logged == ["run.done", "run.failed"]


def test_the_library_prints_nothing_to_stdout(sandbox: Sandbox, tmp_path: Path) -> None:
    """A script using the Python API: no info log on stdout (nor on stderr); warnings go to stderr."""
    profile_for(sandbox, tmp_path)
    script = (
        "from crm_ops.config import load_profile\n"
        "from crm_ops.pull import Puller\n"
        f"p = Puller(load_profile({str(tmp_path / 'crm-ops.toml')!r}, 'sandbox'))\n"
        "p.pull_many(['salesforce'], ['Account'])\n"
        "p.close()\n"
        "import structlog; structlog.get_logger('x').warning('a.warning')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **sandbox.env},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "pull.done" not in done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1])["event"] == "a.warning"


def test_log_lines_are_printed_above_the_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    logs.configure(json=True)
    try:
        with bars(console) as step:
            step("applying plan-1", 0, 10)
            step("applying plan-1", 4)
            structlog.get_logger("t").warning("api.retried", attempts=3)
            step("applying plan-1", 6)
    finally:
        logs.configure()
    text = out.getvalue()
    assert "api.retried" in text
    line = next(ln for ln in text.splitlines() if "api.retried" in ln)
    assert "applying plan-1" not in line  # on a line of its own, not glued onto the bar
    assert "{" in line and '"attempts": 3' in line
    assert "10/10" in text


def test_a_finished_task_without_a_total_stops_counting() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with bars(console) as step:
        step("salesforce Contact", 500)
        step("salesforce Account", 10, 40)
        step("salesforce Account", 30)
    assert "500/500" in out.getvalue()  # finished: its count is its total
