"""``[profiles.P.owners]``: who owns which findings (issue 27).

    [profiles.prod.owners]
    default = "crm-team"                          # what nothing more specific names
    rules = { "person.email.normalised" = "marketing-ops", "tag:format" = "crm-team" }
    entities = { Opportunity = "sales-ops", "hubspot.Contact" = "marketing-ops" }
    systems = { billing = "finance" }

    [profiles.prod.owners.people.marketing-ops]  # optional: how to reach an owner (text, never a secret)
    email = "mops@example.com"
    channel = "#marketing-ops"

The most specific setting wins: a rule id, then a ``tag:x`` of the rule, then ``system.Entity``, then
``Entity``, then the system, then ``default``. Each table is checked here (types, the owners it names
are declared in ``people`` when that table is given, a channel is never a URL: a webhook URL is a
secret); the rule ids and tags are checked against the rules that load (``crm_ops.check``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

OWNER_KEYS = ("default", "people", "rules", "entities", "systems")
PERSON_KEYS = ("email", "channel")
UNOWNED = "(no owner)"  # the owner of a finding no setting routes (no default)


@dataclass(frozen=True)
class Owner:
    """Who owns findings: a name, and optionally where to reach them (an e-mail, a chat channel)."""

    name: str
    email: str | None = None  # where to write to them (text shown in the digest, the report, the CSV)
    channel: str | None = None  # a chat channel's name (#crm-ops), never a webhook URL


@dataclass(frozen=True)
class OwnerSettings:
    """``[profiles.P.owners]``: owners by rule id or ``tag:x``, by entity (``Entity`` or
    ``system.Entity``), by system, and a default; ``people`` says how to reach each one."""

    default: str | None = None  # the owner of what no other setting names
    people: dict[str, Owner] = field(default_factory=dict)  # owner name -> how to reach them
    rules: dict[str, str] = field(default_factory=dict)  # rule id or tag:<tag> -> owner
    entities: dict[str, str] = field(default_factory=dict)  # Entity or system.Entity -> owner
    systems: dict[str, str] = field(default_factory=dict)  # salesforce, hubspot or a source -> owner

    def owner(self, name: str) -> Owner:
        """The owner called ``name`` (one without a ``people`` entry: the name alone)."""
        return self.people.get(name) or Owner(name)


def _nearest(name: str, known: Iterable[str]) -> str:
    found = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f'; did you mean "{found[0]}"?' if found else f"; known: {', '.join(sorted(known)) or 'none'}"


def _person(raw: Any, where: str, problems: list[str]) -> Owner | None:
    name = where.rsplit(".", 1)[-1]
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table with {' and/or '.join(PERSON_KEYS)}")
        return None
    for key in sorted(set(raw) - set(PERSON_KEYS)):
        problems.append(
            f"{where}.{key}: unknown setting; known: {', '.join(PERSON_KEYS)} (an owner is a name and how "
            "to reach them, never a secret)"
        )
    text: dict[str, str | None] = {}
    for key in PERSON_KEYS:
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            problems.append(f"{where}.{key}: expected text, got {value!r}")
            value = None
        elif isinstance(value, str) and "://" in value:
            problems.append(
                f"{where}.{key}: {value.split('://')[0]}://... is an address, not a name: a webhook URL is "
                "a secret (name its variable in [notify] webhook_env); give an e-mail or a channel name"
            )
            value = None
        elif key == "email" and isinstance(value, str) and "@" not in value:
            problems.append(f"{where}.email: expected an e-mail address, got {value!r}")
            value = None
        text[key] = value.strip() if isinstance(value, str) else None
    return Owner(name, text["email"], text["channel"])


def _routes(raw: Any, where: str, problems: list[str]) -> dict[str, str]:
    if not isinstance(raw, dict):
        problems.append(f'{where}: expected a table of names to owners ({{ "name" = "owner" }}), got {raw!r}')
        return {}
    good = {}
    for key, owner in raw.items():
        if not isinstance(owner, str) or not owner.strip():
            problems.append(f"{where}.{key}: expected an owner's name, got {owner!r}")
            continue
        good[str(key)] = owner.strip()
    return good


def owner_settings(
    raw: Any, where: str, problems: list[str], systems: Iterable[str] = ("salesforce", "hubspot")
) -> OwnerSettings:
    """``[profiles.P.owners]`` parsed; each problem (naming its key) appended to ``problems``.
    ``systems``: the names a ``systems`` key (or a ``system.Entity`` key's system) may take."""
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table with {', '.join(OWNER_KEYS)}")
        return OwnerSettings()
    for key in sorted(set(raw) - set(OWNER_KEYS)):
        problems.append(f"{where}.{key}: unknown setting{_nearest(key, OWNER_KEYS)}")
    default = raw.get("default")
    if default is not None and (not isinstance(default, str) or not default.strip()):
        problems.append(f"{where}.default: expected an owner's name, got {default!r}")
        default = None
    people_raw = raw.get("people", {})
    people: dict[str, Owner] = {}
    if not isinstance(people_raw, dict):
        problems.append(f"{where}.people: expected tables people.<owner> with {', '.join(PERSON_KEYS)}")
    else:
        for name, entry in people_raw.items():
            person = _person(entry, f"{where}.people.{name}", problems)
            if person is not None:
                people[str(name)] = person
    rules = _routes(raw.get("rules", {}), f"{where}.rules", problems)
    entities = _routes(raw.get("entities", {}), f"{where}.entities", problems)
    by_system = _routes(raw.get("systems", {}), f"{where}.systems", problems)
    known_systems = list(systems)
    for key in by_system:
        if key not in known_systems:
            problems.append(f"{where}.systems.{key}: no system {key!r}{_nearest(key, known_systems)}")
    for key in entities:
        system = key.split(".", 1)[0] if "." in key else None
        if system is not None and system not in known_systems:
            problems.append(f"{where}.entities.{key}: no system {system!r}{_nearest(system, known_systems)}")
    settings = OwnerSettings(
        default.strip() if isinstance(default, str) else None, people, rules, entities, by_system
    )
    if people:
        tables: Mapping[str, Mapping[str, str]] = {"rules": rules, "entities": entities, "systems": by_system}
        named = [("default", default)] if isinstance(default, str) else []
        named += [(f"{t}.{k}", v) for t, routes in tables.items() for k, v in routes.items()]
        table = where.rsplit(" ", maxsplit=1)[-1]
        for key, owner in named:
            if owner.strip() not in people:
                problems.append(
                    f"{where}.{key}: no owner {owner!r} in [{table}.people]{_nearest(owner, people)}"
                )
    return settings
