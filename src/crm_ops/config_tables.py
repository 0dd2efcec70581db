"""The tables of a profile that say what crm-ops does (``rules``, ``review``, ``run``, ``spark``):
parsed and checked at load, every value of the wrong type an error naming its key (a string where a
list belongs would otherwise be read letter by letter: ``auto_apply = "tag:format"`` applied
nothing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_KEYS = ("auto_apply", "min_confidence", "fail_on", "max_findings", "allow_production")


CHUNK_ROWS = 250_000  # the default of ``[profiles.P.rules] chunk_rows`` (``crm_ops.rules.chunks``)


@dataclass(frozen=True)
class RuleSettings:
    """Which rules a profile runs: extra folders; rules (or ``tag:x``) switched off, re-graded, re-tuned."""

    folders: tuple[Path, ...] = ()  # your own YAML / Python rule files or folders (relative to the config)
    disabled: tuple[str, ...] = ()  # rule ids or tag:<tag> switched off
    severity: dict[str, str] = field(default_factory=dict)  # rule id = error | warning | info
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # rule id = {parameter = value}
    # a declared entity matching does not use (an activity table) with more rows is checked this many
    # rows at a time, not read whole
    chunk_rows: int = CHUNK_ROWS  # rows of a large table checked at a time (declared entities not matched)


@dataclass(frozen=True)
class ReviewSettings:
    """Which plan actions start approved: ``update`` actions of the rules listed (ids or ``tag:x``) at
    or above ``min_confidence``. Merges, associations and drift syncs start approved only when their
    rule is listed by id (a tag never selects them); flags never (see ``crm_ops.plan.review``)."""

    approve: tuple[str, ...] = ("tag:format",)  # rules (ids or tag:<tag>) whose fixes start approved
    min_confidence: float = 0.95  # ... when at least this confident (0-1)


@dataclass(frozen=True)
class RunSettings:
    """What the nightly run applies unattended and what sets its exit code: ``auto_apply`` (rule ids or
    ``tag:x``) at or above ``min_confidence``; findings at ``fail_on`` or worse, more than
    ``max_findings`` of them, exit 1. On a production profile the run writes unattended only with
    ``allow_production = true`` (or ``--allow-production``): without it, a run whose ``auto_apply``
    names rules is refused before it pulls (exit 2), so a night that would apply nothing never passes
    for one that did."""

    auto_apply: tuple[str, ...] = ()  # rules (ids or tag:<tag>) the run applies unattended
    min_confidence: float = 0.95  # ... at or above this confidence (0-1)
    fail_on: str = "error"  # error | warning: the severity that counts for the exit code
    max_findings: int = 0  # exit 1 with more findings than this at fail_on or worse
    allow_production: bool = False  # a production profile's run may apply auto_apply unattended


ENGINES = ("polars", "spark")


@dataclass(frozen=True)
class SparkSettings:
    """``[profiles.P.spark]``: where Spark runs and where it reads the snapshots (``engine = "spark"``).

    ``master``: a master URL (``local[2]``, ``spark://host:7077``, ``yarn``); empty: the active session
    of the platform (Databricks, EMR) or ``local[*]``. ``snapshots``: a URI holding
    ``<system>/<Entity>`` Parquet datasets (``s3a://bucket/crm``); empty: the state file's current
    snapshots. ``partitions``: shuffle partitions (0: sized from the snapshots, ``crm_ops.spark.sizing``;
    a session's own value is kept). ``conf``: any Spark settings."""

    master: str = ""  # local[2], spark://host:7077, yarn; empty: the platform's session or local[*]
    snapshots: str = ""  # URI of <system>/<Entity> Parquet datasets (s3a://bucket/crm); empty: the pull's
    partitions: int = 0  # shuffle partitions (0: one per 500k snapshot rows, 1 to 2 a core; or the session's)
    app_name: str = "crm-ops"  # the Spark application's name
    conf: dict[str, str] = field(default_factory=dict)  # any Spark settings (spark.executor.memory = "8g")


def _rule_settings(raw: Any, where: str, base: Path, problems: list[str]) -> RuleSettings:
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table with folders, disabled, severity, params, chunk_rows")
        return RuleSettings()
    unknown = set(raw) - {"folders", "disabled", "severity", "params", "chunk_rows"}
    if unknown:
        problems.append(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    folders = raw.get("folders", [])
    disabled = raw.get("disabled", [])
    severity = raw.get("severity", {})
    params = raw.get("params", {})
    if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
        problems.append(f"{where}.folders: expected a list of paths")
        folders = []
    if not isinstance(disabled, list) or not all(isinstance(d, str) for d in disabled):
        problems.append(f"{where}.disabled: expected a list of rule ids or tag:<tag>")
        disabled = []
    bad = (
        {k: v for k, v in severity.items() if v not in ("error", "warning", "info")}
        if isinstance(severity, dict)
        else {}
    )
    if not isinstance(severity, dict) or bad:
        problems.append(
            f"{where}.severity: expected rule id = error | warning | info, got {bad or severity!r}"
        )
        severity = {}
    if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        problems.append(f"{where}.params: expected tables of parameters by rule id")
        params = {}
    chunk_rows = raw.get("chunk_rows", CHUNK_ROWS)
    if not isinstance(chunk_rows, int) or isinstance(chunk_rows, bool) or chunk_rows < 1000:
        problems.append(f"{where}.chunk_rows: expected a number of rows, 1000 or more, got {chunk_rows!r}")
        chunk_rows = CHUNK_ROWS
    paths = tuple(Path(f) if Path(f).is_absolute() else base / f for f in folders)
    return RuleSettings(
        paths, tuple(disabled), dict(severity), {k: dict(v) for k, v in params.items()}, chunk_rows
    )


def _review_settings(raw: Any, where: str, problems: list[str]) -> ReviewSettings:
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table with approve, min_confidence")
        return ReviewSettings()
    for key in sorted(set(raw) - {"approve", "min_confidence"}):
        problems.append(f"{where}.{key}: unknown setting; known: approve, min_confidence")
    default = ReviewSettings()
    approve = raw.get("approve", list(default.approve))
    if not isinstance(approve, list) or not all(isinstance(x, str) and x.strip() for x in approve):
        problems.append(f"{where}.approve: expected a list of rule ids or tag:<tag>, got {approve!r}")
        approve = list(default.approve)
    bar = raw.get("min_confidence", default.min_confidence)
    if isinstance(bar, bool) or not isinstance(bar, int | float) or not 0 <= bar <= 1:
        problems.append(f"{where}.min_confidence: expected a number from 0 to 1, got {bar!r}")
        bar = default.min_confidence
    return ReviewSettings(tuple(x.strip() for x in approve), float(bar))


def _run_settings(raw: Any, where: str, problems: list[str]) -> RunSettings:
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table with {', '.join(RUN_KEYS)}")
        return RunSettings()
    for key in sorted(set(raw) - set(RUN_KEYS)):
        problems.append(f"{where}.{key}: unknown setting; known: {', '.join(RUN_KEYS)}")
    default = RunSettings()
    wanted = raw.get("auto_apply", [])
    if not isinstance(wanted, list) or not all(isinstance(x, str) and x.strip() for x in wanted):
        problems.append(
            f'{where}.auto_apply: expected a list of rule ids or tag:<tag> (auto_apply = ["tag:format"]), '
            f"got {wanted!r}"
        )
        wanted = []
    bar = raw.get("min_confidence", default.min_confidence)
    if isinstance(bar, bool) or not isinstance(bar, int | float) or not 0 <= bar <= 1:
        problems.append(f"{where}.min_confidence: expected a number from 0 to 1, got {bar!r}")
        bar = default.min_confidence
    fail_on = raw.get("fail_on", default.fail_on)
    if fail_on not in ("error", "warning"):
        problems.append(f"{where}.fail_on: must be error or warning")
        fail_on = default.fail_on
    most = raw.get("max_findings", default.max_findings)
    if isinstance(most, bool) or not isinstance(most, int) or most < 0:
        problems.append(f"{where}.max_findings: expected a whole number (0 or more), got {most!r}")
        most = default.max_findings
    allow = raw.get("allow_production", False)
    if not isinstance(allow, bool):
        problems.append(f"{where}.allow_production: expected true or false, got {allow!r}")
        allow = False
    return RunSettings(tuple(x.strip() for x in wanted), float(bar), str(fail_on), int(most), allow)


def _spark_settings(raw: Any, where: str, problems: list[str]) -> SparkSettings:
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table")
        return SparkSettings()
    known = set(SparkSettings.__dataclass_fields__)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            problems.append(f"{where}.{key}: unknown setting; known: {', '.join(sorted(known))}")
        elif key == "conf":
            if not isinstance(value, dict):
                problems.append(f"{where}.conf: expected a table of Spark settings")
            else:
                values[key] = {str(k): str(v) for k, v in value.items()}
        elif key == "partitions":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems.append(f"{where}.partitions: expected a whole number >= 0, got {value!r}")
            else:
                values[key] = value
        elif not isinstance(value, str):
            problems.append(f"{where}.{key}: expected a string, got {value!r}")
        else:
            values[key] = value
    return SparkSettings(**values)
