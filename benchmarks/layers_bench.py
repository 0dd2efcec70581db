"""Incremental pulls of an activity-sized table (issue 30): what one costs after a small change.

Run: ``.venv/bin/python benchmarks/layers_bench.py [--rows 1000000] [--changed 0.01] [--pulls 3]``.

In a child process (one at a time), a ``Puller`` pulls ``--rows`` tasks in full from
``activities_bench.TaskPages`` (pages made as Salesforce's Bulk pages would be: the figures are
crm_ops's own, not a CRM's), then ``--pulls`` incremental pulls each bringing ``--changed`` of the rows
again (changed, one in ten deleted). For each pull: wall and CPU seconds (``time.process_time``: every
thread of the process), of which the statistics (``entitystats.snapshot_stats``), the peak resident set
above the interpreter, and the layers the snapshot then has. Run it against another tree with
``PYTHONPATH=<tree>/src`` to compare (it reads only what every version has).
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

from activities_bench import TaskPages, current_rss_mb, reset_peak
from served import peak_rss_mb, print_machine


def child(rows: int, changed: float, pulls: int) -> None:
    """The pulls in this process; their figures as JSON."""
    from crm_ops import entitystats, pull
    from crm_ops.config import Profile
    from crm_ops.logs import configure
    from crm_ops.schema.maploading import load_object_map
    from crm_ops.schema.objectmaps import shipped_object_map

    configure(level="warning", json=True)
    maps = shipped_object_map("activities")
    for path in maps:
        load_object_map(path)
    spent = {"stats_cpu": 0.0}
    measure = entitystats.snapshot_stats

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return measure(*args, **kwargs)
        finally:
            spent["stats_cpu"] += time.process_time() - started

    setattr(pull, "snapshot_stats", timed)  # the pull's own name for it  # noqa: B010
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        profile = Profile(name="bench", state_dir=Path(tmp), object_maps=maps)
        puller = pull.Puller(profile, connectors={"salesforce": TaskPages(rows, 50_000, changed)})  # type: ignore[dict-item]
        base_rss = current_rss_mb()
        for _ in range(pulls + 1):
            reset_peak()
            spent["stats_cpu"] = 0.0
            cpu, wall = time.process_time(), time.perf_counter()
            result = puller.pull("salesforce", "Task")
            current = puller.state.current("salesforce", "Task")
            out.append(
                {
                    "mode": result.mode,
                    "changed": result.changed,
                    "total": result.total,
                    "wall_s": round(time.perf_counter() - wall, 2),
                    "cpu_s": round(time.process_time() - cpu, 2),
                    "stats_cpu_s": round(spent["stats_cpu"], 2),
                    "peak_mb_above": round(peak_rss_mb() - base_rss),
                    "layers": len(getattr(getattr(current, "snapshot", None), "layers", ())),
                }
            )
        puller.close()
    print(json.dumps(out))


def main() -> None:
    """Parse the arguments and run the child."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--pulls", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.rows, args.changed, args.pulls)
        return
    print_machine()
    argv = [sys.executable, __file__, "--child", "--rows", str(args.rows), "--changed", str(args.changed)]
    done = subprocess.run([*argv, "--pulls", str(args.pulls)], capture_output=True, text=True, check=True)
    for step in json.loads(done.stdout.strip().splitlines()[-1]):
        print(json.dumps(step))


if __name__ == "__main__":
    main()
