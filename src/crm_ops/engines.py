"""The engine choice: what computes the rules and matching, polars on one machine or Apache Spark
(``engine = "spark"``, the optional ``spark`` extra), picked here for every caller (``crm_ops.check``,
``crm_ops.runner``). It sits below its users and above both engines, so neither engine imports a user:
``crm_ops.spark`` is imported by this module alone (the layering contract in pyproject.toml)::

    from crm_ops.check import profile_rules
    from crm_ops.config import load_profile
    from crm_ops.engines import run_matching_on

    profile = load_profile("crm-ops.toml", "prod")
    matched = run_matching_on(profile, rules=profile_rules(profile)[0], engine="spark", spark=spark)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crm_ops.config import Profile
from crm_ops.config_tables import ENGINES
from crm_ops.errors import ConfigError
from crm_ops.match.run import MatchResult, matched_entities, profile_settings, run_matching
from crm_ops.match.sources import source_links
from crm_ops.rules.crosssource import CACHE_KEY
from crm_ops.rules.engine import CheckResult, run_rules
from crm_ops.rules.model import Rule
from crm_ops.snapshots import Snapshots, read_snapshots, split_frames
from crm_ops.state import State

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def chosen_engine(profile: Profile, engine: str | None = None) -> str:
    """``engine`` when given, else the profile's (``engine = ...``, polars by default); an unknown name is
    a ``ConfigError`` listing the engines."""
    name = engine or profile.engine
    if name not in ENGINES:
        raise ConfigError(f"engine: expected one of {', '.join(ENGINES)}, got {name!r}")
    return name


def state_snapshots(state: State, profile: Profile, chunk_rows: int | None = None) -> Snapshots:
    """The current snapshots of ``state`` for ``profile``: what matching reads held whole
    (``match.run.matched_entities``), any other table of more than ``chunk_rows`` rows (default: its
    ``[rules] chunk_rows``) left on disk to be checked a chunk at a time (``snapshots.split_frames``)."""
    rows = chunk_rows or profile.rules.chunk_rows
    return split_frames(state, whole=matched_entities(profile), chunk_rows=rows)


def profile_snapshots(profile: Profile, chunk_rows: int | None = None) -> Snapshots:
    """``state_snapshots`` of the profile's state file (a ``ConfigError`` when nothing was pulled)."""
    return read_snapshots(profile, lambda state: state_snapshots(state, profile, chunk_rows))


def check_rules(
    profile: Profile,
    rules: Sequence[Rule],
    *,
    now: datetime | None = None,
    engine: str | None = None,
    spark: SparkSession | None = None,
) -> CheckResult:
    """``rules`` over the profile's current snapshots, on its engine (or ``engine``); on Spark, ``spark``
    is the session to use (default: ``crm_ops.spark.session(profile)``)."""
    if chosen_engine(profile, engine) == "spark":
        from crm_ops.spark import run_rules_spark, session  # noqa: PLC0415 - an optional extra
        from crm_ops.spark import snapshot_frames as spark_frames  # noqa: PLC0415

        frames = spark_frames(spark or session(profile), profile)
        return run_rules_spark(rules, frames, now=now, cache={CACHE_KEY: source_links})
    # the cross-source rules' links, computed when one of them first asks (``rules.crosssource``)
    # a table too large to hold whole (an activity table) is checked a chunk at a time
    found = profile_snapshots(profile)
    return run_rules(
        rules,
        found.frames,
        now=now,
        cache={CACHE_KEY: source_links},
        large=found.large,
        chunk_rows=profile.rules.chunk_rows,
    )


def run_matching_on(
    profile: Profile,
    *,
    rules: Sequence[Rule],
    engine: str | None = None,
    spark: SparkSession | None = None,
    **settings: Any,
) -> MatchResult:
    """Matching over the profile's current snapshots, on its engine (or ``engine``), with its
    ``[profiles.P.match]`` settings (``settings`` override them: ``rejected``, ``merge_rules``...); every
    proposal passes ``rules`` (``crm_ops.check.profile_rules(profile)[0]``, as ``crm-ops match``)."""
    chosen = {**profile_settings(profile), **settings}
    if chosen_engine(profile, engine) == "spark":
        from crm_ops.spark import run_matching_spark, session  # noqa: PLC0415 - an optional extra
        from crm_ops.spark import snapshot_frames as spark_frames  # noqa: PLC0415

        return run_matching_spark(spark_frames(spark or session(profile), profile), rules=rules, **chosen)
    # what matching reads, held whole; an activity-sized table it never reads stays on disk
    return run_matching(profile_snapshots(profile).frames, rules=rules, **chosen)


def check_and_match_spark(
    profile: Profile, rules: list[Rule], match_settings: dict[str, Any]
) -> tuple[CheckResult, MatchResult]:
    """A run's check and matching on Spark, over the snapshots the run just pulled (the state file's,
    whatever ``[spark] snapshots`` says); the sources' links found once, for the cross-source rules and
    for matching's output, as the polars run does."""
    from crm_ops.spark import run_matching_spark, run_rules_spark, session  # noqa: PLC0415
    from crm_ops.spark import snapshot_frames as spark_frames  # noqa: PLC0415
    from crm_ops.spark.sources import source_links_spark  # noqa: PLC0415

    local = replace(profile, spark=replace(profile.spark, snapshots=""))
    frames = spark_frames(session(profile), local)
    sourced = source_links_spark(frames, match_settings["lists"])
    checked = run_rules_spark(rules, frames, cache={CACHE_KEY: sourced})
    return checked, run_matching_spark(frames, rules=rules, linked_sources=sourced, **match_settings)
