"""Deduplicating one CRM's contacts: crm_ops' matcher beside splink 5 (DuckDB backend), same records.

Run: ``.venv/bin/python benchmarks/dedupe_peers.py [--records 1000000]`` (splink from the bench extra:
``pip install -e '.[bench]'``). The generator seeds the CRMs; Salesforce's contacts are mapped to the
canonical schema; each engine then deduplicates them in its own child process (wall seconds, peak RSS)
and its pairs are scored against the generator's truth (contact copies, exact and fuzzy): precision,
recall, F1.

splink gets the fields our Contact rule reads (e-mail, phone, last and first name, and the account, on
which ours only blocks: it compares the other four, by Fellegi-Sunter, learned from the records), prepared
the way its documentation advises (lowercased, phone digits), the same blocking keys, and a model
trained as its tutorials train one: the match prior from the deterministic e-mail rule, u by random
sampling, m by expectation maximisation on two blocking rules; pairs at match probability >= 0.9.
The preparation and the training are timed with the prediction: a user runs all three.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
from served import cpu_seconds, peak_rss_mb, print_machine

HERE = Path(__file__).resolve().parent


def truth_pairs(truth: pl.DataFrame) -> set[tuple[str, str]]:
    """Every pair of records the generator made as copies of one contact (leads left out)."""
    pairs: set[tuple[str, str]] = set()
    contacts = truth.filter((pl.col("kind") != "lead_contact") & (pl.col("object") == "Contact"))
    for _, group in contacts.group_by("cluster_id"):
        ids = sorted(group["record_id"].to_list())
        pairs |= {(ids[i], ids[j]) for i in range(len(ids)) for j in range(i + 1, len(ids))}
    return pairs


def scores(found: pl.DataFrame, truth: set[tuple[str, str]]) -> dict[str, float]:
    """Precision, recall and F1 of ``found`` (left_id, right_id) against ``truth``."""
    pairs = {tuple(sorted(p)) for p in found.select("left_id", "right_id").iter_rows()}
    hits = len(pairs & truth)
    precision, recall = hits / max(1, len(pairs)), hits / max(1, len(truth))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"pairs": len(pairs), "precision": precision, "recall": recall, "f1": f1}


def run_ours(contacts: pl.DataFrame) -> pl.DataFrame:
    """crm_ops' Contact rule (find_duplicates)."""
    from crm_ops.match import DEFAULTS, find_duplicates

    return find_duplicates(contacts, DEFAULTS["Contact"]).select("left_id", "right_id")


def run_splink(contacts: pl.DataFrame) -> pl.DataFrame:
    """splink 5 on DuckDB: prepare, train, predict at probability 0.9."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from crm_ops.schema.entities import live

    prepared = live(contacts).select(
        pl.col("id").alias("unique_id"),
        pl.col("email").str.strip_chars().str.to_lowercase().alias("email"),
        pl.col("phone").str.replace_all(r"\D", "").str.slice(-9).replace("", None).alias("phone"),
        pl.col("last_name").str.strip_chars().str.to_lowercase().alias("last_name"),
        pl.col("first_name").str.strip_chars().str.to_lowercase().alias("first_name"),
        "account_id",
    )
    db = DuckDBAPI()
    table = db.register(prepared.to_arrow(), dataset_display_name="contacts")
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("email"),
            block_on("phone"),
            block_on("last_name", "account_id"),
        ],
        comparisons=[
            cl.EmailComparison("email"),
            cl.ExactMatch("phone"),
            cl.NameComparison("last_name"),
            cl.NameComparison("first_name"),
            cl.ExactMatch("account_id"),
        ],
    )
    linker = Linker(table, settings, log_level="WARNING")
    linker.training.estimate_probability_two_random_records_match([block_on("email")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("last_name", "account_id"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("email"))
    predictions: Any = linker.inference.predict(threshold_match_probability=0.9)
    found = pl.from_arrow(predictions.as_pyarrow_table())
    assert isinstance(found, pl.DataFrame)
    return found.select(pl.col("unique_id_l").alias("left_id"), pl.col("unique_id_r").alias("right_id"))


ENGINES = {"crm_ops": run_ours, "splink": run_splink}


def child(engine: str, folder: str) -> None:
    """Run one engine on the prepared contacts; print its figures as JSON."""
    from crm_ops.logs import configure

    configure(level="warning", json=True)
    contacts = pl.read_parquet(Path(folder) / "salesforce.Contact.parquet")
    # imports are not timed (neither engine's): crm_ops.match's (rapidfuzz, jellyfish, the configs) cost
    # 0.65 CPU seconds, timed with the deduplication until issue 28's last speed-up
    if engine == "splink":
        import splink.comparison_library  # noqa: F401
    else:
        import crm_ops.match  # noqa: F401
        from crm_ops.values.wordlists import shipped

        shipped()
    loaded = peak_rss_mb()
    started, cpu = time.perf_counter(), cpu_seconds()
    found = ENGINES[engine](contacts)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    truth = truth_pairs(pl.read_parquet(Path(folder) / "truth.duplicates.parquet"))
    figures = {
        "engine": engine,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "loaded_rss_mb": loaded,
    }
    print(json.dumps({**figures, **scores(found, truth), "contacts": contacts.height}))


def measure(folder: Path, engines: list[str]) -> list[dict[str, Any]]:
    """Each engine in its own child process over the frames in ``folder``."""
    out = []
    for engine in engines:
        done = subprocess.run(
            [sys.executable, __file__, "--child", engine, str(folder)],
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            out.append({"engine": engine, "error": (done.stderr.strip().splitlines() or ["failed"])[-1]})
        else:
            out.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(out[-1]), flush=True)
    return out


def main() -> None:
    """Seed, map, run both engines, print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--engines", nargs="*", default=list(ENGINES), choices=list(ENGINES))
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print_machine()
    sys.path.insert(0, str(HERE))
    from rules_bench import canonical_frames

    with tempfile.TemporaryDirectory(prefix="crm-ops-dedupe-peers-") as tmp:
        canonical_frames(args.records, Path(tmp))
        rows = measure(Path(tmp), args.engines)
    for r in rows:
        if "error" in r:
            print(f"  {r['engine']:<8} failed: {r['error']}")
            continue
        print(
            f"  {r['engine']:<8} {r['seconds']:>7.1f} s  peak {r['peak_rss_mb']:>6.0f} MB  "
            f"P {r['precision']:.4f} R {r['recall']:.4f} F1 {r['f1']:.4f}  ({r['pairs']:,} pairs)"
        )


if __name__ == "__main__":
    main()
