"""The shipped rule library over 100k and 1M contacts, and plain column checks engine by engine.

Run: ``.venv/bin/python benchmarks/rules_bench.py [--sizes 100000 1000000] [--plain-rows 1000000]``.

1. Whole library: the generator seeds both CRMs (contacts, plus accounts, leads and opportunities in
   proportion), the records are mapped to the canonical schema by crm_ops' own field maps and written
   as Parquet; a child process loads them and runs every shipped rule (pandera validation, fixers on
   the failing rows) and reports wall seconds and its peak RSS.
2. Plain checks on one frame of ``--plain-rows`` rows (not-null, e-mail regex, isin, length, unique):
   through crm_ops' engine (YAML-style plain rules), bare pandera-polars, pandera's pandas backend and,
   when installed (``pip install '.[bench]'``), Great Expectations. Medians of 3 runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from served import cpu_seconds, peak_rss_mb, print_machine  # noqa: E402

# the plain checks' frame and the two engines CI holds to their ratio (tests/integration/test_perf_ratios.py)
from tests.plain_checks import COUNTRIES, EMAIL_RE, plain_frame, run_ours, run_pandera_polars  # noqa: E402

# ------------------------------------------------------------------------------------------ library


def canonical_frames(records: int, folder: Path, seed: int = 1) -> dict[str, int]:
    """Seed, map every entity with the shipped field maps, write Parquet (and the ground truth's duplicates
    and matches as ``truth.*.parquet``); return row counts."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.match_eval import canonical_frames as mapped

    from crm_ops.sandbox.generator import SeedConfig, generate

    data = generate(SeedConfig(records=records, seed=seed))
    counts = {}
    for system, entities in mapped(data).items():
        for entity, frame in entities.items():
            frame.write_parquet(folder / f"{system}.{entity}.parquet")
            counts[f"{system}.{entity}"] = frame.height
    data.manifest.duplicates.write_parquet(folder / "truth.duplicates.parquet")
    data.manifest.matches.write_parquet(folder / "truth.matches.parquet")
    return counts


def child_library(folder: str) -> None:
    """Load the frames, run every shipped rule once, print figures as JSON."""
    from crm_ops.logs import configure
    from crm_ops.rules import load_rules, run_rules

    configure(level="warning", json=True)
    frames: dict[str, dict[str, pl.DataFrame]] = {}
    for path in sorted(Path(folder).glob("*.parquet")):
        system, entity = path.stem.split(".")
        if system != "truth":
            frames.setdefault(system, {})[entity] = pl.read_parquet(path)
    loaded_rss = peak_rss_mb()
    rules, _ = load_rules()
    started, cpu = time.perf_counter(), cpu_seconds()
    result = run_rules(rules, frames)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    slowest = sorted(result.seconds.items(), key=lambda kv: -kv[1])[:5]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "findings": result.findings.height,
                "rules": len(rules),
                "errors": len(result.errors),
                "peak_rss_mb": peak_rss_mb(),
                "rss_after_load_mb": loaded_rss,
                "slowest_checks": slowest,
            }
        )
    )


def library_on(folder: Path, counts: dict[str, int], records: int) -> dict[str, Any]:
    """Run the whole library in a child process over the frames ``canonical_frames`` wrote."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(folder)], check=True, capture_output=True, text=True
    )
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    figures.update(records=records, contacts=counts["salesforce.Contact"] + counts["hubspot.Contact"])
    figures["rows"] = sum(counts.values())
    return figures


def bench_library(records: int) -> dict[str, Any]:
    """Prepare the frames (in this process), run the library in a child process."""
    with tempfile.TemporaryDirectory(prefix="crm-ops-rules-bench-") as tmp:
        return library_on(Path(tmp), canonical_frames(records, Path(tmp)), records)


# ------------------------------------------------------------------------------------------ plain checks


def run_pandera_pandas(frame: pl.DataFrame) -> int:
    """The same checks, pandera's pandas backend (conversion to pandas not timed)."""
    import pandera.pandas as pa

    pdf = frame.to_pandas()
    schema = pa.DataFrameSchema(
        {
            "id": pa.Column(str, unique=True),
            "email": pa.Column(str, nullable=False, checks=pa.Check.str_matches(EMAIL_RE)),
            "country": pa.Column(str, checks=pa.Check.isin(COUNTRIES)),
            "last_name": pa.Column(str, checks=pa.Check.str_length(1, 80)),
        }
    )
    started = time.perf_counter()
    try:
        schema.validate(pdf, lazy=True)
    except pa.errors.SchemaErrors as exc:
        run_pandera_pandas.seconds = time.perf_counter() - started  # type: ignore[attr-defined]
        return len(exc.failure_cases)
    run_pandera_pandas.seconds = time.perf_counter() - started  # type: ignore[attr-defined]
    return 0


def run_great_expectations(frame: pl.DataFrame) -> int:
    """The same checks through Great Expectations 1.x on pandas (conversion not timed)."""
    import great_expectations as gx

    pdf = frame.to_pandas()
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("bench")
        .add_dataframe_asset("contacts")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": pdf})
    )
    suite = gx.ExpectationSuite(name="plain")
    expect: Any = gx.expectations  # typed whether or not the bench extra is installed
    for expectation in (
        expect.ExpectColumnValuesToNotBeNull(column="email"),
        expect.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL_RE),
        expect.ExpectColumnValuesToBeInSet(column="country", value_set=COUNTRIES),
        expect.ExpectColumnValueLengthsToBeBetween(column="last_name", min_value=1, max_value=80),
        expect.ExpectColumnValuesToBeUnique(column="id"),
    ):
        suite.add_expectation(expectation)
    started = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):  # its progress bars
        result = batch.validate(suite)
    run_great_expectations.seconds = time.perf_counter() - started  # type: ignore[attr-defined]
    return int(sum(1 for r in result.results if not r.success))


SODA_PYTHON = Path(__file__).resolve().parents[1] / ".venv-soda" / "bin" / "python"


def run_soda(frame: pl.DataFrame) -> int:
    """The same checks as SodaCL through Soda Core on DuckDB, in Soda's own environment (``make bench``
    makes ``.venv-soda``: its pins cannot live beside ours; ``soda_peer.py``), loading the rows into DuckDB
    not timed. Soda counts failing rows per check (its failed-rows samples are off here); the figure is
    the number of failed checks."""
    with tempfile.TemporaryDirectory(prefix="crm-ops-soda-") as tmp:
        data, spec = Path(tmp) / "contacts.parquet", Path(tmp) / "checks.json"
        frame.write_parquet(data)
        spec.write_text(json.dumps({"email_re": EMAIL_RE, "countries": COUNTRIES}), encoding="utf-8")
        done = subprocess.run(
            [str(SODA_PYTHON), str(Path(__file__).with_name("soda_peer.py")), str(data), str(spec)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    run_soda.seconds = figures["seconds"]  # type: ignore[attr-defined]
    return int(figures["failures"])


def run_pandas(frame: pl.DataFrame) -> int:
    """The same checks written by hand in pandas (conversion to pandas not timed): failing rows."""
    pdf = frame.to_pandas()
    started = time.perf_counter()
    email = pdf["email"]
    failing = (
        int(email.isna().sum())
        + int((~email.dropna().str.match(EMAIL_RE)).sum())
        + int((~pdf["country"].isin(COUNTRIES)).sum())
        + int((~pdf["last_name"].str.len().between(1, 80)).sum())
        + int(pdf["id"].duplicated(keep=False).sum())
    )
    run_pandas.seconds = time.perf_counter() - started  # type: ignore[attr-defined]
    return failing


def bench_plain(rows: int) -> list[dict[str, Any]]:
    """Median of 3 runs of each engine over the same frame."""
    frame = plain_frame(rows)
    engines: list[tuple[str, Callable[[pl.DataFrame], int]]] = [
        ("crm_ops engine", run_ours),
        ("pandera-polars", run_pandera_polars),
    ]
    import importlib.util

    optional: list[tuple[str, str, Callable[[pl.DataFrame], int]]] = [
        ("pandas", "pandas by hand", run_pandas),
        ("pandas", "pandera-pandas", run_pandera_pandas),
        ("great_expectations", "great_expectations", run_great_expectations),
        ("soda", "soda-core (duckdb)", run_soda),
    ]
    for module, name, fn in optional:
        if module == "soda" and not SODA_PYTHON.exists():
            print(f"{SODA_PYTHON} missing (make bench makes it): {name} skipped", flush=True)
        elif module != "soda" and importlib.util.find_spec(module) is None:
            print(f"{module} not installed (pip install -e '.[bench]'): {name} skipped", flush=True)
        else:
            engines.append((name, fn))
    out = []
    for name, run in engines:
        times = []
        run(frame)  # a first run warms imports and caches; not counted
        for _ in range(3):
            started = time.perf_counter()
            failures = run(frame)
            times.append(getattr(run, "seconds", time.perf_counter() - started))
        out.append(
            {"engine": name, "rows": rows, "median_seconds": statistics.median(times), "failures": failures}
        )
        print(json.dumps(out[-1]), flush=True)
    return out


def main() -> None:
    """Parse arguments, run, print tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--plain-rows", type=int, default=1_000_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_library(args.child)
        return
    print_machine()
    plain = bench_plain(args.plain_rows) if args.plain_rows else []
    library = []
    for size in args.sizes:
        library.append(bench_library(size))
        print(json.dumps(library[-1]), flush=True)
    if plain:
        base = next(p["median_seconds"] for p in plain if p["engine"] == "pandera-polars")
        print(f"\nplain checks on {args.plain_rows:,} rows (median of 3)")
        for p in plain:
            print(
                f"  {p['engine']:<20} {p['median_seconds']:>7.2f} s   "
                f"x{p['median_seconds'] / base:.2f} of pandera-polars"
            )
    if library:
        print("\nwhole shipped library")
        for r in library:
            print(
                f"  {r['records']:>9,} records ({r['contacts']:,} contacts, {r['rows']:,} rows in all): "
                f"{r['seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB "
                f"({r['rss_after_load_mb']:.0f} MB after loading), "
                f"{r['findings']:,} findings"
            )


if __name__ == "__main__":
    main()
