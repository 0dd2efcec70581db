"""Billing and product sources at scale: 1M subscriptions joined to CRMs of 1M contacts each.

Run: ``.venv/bin/python benchmarks/sources_bench.py [--records 1000000] [--subscriptions 1000000]``
(heavy: under ``flock /work/.bench.lock`` on a shared machine). The generator seeds both CRMs (mapped to
the canonical schema with crm_ops' field maps, as a pull leaves them) and the billing table and product
users for the same companies; the billing table is grown to ``--subscriptions`` rows with older,
cancelled plans of the same customers (the history a billing system keeps). Each step then runs in a
fresh process, for its own peak RSS:

1. pull the billing table from SQLite through the source connector into a snapshot (keyset pages);
2. the same from Parquet files;
3. link billing customers and product users to both CRMs and run every shipped cross-source rule,
   with the findings scored against the ground truth.
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

import numpy as np
import polars as pl
from served import peak_rss_mb, print_machine

ROOT = Path(__file__).resolve().parents[1]


def grown(subs: pl.DataFrame, target: int, seed: int = 5) -> pl.DataFrame:
    """``subs`` with older cancelled plans of its own customers added until it has ``target`` rows."""
    extra = target - subs.height
    if extra <= 0:
        return subs
    rng = np.random.default_rng(seed)
    base = subs.filter(pl.col("customer").str.starts_with("cus_0"))
    pick = base[rng.integers(0, base.height, extra)]
    start = pl.col("started_on").str.to_date()
    back = pl.lit(pl.Series("back", rng.integers(400, 4000, extra)))
    ended = (start - pl.duration(days=back // 2)).cast(pl.Datetime("ms")).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    older = pick.with_columns(
        pl.format("sub_h{}", pl.int_range(pl.len())).alias("id"),
        pl.lit("canceled").alias("status"),
        (start - pl.duration(days=back)).dt.strftime("%Y-%m-%d").alias("started_on"),
        ended.alias("canceled_at"),
        ended.alias("updated_at"),
    )
    return pl.concat([subs, older])


def prepare(records: int, subscriptions: int, folder: Path) -> dict[str, Any]:
    """The canonical CRM frames, the sources' files and the truth, in ``folder``."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from rules_bench import canonical_frames

    from crm_ops.sandbox.generator import SeedConfig, generate
    from crm_ops.sandbox.generator.billing import SourceData, generate_sources, write_sources

    started = time.perf_counter()
    canonical_frames(records, folder)  # seed 1, as the data below
    data = generate(SeedConfig(records=records, seed=1))
    sources = generate_sources(data)
    sources = SourceData(
        grown(sources.subscriptions, subscriptions), sources.users, sources.truth, sources.rates
    )
    config = write_sources(sources, folder / "sources", profile="bench")
    sources.subscriptions.write_parquet(folder / "sources" / "subscriptions.parquet")
    sources.truth.write_parquet(folder / "truth.sources.parquet")
    (folder / "crm-ops.toml").write_text(f'[profiles.bench]\nstate_dir = "state"\n{config}')
    return {
        "prepare_seconds": time.perf_counter() - started,
        "subscriptions": sources.subscriptions.height,
        "product_users": sources.users.height,
    }


def child_pull(folder: str, kind: str) -> None:
    """Pull the billing table (SQLite or Parquet) into a snapshot; print figures as JSON."""
    from crm_ops.config import load_profile
    from crm_ops.logs import configure
    from crm_ops.pull import Puller

    configure(level="warning", json=True)
    config = Path(folder) / "crm-ops.toml"
    text = config.read_text()
    if kind == "parquet":
        sqlite = text[text.index("database = ") : text.index("map = ", text.index("database = "))]
        parquet = (Path(folder) / "sources" / "subscriptions.parquet").as_posix()
        config = Path(folder) / "parquet.toml"
        config.write_text(
            text.replace(sqlite, f'path = "{parquet}"\n').replace(
                'state_dir = "state"', 'state_dir = "state-pq"'
            )
        )
    profile = load_profile(config, "bench")
    puller = Puller(profile)
    started = time.perf_counter()
    result = puller.pull("billing", "Subscription", full=True)
    seconds = time.perf_counter() - started
    puller.close()
    print(json.dumps({"rows": result.total, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}))


def child_check(folder: str) -> None:
    """Link the sources to both CRMs, run the cross-source rules, score them; print figures as JSON."""
    from crm_ops.check import profile_rules
    from crm_ops.config import load_profile
    from crm_ops.logs import configure
    from crm_ops.match.sources import source_links
    from crm_ops.pull import Puller
    from crm_ops.rules import run_rules
    from crm_ops.rules.crosssource import CACHE_KEY

    configure(level="warning", json=True)
    profile = load_profile(Path(folder) / "crm-ops.toml", "bench")
    frames: dict[str, dict[str, pl.DataFrame]] = {}
    for path in sorted(Path(folder).glob("*.parquet")):
        system, entity = path.stem.split(".")
        if system != "truth":
            frames.setdefault(system, {})[entity] = pl.read_parquet(path)
    puller = Puller(profile)
    for system, entity in (("billing", "Subscription"), ("product", "ProductUser")):
        frames[system] = {entity: puller.pull(system, entity, full=True).snapshot.read()}
    puller.close()
    loaded_rss = peak_rss_mb()
    started = time.perf_counter()
    links = source_links(frames)
    link_seconds = time.perf_counter() - started
    rules = [r for r in profile_rules(profile)[0] if r.id.startswith(("billing.", "product."))]
    started = time.perf_counter()
    findings = run_rules(rules, frames, cache={CACHE_KEY: links}).findings  # as a run shares them
    rule_seconds = time.perf_counter() - started
    truth = pl.read_parquet(Path(folder) / "truth.sources.parquet")
    scores = {}
    for rule in sorted(set(truth["rule"])):
        want = truth.filter(pl.col("rule") == rule)
        have = findings.filter(
            (pl.col("rule") == rule) & pl.col("system").is_in(want["system"].unique().implode())
        )
        hits = want.join(have, on=["system", "record_id"], how="semi").height
        scores[rule] = {"truth": want.height, "found": have.height, "hits": hits}
    print(
        json.dumps(
            {
                "crm_accounts": sum(f["Account"].height for s, f in frames.items() if "Account" in f),
                "crm_contacts": sum(f["Contact"].height for s, f in frames.items() if "Contact" in f),
                "subscriptions": frames["billing"]["Subscription"].height,
                "product_users": frames["product"]["ProductUser"].height,
                "links": links.height,
                "link_seconds": link_seconds,
                "rule_seconds": rule_seconds,
                "loaded_rss_mb": loaded_rss,
                "peak_rss_mb": peak_rss_mb(),
                "scores": scores,
            }
        )
    )


def _child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    """Parse arguments, prepare, run each step in its own process, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--subscriptions", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, folder = args.child
        child_check(folder) if step == "check" else child_pull(folder, step)
        return
    print_machine()
    with tempfile.TemporaryDirectory(prefix="crm-ops-sources-bench-") as tmp:
        prepared = prepare(args.records, args.subscriptions, Path(tmp))
        print(json.dumps(prepared), flush=True)
        sqlite = _child("--child", "sqlite", tmp)
        print(json.dumps({"pull_sqlite": sqlite}), flush=True)
        parquet = _child("--child", "parquet", tmp)
        print(json.dumps({"pull_parquet": parquet}), flush=True)
        check = _child("--child", "check", tmp)
        print(json.dumps({"check": check}), flush=True)
    print(
        f"\n{args.records:,} contacts per CRM, {check['crm_accounts']:,} accounts (both CRMs), "
        f"{check['subscriptions']:,} subscriptions, {check['product_users']:,} product users"
    )
    print(f"pull billing from SQLite: {sqlite['rows']:,} rows in {sqlite['seconds']:.1f} s, "
          f"peak RSS {sqlite['peak_rss_mb']:.0f} MB")  # fmt: skip
    print(f"pull billing from Parquet: {parquet['rows']:,} rows in {parquet['seconds']:.1f} s, "
          f"peak RSS {parquet['peak_rss_mb']:.0f} MB")  # fmt: skip
    print(
        f"link sources to both CRMs: {check['links']:,} links in {check['link_seconds']:.1f} s; "
        f"cross-source rules: {check['rule_seconds']:.1f} s; peak RSS {check['peak_rss_mb']:.0f} MB "
        f"(frames loaded: {check['loaded_rss_mb']:.0f} MB)"
    )
    for rule, s in check["scores"].items():
        precision = s["hits"] / s["found"] if s["found"] else 1.0
        recall = s["hits"] / s["truth"] if s["truth"] else 1.0
        counts = f"truth {s['truth']:,} found {s['found']:,}"
        print(f"  {rule}: {counts} precision {precision:.3f} recall {recall:.3f}")


if __name__ == "__main__":
    main()
