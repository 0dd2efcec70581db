"""Helpers for apply tests that run ``crm-ops apply`` / ``undo`` as a child process against a sandbox,
kill it mid-way, and compare what the CRMs hold: a fresh full pull of every entity, the journal's
progress, HubSpot duplicates typed in, and what an exact undo leaves."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from crm_ops.check import current_frames, run_check
from crm_ops.cli import EXIT_FAILED, EXIT_OK
from crm_ops.config import Profile
from crm_ops.match.run import run_matching
from crm_ops.plan import build_plan, write_plan
from crm_ops.plan.format import Plan
from crm_ops.pull import Puller
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.hubspot import HubSpotLimits
from crm_ops.sandbox.objects import HUBSPOT_OBJECTS
from crm_ops.sandbox.server import Sandbox, SandboxConfig
from crm_ops.schema.entities import ENTITIES
from crm_ops.state import State
from tests.pulling import TODAY

FAST = HubSpotLimits(per_ten_seconds=1_000_000, search_per_second=100_000)
PULLED = ["Account", "Contact", "Lead", "Opportunity", "Owner", "ContactRole"]
FINISHED = (EXIT_OK, EXIT_FAILED)  # done, or done with records the CRM refused


@contextmanager
def twin_sandboxes(seed: SeedConfig, duplicates: int) -> Iterator[tuple[Sandbox, Sandbox]]:
    """Two sandboxes holding the very same data, ``duplicates`` HubSpot duplicates typed into each: one
    for a reference run, one for the run under test (seeded with one "today", even across midnight)."""
    seed = replace(seed, as_of=seed.as_of or TODAY)
    with (
        Sandbox(SandboxConfig(seed=seed, hubspot_limits=FAST)) as first,
        Sandbox(SandboxConfig(seed=seed, hubspot_limits=FAST)) as second,
    ):
        for box in (first, second):
            type_in_hubspot_duplicates(box, duplicates)
        yield first, second


def fresh_plan(profile: Profile) -> Plan:
    """The plan of everything a fresh pull of both CRMs finds: rule fixes and duplicates' merges."""
    puller = Puller(profile)
    puller.pull_many(["salesforce", "hubspot"], PULLED)
    matched = run_matching(current_frames(puller.state)).findings
    puller.close()
    findings = pl.concat([run_check(profile).result.findings, matched], how="diagonal_relaxed")
    return build_plan(findings, profile="sandbox")


def written_plan(profile: Profile, folder: Path) -> Plan:
    """``fresh_plan`` of ``profile``, written into ``folder`` (plan.jsonl, plan.csv)."""
    plan = fresh_plan(profile)
    write_plan(plan, folder)
    return plan


def journal_of(profile_dir: Path, plan_id: str) -> dict[str, dict[str, Any]]:
    """The journal of plan ``plan_id`` in the state of the profile written into ``profile_dir``."""
    state = State(profile_dir / "state" / "state.sqlite")
    try:
        return state.journal(plan_id)
    finally:
        state.close()


def crm_state(profile: Profile) -> dict[tuple[str, str], pl.DataFrame]:
    """Every entity as the CRM holds it now (a fresh full pull), without the modification stamps."""
    puller = Puller(profile)
    puller.pull_many(["salesforce", "hubspot"], PULLED, full=True)
    out = {}
    for c in puller.state.all_current():
        columns = [k for k in ENTITIES[c.entity] if k != "updated_at"]
        out[(c.system, c.entity)] = c.snapshot.read().select(columns).sort("id")
    puller.close()
    return out


def journaled(state_file: Path, where: str = "1") -> int:
    if not state_file.exists():
        return 0
    try:
        with sqlite3.connect(state_file, timeout=1) as db:
            # every journal step counts: pending 1, restored 2, an outcome 3
            weight = "SUM(CASE status WHEN 'pending' THEN 1 WHEN 'restored' THEN 2 ELSE 3 END)"
            return int(db.execute(f"SELECT COALESCE({weight}, 0) FROM journal WHERE {where}").fetchone()[0])
    except sqlite3.Error:
        return 0


def run_apply(
    box: Sandbox,
    folder: Path,
    plan: Path,
    *,
    kill_after: int | None,
    rng: random.Random,
    command: str = "apply",
    where: str = "1",
) -> int | None:
    env = {**os.environ, **box.env, "CRM_OPS_CONFIG": str(folder / "crm-ops.toml")}
    extra = ["--batch-size", "7", "--all-actions"] if command == "apply" else []  # the whole plan
    child = subprocess.Popen(
        [sys.executable, "-m", "crm_ops", command, str(plan), "--yes", *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if kill_after is not None else None,
    )
    if kill_after is None:
        return child.wait(timeout=600)
    state_file = folder / "state" / "state.sqlite"
    start = journaled(state_file, where)
    deadline = time.monotonic() + 300
    while child.poll() is None and time.monotonic() < deadline:
        if journaled(state_file, where) >= start + kill_after:
            time.sleep(rng.uniform(0, 0.05))
            child.kill()
            child.wait()
            return None
        time.sleep(0.01)
    return child.wait(timeout=60)


def type_in_hubspot_duplicates(box: Sandbox, count: int) -> None:
    """Copies of HubSpot contacts (same person and phone, another address) put in the sandbox's store
    with the originals' stamps, so every sandbox of the same seed holds the very same ones."""
    table = box.hubspot.objects["contacts"]
    people = table.frame().filter(
        ~pl.col("archived") & pl.col("phone").is_not_null() & pl.col("email").is_not_null()
    )
    for row in people.head(count).iter_rows(named=True):
        table.append(
            {**row, "id": HUBSPOT_OBJECTS["contacts"].id_base + len(table), "email": "second." + row["email"]}
        )


def assert_undone(
    before: Mapping[tuple[str, str], pl.DataFrame],
    restored: Mapping[tuple[str, str], pl.DataFrame],
    journal: Mapping[str, dict[str, Any]],
    conversions: set[str],
) -> dict[str, str]:
    """That an undo (its ``journal``) put the CRMs (``restored``) back as they were ``before`` the apply:
    every merge back, each conversion's contact put back (its lead still converted), no record created
    twice, every other difference a record the undo lists as refused. The HubSpot records created again
    (HubSpot cannot unmerge: a new id, the old values), old id to new."""
    refused = {
        (e["record_id"], e["field"]) for e in journal.values() if e["status"] not in ("done", "irreversible")
    }
    settled = ("done", "irreversible")
    assert all(e["field"] for e in journal.values() if e["status"] not in settled)  # every merge came back
    irreversible = {e["record_id"] for e in journal.values() if e["status"] == "irreversible"}
    assert irreversible == conversions  # each conversion's contact put back, its lead still converted
    recreated = {
        e["record_id"]: e["after"]
        for e in journal.values()
        if e["system"] == "hubspot" and e["field"] is None and e["status"] == "done"
    }
    for key, frame in before.items():  # nothing created twice by a resumed restore
        live = frame.filter(~pl.col("is_deleted")).height
        assert restored[key].filter(~pl.col("is_deleted")).height == live, key
    contacts = restored[("hubspot", "Contact")]
    values = [c for c in contacts.columns if c not in ("id", "created_at", "is_deleted")]
    for old_id, new_id in recreated.items():
        was = before[("hubspot", "Contact")].filter(pl.col("id") == old_id).select(values)
        if was.height:  # a contact (companies come back too)
            assert contacts.filter(pl.col("id") == new_id).select(values).equals(was), old_id
    for key, frame in before.items():
        joined = frame.join(restored[key], on="id", suffix="__now")
        for column in frame.columns:
            if column == "id":
                continue
            differing = joined.filter(pl.col(column).ne_missing(pl.col(f"{column}__now")))["id"].to_list()
            # a merged-away HubSpot record is archived and its associations (account_id) went to the
            # survivor; the undo made it again under a new id, with them (compared above)
            gone = ("is_deleted", "account_id")
            moved = {(rid, c) for rid in recreated for c in gone} if key[0] == "hubspot" else set()
            if key == ("salesforce", "Lead"):  # what the plan said undo cannot do
                moved = {(rid, column) for rid in irreversible}
            assert {(rid, column) for rid in differing} <= refused | moved, (key, column, differing[:3])
    return recreated
