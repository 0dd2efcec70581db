"""Every exit code of crm-ops, and which error ends in which: the core's, so the runner, the Python API
and the command line name a failure alike (``crm_ops.cli.exits`` adds which codes each command can end
with, for ``--help`` and docs/reference/exit-codes.md)."""

from __future__ import annotations

import errno
import sqlite3
from enum import IntEnum

from crm_ops.config import redact
from crm_ops.errors import ApiError, BudgetExhaustedError, ConfigError
from crm_ops.locks import LockedError


class ExitCode(IntEnum):
    """Every exit code of every ``crm-ops`` command. A crash or an operational error never exits 1, so a
    cron wrapper that lets findings pass cannot mistake a traceback for a night's findings."""

    OK = 0  # done; nothing at the threshold
    FINDINGS = 1  # check, run: findings at the threshold; doctor: a problem; rules test: an example failed
    CONFIG = 2  # configuration, input file (plan, review file) or usage error: fix it, run again
    API = 3  # a CRM refused or failed a call (after retries); what was done is journaled: run again
    BUDGET = 4  # stopped before spending more of a CRM's API allowance than configured: resumes
    LOCKED = 5  # a live process holds the lock (run: another run; apply, undo: of the same plan)
    PARTIAL = 6  # some entities could not be pulled; the others were pulled (run: checked, planned)
    FAILED = 7  # apply, undo: the CRM refused some records; check, run: a rule could not load or raised
    OPERATIONAL = 8  # the machine: disk full, a state dir or file that cannot be written or read
    BRAKED = 9  # run: a monitor tripped the circuit breaker; nothing was applied unattended (issue 27)
    CRASH = 70  # an unexpected error (a bug): the traceback is on stderr (EX_SOFTWARE)


EXIT_OK = ExitCode.OK
EXIT_FINDINGS = ExitCode.FINDINGS
EXIT_CONFIG = ExitCode.CONFIG
EXIT_API = ExitCode.API
EXIT_BUDGET = ExitCode.BUDGET
EXIT_LOCKED = ExitCode.LOCKED
EXIT_PARTIAL = ExitCode.PARTIAL
EXIT_FAILED = ExitCode.FAILED
EXIT_OPERATIONAL = ExitCode.OPERATIONAL
EXIT_BRAKED = ExitCode.BRAKED
EXIT_CRASH = ExitCode.CRASH

MEANING = {
    EXIT_OK: "done",
    EXIT_FINDINGS: "done, and it found what it reports (see the command)",
    EXIT_CONFIG: "configuration or usage error: nothing was done; the message names the problem",
    EXIT_API: "CRM error: what was done is kept (journaled or resumable); run again to resume",
    EXIT_BUDGET: "stopped before spending more of the daily API allowance than configured; resumes next run",
    EXIT_LOCKED: "another live process holds the lock (named in the message): nothing was done",
    EXIT_PARTIAL: "partial: some entities could not be pulled (each named); the rest were done",
    EXIT_FAILED: "the CRM refused some records (printed by error), or a rule did not load or raised",
    EXIT_OPERATIONAL: "operational error (a full disk, a state dir that cannot be written; the file named): "
    "fix, run again (a pull resumes)",
    EXIT_BRAKED: "run: a monitor tripped the circuit breaker (each reason in the summary, report and "
    "webhook): the run checked and planned but applied nothing unattended; look, then override it once",
    EXIT_CRASH: "a crash (a bug): the traceback is on stderr; what was done is journaled",
}


def exit_for(exc: BaseException, api_hint: str = "", resumes: str = "") -> tuple[ExitCode, str] | None:
    """The exit code and message of an error we can name (None: a crash, a bug); no secret-named
    environment variable's value is ever in the message (``config.redact``). ``resumes``: what resumes
    after a stop at the API budget (the pull, the apply)."""

    named = _exit_for(exc, api_hint, resumes)
    return None if named is None else (named[0], redact(named[1]))


def _exit_for(exc: BaseException, api_hint: str, resumes: str) -> tuple[ExitCode, str] | None:
    if isinstance(exc, ConfigError):
        return EXIT_CONFIG, f"configuration error: {exc}"
    if isinstance(exc, LockedError):
        return EXIT_LOCKED, f"locked: {exc}"
    if isinstance(exc, BudgetExhaustedError):
        return EXIT_BUDGET, f"stopped: {exc}" + (f" ({resumes})" if resumes else "")
    if isinstance(exc, ApiError):
        return EXIT_API, f"CRM error: {exc}{api_hint}"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return EXIT_OPERATIONAL, (
            f"operational error: {exc.strerror} writing {exc.filename or 'a file'}; free space "
            "there and run again: what was written is kept (journaled), and a pull resumes where it stopped"
        )
    if isinstance(exc, OSError | sqlite3.OperationalError | sqlite3.DatabaseError):
        named = isinstance(exc, OSError) and exc.filename and exc.strerror
        what = f"{exc.strerror}: {exc.filename}" if named else str(exc)  # type: ignore[union-attr]
        return EXIT_OPERATIONAL, (
            f"operational error ({type(exc).__name__}): {what} (a full disk, a state dir that cannot be "
            "written, the network?); what was done is journaled: fix it and run again"
        )
    return None
