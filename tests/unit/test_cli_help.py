"""`--help` a person can read: every option explained, no `<bool>` after a flag, no Python types."""

from __future__ import annotations

from typing import Any

import typer.main
from typer.testing import CliRunner

from crm_ops.cli import app


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        out += _commands(sub, (*path, name))
    return out


def test_every_option_of_every_command_has_help_text() -> None:
    root = typer.main.get_command(app)
    missing = [
        f"crm-ops {' '.join(path)} {param.opts[0]}"
        for path, command in _commands(root)
        for param in command.params
        if param.param_type_name == "option" and not (param.help or "").strip() and "--help" not in param.opts
    ]
    assert missing == []


def test_help_shows_no_bool_or_list_types() -> None:
    runner = CliRunner()
    for path, _ in _commands(typer.main.get_command(app)):
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output and "list[" not in result.output, path
