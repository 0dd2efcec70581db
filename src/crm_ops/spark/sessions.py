"""The SparkSession a profile runs on, and the snapshots as Spark DataFrames.

``session(profile)`` takes the platform's active session when there is one and the profile names no
master (a Databricks job, a notebook, ``spark-submit``), else builds one from ``[profiles.P.spark]``
(``master``, ``partitions``, ``conf``; ``local[*]`` by default). ``snapshot_frames(spark, profile)``
reads each current snapshot straight from the Parquet files the pull wrote (a base and its layers:
``snapshot_frame``), or, when the profile sets
``snapshots = "s3a://bucket/path"``, the ``<system>/<Entity>`` datasets under that URI, and sizes the
session's shuffle partitions from them when nothing sets them (``crm_ops.spark.sizing``).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from crm_ops.errors import ConfigError
from crm_ops.layered import Snapshot
from crm_ops.schema.entities import entity_names
from crm_ops.spark.sizing import InputSize, driver_heap_gb, frames_size, size_partitions, small_jvm

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from crm_ops.config import Profile, SparkSettings

SparkFrames = dict[str, dict[str, "DataFrame"]]
SYSTEMS = ("salesforce", "hubspot")

# What every session we build is set to: UTC (snapshots hold UTC times, and Arrow hands them to the
# partitions as such), Arrow on, no UI for local runs.
BASE_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "50000",
    "spark.sql.adaptive.enabled": "true",
    # adaptive execution merges a shuffle's small partitions up to the advisory size (64 MB; not only
    # up to 1 MB per core, Spark's "parallelism first"), so a small shuffle of a big run is one task or a few
    "spark.sql.adaptive.coalescePartitions.parallelismFirst": "false",
}


def session(
    profile: Profile | None = None, *, master: str | None = None, settings: SparkSettings | None = None
) -> SparkSession:
    """The session to run on: the active one (unless a master is named), else a new one.

    Raises ``ConfigError`` when pyspark is not installed (``pip install 'crm-ops[spark]'``)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover - the test suite installs the extra
        raise ConfigError("engine spark needs pyspark: pip install 'crm-ops[spark]'") from None
    conf = settings or (profile.spark if profile is not None else None)
    wanted = master or (conf.master if conf else "")
    active = SparkSession.getActiveSession()
    if active is not None and not wanted:
        return active
    url = wanted or "local[*]"
    if url.startswith("local"):
        # the partitions run in Python workers: the interpreter (and so the packages) of this process
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(url).appName(conf.app_name if conf else "crm-ops")
    values = dict(BASE_CONF)
    if url.startswith("local"):
        values["spark.ui.enabled"] = "false"
        values["spark.ui.showConsoleProgress"] = "false"
        # the driver JVM is the whole cluster in local mode: sized from the pulled rows, half the
        # machine when they are not known (Spark's 1g is too small from a million records)
        import psutil

        rows = _pulled_rows(profile)
        values["spark.driver.memory"] = f"{driver_heap_gb(rows, psutil.virtual_memory().total)}g"
        values.update(small_jvm(rows, conf.conf if conf else {}))
    if conf and conf.partitions:
        values["spark.sql.shuffle.partitions"] = str(conf.partitions)
    values.update(conf.conf if conf else {})
    for key, value in values.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if url.startswith("local"):
        spark.sparkContext.setLogLevel("ERROR")
    return spark


def _pulled_rows(profile: Profile | None) -> int | None:
    """The rows of the profile's current snapshots in its state file; None when they are read from a
    URI, or nothing was pulled."""
    if profile is None or profile.spark.snapshots:
        return None
    from crm_ops.state import State

    state_file = profile.state_dir / "state.sqlite"
    if not state_file.exists():
        return None
    state = State(state_file)
    try:
        current = state.all_current()
    finally:
        state.close()
    return sum(c.rows for c in current) if current else None


def snapshot_frames(spark: SparkSession, profile: Profile) -> SparkFrames:
    """Every current snapshot as a Spark DataFrame, by system and entity; the session's shuffle
    partitions sized from them unless set (``sizing``)."""
    if profile.spark.snapshots:
        found = uri_frames(spark, profile.spark.snapshots, profile.systems() or list(SYSTEMS))
        size_partitions(spark, profile.spark, frames_size(found))
        return found
    from crm_ops.state import State

    state_file = profile.state_dir / "state.sqlite"
    if not state_file.exists():
        raise ConfigError(f"{profile.state_dir}: nothing pulled yet; run `crm-ops pull` first")
    state = State(state_file)
    try:
        current = state.all_current()
    finally:
        state.close()
    if not current:
        raise ConfigError(f"{profile.state_dir}: nothing pulled yet; run `crm-ops pull` first")
    frames: SparkFrames = {}
    for c in current:
        frames.setdefault(c.system, {})[c.entity] = snapshot_frame(spark, c.snapshot)
    size = InputSize(sum(c.rows for c in current), sum(c.snapshot.size() for c in current))
    size_partitions(spark, profile.spark, size)
    return frames


def snapshot_frame(spark: SparkSession, snapshot: Snapshot) -> DataFrame:
    """One snapshot as a Spark DataFrame: its base, each layer (oldest first) over what is below it, the
    rows of the ids it holds replaced by its own (``crm_ops.layered``; Spark keeps no row order)."""
    frame = spark.read.parquet(str(snapshot.base))
    for layer in snapshot.layers:
        top = spark.read.parquet(str(layer))
        frame = frame.join(top.select("id"), "id", "left_anti").unionByName(top, allowMissingColumns=True)
    return frame


def uri_frames(spark: SparkSession, uri: str, systems: list[str]) -> SparkFrames:
    """``<uri>/<system>/<Entity>`` Parquet datasets (a file or a folder of files), those that exist."""
    from pyspark.errors import AnalysisException

    frames: SparkFrames = {}
    base = uri.rstrip("/")
    for system in systems:
        for entity in entity_names():  # core, and those the profile's object maps declare
            try:
                frame = spark.read.parquet(f"{base}/{system}/{entity}")
            except AnalysisException as exc:
                if "PATH_NOT_FOUND" in str(exc) or "Path does not exist" in str(exc):
                    continue
                raise
            frames.setdefault(system, {})[entity] = frame
    if not frames:
        raise ConfigError(f"{uri}: no snapshot found (expected <system>/<Entity> Parquet datasets)")
    return frames
