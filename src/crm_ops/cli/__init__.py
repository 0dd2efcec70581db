"""The ``crm-ops`` command: the app, the options every command shares and our errors as exit codes.

Each concern's commands live in a module of their own and register on ``app`` when imported (at the
bottom of this file). They import their machinery inside the command, so ``--help`` stays fast.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
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


class _NullOut:
    """Where stdout goes under ``--quiet``."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@app.callback()
def _output(
    ctx: typer.Context,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing but errors (no tables, no progress).")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log debug lines too (each API retry, say).")
    ] = False,
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            help="Log lines as json or console (default: console on a terminal, json otherwise).",
            metavar="json|console",
            envvar="CRM_OPS_LOG_FORMAT",
        ),
    ] = None,
) -> None:
    """Data-quality operations for Salesforce and HubSpot."""
    import sys

    from crm_ops import logs

    if quiet and verbose:
        raise typer.BadParameter("--quiet and --verbose: give one")
    if log_format not in (None, "json", "console"):
        raise typer.BadParameter(f"--log-format {log_format!r}: use json or console")
    logs.set_overrides(
        level="error" if quiet else "debug" if verbose else None,
        json=None if log_format is None else log_format == "json",
        quiet=quiet,
    )
    if quiet:
        stdout = sys.stdout
        sys.stdout = _NullOut()

        def restore() -> None:
            sys.stdout = stdout
            logs.set_overrides()

        ctx.call_on_close(restore)
    else:
        ctx.call_on_close(logs.set_overrides)


ConfigPath = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: $CRM_OPS_CONFIG or ./crm-ops.toml)."),
]
ProfileName = Annotated[
    str | None,
    typer.Option("--profile", "-p", help="Profile in the config (default: $CRM_OPS_PROFILE or sandbox)."),
]

EngineName = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="What computes: polars (one machine) or spark (default: the profile's engine).",
        metavar="polars|spark",
    ),
]


def _check_engine(engine: str | None) -> None:
    if engine not in (None, "polars", "spark"):
        raise typer.BadParameter("--engine must be polars or spark")


# Exit codes, for cron: one table (crm_ops.cli.exits) makes each command's --help and the reference page.
from crm_ops.cli.exits import (  # noqa: E402
    EXIT_API,
    EXIT_BUDGET,
    EXIT_CONFIG,
    EXIT_CRASH,
    EXIT_FAILED,
    EXIT_FINDINGS,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_OPERATIONAL,
    EXIT_PARTIAL,
    ExitCode,
)
from crm_ops.exitcodes import exit_for  # noqa: E402 - the core's: which error ends in which code


@contextmanager
def _errors(api_hint: str = "", resumes: str = "") -> Iterator[None]:
    """Our errors (and the machine's) as exit codes for cron, with the message on stderr; ``resumes``
    says what resumes after a stop at the API budget."""
    import sqlite3

    from crm_ops.errors import CrmOpsError

    try:
        yield
    except (CrmOpsError, OSError, sqlite3.Error) as e:
        named = exit_for(e, api_hint, resumes)
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
from crm_ops.cli import setup, sandbox, pull, rules, match, plans, run, findings, privacy  # noqa: E402, F401, I001


def commands() -> dict[str, Any]:
    """Every command as typed after ``crm-ops`` ("rules test") and the Typer info that registers it."""
    found: dict[str, Any] = {}
    for info in app.registered_commands:
        found[info.name or info.callback.__name__.replace("_", "-")] = info  # type: ignore[union-attr]
    for group in app.registered_groups:
        sub = group.typer_instance
        if sub is None:
            continue
        if sub.registered_callback is not None and sub.registered_callback.invoke_without_command:
            found[str(group.name)] = sub.registered_callback
        for info in sub.registered_commands:
            found[f"{group.name} {info.name or info.callback.__name__}"] = info  # type: ignore[union-attr]
    return found


def _exit_codes_in_help() -> None:
    import inspect

    from rich.markup import escape

    from crm_ops.cli.exits import help_text

    for name, info in commands().items():
        text = info.help or inspect.getdoc(info.callback) or ""
        paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]  # one line each: Typer keeps breaks
        info.help = "\n\n".join([*paragraphs, escape(help_text(name))])


_exit_codes_in_help()


__all__ = [
    "EXIT_API",
    "EXIT_BUDGET",
    "EXIT_CONFIG",
    "EXIT_CRASH",
    "EXIT_FAILED",
    "EXIT_FINDINGS",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_OPERATIONAL",
    "EXIT_PARTIAL",
    "ExitCode",
    "app",
    "commands",
    "exit_for",
    "main",
]
