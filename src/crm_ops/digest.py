"""The digest of a run (``crm-ops digest``): per owner, the open findings, those new and resolved since
the run before, those muted and acknowledged, and the rules with the most open findings; with an
https link to the run's report when ``[profiles.P.notify] report_url`` says where reports are published.
Read from the run's summary.json (``crm_ops.triage`` counted it when the run finished), as text for a
person or e-mail and as JSON for a script."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from crm_ops.config import Profile
from crm_ops.errors import ConfigError
from crm_ops.report.history import run_folder, summary_problem
from crm_ops.triage import owner_line


@dataclass(frozen=True)
class Digest:
    """A run's findings per owner, as its summary counted them."""

    run_id: str
    profile: str
    started_at: str
    exit_code: int
    report_link: str | None  # https, when [notify] report_url is set
    compared: bool  # whether new and resolved were counted (there was a run before)
    owners: dict[str, dict[str, Any]] = field(default_factory=dict)
    totals: dict[str, Any] = field(default_factory=dict)  # findings, new, resolved, muted, acknowledged

    def as_dict(self) -> dict[str, Any]:
        """The digest as JSON-able values."""
        return {
            "run_id": self.run_id,
            "profile": self.profile,
            "started_at": self.started_at,
            "exit_code": self.exit_code,
            "report_link": self.report_link,
            "compared": self.compared,
            "totals": self.totals,
            "owners": self.owners,
        }

    def text(self) -> str:
        """The digest for a person: a headline, the totals, then a paragraph per owner."""
        t = self.totals
        lines = [
            f"crm-ops digest: run {self.run_id} ({self.profile}), started {self.started_at}, "
            f"exit {self.exit_code}"
        ]
        counted = f"{t.get('open', 0):,} open findings"
        if self.compared:
            counted += f", {t.get('new', 0):,} new and {t.get('resolved', 0):,} resolved since the run before"
        else:
            counted += " (the first run: nothing to compare with)"
        lines.append(counted + f"; {t.get('muted', 0):,} muted, {t.get('acknowledged', 0):,} acknowledged")
        if self.report_link:
            lines.append(f"Report: {self.report_link}")
        if not self.owners:
            lines.append(
                "No owner counts in this run's summary (a run that stopped early, or one from before owners)."
            )
        for name, counts in self.owners.items():
            reach = " ".join(x for x in (counts.get("email"), counts.get("channel")) if x)
            lines += ["", owner_line(name, counts, self.compared) + (f"  [{reach}]" if reach else "")]
            lines += [f"  {rule}: {n:,} open" for rule, n in counts.get("rules", {}).items()]
        return "\n".join(lines) + "\n"


def run_digest(profile: Profile, run: str | None = None) -> Digest:
    """The digest of run ``run`` (default: the latest) of ``profile``; a ``ConfigError`` when there is no
    such run or its summary cannot be read."""
    folder = run_folder(profile.state_dir / "runs", run)
    path = folder / "summary.json"
    try:
        summary = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot be read ({type(exc).__name__}); run crm-ops run again") from None
    problem = summary_problem(summary)
    if problem:
        raise ConfigError(f"{path}: {problem}")
    owners = summary.get("owners") if isinstance(summary.get("owners"), dict) else {}
    totals = {
        "findings": int(summary.get("findings") or 0),
        "open": int(summary.get("findings") or 0) - int(summary.get("muted") or 0),
        **{
            k: int(summary.get(k) or 0) for k in ("new", "resolved", "muted", "acknowledged", "expired_marks")
        },
    }
    return Digest(
        run_id=summary["run_id"],
        profile=str(summary.get("profile") or profile.name),
        started_at=summary["started_at"],
        exit_code=summary["exit_code"],
        report_link=profile.notify.report_link(summary["run_id"]),
        compared=summary.get("new") is not None,
        owners=dict(owners or {}),
        totals=totals,
    )
