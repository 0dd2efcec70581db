"""README's "Exit codes" points to the generated table instead of keeping a copy that can drift."""

from __future__ import annotations

import re
from pathlib import Path

from crm_ops.cli.exits import ExitCode

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_points_to_the_generated_exit_code_table_and_names_every_code() -> None:
    section = README.read_text().split("## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    assert "(docs/reference/exit-codes.md)" in section
    assert "|---|" not in section  # no hand-kept copy of the table
    for code in ExitCode:
        assert re.search(rf"\b{int(code)}\s+\w", section), f"exit code {int(code)} not summarised"
