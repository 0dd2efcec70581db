"""The ``crm-ops`` command: the app, the options every command shares and our errors as exit codes.

Each concern's commands live in a module of their own and register on ``app`` when imported (at the
bottom of this file). They import their machinery inside the command, so ``--help`` stays fast.
"""

from __future__ import annotations

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
    no_args_is_help=True, add_completion=False, help="Data-quality operations for Salesforce and HubSpot."
)

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


@contextmanager
def _errors(api_hint: str = "") -> Iterator[None]:
    """Our errors as exit codes for cron, with the message on stderr."""
    from crm_ops.errors import ApiError, BudgetExhaustedError, ConfigError

    try:
        yield
    except ConfigError as e:
        typer.echo(f"configuration error: {e}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    except BudgetExhaustedError as e:
        typer.echo(f"stopped: {e}", err=True)
        raise typer.Exit(EXIT_BUDGET) from None
    except ApiError as e:
        typer.echo(f"CRM error: {e}{api_hint}", err=True)
        raise typer.Exit(EXIT_API) from None


# Exit codes, for cron (docs/architecture.md lists them).
EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_API = 3
EXIT_BUDGET = 4
EXIT_PARTIAL = 6  # some (system, entity) pulls failed, the others are done


def main() -> None:
    """Entry point of the ``crm-ops`` console script."""
    app()


# The commands, registered on ``app`` in the order ``--help`` lists them.
from crm_ops.cli import setup, sandbox, pull, rules, match, plans, run  # noqa: E402, F401, I001
