"""Who is to be erased: the subjects of ``crm-ops erase``, from its options or a file, each checked, every
problem named at once (the file and line, never half a list erased).

A subject is an e-mail address (``--email``), or a record's id in one system (``--id SYSTEM:ID``: a CRM,
``salesforce`` or ``hubspot``, or a source the profile names). A file (``--file``) is a CSV (read by
``crm_ops.csvio``: a spreadsheet's export works) with a header naming ``email`` and/or ``system`` and
``id``, and optionally ``reference`` (the request's ticket, kept in the certificate); each row is a
subject."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from crm_ops import csvio
from crm_ops.errors import ConfigError

# one @ with something on each side, no space, a dot in the domain: a typo is refused, not searched for
_EMAIL = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")
COLUMNS = ("email", "system", "id", "reference")


@dataclass(frozen=True)
class Subject:
    """One person to erase, as the request names them (``where``: the option or file line it came from;
    ``reference``: the request's own reference, for the certificate)."""

    email: str | None = None
    system: str | None = None
    record_id: str | None = None
    reference: str | None = None
    where: str = ""

    @property
    def label(self) -> str:
        """How the request's lines name this subject without its values: its reference, or where it came
        from."""
        return self.reference or self.where


def _email(value: str, where: str, problems: list[str]) -> str | None:
    text = value.strip()
    if not _EMAIL.match(text):
        problems.append(f"{where}: not an e-mail address (one @, no spaces, a dotted domain)")
        return None
    return text.lower()


def _record(value: str, where: str, systems: Sequence[str], problems: list[str]) -> tuple[str, str] | None:
    system, sep, record_id = value.strip().partition(":")
    if not sep or not record_id.strip():
        problems.append(f"{where}: expected SYSTEM:ID (e.g. salesforce:003..., hubspot:51)")
        return None
    if system not in systems:
        problems.append(
            f"{where}: no system or source {system!r} in this profile; it has {', '.join(systems)}"
        )
        return None
    return system, record_id.strip()


def subjects_from(
    emails: Iterable[str] = (),
    ids: Iterable[str] = (),
    file: Path | None = None,
    *,
    systems: Sequence[str],
    reference: str | None = None,
) -> list[Subject]:
    """The subjects named by ``--email``, ``--id`` (``SYSTEM:ID``, ``systems`` the profile's) and a
    ``--file``; a ``ConfigError`` listing every bad one (nothing is erased then). ``reference`` is given
    to those without one of their own."""
    problems: list[str] = []
    out: list[Subject] = []
    for n, value in enumerate(emails, 1):
        email = _email(value, f"--email #{n}", problems)
        if email:
            out.append(Subject(email=email, reference=reference, where=f"--email #{n}"))
    for n, value in enumerate(ids, 1):
        found = _record(value, f"--id #{n}", systems, problems)
        if found:
            out.append(Subject(system=found[0], record_id=found[1], reference=reference, where=f"--id #{n}"))
    if file is not None:
        out.extend(_from_file(file, systems, reference, problems))
    if problems:
        raise ConfigError(problems)
    if not out:
        raise ConfigError("name whom to erase: --email, --id SYSTEM:ID or --file")
    return list(dict.fromkeys(out))


def _from_file(
    file: Path, systems: Sequence[str], reference: str | None, problems: list[str]
) -> list[Subject]:
    try:
        table = csvio.read_file(file)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return []
    names = {h.strip().lower(): h for h in table.header}
    unknown = [h for h in names if h and h not in COLUMNS]
    if unknown or not ("email" in names or {"system", "id"} <= set(names)):
        problems.append(
            f"{table.where(1)}: the header must name email and/or system and id (and may name reference); "
            f"got {', '.join(table.header)}"
        )
        return []
    out: list[Subject] = []
    for row in table:
        cells = {name: row.get(column).strip() for name, column in names.items()}
        where = table.where(row)
        ref = cells.get("reference") or reference
        before = len(problems)
        email = _email(cells["email"], f"{where}: email", problems) if cells.get("email") else None
        record = None
        if cells.get("id") or cells.get("system"):
            pair = f"{cells.get('system', '')}:{cells.get('id', '')}"
            record = _record(pair, f"{where}: system, id", systems, problems)
        if len(problems) > before:
            continue
        if email is None and record is None:
            problems.append(f"{where}: neither an e-mail nor a system and id")
            continue
        if email:
            out.append(Subject(email=email, reference=ref, where=where))
        if record:
            out.append(Subject(system=record[0], record_id=record[1], reference=ref, where=where))
    return out
