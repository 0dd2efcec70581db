"""The ``crm-ops`` command: the app, the options every command shares and our errors as exit codes.

Each concern's commands live in a module of their own and register on ``app`` when imported (at the
bottom of this file). They import their machinery inside the command, so ``--help`` stays fast.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core


def _help_type(self: typer.core.TyperOption, ctx: Any) -> str | None:
    """The value column of ``--help``: nothing for a flag (Typer prints ``<bool>``), an element's type
    for a repeatable option (Typer prints ``<list[str]>``)."""
    if self.is_flag:
        return None
    shown = _typer_help_type(self, ctx)
    return shown.replace("<list[", "<").replace("]>", ">") if shown else shown


_typer_help_type = typer.core.TyperOption.display_type_rich
typer.core.TyperOption.display_type_rich = _help_type  # type: ignore[method-assign]

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Data-quality operations for Salesforce and HubSpot.",
    pretty_exceptions_show_locals=False,  # a traceback never prints local values (tokens, CRM data)
)

ConfigPath = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: $CRM_OPS_CONFIG or ./crm-ops.toml)."),
]
ProfileName = Annotated[
    str | None,
    typer.Option("--profile", "-p", help="Profile in the config (default: $CRM_OPS_PROFILE or sandbox)."),
]


class ExitCode(IntEnum):
    """Every exit code of every ``crm-ops`` command: the one table (README, "Exit codes", shows it).

    A crash or an operational error never exits 1, so a cron wrapper that lets findings pass cannot
    mistake a traceback for a night's findings."""

    OK = 0  # done; nothing at the threshold
    FINDINGS = 1  # check, run: findings at the threshold; doctor: a problem; rules test: an example failed
    CONFIG = 2  # configuration, input file (plan, review file) or usage error: fix it, run again
    API = 3  # a CRM refused or failed a call (after retries); what was done is journaled: run again
    BUDGET = 4  # stopped before spending more of a CRM's API allowance than configured: resumes
    LOCKED = 5  # another run holds the lock (a live one: the kernel releases a dead run's lock)
    PARTIAL = 6  # some entities could not be pulled; the others were pulled (run: checked, planned)
    FAILED = 7  # apply, undo: the CRM refused some records (printed by error); check, run: a rule raised
    OPERATIONAL = 8  # the machine: disk full, a state dir or file that cannot be written or read
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
EXIT_CRASH = ExitCode.CRASH


def exit_for(exc: BaseException, api_hint: str = "") -> tuple[ExitCode, str] | None:
    """The exit code and message of an error we can name (None: a crash, a bug); no secret-named
    environment variable's value is ever in the message (``config.redact``)."""
    from crm_ops.config import redact

    named = _exit_for(exc, api_hint)
    return None if named is None else (named[0], redact(named[1]))


def _exit_for(exc: BaseException, api_hint: str) -> tuple[ExitCode, str] | None:
    import sqlite3

    from crm_ops.errors import ApiError, BudgetExhaustedError, ConfigError

    if isinstance(exc, ConfigError):
        return EXIT_CONFIG, f"configuration error: {exc}"
    if isinstance(exc, BudgetExhaustedError):
        return EXIT_BUDGET, f"stopped: {exc}"
    if isinstance(exc, ApiError):
        return EXIT_API, f"CRM error: {exc}{api_hint}"
    if isinstance(exc, OSError | sqlite3.OperationalError | sqlite3.DatabaseError):
        named = isinstance(exc, OSError) and exc.filename and exc.strerror
        what = f"{exc.strerror}: {exc.filename}" if named else str(exc)  # type: ignore[union-attr]
        return EXIT_OPERATIONAL, (
            f"operational error ({type(exc).__name__}): {what} (a full disk, a state dir that cannot be "
            "written, the network?); what was done is journaled: fix it and run again"
        )
    return None


@contextmanager
def _errors(api_hint: str = "") -> Iterator[None]:
    """Our errors (and the machine's) as exit codes for cron, with the message on stderr."""
    import sqlite3

    from crm_ops.errors import CrmOpsError

    try:
        yield
    except (CrmOpsError, OSError, sqlite3.Error) as e:
        named = exit_for(e, api_hint)
        if named is None:
            raise
        typer.echo(named[1], err=True)
        raise typer.Exit(named[0]) from None


def main() -> None:
    """Entry point of the ``crm-ops`` console script: an error no command named still exits with its
    own code (operational 8; a crash 70, the traceback on stderr), never the findings code."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line: every error gets its code
        named = exit_for(exc)
        if named is not None:
            sys.stderr.write(named[1] + "\n")
            sys.exit(named[0])
        sys.stderr.write("".join(traceback.format_exception(exc)))
        sys.stderr.write(f"crm-ops crashed ({type(exc).__name__}): a bug; what was done is journaled\n")
        sys.exit(EXIT_CRASH)


# The commands, registered on ``app`` in the order ``--help`` lists them.
from crm_ops.cli import setup, sandbox, pull, rules, match, plans, run  # noqa: E402, F401, I001
