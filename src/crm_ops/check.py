"""Checking: the profile's rules over its current snapshots, findings written as Parquet.

from crm_ops.config import load_profile
from crm_ops.check import run_check

run = run_check(load_profile("crm-ops.toml", "prod"))
run.result.findings          # rule, entity, system, record_id, field, current_value, severity,
                             # message, proposed_value, confidence
run.write_samples(Path("samples.csv"), per_rule=20)   # a few findings of each rule, for people
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from crm_ops import csvio, durable
from crm_ops.config import Profile, ReviewSettings
from crm_ops.engines import check_rules
from crm_ops.errors import ConfigError
from crm_ops.exitcodes import ExitCode
from crm_ops.match.links import finding_rules
from crm_ops.plan.format import rule_versions
from crm_ops.rules.engine import CheckResult
from crm_ops.rules.loader import RuleProblem, load_rules, select_rules, shipped_rules_dir
from crm_ops.rules.model import Rule
from crm_ops.rules.names import NamedIn, profile_settings, unknown_names
from crm_ops.schema.objectmaps import map_file_entities
from crm_ops.snapshots import current_frames, snapshot_frames, snapshot_versions

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# the snapshot readers live in ``crm_ops.snapshots`` (the engine choice reads them too); their names stay
# importable from here
__all__ = [
    "CheckRun",
    "current_frames",
    "finding_samples",
    "named_settings",
    "profile_rules",
    "rule_set_versions",
    "run_check",
    "snapshot_frames",
    "snapshot_versions",
]


# the severities each ``fail_on`` counts
FAIL_ON: dict[str, tuple[str, ...]] = {"error": ("error",), "warning": ("error", "warning"), "never": ()}
SAMPLES_PER_RULE = 20  # findings of each rule in a samples CSV (``crm-ops check --samples-csv``)


@dataclass
class CheckRun:
    """A check's result, where its findings were written, and the rules that could not be loaded."""

    result: CheckResult
    findings_path: Path | None
    problems: list[RuleProblem]
    rules: list[Rule]

    @property
    def failed(self) -> bool:
        """Whether some rule's findings are missing: a rule could not be loaded, or raised."""
        return bool(self.problems or self.result.errors)

    def serious(self, fail_on: str = "error") -> int:
        """Findings at ``fail_on`` (error, warning or never) or above."""
        if fail_on not in FAIL_ON:
            raise ConfigError(f"fail_on {fail_on!r}: use error, warning or never")
        return self.result.findings.filter(pl.col("severity").is_in(FAIL_ON[fail_on])).height

    def exit_code(self, fail_on: str = "error") -> ExitCode:
        """``crm-ops check``'s exit code: ``FAILED`` (7) when a rule could not load or raised (the check
        is incomplete, whatever ``fail_on`` says), ``FINDINGS`` (1) when a finding is at ``fail_on`` or
        above, else ``OK``."""
        if self.failed:
            return ExitCode.FAILED
        return ExitCode.FINDINGS if self.serious(fail_on) else ExitCode.OK

    def write_samples(self, path: Path, per_rule: int = SAMPLES_PER_RULE) -> Path:
        """Write up to ``per_rule`` findings of each rule to a CSV file for people (``finding_samples``;
        values a spreadsheet would run as formulas are neutralised). Returns ``path``."""
        sample = finding_samples(self.result.findings, per_rule)
        return csvio.write_file(path, sample.columns, sample.iter_rows())


def finding_samples(findings: pl.DataFrame, per_rule: int = SAMPLES_PER_RULE) -> pl.DataFrame:
    """Up to ``per_rule`` findings of each rule, to show a rule's failures by example: a spread over
    its CRMs and entities (ordered by a hash of the record id, so the same findings give the same
    sample), with ``rule_findings``, how many findings the rule has in all. Rules by findings, most first."""
    if per_rule < 1:
        raise ConfigError(f"samples per rule must be 1 or more, got {per_rule}")
    counted = findings.with_columns(pl.len().over("rule").alias("rule_findings"))
    order = [pl.col("rule_findings"), pl.col("rule"), pl.col("record_id").hash(seed=26), pl.col("record_id")]
    first = [
        "rule",
        "severity",
        "rule_findings",
        "system",
        "entity",
        "record_id",
        "field",
        "current_value",
        "message",
        "proposed_value",
        "confidence",
    ]
    return (
        counted.sort(order, descending=[True, False, False, False], maintain_order=True)
        .filter(pl.int_range(pl.len()).over("rule") < per_rule)
        .select(first)
    )


def profile_rules(
    profile: Profile | None, extra: Iterable[str | Path] = (), *, shipped: bool = True
) -> tuple[list[Rule], list[RuleProblem]]:
    """The rules a profile runs: shipped + its folders + ``extra``, with its switches applied, and the
    rules (or files, or folders) that could not be loaded: each is a rule error of the run (its
    findings are missing), never a warning alone.

    Raises ``ConfigError`` when the profile's settings name a rule or tag that does not exist
    (``rules.disabled``, ``rules.severity``, ``rules.params``, ``review.approve``, ``run.auto_apply``,
    ``owners.rules``),
    each problem naming the setting and the nearest valid name."""
    folders = [*(profile.rules.folders if profile else ()), *map(Path, extra)]
    # the shipped rules of the object maps this profile enables, whatever another profile of this
    # process declared
    enabled = profile_entities(profile) if profile is not None else None
    rules, problems = load_rules(folders, shipped=shipped, enabled=enabled)
    if profile is None:
        return rules, problems
    unknown = unknown_names(
        named_settings(profile),
        rules,
        broken=[p.rule for p in problems if p.rule],
        produced=finding_rules(),
    )
    if unknown:
        if problems:
            unknown.append(
                f"{len(problems)} rule problem(s) may explain it: " + "; ".join(map(str, problems[:5]))
            )
        raise ConfigError(unknown)
    chosen = select_rules(
        rules, disabled=profile.rules.disabled, severity=profile.rules.severity, params=profile.rules.params
    )
    return chosen, problems


def profile_entities(profile: Profile) -> frozenset[str]:
    """The entities ``profile``'s object maps and ``objects`` tables declare."""
    tables = {str(e) for by_entity in profile.objects.values() for e in by_entity}
    return map_file_entities(profile.object_maps) | tables


def named_settings(profile: Profile) -> list[NamedIn]:
    """Every setting of ``profile`` that names rules (ids or ``tag:x``); the review's default list is
    the product's, not the user's, and is not checked."""
    review = profile.review.approve if profile.review.approve != ReviewSettings().approve else ()
    return profile_settings(
        profile.name,
        profile.source,
        {
            "rules": {
                "disabled": profile.rules.disabled,
                "severity": list(profile.rules.severity),
                "params": list(profile.rules.params),
            },
            "review": {"approve": review},
            "run": {"auto_apply": profile.run.auto_apply},
            # a monitor's id (monitor.<kind>.<what>) is routed as a rule's, but no rule makes it
            "owners": {"rules": [r for r in profile.owners.rules if not r.startswith("monitor.")]},
        },
    )


def rule_set_versions(profile: Profile) -> dict[str, str]:
    """A content hash of every rule file the profile runs (shipped and its folders), for a plan's header."""
    folders = (shipped_rules_dir(), *profile.rules.folders)
    return rule_versions(p for folder in folders for p in Path(folder).glob("*.*"))


def run_check(
    profile: Profile,
    *,
    extra_rules: Sequence[str | Path] = (),
    output: Path | None = None,
    now: datetime | None = None,
    engine: str | None = None,
    spark: SparkSession | None = None,
) -> CheckRun:
    """Run the profile's rules over its snapshots and write the findings (``findings/<time>.parquet``).

    ``engine`` (default: the profile's, polars unless it says ``engine = "spark"``) picks what computes;
    on Spark, ``spark`` is the session to use (default: ``crm_ops.spark.session(profile)``)."""
    rules, problems = profile_rules(profile, extra_rules)
    result = check_rules(profile, rules, now=now, engine=engine, spark=spark)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    path = output or profile.state_dir / "findings" / f"{stamp}.parquet"
    durable.write_parquet(result.findings, path)
    return CheckRun(result, path, problems, rules)
