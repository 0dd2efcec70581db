"""The reference pages are generated from the code, and the committed ones are not stale."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from crm_ops.cli import app, commands
from crm_ops.cli.exits import COMMANDS
from crm_ops.docs import render_all
from crm_ops.docs.checks import Param, params_read
from crm_ops.docs.layers import embed, layers_diagram, layers_page
from crm_ops.rules import library

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(render_all()))
def test_the_committed_reference_is_current(name: str) -> None:
    committed = ROOT / "docs" / "reference" / name
    assert committed.exists(), f"docs/reference/{name} is missing: run `make docs`"
    assert committed.read_text(encoding="utf-8") == render_all()[name], (
        f"docs/reference/{name} is stale: run `make docs` and commit it"
    )


def test_every_check_and_fixer_is_documented_with_its_parameters() -> None:
    page = render_all()["checks.md"]
    for name in [*library.CHECKS, *library.FIXES, *library.GENERIC_CHECKS]:
        assert f"| `{name}` |" in page
    assert params_read(library.CHECKS["not_stale"]) == [Param("days", False, "730")]
    assert Param("stages", True) in params_read(library.CHECKS["stage_probability"])
    assert params_read(library.CHECKS["email_valid"]) == [Param("field", True)]


def test_every_config_key_is_documented() -> None:
    from crm_ops import config

    page = render_all()["config.md"]
    keys = [*config.PROFILE_KEYS, "survivor", "source_of_truth"]
    for cls in (
        config.RunSettings,
        config.SalesforceSettings,
        config.HubSpotSettings,
        config.NotifySettings,
        config.RuleSettings,
        config.ReviewSettings,
    ):
        keys += [k for k in cls.__dataclass_fields__ if k not in ("secret_env", "where")]
    for key in keys:
        assert f"| `{key}` |" in page, key
    assert "| `bulk_threshold` | integer | `20000` |" in page


def test_every_command_has_its_exit_codes_in_the_table_and_its_help() -> None:
    assert set(commands()) == set(COMMANDS)
    runner = CliRunner()
    for command in COMMANDS:
        shown = runner.invoke(app, [*command.split(), "--help"], terminal_width=200)
        assert shown.exit_code == 0, shown.output
        assert "Exit codes: 0 " in shown.output, command
    page = render_all()["exit-codes.md"]
    assert "| `crm-ops run` | 5 | another run holds the lock |" in page
    for command in ("apply", "undo"):  # one apply or undo of a plan at a time; a budget stop resumes it
        assert f"| `crm-ops {command}` | 5 | another apply or undo of the plan is running" in page
        budget = f"| `crm-ops {command}` | 4 | stopped at the API budget (journaled: the {command} resumes"
        assert budget in page


def test_the_runner_uses_the_table_s_codes() -> None:
    from crm_ops import runner
    from crm_ops.cli import exits

    assert (runner.EXIT_CLEAN, runner.EXIT_FINDINGS, runner.EXIT_LOCKED, runner.EXIT_PARTIAL) == (
        exits.EXIT_OK,
        exits.EXIT_FINDINGS,
        exits.EXIT_LOCKED,
        exits.EXIT_PARTIAL,
    )


def test_every_public_name_of_the_api_has_a_docstring() -> None:
    from crm_ops.docs.api import undocumented

    assert undocumented() == []


def test_a_public_name_without_a_docstring_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_ops.docs.api import undocumented

    (tmp_path / "bare_api.py").write_text(
        '"""A module."""\n\n\ndef documented() -> None:\n    """Yes."""\n\n\n'
        'def bare() -> None:\n    pass\n\n\nclass Thing:\n    """A thing."""\n\n'
        "    def method(self) -> None:\n        pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert undocumented(("bare_api",)) == ["bare_api.Thing.method", "bare_api.bare"]


def test_the_api_reference_is_generated_with_every_public_module(tmp_path: Path) -> None:
    from crm_ops.docs.api import PUBLIC_MODULES, write_api_docs

    pages = write_api_docs(tmp_path)
    assert len(pages) == len(PUBLIC_MODULES) and all(p.is_file() for p in pages)
    api = (tmp_path / "crm_ops" / "api.html").read_text(encoding="utf-8")
    for name in ("Workspace", "open_profile", "show_plan", "entities", "match_configs", "undo"):
        assert name in api, name
    assert "crm_ops/api.html" in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_the_architecture_page_embeds_the_current_picture_of_the_layers() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert embed(page) == page, "docs/architecture.md's picture of the layers is stale: run `make docs`"


def test_the_picture_of_the_layers_follows_the_contract_top_to_bottom(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[tool.importlinter]\nroot_package = "crm_ops"\n\n[[tool.importlinter.contracts]]\nid = "layers"\n'
        'name = "n"\ntype = "layers"\ncontainers = ["crm_ops"]\n'
        'layers = ["cli", "(later)", "check | runrecord", "plan : match", "errors"]\n'
    )
    rows = [line.strip("│ ").strip() for line in layers_diagram(pyproject).splitlines() if "│" in line]
    assert rows == ["cli", "later (to come)", "check │ runrecord", "plan : match", "errors"]
    page = layers_page(pyproject)
    assert "| 2 | `crm_ops.later` | not written yet |  |" in page
    assert "| 3 | `crm_ops.check` | Checking: the profile's rules over its current snapshots" in page
    assert "| 4 | `crm_ops.plan` |" in page and "apply, build, context" in page
