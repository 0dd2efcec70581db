"""The API's findings workflow (issue 27): mute or acknowledge a rule's findings (on one system and record,
when given) with an expiry, list and remove the marks, the digest of a run per owner, a run's findings
as CSV. ``Workspace`` exposes each as a method; the ``crm-ops findings`` and ``crm-ops digest`` commands
are a shell over these."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from crm_ops.check import profile_rules
from crm_ops.config import Profile
from crm_ops.errors import ConfigError
from crm_ops.match.links import finding_rules
from crm_ops.rules.names import nearest
from crm_ops.state import State
from crm_ops.triage import KINDS, mark_from_row, until_of


def _known_rule(profile: Profile, rule: str) -> None:
    """A ``ConfigError`` naming the nearest rule when ``rule`` names none the profile runs (a monitor's
    id, ``monitor.<kind>.<what>``, is taken as it is)."""
    if rule.startswith("monitor."):
        return
    rules, problems = profile_rules(profile)
    known = {r.id for r in rules} | {p.rule for p in problems if p.rule} | set(finding_rules())
    if rule not in known:
        guess = nearest(rule, known)
        hint = f'; did you mean "{guess}"?' if guess else "; `crm-ops rules list` lists every rule"
        raise ConfigError(f'rule "{rule}": no such rule in profile {profile.name}{hint}')


def _known_system(profile: Profile, system: str | None) -> None:
    systems = ("salesforce", "hubspot", *profile.sources)
    if system is not None and system not in systems:
        raise ConfigError(f"--system {system!r}: use one of {', '.join(systems)}")


def mark_findings(
    profile: Profile,
    kind: str,
    rule: str,
    *,
    note: str,
    system: str | None = None,
    record_id: str | None = None,
    until: str | date | datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Mute (``kind="mute"``) or acknowledge (``"ack"``) the findings of ``rule`` (on ``system`` and
    ``record_id`` when given) until ``until`` (default: 30 days; ``"never"`` only when meant), with a
    ``note`` saying why. Kept in the state file (one transaction); a mark of the same kind, rule, system
    and record replaces the earlier. Returns the mark as listed."""
    if kind not in KINDS:
        raise ConfigError(f"kind {kind!r}: use one of {', '.join(KINDS)}")
    if not note or not note.strip():
        raise ConfigError(
            "--note: say why (who looks at it, the ticket): a mark without a reason helps nobody"
        )
    _known_rule(profile, rule)
    _known_system(profile, system)
    moment = now or datetime.now(UTC)
    ends = until_of(until, moment)
    state = State(profile.state_dir / "state.sqlite")
    try:
        kept = state.add_mark(
            {
                "kind": kind,
                "rule": rule,
                "system": system,
                "record_id": record_id,
                "note": note.strip(),
                "created_at": moment.isoformat(),
                "until": ends.isoformat() if ends else None,
            }
        )
    finally:
        state.close()
    return mark_from_row(kept).as_row(moment)


def list_marks(profile: Profile, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every mute and acknowledgement with its ``status`` at ``now``: muted, acknowledged or expired
    (an expired mark's findings count again); ``until`` is ``never`` only for a mark made so."""
    state = State(profile.state_dir / "state.sqlite")
    try:
        rows = state.marks()
    finally:
        state.close()
    moment = now or datetime.now(UTC)
    return [mark_from_row(r).as_row(moment) for r in rows]


def unmark_findings(
    profile: Profile,
    rule: str,
    *,
    system: str | None = None,
    record_id: str | None = None,
    kind: str | None = None,
) -> int:
    """Remove the marks of ``rule`` on ``system`` and ``record_id`` as they were given (of ``kind``;
    None: mutes and acknowledgements); how many were removed."""
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"kind {kind!r}: use one of {', '.join(KINDS)}")
    state = State(profile.state_dir / "state.sqlite")
    try:
        return state.remove_marks(kind, rule, system, record_id)
    finally:
        state.close()
