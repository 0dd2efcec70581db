"""Erasing a person (issue 31's "done when"): on the sandbox, a person who exists in both CRMs, the product
data and billing, in three snapshot generations, a plan, a journal with an undoable merge of theirs and a
night's report, is erased with ``crm-ops erase``. Then no file under the state dir holds their e-mail or
name (every byte searched here, Parquet decoded, independently of the tool's own check), neither CRM serves
them by any read path, and an undo, a drift sync (a night) and a re-pull do not bring them back."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.api import Workspace
from crm_ops.config import Profile
from crm_ops.exitcodes import ExitCode
from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.generator.billing import generate_sources, write_sources
from crm_ops.sandbox.server import Sandbox
from crm_ops.state import State
from tests.command import crm_ops
from tests.pulling import fast_sandbox, profile_for

pytestmark = pytest.mark.integration
RECORDS = 1500


def _every_place(root: Path, needles: list[str]) -> list[str]:
    """Every file under ``root`` holding one of ``needles`` (any case): its raw bytes, and each Parquet
    file's decoded text cells (compression hides them from a byte search)."""
    found = []
    lowered = [n.lower().encode() for n in needles]
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes().lower()
        if any(n in data for n in lowered):
            found.append(f"{path.relative_to(root)} (bytes)")
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            text = frame.select(pl.all().cast(pl.String, strict=False)) if frame.width else frame
            for column in text.columns:
                values = text[column].drop_nulls().str.to_lowercase()
                if any(values.str.contains(n.lower(), literal=True).any() for n in needles):
                    found.append(f"{path.relative_to(root)} column {column}")
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Profile, Path]]:
    folder = tmp_path_factory.mktemp("erasure")
    with fast_sandbox(RECORDS, 31) as sb:
        extra = write_sources(generate_sources(sb.data), folder / "sources")
        yield sb, profile_for(sb, folder, extra=extra), folder


def _person(ws: Workspace, plan_folder: Path) -> tuple[dict[str, Any], Any]:
    """A Salesforce contact in a proposed merge whose e-mail HubSpot and the product data hold too."""
    state = State(ws.state_dir / "state.sqlite")
    try:
        frames = {(c.system, c.entity): c.snapshot.read() for c in state.all_current()}
    finally:
        state.close()
    hubspot = set(frames["hubspot", "Contact"]["email"].drop_nulls().str.to_lowercase())
    product = set(frames["product", "ProductUser"]["email"].drop_nulls().str.to_lowercase())
    contacts = frames["salesforce", "Contact"]
    plan = [json.loads(line) for line in (plan_folder / "plan.jsonl").read_text().splitlines()[1:]]
    merges = [
        a for a in plan if a["kind"] == "merge" and a["system"] == "salesforce" and a["entity"] == "Contact"
    ]
    for merge in merges:
        for record_id in (merge["record_id"], merge["proposed_value"]):
            row = contacts.filter(pl.col("id") == record_id).row(0, named=True)
            email = (row["email"] or "").strip().lower()
            if email in hubspot and email in product and row["first_name"] and row["last_name"]:
                return row, merge
    raise AssertionError("the sandbox has no contact in a merge, in HubSpot and in the product data")


def test_erasing_a_person_leaves_no_trace_and_nothing_brings_them_back(
    world: tuple[Sandbox, Profile, Path],
) -> None:
    sb, profile, folder = world
    ws = Workspace(profile)
    env = {**os.environ, **sb.env, "CRM_OPS_CONFIG": str(folder / "crm-ops.toml")}
    for _ in range(3):  # three snapshot generations of every entity
        assert ws.pull().exit_code == ExitCode.OK
    ws.check()
    ws.match()
    planned = ws.plan()
    row, merge = _person(ws, planned.folder)
    email, name = row["email"].strip(), f"{row['first_name']} {row['last_name']}"
    # billing knows the person too: a sole trader's subscription in their own name
    with sqlite3.connect(folder / "sources" / "billing.sqlite") as db:
        db.execute(
            "INSERT INTO subscriptions (id, customer, customer_name, plan, status, mrr, currency, "
            "updated_at) VALUES ('sub_erase_1', 'cus_erase_1', ?, 'starter', 'active', 20.0, 'USD', ?)",
            (name, (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")),
        )
    db.close()
    assert ws.pull().exit_code == ExitCode.OK
    # a merge of theirs applied (journaled, undoable), the rest of the plan declined
    review = planned.folder / "plan.csv"
    with review.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for r in rows:
        r["approve"] = "yes" if r["action_id"] == merge["action_id"] else "no"
    with review.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    applied = ws.apply(planned.folder, review=review, write=True)
    assert applied.report.counts.get("done") == 1, applied.report.counts
    night = ws.run()  # a night's run: its report, summary, log, findings and plan hold the person too
    needles = [email, name]
    assert _every_place(profile.state_dir, needles), "the person should be in our state before the erasure"

    # a dry run finds and erases nothing
    dry = crm_ops("erase", "--email", email, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and "salesforce Contact" in dry.stdout and "hubspot Contact" in dry.stdout
    assert _every_place(profile.state_dir, needles)

    done = crm_ops("erase", "--email", email, "--reference", "DSR-1", "--yes", env=env)
    # billing is a source crm_ops only reads: named for its owner, so the command says something is left
    assert done.returncode == ExitCode.FAILED, done.stdout + done.stderr
    left = [line for line in done.stderr.splitlines() if line.startswith("left: ")]
    assert left and all(("billing" in line or "product" in line) and "owner" in line for line in left), left
    assert any("billing Subscription sub_erase_1" in line for line in left)
    assert not _every_place(profile.state_dir, needles)
    certificate = json.loads(Path(done.stdout.split("certificate: ")[1].split()[0]).read_text())
    assert (
        certificate["crms"]["salesforce.Contact"]["hard_deleted"] >= 2
    )  # the person and the merged-away copy
    assert certificate["crms"]["hubspot.Contact"]["hard_deleted"] >= 1
    assert certificate["subjects"][0]["reference"] == "DSR-1"
    assert email.lower() not in json.dumps(certificate).lower()

    # neither CRM serves them by any path
    sf, hs = salesforce_client(sb.env), hubspot_client(sb.env)
    quoted = email.replace("'", "\\'")
    assert sf.query(f"SELECT Id FROM Contact WHERE Email = '{quoted}'")["totalSize"] == 0
    sb.controls.end_recycle_window()  # queryAll shows emptied records for about a day: that day passes
    assert sf.query_all(f"SELECT Id FROM Contact WHERE Email = '{quoted}'")["totalSize"] == 0
    from hubspot.crm.contacts import PublicObjectSearchRequest

    search = PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}]
    )
    assert hs.crm.contacts.search_api.do_search(public_object_search_request=search).total == 0

    # an undo of the merge does not bring them back: refused, named, exit 7
    undone = crm_ops("undo", planned.folder, "--yes", env=env)
    assert undone.returncode == ExitCode.FAILED, undone.stdout + undone.stderr
    assert "erased" in (undone.stdout + undone.stderr)
    assert sf.query(f"SELECT Id FROM Contact WHERE Email = '{quoted}'")["totalSize"] == 0
    # a re-pull (full, then incremental) and a night with its drift sync do not either
    assert ws.pull(full=True).exit_code == ExitCode.OK
    again = ws.run()
    assert again.exit_code != ExitCode.CRASH
    assert not any("erasure:" in n for n in again.summary["notices"]), again.summary["notices"]
    assert not _every_place(profile.state_dir, needles)
    assert sf.query(f"SELECT Id FROM Contact WHERE Email = '{quoted}'")["totalSize"] == 0
    assert hs.crm.contacts.search_api.do_search(public_object_search_request=search).total == 0
    assert night.exit_code != ExitCode.CRASH


def test_a_killed_erasure_is_named_every_night_and_finished_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crm_ops.erasure.run as erasing

    with fast_sandbox(300, 8) as sb:
        profile = profile_for(sb, tmp_path)
        ws = Workspace(profile)
        ws.pull(systems=["salesforce", "hubspot"], entities=["Contact", "Lead"])
        state = State(profile.state_dir / "state.sqlite")
        contacts = state.current("salesforce", "Contact").snapshot.read()  # type: ignore[union-attr]
        state.close()
        row = contacts.filter(pl.col("email").is_not_null() & ~pl.col("is_deleted")).row(0, named=True)
        email = row["email"]

        def killed(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt  # the process stops after the CRMs' deletes, before our state is purged

        monkeypatch.setattr(erasing, "purge_state", killed)
        with pytest.raises(KeyboardInterrupt):
            ws.erase(emails=[email], write=True)
        monkeypatch.undo()
        state = State(profile.state_dir / "state.sqlite")
        (unfinished,) = state.erasures(unfinished=True)
        state.close()
        assert _every_place(profile.state_dir, [email])  # not purged yet
        night = ws.run()
        assert night.exit_code == ExitCode.FAILED
        assert any(unfinished["erasure_id"] in n and "--resume" in n for n in night.summary["notices"])
        # the night's pull did not copy the person back meanwhile: they were suppressed before the deletes
        finished = ws.erase(resume=True, write=True)
        assert finished.resumed == [unfinished["erasure_id"]]
        assert not _every_place(profile.state_dir, [email])
        folder = profile.state_dir / "erasures" / unfinished["erasure_id"]
        assert (folder / "certificate.json").exists() and not (folder / "work.json").exists()
        state = State(profile.state_dir / "state.sqlite")
        assert not state.erasures(unfinished=True)
        state.close()

        # killed earlier still: its working file written, the erasure not yet recorded nor suppressed
        second = contacts.filter(pl.col("email").is_not_null() & ~pl.col("is_deleted")).row(1, named=True)
        monkeypatch.setattr(State, "start_erasure", killed)
        with pytest.raises(KeyboardInterrupt):
            ws.erase(emails=[second["email"]], write=True)
        monkeypatch.undo()
        (orphan,) = [p.parent.name for p in (profile.state_dir / "erasures").glob("*/work.json")]
        finished = ws.erase(resume=True, write=True)
        assert finished.resumed == [orphan]
        assert not _every_place(profile.state_dir, [second["email"]])
        assert (profile.state_dir / "erasures" / orphan / "certificate.json").exists()
