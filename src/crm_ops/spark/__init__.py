"""The rules and matching on Apache Spark, for orgs one machine cannot hold (``engine = "spark"``).

On a cluster, a Databricks job or a notebook, with the session the platform gives (the engine is
picked by ``crm_ops.engines``, the one module that imports this package)::

    from crm_ops.check import profile_rules, run_check
    from crm_ops.config import load_profile
    from crm_ops.engines import run_matching_on

    profile = load_profile("crm-ops.toml", "prod")
    run = run_check(profile, engine="spark", spark=spark)   # findings/<time>.parquet, as `crm-ops check`
    matched = run_matching_on(profile, rules=profile_rules(profile)[0], engine="spark", spark=spark)

Or over Spark DataFrames of your own (canonical columns, one per entity)::

    from crm_ops.rules import load_rules
    from crm_ops.spark import run_rules_spark, run_matching_spark

    rules, _ = load_rules()
    result = run_rules_spark(rules, {"salesforce": {"Contact": df, "Account": accounts}})

pyspark is an optional extra: ``pip install 'crm-ops[spark]'`` (and Java 17+).
"""

from __future__ import annotations

from crm_ops.rules.chunks import row_level
from crm_ops.spark.match import (
    clusters_spark,
    find_duplicates_spark,
    link_records_spark,
    one_to_one_spark,
    run_matching_spark,
)
from crm_ops.spark.rules import run_rules_spark
from crm_ops.spark.sessions import SparkFrames, session, snapshot_frames

__all__ = [
    "SparkFrames",
    "clusters_spark",
    "find_duplicates_spark",
    "link_records_spark",
    "one_to_one_spark",
    "row_level",
    "run_matching_spark",
    "run_rules_spark",
    "session",
    "snapshot_frames",
]
