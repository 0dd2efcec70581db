"""Shuffle partitions sized from the data, when the profile does not set them (issue 30).

Spark's default, 200 shuffle partitions, is sized for a cluster's big tables: on a 1,000-contact org
every join, aggregation and rule pass became 200 tasks, each a Python round trip, about 13,000 tasks
for one ``crm-ops check``. So when nothing sets them, the shuffle partitions follow the input: one per
``ROWS_PER_PARTITION`` rows of the snapshots (500k: all entities of all systems together), or per
``BYTES_PER_PARTITION`` of their Parquet (32 MiB) when the row count is not known (datasets under a
URI), at least 1 and at most ``PER_CORE`` (2) per core of the session. A setting wins over the rule:
the profile's ``partitions``, ``spark.sql.shuffle.partitions`` in its ``conf``, or a value the session
already holds other than Spark's default (a cluster's or a notebook's own). The rule's value is
recorded in the session (``SIZED``), so a later run in the same session is sized again for its data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from crm_ops.config import SparkSettings

log = structlog.get_logger("crm_ops.spark")

SHUFFLE = "spark.sql.shuffle.partitions"
SPARK_DEFAULT = "200"  # Spark's own default for SHUFFLE
SIZED = "spark.crm_ops.sizedShufflePartitions"  # the value this module last set in a session
# Measured at 1M contacts (4M records) on two cores: 4 partitions beat 8 and 16, each task paying a fixed
# cost; the 50M sizing of docs/architecture.md asks 125k to 250k contacts (0.5M to 1M records) a partition.
ROWS_PER_PARTITION = 500_000
BYTES_PER_PARTITION = 32 * 2**20  # of Parquet, when the rows are not known (about 400k CRM records)
PER_CORE = 2  # at most this many partitions per core


@dataclass(frozen=True)
class InputSize:
    """What the run reads: its snapshots' rows (None when not known) and their bytes on disk."""

    rows: int | None
    bytes: int


def data_partitions(size: InputSize, cores: int) -> int:
    """The shuffle partitions for ``size`` on ``cores`` cores: one per ``ROWS_PER_PARTITION`` rows (per
    ``BYTES_PER_PARTITION`` bytes when the rows are not known), at least 1, at most ``PER_CORE`` a core."""
    if size.rows is not None:
        wanted = math.ceil(size.rows / ROWS_PER_PARTITION)
    else:
        wanted = math.ceil(size.bytes / BYTES_PER_PARTITION)
    return max(1, min(wanted, PER_CORE * max(1, cores)))


def chosen_partitions(
    settings: SparkSettings | None,
    size: InputSize | None,
    cores: int,
    *,
    current: str | None = None,
    sized: str | None = None,
    launched: bool = False,
) -> int | None:
    """The shuffle partitions a run should set, or None to leave the session's as they are.

    ``settings``: the profile's; ``current``: the session's value now; ``sized``: the value this module
    last set in it; ``launched``: whether the session was started with a value (its Spark conf)."""
    if settings is not None and settings.partitions:
        return settings.partitions
    if settings is not None and SHUFFLE in settings.conf:
        return int(settings.conf[SHUFFLE])
    if launched or (current is not None and current not in (SPARK_DEFAULT, sized)):
        return None  # the session's own setting (a cluster's, a notebook's)
    if size is None:
        return None
    return data_partitions(size, cores)


def frames_size(frames: dict[str, dict[str, DataFrame]]) -> InputSize | None:
    """The bytes of Parquet behind ``frames``, by Spark's own estimate of each scan (rows not known);
    None when Spark gives none."""
    total = 0
    for entities in frames.values():
        for frame in entities.values():
            try:
                # the optimised plan's statistics: for a Parquet scan, the files' size on disk
                stats = frame._jdf.queryExecution().optimizedPlan().stats()
                total += int(str(stats.sizeInBytes().toString()))
            except Exception as exc:  # noqa: BLE001 - an estimate: without it Spark's default stays
                log.warning("spark.size_unknown", error=type(exc).__name__)
                return None
    return InputSize(None, total)


def size_partitions(spark: SparkSession, settings: SparkSettings | None, size: InputSize | None) -> None:
    """Set the session's shuffle partitions as ``chosen_partitions`` says (logged), for this run."""
    current = spark.conf.get(SHUFFLE, None)
    sized = spark.conf.get(SIZED, None)
    try:
        context = spark.sparkContext
        launched = context.getConf().contains(SHUFFLE)
        cores = context.defaultParallelism
    except Exception as exc:  # noqa: BLE001 - Spark Connect has no SparkContext: the server's settings stay
        log.info("spark.partitions", partitions=current, by="the session", why=type(exc).__name__)
        return
    chosen = chosen_partitions(settings, size, cores, current=current, sized=sized, launched=launched)
    if chosen is None:
        log.info("spark.partitions", partitions=current, by="the session")
        return
    spark.conf.set(SHUFFLE, str(chosen))
    spark.conf.set(SIZED, str(chosen))
    log.info(
        "spark.partitions",
        partitions=chosen,
        by="the profile" if _explicit(settings) else "the data",
        rows=size.rows if size else None,
        bytes=size.bytes if size else None,
        cores=cores,
    )


def _explicit(settings: SparkSettings | None) -> bool:
    return settings is not None and bool(settings.partitions or SHUFFLE in settings.conf)


# The local driver's heap when the profile sets none (local mode: the JVM is the whole cluster). Half the
# machine, as before, for a large org (1M contacts, 4M records, ran in 10 to 14 GB); a small org gets what
# it needs: a JVM given 12 GB grows towards it whatever the data (garbage is collected late), and a
# 1,000-contact check reached 12 GB of memory and was killed on a shared machine.
HEAP_BASE = 2**30  # Spark's own, and the rules' Python code's frames on the driver
HEAP_PER_ROW = 3 * 2**10  # per snapshot row
MIN_HEAP_GB = 2


def driver_heap_gb(rows: int | None, machine_bytes: int) -> int:
    """The local driver's heap in GiB for ``rows`` snapshot rows (None: not known, half the machine):
    1 GiB and 3 KiB a row, at least 2 GiB, at most half the machine (at least 1 GiB)."""
    half = max(1, machine_bytes // 2**31)
    if rows is None:
        return half
    wanted = math.ceil((HEAP_BASE + rows * HEAP_PER_ROW) / 2**30)
    return max(1, min(half, max(MIN_HEAP_GB, wanted)))


# A small org's run is fixed cost, most of it the JVM compiling: whole-stage code generation compiles
# each stage's Java code and the C2 compiler the hot paths, neither of which pays for itself on
# partitions of a few thousand rows. So a local session over no more than one partition's rows runs its
# stages interpreted and compiles with C1 only (the same plans and results: these change how the JVM
# runs a stage, not what it computes); a setting of the profile's conf wins.
SMALL_JVM = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
}


def small_jvm(rows: int | None, conf: dict[str, str]) -> dict[str, str]:
    """The settings of ``SMALL_JVM`` for a local session over ``rows`` snapshot rows (none when not
    known or more than ``ROWS_PER_PARTITION``), but those ``conf`` sets."""
    if rows is None or rows > ROWS_PER_PARTITION:
        return {}
    return {k: v for k, v in SMALL_JVM.items() if k not in conf}
