"""Every figure of the performance targets in one table: ``make bench`` (``BENCH_SIZE=100000 make bench``
for a quick try).

Run: ``.venv/bin/python benchmarks/bench.py [--size N] [--only STEPS]``, STEPS a comma-separated subset of
seed,pull,rules,plain,match,dedupe,febrl,run (``febrl``: the public FEBRL sets, ``febrl_bench.py``).
``--size`` (default ``BENCH_SIZE`` or 1,000,000) is the contacts per CRM. The data is seeded once for the
frame-level figures (rules, matching, deduplication: the generator's records mapped by crm_ops' own field
maps, with its ground truth) and the sandbox is served once for the seeding, pull and ``crm-ops run``
figures. Each measurement runs in its own child process (its peak RSS its own); the peers (splink,
Great Expectations, Soda Core, pandera, pandas) come from the bench extra (``pip install -e '.[bench]'``)
and are listed as skipped when missing. Each row: the figure, its target, ours, the peer, the ratio
(the peer's time over ours: above 1 we are faster) and the accuracy measured beside the time.

Heavy (1M) runs take the shared machine's lock: ``flock /work/.bench.lock make bench`` where several
people share it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from served import peak_rss_mb, print_machine, served  # noqa: E402

# The targets (issue 30), each in seconds at 1,000,000 contacts per CRM: at another --size the time
# targets are shown but not judged (fixed costs do not scale); the per-page and ratio targets are.
TARGET_SECONDS_1M = {"seed": 20.0, "rules": 6.0, "match": 12.0, "run": 30.0}
HUBSPOT_MS_PER_PAGE = 3.3  # our CPU per 100-row HubSpot page (6.6 ms before issue 13, 4.0 at issue 30)
DEDUPE_TIMES_SPLINK = 5.0
STEPS = ("seed", "pull", "rules", "plain", "match", "dedupe", "febrl", "run")

Row = dict[str, str]


def row(figure: str, target: str, ours: str, peer: str = "", ratio: str = "", accuracy: str = "") -> Row:
    """One line of the table."""
    return {
        "figure": figure,
        "target": target,
        "ours": ours,
        "peer": peer,
        "ratio": ratio,
        "accuracy": accuracy,
    }


def _ok(met: bool) -> str:
    return " (met)" if met else " (NOT met)"


def limit(step: str, size: int, seconds: float) -> tuple[str, str]:
    """The time target of ``step`` as the table says it, and the verdict on ``seconds`` beside it: the
    targets hold at 1M contacts per CRM, where fixed costs are small; at another size no verdict."""
    at_1m = TARGET_SECONDS_1M[step]
    if size == 1_000_000:
        return f"< {at_1m:g} s", _ok(seconds < at_1m)
    return f"< {at_1m:g} s at 1M", " (target is at 1M)"


def seed_and_pull(size: int, out: list[Row]) -> None:
    """Seeding the sandbox (``crm-ops sandbox serve``) and a full pull of each CRM's contacts."""
    import subprocess

    from pull_bench import PULLS

    with (
        tempfile.TemporaryDirectory(prefix="crm-ops-bench-") as tmp,
        served(size, Path(tmp)) as (server, seconds),
    ):
        target, judged = limit("seed", size, seconds)
        out.append(
            row(
                f"seed sandbox, {size:,} contacts per CRM",
                target,
                f"{seconds:.1f} s{judged}, server {peak_rss_mb(server.pid):.0f} MB",
            )
        )
        print(json.dumps(out[-1]), flush=True)
        if "pull" not in ONLY:
            return
        from crm_ops.sandbox.server import read_env_file

        env = {**os.environ, **read_env_file(Path(tmp) / "env")}
        for system, entity in PULLS:
            done = subprocess.run(
                    [sys.executable, str(HERE / "pull_bench.py"), "--child", str(Path(tmp) / "crm-ops.toml"),
                     system, entity],
                    check=True, capture_output=True, text=True, env=env,
                )  # fmt: skip
            f = json.loads(done.stdout.strip().splitlines()[-1])
            pages = f["rows"] / 100
            ms = 1000 * f["cpu_seconds"] / pages
            if system == "hubspot":
                target = f"< {HUBSPOT_MS_PER_PAGE} ms"
                ours = f"{ms:.2f} ms/page{_ok(ms < HUBSPOT_MS_PER_PAGE)}"
            else:
                target, ours = "(no target)", f"{ms:.2f} ms/100 rows"
            out.append(
                row(
                    f"{system} full pull of {entity}: our CPU per 100 rows",
                    target,
                    ours,
                    accuracy=f"{f['rows']:,} rows, {f['api_calls']} calls, {f['seconds']:.1f} s wall, "
                    f"{f['peak_rss_mb']:.0f} MB",
                )
            )
            print(json.dumps(out[-1]), flush=True)


def frames_figures(size: int, out: list[Row]) -> None:
    """Rule library, plain checks, matching and deduplication over one seeded data set."""
    from rules_bench import bench_plain, canonical_frames, library_on

    with tempfile.TemporaryDirectory(prefix="crm-ops-bench-frames-") as tmp:
        folder = Path(tmp)
        counts = canonical_frames(size, folder) if ONLY & {"rules", "match", "dedupe"} else {}
        if "rules" in ONLY:
            r = library_on(folder, counts, size)
            beyond = (r["peak_rss_mb"] - r["rss_after_load_mb"]) / 1024
            target, judged = limit("rules", size, r["seconds"])
            out.append(
                row(
                    f"whole rule library, {r['rows']:,} rows ({r['contacts']:,} contacts)",
                    f"{target}, < 2 GB beyond frames",
                    f"{r['seconds']:.1f} s{judged} (CPU {r['cpu_seconds']:.1f} s), "
                    f"+{beyond:.1f} GB{_ok(beyond < 2)}",
                    accuracy=f"{r['findings']:,} findings, {r['errors']} rule errors",
                )
            )
            print(json.dumps(out[-1]), flush=True)
        if "match" in ONLY:
            from match_bench import match_on

            m = match_on(folder, size)
            beyond = (m["all_peak_rss_mb"] - m["loaded_rss_mb"]) / 1024
            target, judged = limit("match", size, m["all_seconds"])
            out.append(
                row(
                    "whole matching (duplicates both CRMs, leads, links, drift)",
                    f"{target}, < 3 GB beyond frames",
                    f"{m['all_seconds']:.1f} s{judged} "
                    f"(CPU {m['all_cpu_seconds']:.1f} s), "
                    f"+{beyond:.1f} GB{_ok(beyond < 3)}",
                    accuracy=f"duplicates P {m['duplicates_precision']:.4f}"
                    f"{_ok(m['duplicates_precision'] >= 0.99)} R {m['duplicates_recall']:.4f}; "
                    f"links P {m['links_precision']:.4f} "
                    f"R {m['links_recall']:.4f}",
                )
            )
            print(json.dumps(out[-1]), flush=True)
        if "dedupe" in ONLY:
            from dedupe_peers import measure

            results = {r["engine"]: r for r in measure(folder, ["crm_ops", "splink"])}
            ours, peer = results["crm_ops"], results.get("splink", {})
            if "error" in ours:
                out.append(row("dedupe Salesforce contacts", ">= 5x splink", f"failed: {ours['error']}"))
            elif not peer or "error" in peer:
                why = peer.get("error", "not run") if peer else "not run"
                out.append(
                    row(
                        f"dedupe {ours['contacts']:,} Salesforce contacts",
                        ">= 5x splink, F1 >= splink's",
                        f"{ours['seconds']:.1f} s",
                        f"splink: {why}",
                        accuracy=f"F1 {ours['f1']:.4f}",
                    )
                )
            else:
                ratio = peer["seconds"] / ours["seconds"]
                out.append(
                    row(
                        f"dedupe {ours['contacts']:,} Salesforce contacts",
                        ">= 5x splink, F1 >= splink's",
                        f"{ours['seconds']:.1f} s (CPU {ours['cpu_seconds']:.1f}), "
                        f"{ours['peak_rss_mb']:.0f} MB",
                        f"splink 5 (duckdb) {peer['seconds']:.1f} s (CPU {peer['cpu_seconds']:.1f}), "
                        f"{peer['peak_rss_mb']:.0f} MB",
                        f"x{ratio:.1f}{_ok(ratio >= DEDUPE_TIMES_SPLINK)}",
                        f"F1 {ours['f1']:.4f} vs {peer['f1']:.4f}{_ok(ours['f1'] >= peer['f1'])} "
                        f"(P {ours['precision']:.4f}/{peer['precision']:.4f}, "
                        f"R {ours['recall']:.4f}/{peer['recall']:.4f})",
                    )
                )
            print(json.dumps(out[-1]), flush=True)
    if "plain" in ONLY:
        plain = {p["engine"]: p for p in bench_plain(size)}
        ours = plain["crm_ops engine"]
        for name, p in plain.items():
            if name == "crm_ops engine":
                continue
            ratio = p["median_seconds"] / ours["median_seconds"]
            target = "ours <= 1.2x its time" if name == "pandera-polars" else "(peer)"
            verdict = (
                _ok(ours["median_seconds"] <= 1.2 * p["median_seconds"]) if name == "pandera-polars" else ""
            )
            out.append(
                row(
                    f"plain column checks, {size:,} rows",
                    target,
                    f"{ours['median_seconds']:.2f} s",
                    f"{name} {p['median_seconds']:.2f} s",
                    f"x{ratio:.2f}{verdict}",
                    f"ours {ours['failures']:,} failing rows; {name} {p['failures']:,} "
                    + (
                        "failed checks"
                        if name in ("great_expectations", "soda-core (duckdb)")
                        else "failing rows"
                    ),
                )
            )
        print(json.dumps(out[-2:]), flush=True)


def febrl_figures(out: list[Row]) -> None:
    """The public FEBRL sets 1-4: crm_ops beside splink and recordlinkage, same blocking keys
    (``febrl_bench.py``), one row per set."""
    from febrl_bench import ENGINES, measure
    from tests.febrl import SETS

    results = measure(list(SETS), list(ENGINES))
    for name in SETS:
        by_engine = {r["engine"]: r for r in results if r["set"] == name}
        ours = by_engine["crm_ops"]
        peers = [r for engine, r in by_engine.items() if engine != "crm_ops" and "error" not in r]
        failed = [f"{engine}: {r['error']}" for engine, r in by_engine.items() if "error" in r]
        figure = f"{name.upper()} ({'link 4a to 4b' if name == 'febrl4' else 'deduplicate'})"
        # the rule set is chosen on FEBRL3 (issue 28): the F1 target is held on the other three
        tuned = name == "febrl3"
        target = "fastest (rules chosen here)" if tuned else "F1 >= the best peer's, fastest"
        if "error" in ours:
            out.append(row(figure, target, f"failed: {ours['error']}"))
            continue
        best = max((r["f1"] for r in peers), default=float("nan"))
        fastest = min((r["seconds"] for r in peers), default=float("nan"))
        out.append(
            row(
                figure,
                target,
                f"{ours['seconds']:.2f} s (CPU {ours['cpu_seconds']:.2f}), {ours['peak_rss_mb']:.0f} MB",
                "; ".join(
                    [
                        *(
                            f"{r['engine']} {r['seconds']:.2f} s (CPU {r['cpu_seconds']:.2f}), "
                            f"{r['peak_rss_mb']:.0f} MB"
                            for r in peers
                        ),
                        *failed,
                    ]
                ),
                f"x{fastest / ours['seconds']:.1f}{_ok(ours['seconds'] <= fastest)}",
                f"F1 {ours['f1']:.4f}{'' if tuned else _ok(round(ours['f1'], 4) >= round(best, 4))} "
                f"(P {ours['precision']:.4f} R {ours['recall']:.4f}); "
                + "; ".join(
                    f"{r['engine']} {r['f1']:.4f} (P {r['precision']:.4f} R {r['recall']:.4f})" for r in peers
                ),
            )
        )
        print(json.dumps(out[-1]), flush=True)


def run_figures(size: int, out: list[Row]) -> None:
    """``crm-ops run`` after a 1% change."""
    from run_bench import bench

    r = bench(size, 0.01)
    full, incr = r["full"], r["incremental"]
    stages = ", ".join(f"{k} {v:.1f}" for k, v in sorted(incr["stages"].items(), key=lambda kv: -kv[1]))
    target, judged = limit("run", size, incr["seconds"])
    out.append(
        row(
            f"crm-ops run, {size:,} per CRM, after 1% changed",
            target,
            f"{incr['seconds']:.1f} s{judged} (CPU {incr['cpu_seconds']:.1f} s), "
            f"peak {incr['peak_rss_mb']:.0f} MB",
            f"(first, full run: {full['seconds']:.1f} s, {full['peak_rss_mb']:.0f} MB)",
            accuracy=f"seconds by stage: {stages or 'pyinstrument not installed'}",
        )
    )
    print(json.dumps(out[-1]), flush=True)


def table(rows: list[Row]) -> str:
    """The rows as a fixed-width table (long cells wrap onto their own lines)."""
    cols = ("figure", "target", "ours", "peer", "ratio", "accuracy")
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    widths["accuracy"] = min(widths["accuracy"], 80)
    lines = ["  ".join(c.ljust(widths[c]) for c in cols), "  ".join("-" * widths[c] for c in cols)]
    for r in rows:
        lines.append("  ".join(r[c][: widths[c]].ljust(widths[c]) for c in cols).rstrip())
        rest = r["accuracy"][widths["accuracy"] :]
        pad = sum(widths[c] + 2 for c in cols[:-1])
        while rest:
            lines.append(" " * pad + rest[: widths["accuracy"]])
            rest = rest[widths["accuracy"] :]
    return "\n".join(lines)


def verdict(rows: list[Row]) -> str:
    """One line: how many targets the table shows met, and which are not."""
    cells = [(r["figure"], r[c]) for r in rows for c in ("ours", "ratio", "accuracy")]
    missed = sorted({figure for figure, cell in cells if "(NOT met)" in cell})
    met = sum(cell.count("(met)") for _, cell in cells)
    unjudged = sum(cell.count("(target is at 1M)") for _, cell in cells)
    aside = f" ({unjudged} time target(s) not judged: they are set at 1M)" if unjudged else ""
    if not missed:
        return f"targets: {met} met, none missed{aside}"
    return f"targets: {met} met; NOT met in {len(missed)} figure(s){aside}: " + "; ".join(missed)


ONLY: set[str] = set(STEPS)


def main() -> None:
    """Parse arguments, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=int(os.environ.get("BENCH_SIZE", "1000000")))
    parser.add_argument("--only", default=",".join(STEPS), help="comma-separated: " + ",".join(STEPS))
    args = parser.parse_args()
    ONLY.clear()
    ONLY.update(s.strip() for s in args.only.split(",") if s.strip())
    unknown = ONLY - set(STEPS)
    if unknown:
        parser.error(f"unknown step(s): {', '.join(sorted(unknown))}")
    print_machine()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    rows: list[Row] = []
    if ONLY & {"seed", "pull"}:
        seed_and_pull(args.size, rows)
    if ONLY & {"rules", "plain", "match", "dedupe"}:
        frames_figures(args.size, rows)
    if "febrl" in ONLY:
        febrl_figures(rows)
    if "run" in ONLY:
        run_figures(args.size, rows)
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(table(rows))
    print(verdict(rows))
    if os.environ.get("BENCH_OUT"):  # the rows as JSON too, for a note or a comparison
        Path(os.environ["BENCH_OUT"]).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
