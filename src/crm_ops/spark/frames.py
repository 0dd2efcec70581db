"""Between Spark and polars: types, Arrow batches, and running polars code on each partition.

A partition reaches Python as Arrow record batches (``mapInArrow``); ``polars_frame`` turns them into a
polars frame in the canonical schema (UTC milliseconds for times, as the pull wrote them), so the code
that runs on it is the polars engine's own, unchanged, and ``arrow_batches`` hands polars' result back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType, StructType

# rows a partition function sees at once: a few batches, so that per-call work (a pandera schema, the
# distinct values handed to the libraries) is paid per 100k rows, not per batch
CHUNK_ROWS = 100_000


def polars_dtype(spark_type: DataType) -> pl.DataType:
    """The canonical polars type of a Spark column type."""
    from pyspark.sql import types as T

    simple: list[tuple[type[Any], pl.DataType]] = [
        (T.StringType, pl.String()),
        (T.BooleanType, pl.Boolean()),
        (T.LongType, pl.Int64()),
        (T.IntegerType, pl.Int32()),
        (T.ShortType, pl.Int16()),
        (T.ByteType, pl.Int8()),
        (T.DoubleType, pl.Float64()),
        (T.FloatType, pl.Float32()),
        (T.DateType, pl.Date()),
        (T.TimestampType, pl.Datetime("ms", "UTC")),
        (T.TimestampNTZType, pl.Datetime("ms")),
    ]
    for cls, dtype in simple:
        if isinstance(spark_type, cls):
            return dtype
    if isinstance(spark_type, T.ArrayType):
        return pl.List(polars_dtype(spark_type.elementType))
    if isinstance(spark_type, T.StructType):
        return pl.Struct({f.name: polars_dtype(f.dataType) for f in spark_type.fields})
    raise TypeError(f"no polars type for Spark's {spark_type.simpleString()}")


def polars_schema(schema: StructType) -> dict[str, pl.DataType]:
    """The canonical polars schema of a Spark schema."""
    return {f.name: polars_dtype(f.dataType) for f in schema.fields}


def spark_type(dtype: Any) -> DataType:
    """The Spark column type of a polars type."""
    from pyspark.sql import types as T

    if dtype == pl.String() or dtype == pl.Null():
        return T.StringType()
    simple: dict[Any, DataType] = {
        pl.Boolean(): T.BooleanType(),
        pl.Int64(): T.LongType(),
        pl.Int32(): T.IntegerType(),
        pl.UInt32(): T.LongType(),
        pl.Float64(): T.DoubleType(),
        pl.Float32(): T.FloatType(),
        pl.Date(): T.DateType(),
    }
    for key, value in simple.items():
        if dtype == key:
            return value
    if isinstance(dtype, pl.Datetime):
        return T.TimestampType() if dtype.time_zone else T.TimestampNTZType()
    if isinstance(dtype, pl.List):
        return T.ArrayType(spark_type(dtype.inner))
    raise TypeError(f"no Spark type for polars' {dtype}")


def spark_schema(schema: Mapping[str, Any]) -> StructType:
    """A Spark schema for a polars schema."""
    from pyspark.sql import types as T

    return T.StructType([T.StructField(k, spark_type(v), True) for k, v in schema.items()])


def _arrow_type(dtype: Any) -> pa.DataType:
    if dtype == pl.String() or dtype == pl.Null():
        return pa.string()
    if isinstance(dtype, pl.Datetime):
        return pa.timestamp("us", tz="UTC" if dtype.time_zone else None)
    if isinstance(dtype, pl.List):
        return pa.list_(_arrow_type(dtype.inner))
    if dtype == pl.UInt32():
        return pa.int64()
    found: pa.DataType = pl.Series([], dtype=dtype).to_arrow().type
    return found


def arrow_schema(schema: Mapping[str, Any]) -> pa.Schema:
    """The Arrow schema Spark expects back for a polars schema (plain strings, microsecond times)."""
    return pa.schema([pa.field(k, _arrow_type(v)) for k, v in schema.items()])


def polars_frame(table: pa.Table | pa.RecordBatch, schema: Mapping[str, Any]) -> pl.DataFrame:
    """Arrow from Spark as a polars frame, the columns in ``schema`` cast to it (others as they come)."""
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    casts = [pl.col(c).cast(t) for c, t in schema.items() if c in frame.columns and frame.schema[c] != t]
    return frame.with_columns(casts) if casts else frame


def arrow_batches(frame: pl.DataFrame, schema: pa.Schema) -> list[pa.RecordBatch]:
    """A polars frame as Arrow batches of ``schema`` (columns in its order, missing ones null)."""
    columns = []
    for f in schema:
        if f.name in frame.columns:
            columns.append(pl.col(f.name))
        else:
            columns.append(pl.lit(None).alias(f.name))
    table = frame.select(columns).to_arrow().cast(schema)
    batches: list[pa.RecordBatch] = table.to_batches()
    return batches


def chunks(batches: Iterable[pa.RecordBatch], rows: int = CHUNK_ROWS) -> Iterator[pa.Table]:
    """A partition's batches regrouped into tables of about ``rows`` rows (never an empty one)."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        held.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(held)
            held, count = [], 0
    if held:
        yield pa.Table.from_batches(held)


PartitionFn = Callable[[pl.DataFrame], pl.DataFrame]


def map_polars(
    frame: DataFrame, fn: PartitionFn, out: Mapping[str, Any], rows: int = CHUNK_ROWS
) -> DataFrame:
    """``fn`` (polars frame -> polars frame) over every partition of ``frame``; ``out`` is its schema."""
    schema_in = polars_schema(frame.schema)
    target = arrow_schema(out)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for table in chunks(batches, rows):
            result = fn(polars_frame(table, schema_in))
            if result.height:
                yield from arrow_batches(result, target)

    return frame.mapInArrow(run, spark_schema(out))


def union_all(frames: Sequence[DataFrame]) -> DataFrame:
    """The rows of every frame of ``frames`` (at least one), by column name."""
    out = frames[0]
    for more in frames[1:]:
        out = out.unionByName(more)
    return out


def to_polars(frame: DataFrame, schema: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """Collect a Spark DataFrame to the driver as a polars frame (canonical types)."""
    wanted = dict(schema or polars_schema(frame.schema))
    table = frame.toArrow()
    if table.num_rows == 0:
        return pl.DataFrame(schema=wanted)
    return polars_frame(table, wanted).select(list(wanted))
