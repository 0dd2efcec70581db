"""Duplicate detection and cross-CRM matching at 100k and 1M contacts.

Run: ``.venv/bin/python benchmarks/match_bench.py [--sizes 100000 1000000]``. The generator seeds both
CRMs; records are mapped to the canonical schema with crm_ops' field maps and written as Parquet with the
ground truth; a child process runs (1) duplicate detection on Salesforce contacts alone and (2) the whole
matching (duplicates in both CRMs, leads vs contacts, Salesforce-HubSpot links and drift) and reports
wall seconds, peak RSS, candidate pairs compared, precision and recall.
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

ROOT = Path(__file__).resolve().parents[1]


def child(folder: str) -> None:
    """Run in a fresh process: dedupe contacts, then the whole matching; print figures as JSON."""
    sys.path.insert(0, str(ROOT))
    from tests.match_eval import duplicate_scores, link_scores

    from crm_ops.logs import configure
    from crm_ops.match import DEFAULTS, find_duplicates, run_matching
    from crm_ops.match.run import MatchResult

    configure(level="warning", json=True)
    frames: dict[str, dict[str, pl.DataFrame]] = {}
    for path in sorted(Path(folder).glob("*.parquet")):
        if path.stem.startswith("truth."):
            continue
        system, entity = path.stem.split(".")
        frames.setdefault(system, {})[entity] = pl.read_parquet(path)
    loaded_rss = peak_rss_mb()
    dups_truth = pl.read_parquet(Path(folder) / "truth.duplicates.parquet")
    matches_truth = pl.read_parquet(Path(folder) / "truth.matches.parquet")
    contacts = frames["salesforce"]["Contact"]
    stats: dict[str, int] = {}
    started = time.perf_counter()
    pairs = find_duplicates(contacts, DEFAULTS["Contact"], stats=stats)
    dedupe_seconds = time.perf_counter() - started
    dedupe_rss = peak_rss_mb()
    contact_truth = dups_truth.filter(pl.col("kind") != "lead_contact")
    only = MatchResult(
        duplicates=pairs.with_columns(pl.lit("salesforce").alias("system")),
        links=pl.DataFrame(),
        unmatched=pl.DataFrame(),
        findings=pl.DataFrame(),
    )
    d_precision, d_recall, _, _ = duplicate_scores(contact_truth, only)
    started, cpu = time.perf_counter(), cpu_seconds()
    result = run_matching(frames)
    whole_seconds, whole_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    a_precision, a_recall, _, _ = duplicate_scores(dups_truth, result)
    l_precision, l_recall, links, truth_links = link_scores(matches_truth, result)
    print(
        json.dumps(
            {
                "contacts": contacts.height,
                "loaded_rss_mb": loaded_rss,
                "dedupe_seconds": dedupe_seconds,
                "dedupe_peak_rss_mb": dedupe_rss,
                "dedupe_candidates": stats.get("candidates", 0),
                "dedupe_pairs": pairs.height,
                "dedupe_precision": d_precision,
                "dedupe_recall": d_recall,
                "all_seconds": whole_seconds,
                "all_cpu_seconds": whole_cpu,
                "all_peak_rss_mb": peak_rss_mb(),
                "all_candidates": sum(v for k, v in result.stats.items() if k.endswith("candidates")),
                "duplicates_precision": a_precision,
                "duplicates_recall": a_recall,
                "links": links,
                "links_truth": truth_links,
                "links_precision": l_precision,
                "links_recall": l_recall,
            }
        )
    )


def bench(records: int) -> dict[str, Any]:
    """Prepare the frames and truth, run the child."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from rules_bench import canonical_frames

    with tempfile.TemporaryDirectory(prefix="crm-ops-match-bench-") as tmp:
        canonical_frames(records, Path(tmp))  # with the generator's truth
        return match_on(Path(tmp), records)


def match_on(folder: Path, records: int) -> dict[str, Any]:
    """Run the child over the frames and truth ``canonical_frames`` wrote in ``folder``."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(folder)], check=True, capture_output=True, text=True
    )
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    figures["records"] = records
    return figures


def main() -> None:
    """Parse arguments, run the sizes, print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    print_machine()
    rows = []
    for size in args.sizes:
        rows.append(bench(size))
        print(json.dumps(rows[-1]), flush=True)
    for r in rows:
        print(
            f"\n{r['contacts']:,} Salesforce contacts: dedupe {r['dedupe_seconds']:.1f} s, "
            f"peak RSS {r['dedupe_peak_rss_mb']:.0f} MB, {r['dedupe_candidates']:,} candidate pairs, "
            f"precision {r['dedupe_precision']:.3f} recall {r['dedupe_recall']:.3f}\n"
            f"  whole matching (both CRMs, leads, links, drift): {r['all_seconds']:.1f} s, "
            f"peak RSS {r['all_peak_rss_mb']:.0f} MB, {r['all_candidates']:,} candidates; duplicates "
            f"P {r['duplicates_precision']:.3f} R {r['duplicates_recall']:.3f}; links "
            f"P {r['links_precision']:.4f} R {r['links_recall']:.4f} ({r['links']:,} of {r['links_truth']:,})"
        )


if __name__ == "__main__":
    main()
