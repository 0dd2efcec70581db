"""docs/reference/exit-codes.md, from ``crm_ops.cli.exits``."""

from __future__ import annotations

from crm_ops.cli.exits import COMMANDS, MEANING


def exit_codes_page() -> str:
    """Every exit code's meaning, then each command's codes."""
    lines = [
        "# Exit codes",
        "",
        "The same number means the same thing in every command (cron and CI can act on it):",
        "",
        "| code | meaning |",
        "|---|---|",
        *(f"| {code} | {what} |" for code, what in MEANING.items()),
        "",
        "## By command",
        "",
        "| command | code | when |",
        "|---|---|---|",
    ]
    for command, codes in COMMANDS.items():
        for code, what in codes:
            lines.append(f"| `crm-ops {command}` | {code} | {what} |")
    return "\n".join(lines) + "\n"
