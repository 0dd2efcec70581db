"""Findings routed to people: owners, what is new and resolved since the last run, mutes and
acknowledgements (issue 27).

- Owners: ``Router`` gives each finding the owner ``[profiles.P.owners]`` names for it, the most
  specific setting winning: rule id, then a ``tag:x`` of the rule, ``system.Entity``, ``Entity``, the
  system, ``default`` (``crm_ops.config_owners``).
- New and resolved: a finding is the same across runs when its rule, system, entity, record id and
  field are (``KEY``); ``changes`` compares this run's findings with the previous run's.
- Marks (kept in the state file's ``marks`` table): a *mute* hides a known finding: shown in the
  report as muted, not counted toward the run's exit-code threshold nor in the webhook's counts, never
  auto-applied. An *acknowledgement* says a person has it in hand: it still counts and may be applied,
  but it is not news (not counted as new). Each mark covers a rule, optionally one system and one
  record, and expires (``DEFAULT_DAYS`` unless ``until`` says; only an explicit ``until = never`` lasts
  for good, and the list shows it). An expired mark is shown as expired and the finding counts again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import polars as pl

from crm_ops.config_owners import UNOWNED, OwnerSettings
from crm_ops.errors import ConfigError

KEY = ["rule", "system", "entity", "record_id", "field"]
KINDS = {"mute": "muted", "ack": "acknowledged"}  # a mark's kind -> a finding's state under it
DEFAULT_DAYS = 30  # a mark's life when no --until is given
NEVER = "never"  # --until never: a mark that does not expire (said explicitly, listed as such)


def _keys(frame: pl.DataFrame | None) -> pl.DataFrame:
    if frame is None or frame.is_empty():
        return pl.DataFrame(schema=dict.fromkeys(KEY, pl.String))
    return frame.select([pl.col(c).cast(pl.String) for c in KEY]).unique()


def changes(now: pl.DataFrame, before: pl.DataFrame | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Findings new since the last run, and those resolved (in the last run, not in this one), by
    (rule, system, entity, record, field)."""
    a, b = _keys(now), _keys(before)
    if before is None:
        return a.clear(), b.clear()
    return a.join(b, on=KEY, how="anti", nulls_equal=True), b.join(a, on=KEY, how="anti", nulls_equal=True)


class Router:
    """The owner of each finding, by ``[profiles.P.owners]`` and the rules' tags (rule id -> tags)."""

    def __init__(self, settings: OwnerSettings, tags: Mapping[str, Iterable[str]] | None = None) -> None:
        """Route by ``settings``; ``tags`` are the rules' tags, for ``tag:x`` settings."""
        self.settings = settings
        self.tags = {rule: list(found) for rule, found in (tags or {}).items()}

    def owner_of(self, rule: str, system: str, entity: str) -> str:
        """The owner of a finding of ``rule`` on ``system``'s ``entity`` (``UNOWNED`` when nothing
        routes it)."""
        s = self.settings
        if rule in s.rules:
            return s.rules[rule]
        for tag in self.tags.get(rule, []):
            if f"tag:{tag}" in s.rules:
                return s.rules[f"tag:{tag}"]
        for key in (f"{system}.{entity}", entity):
            if key in s.entities:
                return s.entities[key]
        return s.systems.get(system) or s.default or UNOWNED

    def route(self, findings: pl.DataFrame) -> pl.DataFrame:
        """``findings`` with an ``owner`` column."""
        if findings.is_empty():
            return findings.with_columns(pl.lit(None, pl.String).alias("owner"))
        combos = findings.select("rule", "system", "entity").unique()
        owners = combos.with_columns(
            pl.Series(
                "owner",
                [self.owner_of(*(str(v or "") for v in row)) for row in combos.iter_rows()],
                dtype=pl.String,
            )
        )
        return findings.join(owners, on=["rule", "system", "entity"], how="left", nulls_equal=True)


@dataclass(frozen=True)
class Mark:
    """A mute or acknowledgement of a rule's findings (on one system and record, when given)."""

    kind: str  # mute | ack
    rule: str
    note: str
    created_at: datetime
    until: datetime | None  # None: never expires (only when said explicitly)
    system: str | None = None
    record_id: str | None = None
    mark_id: str = ""

    def expired(self, now: datetime) -> bool:
        """Whether the mark has run out at ``now``."""
        return self.until is not None and now >= self.until

    def as_row(self, now: datetime) -> dict[str, Any]:
        """The mark as the list (and the state file) show it."""
        return {
            "mark_id": self.mark_id,
            "kind": self.kind,
            "rule": self.rule,
            "system": self.system,
            "record_id": self.record_id,
            "note": self.note,
            "created_at": self.created_at.isoformat(),
            "until": self.until.isoformat() if self.until else NEVER,
            "status": "expired" if self.expired(now) else KINDS[self.kind],
        }

    def covers(self) -> pl.Expr:
        """The findings the mark covers, as a filter."""
        wanted = pl.col("rule") == self.rule
        if self.system:
            wanted &= pl.col("system") == self.system
        if self.record_id:
            wanted &= pl.col("record_id").cast(pl.String) == self.record_id
        return wanted


def mark_from_row(row: Mapping[str, Any]) -> Mark:
    """A mark as the state file keeps it (``State.marks``)."""
    return Mark(
        kind=str(row["kind"]),
        rule=str(row["rule"]),
        note=str(row["note"]),
        created_at=datetime.fromisoformat(str(row["created_at"])),
        until=datetime.fromisoformat(str(row["until"])) if row.get("until") else None,
        system=row.get("system"),
        record_id=row.get("record_id"),
        mark_id=str(row.get("mark_id") or ""),
    )


def until_of(given: str | date | datetime | None, now: datetime) -> datetime | None:
    """When a mark made at ``now`` expires: ``DEFAULT_DAYS`` later when ``given`` is None, never for
    ``"never"``, else the date (its end, UTC) or time given, which must be later than ``now``."""
    if given is None:
        return now + timedelta(days=DEFAULT_DAYS)
    if given == NEVER:
        return None
    if isinstance(given, str):
        try:
            parsed: date | datetime = (
                datetime.fromisoformat(given) if "T" in given or " " in given else date.fromisoformat(given)
            )
        except ValueError:
            raise ConfigError(
                f"--until {given!r}: expected a date (2027-01-31), a time (2027-01-31T18:00) or {NEVER}"
            ) from None
    else:
        parsed = given
    if isinstance(parsed, datetime):
        end = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    else:
        end = datetime.combine(parsed, time.max, tzinfo=UTC)
    if end <= now:
        raise ConfigError(
            f"--until {given}: that is not in the future (now {now.isoformat(timespec='minutes')})"
        )
    return end


def apply_marks(findings: pl.DataFrame, marks: Sequence[Mark], now: datetime) -> pl.DataFrame:
    """``findings`` with ``state`` (open, muted, acknowledged, expired mute, expired ack), ``mark_note``
    and ``mark_until``: a live mute wins over a live acknowledgement, which wins over an expired mark
    (a finding under an expired mark counts again)."""
    state, note, until = pl.lit("open"), pl.lit(None, pl.String), pl.lit(None, pl.String)
    # the weakest first: each later mark that covers a finding takes its place
    ranked = sorted(marks, key=lambda m: (not m.expired(now), m.kind == "mute"))
    for m in ranked:
        shown = f"expired {m.kind}" if m.expired(now) else KINDS[m.kind]
        covered = m.covers()
        state = pl.when(covered).then(pl.lit(shown)).otherwise(state)
        note = pl.when(covered).then(pl.lit(m.note)).otherwise(note)
        until = pl.when(covered).then(pl.lit(m.until.isoformat() if m.until else NEVER)).otherwise(until)
    if findings.is_empty():
        return findings.with_columns(
            pl.lit(None, pl.String).alias(c) for c in ("state", "mark_note", "mark_until")
        )
    return findings.with_columns(state.alias("state"), note.alias("mark_note"), until.alias("mark_until"))


@dataclass
class Triage:
    """A run's findings routed and marked, and the counts per owner the summary, report, webhook and
    digest show."""

    findings: pl.DataFrame  # the run's findings with owner, state, mark_note, mark_until
    new: pl.DataFrame  # keys (KEY) of the findings new since the previous run (None compared: empty)
    resolved: pl.DataFrame  # keys of the previous run's findings this one no longer has
    compared: bool  # whether there was a previous run to compare with
    owners: dict[str, dict[str, Any]]

    def counted(self) -> pl.DataFrame:
        """The findings that count (toward the threshold, in the webhook): all but the muted."""
        return self.findings.filter(pl.col("state") != "muted")

    def summary(self) -> dict[str, Any]:
        """What summary.json keeps of the triage (``owners`` per owner; totals)."""
        states = dict(self.findings.group_by("state").len().iter_rows()) if self.findings.height else {}
        return {
            "owners": self.owners,
            "new": self.new.height if self.compared else None,
            "resolved": self.resolved.height if self.compared else None,
            "muted": int(states.get("muted", 0)),
            "acknowledged": int(states.get("acknowledged", 0)),
            "expired_marks": int(states.get("expired mute", 0) + states.get("expired ack", 0)),
        }


def triage(
    findings: pl.DataFrame,
    previous: pl.DataFrame | None,
    router: Router,
    marks: Sequence[Mark],
    now: datetime,
    by_rule: int = 5,
) -> Triage:
    """Route and mark this run's findings and compare them with ``previous`` (the last run's, None: no
    earlier run). Per owner: ``open`` (not muted), ``new`` (open, not acknowledged, absent last run),
    ``resolved`` (last run's, gone now), ``muted``, ``acknowledged``, and the ``by_rule`` rules with the
    most open findings; ``email`` and ``channel`` when the settings say."""
    routed = apply_marks(router.route(findings), marks, now)
    new, resolved = changes(findings, previous)
    keyed = routed.select([*(pl.col(c).cast(pl.String) for c in KEY), "owner", "state"]).unique(KEY)
    news = new.join(keyed, on=KEY, how="left", nulls_equal=True)
    gone = (
        router.route(resolved)
        if resolved.height
        else resolved.with_columns(pl.lit("", pl.String).alias("owner"))
    )
    owners: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        if name not in owners:
            person = router.settings.owner(name)
            owners[name] = {"open": 0, "new": 0, "resolved": 0, "muted": 0, "acknowledged": 0, "rules": {}}
            owners[name] |= {k: v for k, v in (("email", person.email), ("channel", person.channel)) if v}
        return owners[name]

    if routed.height:
        per = routed.group_by("owner", "state").len()
        for owner, state, n in per.iter_rows():
            e = entry(owner)
            if state == "muted":
                e["muted"] += n
            else:
                e["open"] += n
                if state == "acknowledged":
                    e["acknowledged"] += n
        top = (
            routed.filter(pl.col("state") != "muted")
            .group_by("owner", "rule")
            .len()
            .sort(["owner", "len", "rule"], descending=[False, True, False])
        )
        for owner, rule, n in top.iter_rows():
            if len(entry(owner)["rules"]) < by_rule:
                entry(owner)["rules"][rule] = n
    if news.height:
        fresh = news.filter(~pl.col("state").is_in(["muted", "acknowledged"]))
        for owner, n in fresh.group_by("owner").len().iter_rows():
            entry(owner)["new"] += n
    if gone.height:
        for owner, n in gone.group_by("owner").len().iter_rows():
            entry(owner)["resolved"] += n
    ordered = dict(sorted(owners.items(), key=lambda kv: (-kv[1]["open"], kv[0])))
    return Triage(routed, new, resolved, previous is not None, ordered)


def owner_line(name: str, counts: Mapping[str, Any], compared: bool = True) -> str:
    """One owner's counts in words: "crm-team: 12 open (3 new, 5 resolved), 2 muted"."""
    line = f"{name}: {int(counts.get('open', 0)):,} open"
    if compared:
        line += f" ({int(counts.get('new', 0)):,} new, {int(counts.get('resolved', 0)):,} resolved)"
    extra = [f"{int(counts[k]):,} {k}" for k in ("muted", "acknowledged") if counts.get(k)]
    return line + (", " + ", ".join(extra) if extra else "")


def unmuted_actions(actions: Sequence[Any], triaged: pl.DataFrame) -> list[Any]:
    """``actions`` (each with rule, system, entity, record_id) less those of a muted finding: a muted
    finding is never applied unattended."""
    if triaged.is_empty():
        return list(actions)
    hidden = triaged.filter(pl.col("state") == "muted").select("rule", "system", "entity", "record_id")
    quiet = {tuple(str(v) for v in row) for row in hidden.iter_rows()}
    return [a for a in actions if (str(a.rule), str(a.system), str(a.entity), str(a.record_id)) not in quiet]


__all__ = [
    "DEFAULT_DAYS",
    "KEY",
    "KINDS",
    "NEVER",
    "UNOWNED",
    "Mark",
    "Router",
    "Triage",
    "apply_marks",
    "changes",
    "mark_from_row",
    "owner_line",
    "triage",
    "unmuted_actions",
    "until_of",
]
