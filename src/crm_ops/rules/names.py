"""Rule names in a profile's settings, checked against the rules that loaded.

A rule id or ``tag:x`` that names nothing is a typo that silently changes what runs: a misspelt
``disabled`` entry leaves a rule on, a misspelt ``auto_apply`` entry applies nothing, a misspelt
``review.approve`` entry leaves every fix of the rule waiting. Each one is a configuration error naming
the setting and the nearest valid name. A name whose rule failed to load is not unknown: the load
failure is reported as a rule error of its own.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from crm_ops.rules.model import Rule


@dataclass(frozen=True)
class NamedIn:
    """One setting that names rules: where it is (``[profiles.prod.run] auto_apply``) and the names."""

    where: str
    names: Sequence[str]


def nearest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``name`` (None when none is close)."""
    found = difflib.get_close_matches(name, sorted(set(known)), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_names(
    settings: Iterable[NamedIn],
    rules: Iterable[Rule],
    broken: Iterable[str] = (),
    produced: Iterable[str] = (),
) -> list[str]:
    """A problem per name in ``settings`` that matches no rule id (or, as ``tag:x``, no rule's tag).

    ``broken`` are the ids of rules that exist but failed to load: naming them is not a typo;
    ``produced`` the names of findings made elsewhere (matching's ``match.duplicate``)."""
    rules = list(rules)
    ids = {r.id for r in rules} | set(broken) | set(produced)
    tags = {f"tag:{t}" for r in rules for t in r.tags}
    problems = []
    for setting in settings:
        for name in setting.names:
            if name in (tags if name.startswith("tag:") else ids):
                continue
            kind = "tag" if name.startswith("tag:") else "rule"
            guess = nearest(name, tags if kind == "tag" else ids)
            hint = f'; did you mean "{guess}"?' if guess else f"; `crm-ops rules list` lists every {kind}"
            problems.append(f'{setting.where}: no {kind} "{name}"{hint}')
    return problems


def profile_settings(
    profile_name: str, source: str, tables: Mapping[str, Mapping[str, Sequence[str]]]
) -> list[NamedIn]:
    """The settings of one profile that name rules: ``tables`` maps a table (``rules``) to its keys."""
    return [
        NamedIn(f"{source} [profiles.{profile_name}.{table}] {key}", names)
        for table, keys in tables.items()
        for key, names in keys.items()
        if names
    ]
