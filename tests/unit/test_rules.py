"""The rules engine: loading (with clear errors), running through pandera, examples, profile switches."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandera.polars as pa
import polars as pl
import pytest

from crm_ops.config import load_profile
from crm_ops.match.sources import source_links
from crm_ops.rules import load_rules, run_rules
from crm_ops.rules.chunks import chunk_safe
from crm_ops.rules.crosssource import CACHE_KEY
from crm_ops.rules.engine import run_entity
from crm_ops.rules.loader import load_python_rules, load_yaml_rules, select_rules
from crm_ops.rules.model import RuleContext, example_frame
from crm_ops.rules.testing import run_examples

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_rules_load_cleanly_and_every_example_holds() -> None:
    rules, problems = load_rules()
    assert problems == []
    assert len(rules) >= 30
    for r in rules:
        assert any(e.passes for e in r.examples) and any(not e.passes for e in r.examples), r.id
    failed = [x for x in run_examples(rules, cache={CACHE_KEY: source_links}) if not x.ok]
    assert failed == []


def test_cross_source_rules_are_given_the_links_by_their_caller() -> None:
    """The rules do not link the sources (matching does): without the links a cross-source rule is a
    rule error saying where to give them; given the function, it runs on each example's frames."""
    rules = [r for r in load_rules()[0] if r.id == "billing.account.paying_not_customer"]
    assert rules and rules[0].examples
    bare = run_examples(rules)
    assert bare and all(not x.ok and "cache={'source_links': ...}" in x.message for x in bare)
    calls: list[object] = []

    def linked(frames: dict[str, dict[str, pl.DataFrame]]) -> pl.DataFrame:
        calls.append(frames)
        return source_links(frames)

    given = run_examples(rules, cache={CACHE_KEY: linked})
    assert all(x.ok for x in given)
    assert len(calls) == len(given)  # once per example's run, though its check and fixer both read them


def test_the_shipped_folder_is_the_projects_rules_folder() -> None:
    from crm_ops.rules.loader import shipped_rules_dir

    assert shipped_rules_dir().resolve() == (ROOT / "rules").resolve()


def test_data_checks_really_run_on_the_rows() -> None:
    # pandera's polars backend only checks a LazyFrame's schema unless asked for data: prove the
    # pitfall exists, and that the engine (which validates DataFrames) does see the bad row.
    frame = example_frame("Contact", [{"email": "ann@acme.com"}, {"email": "not an address"}], "salesforce")
    schema = pa.DataFrameSchema(
        checks=[pa.Check(lambda d: d.lazyframe.select(pl.col("email").str.contains("@")))]
    )
    assert isinstance(schema.validate(frame.lazy()), pl.LazyFrame)  # passes silently: schema only
    with pytest.raises(pa.errors.SchemaErrors):
        schema.validate(frame, lazy=True)
    rules, _ = load_rules()
    valid = [r for r in rules if r.id == "person.email.valid"]
    ctx = RuleContext({"salesforce": {"Contact": frame}})
    findings = run_entity(valid, frame, ctx, "salesforce", "Contact").findings
    assert findings["record_id"].to_list() == ["example-1"]
    assert findings["current_value"].to_list() == ["not an address"]


def test_deleted_records_are_not_judged() -> None:
    frame = example_frame("Contact", [{"email": None, "is_deleted": True}, {"email": None}], "salesforce")
    rules, _ = load_rules()
    required = [r for r in rules if r.id == "person.email.required"]
    result = run_rules(required, {"salesforce": {"Contact": frame}})
    assert result.findings["record_id"].to_list() == ["example-1"]


def test_bad_rule_files_are_reported_with_file_line_and_rule_and_the_rest_still_load(tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(
        "rules:\n"
        "  - id: ok.rule\n    entity: Contact\n    field: email\n    severity: error\n"
        "    description: fine\n    check: not_null\n"
        "  - id: bad.field\n    entity: Contact\n    field: emial\n    severity: error\n"
        "    description: typo\n    check: not_null\n"
        "  - id: bad.check\n    entity: Lead\n    field: email\n    severity: error\n"
        "    description: unknown check\n    check: is_excellent\n"
        "  - id: bad.params\n    entity: Lead\n    field: email\n    severity: error\n"
        "    description: wrong parameters\n    check: {length: {least: 3}}\n"
        "  - id: bad.regex\n    entity: Lead\n    field: email\n    severity: loud\n"
        "    description: broken\n    check: {matches: '([a-z'}\n"
        "  - id: bad.confidence\n    entity: Lead\n    field: email\n    severity: info\n"
        "    description: sure\n    check: not_null\n    fix: {set: x, confidence: very}\n"
    )
    rules, problems = load_yaml_rules(path)
    assert [r.id for r in rules] == ["ok.rule"]
    text = "\n".join(map(str, problems))
    assert f"{path}:8: rule bad.field: Contact has no field 'emial'" in text
    assert f"{path}:14: rule bad.check: unknown check 'is_excellent'" in text
    assert f"{path}:20: rule bad.params: check length: length takes {{min: n, max: m}}" in text
    assert "rule bad.regex: severity must be one of error, warning, info, got 'loud'" in text
    assert "rule bad.regex: check matches:" in text
    assert (
        f"{path}:32: rule bad.confidence: fix confidence must be a number between 0 and 1, got 'very'" in text
    )


def test_malformed_yaml_and_broken_python_name_their_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - id: x\n    entity: [Contact\n")
    _, problems = load_yaml_rules(broken)
    assert str(problems[0]).startswith(f"{broken}:") and "invalid YAML" in str(problems[0])
    script = tmp_path / "broken_rules.py"
    script.write_text("from crm_ops.rules import rule\n\nx = 1\nraise RuntimeError('oops')\n")
    _, problems = load_python_rules(script)
    assert str(problems[0]) == f"{script}:4: RuntimeError: oops"


def test_a_rule_that_raises_is_a_rule_error_not_a_crash(tmp_path: Path) -> None:
    script = tmp_path / "flaky_rules.py"
    script.write_text(
        "import polars as pl\nfrom crm_ops.rules import rule\n\n"
        "@rule(id='t.boom', entity='Contact', field='email', severity='info', description='raises')\n"
        "def boom(frame, ctx, params):\n    raise ValueError('no luck')\n\n"
        "@rule(id='t.badcol', entity='Contact', field='email', severity='info', description='bad column')\n"
        "def badcol(frame, ctx, params):\n    return pl.col('no_such_column').is_null()\n"
    )
    custom, problems = load_python_rules(script)
    assert problems == []
    shipped, _ = load_rules()
    required = [r for r in shipped if r.id == "person.email.required"]
    frame = example_frame("Contact", [{"email": None}], "salesforce")
    result = run_rules([*custom, *required], {"salesforce": {"Contact": frame}})
    assert {e.rule for e in result.errors} == {"t.boom", "t.badcol"}
    assert "no luck" in next(e.error for e in result.errors if e.rule == "t.boom")
    assert result.findings["rule"].to_list() == ["person.email.required"]


def test_profiles_switch_off_regrade_and_retune_rules(tmp_path: Path) -> None:
    config = tmp_path / "crm-ops.toml"
    config.write_text(
        "[profiles.prod.rules]\nfolders = ['team_rules']\n"
        "disabled = ['tag:stale', 'person.title.placeholder']\n"
        "severity = {'person.email.normalised' = 'error'}\nparams = {'account.stale' = {days = 30}}\n"
    )
    settings = load_profile(config, "prod").rules
    assert settings.folders == (tmp_path / "team_rules",)
    rules, _ = load_rules()
    chosen = select_rules(
        rules,
        disabled=settings.disabled,
        severity=settings.severity,
        params=settings.params,
    )
    ids = {r.id for r in chosen}
    assert "person.stale" not in ids and "person.title.placeholder" not in ids and "account.stale" not in ids
    assert next(r for r in chosen if r.id == "person.email.normalised").severity == "error"


def test_custom_rules_in_examples_load_and_pass_their_examples() -> None:
    rules, problems = load_rules([ROOT / "examples" / "rules"], shipped=False)
    assert problems == []
    assert {r.id for r in rules} == {
        "acme.lead.source.required",
        "acme.account.tier.known",
        "acme.contact.tier1.title",
        "acme.opportunity.large.director_owner",
        "acme.account.open_deals.tiered",
        "acme.person.title.vp_spelled_out",
    }
    for r in rules:  # every rule shows a row that passes and one that fails
        assert any(e.passes for e in r.examples) and any(not e.passes for e in r.examples), r.id
    assert all(x.ok for x in run_examples(rules))
    # the Python rule declares its check row-level: a large table is checked a chunk at a time by it
    vp = next(r for r in rules if r.id == "acme.person.title.vp_spelled_out")
    assert chunk_safe(vp) and not chunk_safe(replace(vp, check=lambda f, c, p: pl.col("title").is_unique()))


def test_a_failing_rule_without_a_field_is_a_finding_not_a_crash() -> None:
    """Frame-level checks' failure cases name the schema, not a column (this crashed the engine)."""
    from crm_ops.rules.model import Rule

    frame = example_frame("Contact", [{"email": "a@b.com"}, {"email": "c@d.com"}], "salesforce")
    rule = Rule("t.nofield", ("Contact",), "info", "Always fails.", lambda f, c, p: pl.col("email").is_null())
    result = run_entity(
        [rule], frame, RuleContext({"salesforce": {"Contact": frame}}), "salesforce", "Contact"
    )
    assert result.errors == []
    assert result.findings["rule"].to_list() == ["t.nofield", "t.nofield"]
