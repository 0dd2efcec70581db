"""A run's findings as a CSV file for people (``crm-ops findings export --csv``): each finding with its
record's label and link in its CRM, its owner (``[profiles.P.owners]``), whether it is new since the
run before, and the mute or acknowledgement that covers it now (``crm_ops.triage``).

Labels come from the current snapshots (``crm_ops.plan.context``); links from the run's plan where it
has the record, else from the profile's CRM addresses (``salesforce.instance_url``,
``hubspot.portal_id``: nothing is asked of a CRM here). The file is written through ``crm_ops.csvio``:
a CRM value a spreadsheet would run as a formula is shown as text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from crm_ops import csvio
from crm_ops.check import profile_rules
from crm_ops.config import Profile
from crm_ops.layered import Snapshot
from crm_ops.plan import read_plan
from crm_ops.plan.context import Context, addresses
from crm_ops.report.history import previous_findings, run_folder
from crm_ops.state import State
from crm_ops.triage import KEY, Router, mark_from_row, triage

COLUMNS = (
    "run_id", "rule", "severity", "system", "entity", "record_id", "label", "url", "field", "current_value",
    "proposed_value", "message", "owner", "owner_email", "owner_channel", "state", "mark_until", "mark_note",
    "new",
)  # fmt: skip


def _plan_links(folder: Path) -> dict[tuple[str, str, str], tuple[str | None, str | None]]:
    """(system, entity, record id) -> (url, label) of the run's plan actions (none: no plan)."""
    path = folder / "plan.jsonl"
    if not path.is_file():
        return {}
    return {(a.system, a.entity, a.record_id): (a.url, a.label) for a in read_plan(path).actions}


def finding_rows(
    profile: Profile, run: str | None = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The findings of run ``run`` (default: the latest) as the CSV's rows (``COLUMNS``), the marks
    judged at ``now`` (default: the current time)."""
    runs = profile.state_dir / "runs"
    folder = run_folder(runs, run, needs="findings.parquet")
    findings = pl.read_parquet(folder / "findings.parquet")
    _, previous = previous_findings(runs, folder.name)
    rules, _ = profile_rules(profile)
    state = State(profile.state_dir / "state.sqlite")
    try:
        marks = [mark_from_row(m) for m in state.marks()]
        large: dict[str, dict[str, Snapshot]] = {}
        for c in state.all_current():
            large.setdefault(c.system, {})[c.entity] = c.snapshot
    finally:
        state.close()
    moment = now or datetime.now(UTC)
    router = Router(profile.owners, {r.id: r.tags for r in rules})
    t = triage(findings, previous, router, marks, moment)
    fresh = t.new.with_columns(pl.lit(True).alias("new")) if t.compared else None
    frame = t.findings.with_columns(pl.col(c).cast(pl.String) for c in KEY)
    if fresh is not None:
        frame = frame.join(fresh, on=KEY, how="left", nulls_equal=True)
    context = Context(large=large, addresses=addresses(profile))
    frame = frame.with_columns(context.addresses.url_of("system", "entity", "record_id").alias("__url"))
    planned = _plan_links(folder)
    labels: dict[tuple[str, str], dict[str, str | None]] = {}
    for (system, entity), part in frame.partition_by(["system", "entity"], as_dict=True).items():
        ids = part["record_id"].drop_nulls().cast(pl.String).unique().to_list()
        labels[(str(system), str(entity))] = context.labels(str(system), str(entity), ids)
    rows = []
    for f in frame.iter_rows(named=True):
        key = (str(f["system"]), str(f["entity"]), str(f["record_id"]))
        url, label = planned.get(key, (None, None))
        person = profile.owners.owner(f["owner"])
        rows.append(
            {
                **{c: f.get(c) for c in COLUMNS if c in f},
                "run_id": folder.name,
                "label": label or labels.get(key[:2], {}).get(key[2]),
                "url": url or f["__url"],
                "owner_email": person.email,
                "owner_channel": person.channel,
                "new": ("yes" if f.get("new") else "no") if t.compared else "",
            }
        )
    return rows


def export_findings(
    profile: Profile, path: Path, run: str | None = None, now: datetime | None = None
) -> Path:
    """Write the findings of run ``run`` (default: the latest) to ``path`` as CSV (``COLUMNS``), values
    neutralised for spreadsheets; returns the path."""
    rows = finding_rows(profile, run, now)
    return csvio.write_file(path, COLUMNS, ([r.get(c) for c in COLUMNS] for r in rows))
