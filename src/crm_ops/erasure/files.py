"""A person taken out of one of crm_ops' text files: JSON lines (a plan, a log), JSON (a run's summary, an
apply's report), CSV (a review file), HTML, Markdown and plain text (reports), lock files. Each is
rewritten atomically (``crm_ops.durable``: a kill leaves it old or new) with its modification time kept
(retention ages files by it), and only when something changed: a second purge writes nothing.

- JSON lines: a line naming an erased id is dropped (a plan's header line never: its strings are
  cleaned); a plan's action whose ``proposed_value`` or ``detail`` holds a value too (applied, it would
  write ``[erased]``); the other lines cleaned (``Redactor.clean``). A line that is not JSON (a console
  log) is dropped when it names an id, its values and ids replaced otherwise.
- JSON: cleaned whole: list elements naming an id dropped, strings with values replaced.
- CSV (``crm_ops.csvio``, its separator kept): rows naming an id dropped, and in a plan's review file
  the rows of actions its plan does not keep (by the same rule, whatever the order the two are rewritten
  in) and rows whose edited value or picks hold a value; values replaced in the other cells. The file
  still holds to its plan (``crm_ops.plan.reviewfile``).
- HTML, Markdown, text: values (in their escaped forms) and long ids replaced.
- Lock files: rewritten in place (the holder's lock is on the file itself; a new file would free it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crm_ops import csvio, durable
from crm_ops.erasure.redaction import Redactor, Tally
from crm_ops.plan.format import PLAN_ID

PLAN_WRITES = ("proposed_value", "detail")  # what applying an action writes to the CRM
REVIEW_WRITES = ("proposed_value", "picks", "survivor_values")  # the review file's: edited, picked, merged
TEXT = (".html", ".htm", ".md", ".txt")


def rewrite(path: Path, text: str) -> None:
    """Write ``text`` over ``path`` atomically, keeping its modification time."""
    stamp = path.stat()

    def write(tmp: Path) -> None:
        durable.private_file(tmp).write_text(text, encoding="utf-8", newline="")
        os.utime(tmp, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))

    durable.write_with(path, write)


def purge_text(path: Path, redactor: Redactor) -> Tally | None:
    """HTML, Markdown, text: values and long ids replaced."""
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    new, count = redactor.replace_words(text)
    if not count:
        return None
    rewrite(path, new)
    return Tally(cells=count)


def _plan_line_goes(data: dict[str, Any], redactor: Redactor) -> bool:
    """Whether a plan's action line is dropped: it names an erased id, or would write a value."""
    if data.get("type") == "header":
        return False
    return redactor.names_in(data) or any(redactor.holds_in(data.get(k)) for k in PLAN_WRITES)


def _line_goes(data: Any, redactor: Redactor) -> bool:
    return not (isinstance(data, dict) and data.get("type") == "header") and redactor.names_in(data)


def purge_lines(path: Path, redactor: Redactor, *, plan: bool) -> Tally | None:
    """JSON lines (``plan``: a plan.jsonl, whose actions are held to what they write)."""
    goes: Callable[[Any, Redactor], bool] = _plan_line_goes if plan else _line_goes
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    tally = Tally()
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        try:
            data = json.loads(body) if body.strip() else None
        except ValueError:
            data, parsed = None, False
        else:
            parsed = data is not None
        if not parsed:
            if body.strip() and redactor.names(body):
                tally.rows += 1
                continue
            new, count = redactor.replace_words(body)
            tally.cells += count
            out.append(new + line[len(body) :])
            continue
        if goes(data, redactor):
            tally.rows += 1
            continue
        before = tally.cells + tally.rows
        cleaned = redactor.clean(data, tally)
        changed = tally.cells + tally.rows != before
        out.append((json.dumps(cleaned, sort_keys=plan) if changed else body) + line[len(body) :])
    if not tally.rows and not tally.cells:
        return None
    rewrite(path, "".join(out))
    return tally


def purge_json(path: Path, redactor: Redactor) -> Tally | None:
    """A JSON file, cleaned whole (a file that is not JSON: as text)."""
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    try:
        data = json.loads(text)
    except ValueError:
        return purge_text(path, redactor)
    tally = Tally()
    cleaned = redactor.clean(data, tally)
    if not tally.rows and not tally.cells:
        return None
    rewrite(path, json.dumps(cleaned, indent=2, default=str))
    return tally


def kept_actions(plan_file: Path, redactor: Redactor) -> set[str] | None:
    """The action ids a plan keeps once purged, read from the plan as it is now, rewritten or not (None:
    no plan there)."""
    if not plan_file.is_file():
        return None
    out = set()
    for line in plan_file.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("type") == "action" and not _plan_line_goes(data, redactor):
            out.add(str(data.get("action_id")))
    return out


def purge_csv(path: Path, redactor: Redactor) -> Tally | None:
    """A CSV file (``plan.csv``: held to the plan beside it)."""
    table = csvio.read_file(path)
    review = PLAN_ID in table.positions or path.name == "plan.csv"
    kept = kept_actions(path.with_name("plan.jsonl"), redactor) if review else None
    tally = Tally()
    rows = []
    for row in table:
        cells = [row.get(c) for c in table.header]
        if (
            any(redactor.names(c) for c in cells)
            or (kept is not None and row.get("action_id").strip() not in kept)
            or (review and any(redactor.holds(row.get(c)) for c in REVIEW_WRITES))
        ):
            tally.rows += 1
            continue
        new = [redactor.replace(c)[0] for c in cells]
        tally.cells += sum(a != b for a, b in zip(new, cells, strict=True))
        rows.append(new)
    if not tally.rows and not tally.cells:
        return None
    rewrite(path, csvio.format_rows(table.header, rows, sep=table.sep))
    return tally


def purge_lock(path: Path, redactor: Redactor) -> Tally | None:
    """A lock file's holder details (the command line may hold a value), rewritten in place."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    new, count = redactor.replace_words(text)
    if not count:
        return None
    stamp = path.stat()
    fd = os.open(path, os.O_RDWR)
    try:
        data = new.encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    return Tally(cells=count)
