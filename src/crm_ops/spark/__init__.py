"""The rules and matching on Apache Spark, for orgs one machine cannot hold (``engine = "spark"``).

On a cluster, a Databricks job or a notebook, with the session the platform gives::

    from crm_ops.config import load_profile
    from crm_ops.spark import run_check, run_matching_on

    profile = load_profile("crm-ops.toml", "prod")
    run = run_check(profile, spark=spark)          # findings/<time>.parquet, as `crm-ops check`
    matched = run_matching_on(profile, spark=spark)

Or over Spark DataFrames of your own (canonical columns, one per entity)::

    from crm_ops.rules import load_rules
    from crm_ops.spark import run_rules_spark, run_matching_spark

    rules, _ = load_rules()
    result = run_rules_spark(rules, {"salesforce": {"Contact": df, "Account": accounts}})

pyspark is an optional extra: ``pip install 'crm-ops[spark]'`` (and Java 17+).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crm_ops.spark.match import (
    clusters_spark,
    find_duplicates_spark,
    link_records_spark,
    one_to_one_spark,
    run_matching_spark,
)
from crm_ops.spark.needs import row_level
from crm_ops.spark.rules import run_rules_spark
from crm_ops.spark.sessions import SparkFrames, session, snapshot_frames

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from crm_ops.check import CheckRun
    from crm_ops.config import Profile
    from crm_ops.match.run import MatchResult


def run_check(
    profile: Profile,
    *,
    spark: SparkSession | None = None,
    extra_rules: Sequence[str | Path] = (),
    output: Path | None = None,
    now: datetime | None = None,
) -> CheckRun:
    """``crm_ops.check.run_check`` on Spark: the profile's rules over its snapshots, findings written."""
    from crm_ops.check import run_check as check

    return check(profile, extra_rules=extra_rules, output=output, now=now, engine="spark", spark=spark)


def run_matching_on(profile: Profile, *, spark: SparkSession | None = None, **settings: Any) -> MatchResult:
    """Matching over the profile's snapshots on Spark, with its ``[profiles.P.match]`` settings; every
    proposal passes the profile's rules (as ``crm-ops match``)."""
    from crm_ops.check import profile_rules
    from crm_ops.match.run import settings_from_profile

    where = f"{profile.source} profiles.{profile.name}.match"
    chosen = {**settings_from_profile(profile.match, where, Path(profile.source).parent)}
    chosen["rules"] = profile_rules(profile)[0]
    chosen.update(settings)
    frames = snapshot_frames(spark or session(profile), profile)
    return run_matching_spark(frames, **chosen)


__all__ = [
    "SparkFrames",
    "clusters_spark",
    "find_duplicates_spark",
    "link_records_spark",
    "one_to_one_spark",
    "row_level",
    "run_check",
    "run_matching_on",
    "run_matching_spark",
    "run_rules_spark",
    "session",
    "snapshot_frames",
]
