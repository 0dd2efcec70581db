"""`crm-ops run`, the cron batch: artifacts, safe auto-apply, exit codes, the lock, the HTML report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.plan import read_plan
from crm_ops.sandbox.clients import salesforce_client
from crm_ops.sandbox.server import Sandbox
from tests.command import crm_ops
from tests.pulling import fast_sandbox, profile_for

pytestmark = pytest.mark.integration
CRM_OPS = str(Path(sys.executable).parent / "crm-ops")
HOLDER = """
import sys, time
from pathlib import Path
from crm_ops.runner import RunLock
RunLock(Path(sys.argv[1])).acquire()
print("held", flush=True)
time.sleep(300)
"""
RUN = """
[profiles.sandbox.run]
auto_apply = ["person.email.normalised", "tag:format"]
min_confidence = 0.95
"""


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(1500, 51) as sb:
        yield sb


def _run(box: Sandbox, folder: Path) -> subprocess.CompletedProcess[str]:
    """``crm-ops run`` in a process of its own (the lock tests: another process holds the lock)."""
    env = {**os.environ, **box.env}
    return subprocess.run(
        [CRM_OPS, "run", "-c", str(folder / "crm-ops.toml")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_run_writes_its_artifacts_applies_safe_fixes_and_escapes_crm_values(
    box: Sandbox, tmp_path: Path
) -> None:
    profile_for(box, tmp_path, extra=RUN)
    sf: Any = salesforce_client(box.env)
    victim = sf.query("SELECT Id FROM Contact WHERE IsDeleted = false ORDER BY Id LIMIT 1")["records"][0][
        "Id"
    ]
    sf.Contact.update(victim, {"LastName": "<script>alert(1)</script>"})

    first = crm_ops("run", "-c", tmp_path / "crm-ops.toml", env={**os.environ, **box.env})  # tests.command
    assert first.returncode == 1, first.stderr  # the sandbox has error-level defects
    runs = sorted(p for p in (tmp_path / "state" / "runs").iterdir() if p.is_dir())
    folder = runs[-1]
    for name in ("findings.parquet", "plan.jsonl", "plan.csv", "summary.json", "report.html", "run.log"):
        assert (folder / name).exists(), name
        assert (folder / name).stat().st_mode & 0o777 == 0o600, name  # CRM data: the run's user's alone
    for private in (folder, tmp_path / "state", tmp_path / "state" / "snapshots"):
        assert private.stat().st_mode & 0o777 == 0o700, private
    everything = [p for p in (tmp_path / "state").rglob("*") if p.is_file()]
    assert everything and all(p.stat().st_mode & 0o077 == 0 for p in everything)
    summary = json.loads((folder / "summary.json").read_text())
    header = read_plan(folder / "plan.jsonl").header
    assert {"people.yaml", "companies.yaml", "deals.yaml"} <= set(header.rules)  # rule set versions
    assert header.snapshots and header.profile == "sandbox"
    assert summary["exit_code"] == 1 and summary["applied"].get("done", 0) > 10
    # nothing is old enough to prune yet, and the summary says so; its notices are the report's
    assert summary["retention"] == {
        "runs": 0, "findings": 0, "matches": 0, "plans": 0, "journal_entries": 0, "snapshots": 0,
        "kept_pending": [], "problems": [],
    }  # fmt: skip
    assert isinstance(summary["notices"], list)
    report = (folder / "report.html").read_text()
    # the applied and waiting actions are counted by rule, not listed (issue 29), so the hostile name is
    # not on this page; wherever a CRM value is (refused rows, merges, notices), it is escaped:
    # tests/unit/test_report.py renders each of them hostile
    assert "<script" not in report.lower()
    assert "src=" not in report and "@import" not in report and "<link" not in report  # no network assets
    hrefs = re.findall(r'href="([^"]*)"', report)  # links: to the records in their CRM, to the run index
    assert hrefs and all(h.startswith("https://") or h == "../index.html" for h in hrefs)
    assert "../index.html" in hrefs  # records are linked from the refused rows (none here) and the app
    assert (tmp_path / "state" / "runs" / "index.html").exists()
    lines = [json.loads(line) for line in (folder / "run.log").read_text().splitlines()]
    assert lines and all(line["run_id"] == folder.name for line in lines)

    second = crm_ops("run", "-c", tmp_path / "crm-ops.toml", env={**os.environ, **box.env})  # tests.command
    assert second.returncode == 1
    latest = sorted(p for p in (tmp_path / "state" / "runs").iterdir() if p.is_dir())[-1]
    findings = pl.read_parquet(latest / "findings.parquet")
    assert findings.filter(pl.col("rule") == "person.email.normalised").is_empty()  # applied by the first run
    assert "<svg" in (latest / "report.html").read_text()  # the trend, now there are two runs


def test_the_lock_keeps_runs_apart_and_a_dead_runs_lock_is_taken_over(box: Sandbox, tmp_path: Path) -> None:
    profile_for(box, tmp_path)
    lock = tmp_path / "state" / "run.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        locked = _run(box, tmp_path)
        assert locked.returncode == 5
        assert "another run holds" in locked.stderr and f"(pid {holder.pid} on " in locked.stderr
    finally:
        holder.kill()  # SIGKILL: the holder cannot clean up; the kernel releases its lock
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    # a run that was pid 1 in a container, killed: its lock file is left behind with a pid that is alive
    lock.write_text(json.dumps({"pid": 1, "started": time.time()}))
    taken = _run(box, tmp_path)
    assert taken.returncode in (0, 1), taken.stderr
    assert lock.read_text() == ""  # released by the run that took it over


def test_the_cron_wrapper_runs_the_batch_and_pages_nobody_for_findings(box: Sandbox, tmp_path: Path) -> None:
    profile_for(box, tmp_path)
    # as cron runs it: a bare environment, the secrets sourced from a file, then the wrapper
    secrets = tmp_path / "secrets.env"
    box.write_env(secrets)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CRM_OPS": CRM_OPS,
        "CRM_OPS_CONFIG": str(tmp_path / "crm-ops.toml"),
        "CRM_OPS_PROFILE": "sandbox",
    }
    script = Path(__file__).resolve().parents[2] / "examples" / "cron" / "nightly.sh"
    cron_line = f'. "{secrets}" && sh "{script}"'
    done = subprocess.run(["sh", "-c", cron_line], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "state" / "runs").glob("*/report.html"))
    missing = {**env, "CRM_OPS_CONFIG": str(tmp_path / "nope.toml")}
    broken = subprocess.run(["sh", "-c", cron_line], capture_output=True, text=True, env=missing, check=False)
    assert broken.returncode == 2
    assert "configuration error (exit 2)" in broken.stderr


def test_a_failing_run_calls_the_webhook(
    box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crm_ops.runner import run_batch
    from tests.webhook import webhook

    with webhook() as hook:
        monkeypatch.setenv("CRM_OPS_WEBHOOK_URL", hook.url)
        profile = profile_for(
            box, tmp_path, extra='\n[profiles.sandbox.notify]\nwebhook_env = "CRM_OPS_WEBHOOK_URL"\n'
        )
        result = run_batch(profile)
    assert result.exit_code == 1  # the sandbox has error-level defects: a threshold breach
    (body,) = hook.bodies
    assert body["text"].startswith(f"crm-ops run {result.run_id} (sandbox): exit 1")
    assert "*Findings:*" in body["blocks"][1]["text"]["text"]
    log = (result.folder / "run.log").read_text()
    assert '"event": "notify.sent"' in log and "s3cr3t" not in log
