"""Duplicates against the ground truth, in every object either CRM can merge.

Run: ``.venv/bin/python benchmarks/dedupe_truth.py [--sizes 2000 20000] [--seed 1]``. The generator
seeds both CRMs (duplicates in Salesforce contacts, leads, accounts and cases, leads that duplicate
contacts, HubSpot contacts, companies, tickets and deals, each copy differing as people's copies do);
the records are mapped to the canonical schema by the shipped field maps and the shipped "cases" object
map (Salesforce Case and HubSpot tickets as the entity Case); the whole matching runs, with the default
rule set for opportunities opted into (``[match.Opportunity]``); its duplicate pairs are scored against
the manifest's, per CRM and entity: pairs seeded, found, precision and recall, and the look-alike pairs
seeded (``alike``: records that look like one another and are distinct, the manifest's ``lookalikes``)
and how many were merged (``merged``). Rows of system ``cross`` score the Salesforce-HubSpot links per
Salesforce object the same way (a link from a copy to the other CRM's record of its person counts as
right; recall counts the seeded pairs). Salesforce has no merge for opportunities and none are seeded
there: what its row finds is flagged for a person, not merged.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Parse arguments, seed and match each size, print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[2_000, 20_000], help="contacts per CRM")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.match_eval import CASES, DEALS, canonical_frames, dedupe_scores, link_scores_by_object

    from crm_ops.logs import configure
    from crm_ops.match import run_matching
    from crm_ops.match.config import OPT_IN
    from crm_ops.sandbox.generator import SeedConfig, generate

    configure(level="warning", json=True)
    head = f"{'records':>9}  {'system':<10} {'entity':<13} {'seeded':>7} {'found':>7}"
    print(f"{head} {'precision':>9} {'recall':>7} {'alike':>6} {'merged':>6}")
    for size in args.sizes:
        data = generate(SeedConfig(records=size, seed=args.seed))
        started = time.perf_counter()
        frames = canonical_frames(data, ["cases"])
        result = run_matching(frames, configs={"Opportunity": OPT_IN["Opportunity"], "Case": OPT_IN["Case"]})
        seconds = time.perf_counter() - started
        truth = data.manifest
        scores = dedupe_scores(truth.duplicates, result, {**CASES, **DEALS}, truth.lookalikes)
        links = link_scores_by_object(truth.matches, result, truth.lookalikes, truth.duplicates)
        for s in scores + links:
            print(
                f"{size:>9,}  {s.system:<10} {s.entity:<13} {s.seeded:>7,} {s.found:>7,} "
                f"{s.precision:>9.4f} {s.recall:>7.4f} {s.lookalikes:>6,} {s.merged:>6,}"
            )
        print(f"{size:>9,}  matching took {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
