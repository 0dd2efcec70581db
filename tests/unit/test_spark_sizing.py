"""The Spark engine's shuffle partitions sized from the data when nothing sets them (issue 30)."""

from __future__ import annotations

from typing import Any

import pytest

from crm_ops.config import SparkSettings
from crm_ops.spark.sizing import (
    SHUFFLE,
    SIZED,
    SMALL_JVM,
    InputSize,
    chosen_partitions,
    data_partitions,
    driver_heap_gb,
    size_partitions,
    small_jvm,
)


@pytest.mark.parametrize(
    ("rows", "cores", "expected"),
    [
        (0, 2, 1),  # nothing pulled yet still gets one partition
        (5_000, 2, 1),  # a 1,000-contact org (both CRMs, every entity): one task per shuffle
        (500_000, 2, 1),
        (500_001, 2, 2),
        (1_400_000, 2, 3),
        (4_000_000, 2, 4),  # a million contacts on two cores: two a core at most
        (4_000_000, 64, 8),  # on a cluster: one per 500k rows
        (200_000_000, 128, 256),  # 50M contacts on 128 cores
        (10, 0, 1),  # a session that reports no cores counts as one
    ],
)
def test_partitions_follow_the_rows_within_the_cores(rows: int, cores: int, expected: int) -> None:
    assert data_partitions(InputSize(rows, 123), cores) == expected


def test_without_rows_the_bytes_size_the_partitions() -> None:
    assert data_partitions(InputSize(None, 500_000), 2) == 1
    assert data_partitions(InputSize(None, 100 * 2**20), 8) == 4  # 32 MiB a partition
    assert data_partitions(InputSize(None, 10 * 2**30), 8) == 16


SMALL = InputSize(5_000, 500_000)


def test_the_data_decides_when_nothing_is_set() -> None:
    assert chosen_partitions(None, SMALL, 2, current="200") == 1
    assert chosen_partitions(SparkSettings(), SMALL, 2, current="200") == 1
    assert chosen_partitions(SparkSettings(), InputSize(9_000_000, 0), 2, current=None) == 4
    # a value this engine chose for an earlier run in the session is sized again for this one
    assert chosen_partitions(SparkSettings(), InputSize(1_300_000, 0), 2, current="1", sized="1") == 3


def test_an_explicit_setting_wins_over_the_data() -> None:
    assert chosen_partitions(SparkSettings(partitions=64), SMALL, 2, current="200") == 64
    conf = SparkSettings(conf={SHUFFLE: "12"})
    assert chosen_partitions(conf, SMALL, 2, current="200", launched=True) == 12
    # the profile's partitions beat a session's own value too (the platform's session is used as is)
    assert chosen_partitions(SparkSettings(partitions=3), SMALL, 2, current="40", launched=True) == 3
    # a session started with a value (a cluster's conf), or set since (a notebook), is left alone
    assert chosen_partitions(SparkSettings(), SMALL, 2, current="200", launched=True) is None
    assert chosen_partitions(SparkSettings(), SMALL, 2, current="40") is None
    assert chosen_partitions(SparkSettings(), SMALL, 2, current="40", sized="1") is None
    # no size known (Spark gave no estimate): Spark's default stays
    assert chosen_partitions(SparkSettings(), None, 2, current="200") is None


class _Conf:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: str) -> None:
        self.values[key] = value

    def contains(self, key: str) -> bool:
        return key in self.values


class _Context:
    def __init__(self, launched: dict[str, str], cores: int) -> None:
        self.launched = _Conf(launched)
        self.defaultParallelism = cores

    def getConf(self) -> _Conf:  # noqa: N802 - SparkContext's name
        return self.launched


class _Session:
    """What ``size_partitions`` reads of a SparkSession: its runtime conf, launch conf and cores."""

    def __init__(self, runtime: dict[str, str], launched: dict[str, str], cores: int = 2) -> None:
        self.conf = _Conf(runtime)
        self.sparkContext = _Context(launched, cores)


def test_the_session_gets_the_chosen_partitions_and_keeps_its_own() -> None:
    fresh = _Session({SHUFFLE: "200"}, {})
    size_partitions(fresh, SparkSettings(), SMALL)  # type: ignore[arg-type]
    assert fresh.conf.values[SHUFFLE] == "1" and fresh.conf.values[SIZED] == "1"
    size_partitions(fresh, SparkSettings(), InputSize(1_200_000, 0))  # type: ignore[arg-type]
    assert fresh.conf.values[SHUFFLE] == "3"
    cluster = _Session({SHUFFLE: "200"}, {SHUFFLE: "200"}, cores=64)
    size_partitions(cluster, SparkSettings(), SMALL)  # type: ignore[arg-type]
    assert cluster.conf.values == {SHUFFLE: "200"}
    told = _Session({SHUFFLE: "200"}, {SHUFFLE: "200"})
    size_partitions(told, SparkSettings(partitions=6), SMALL)  # type: ignore[arg-type]
    assert told.conf.values[SHUFFLE] == "6"


class _Connect:
    """A Spark Connect session: a runtime conf, no SparkContext."""

    def __init__(self, runtime: dict[str, str]) -> None:
        self.conf = _Conf(runtime)

    @property
    def sparkContext(self) -> Any:  # noqa: N802 - SparkSession's name
        raise RuntimeError("[JVM_ATTRIBUTE_NOT_SUPPORTED] sparkContext is not supported in Spark Connect")


def test_a_spark_connect_session_keeps_its_own_partitions() -> None:
    remote = _Connect({SHUFFLE: "200"})
    size_partitions(remote, SparkSettings(), SMALL)  # type: ignore[arg-type]
    assert remote.conf.values == {SHUFFLE: "200"}


def test_the_local_heap_follows_the_rows_within_half_the_machine() -> None:
    machine = 24 * 2**30
    assert driver_heap_gb(5_000, machine) == 2  # a 1,000-contact org
    assert driver_heap_gb(1_000_000, machine) == 4
    assert driver_heap_gb(4_000_000, machine) == 12  # a million contacts: half the machine
    assert driver_heap_gb(None, machine) == 12  # not known: half the machine, as before
    assert driver_heap_gb(5_000, 2 * 2**30) == 1  # never more than half a small machine


def test_a_small_local_run_is_interpreted_with_c1_unless_the_conf_says_otherwise() -> None:
    assert small_jvm(5_000, {}) == SMALL_JVM
    assert small_jvm(500_001, {}) == {}  # more than one partition's rows: compiled as Spark would
    assert small_jvm(None, {}) == {}  # not known (a snapshots URI)
    own = {"spark.driver.extraJavaOptions": "-Xss4m"}
    assert small_jvm(5_000, own) == {"spark.sql.codegen.wholeStage": "false"}
