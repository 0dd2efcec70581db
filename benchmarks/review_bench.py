"""The review app at 50,000 actions (issue 29: "opens and filters in under a second per page"): a
synthetic plan of updates and merges over many rules and entities is written, served by the app on
127.0.0.1, and each page asked for over HTTP as the browser would (signed in, then the first page, a
rule's page, a deep page, a search, a decision saved and the page shown again). Wall and this process's
CPU seconds per request, medians of REPEAT runs; the machine is shared, so the CPU figures and the
ratios are what to compare.

    PYTHONPATH=src python benchmarks/review_bench.py [ACTIONS]
"""

from __future__ import annotations

import http.client
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from crm_ops.plan import write_plan
from crm_ops.plan.format import Action, Header, Plan
from crm_ops.plan.reviewstate import ReviewState
from crm_ops.reviewapp import ReviewServer
from crm_ops.reviewapp.web import Review

REPEAT = 5
RULES = [f"person.rule_{i}" for i in range(40)]
ENTITIES = ("Contact", "Lead", "Account", "Opportunity")


def synthetic_plan(size: int) -> Plan:
    """``size`` actions: nine updates in ten (whitespace and case fixes), one merge in ten."""
    actions = []
    for i in range(size):
        entity = ENTITIES[i % len(ENTITIES)]
        if i % 10 == 9:
            stamp = "2026-01-01T00:00:00Z"
            action = Action("merge", "salesforce", entity, f"003M{i:07d}", "merge_into", stamp,
                            f"003S{i // 20:07d}", "match.duplicate", "info", 0.9, "same", label=f"Person {i}",
                            approved=False)  # fmt: skip
        else:
            system = "hubspot" if i % 3 else "salesforce"
            action = Action("update", system, entity, f"003U{i:07d}", "email",
                            f" Person.{i}@Example.com ", f"person.{i}@example.com", RULES[i % len(RULES)],
                            "warning", 0.97, "trim and lower", label=f"Person {i} <person.{i}@example.com>",
                            approved=i % 2 == 0)  # fmt: skip
        actions.append(action.with_id())
    return Plan(Header("20261207T000000-bench0", "2026-12-07T00:00:00Z", "bench", version=3), tuple(actions))


def main(size: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        plan = synthetic_plan(size)
        write_plan(plan, Path(folder))
        started, cpu = time.perf_counter(), time.process_time()
        review = Review(plan, ReviewState(Path(folder), plan), dict, lambda *_: [], "bench")
        review.frame()  # as crm-ops review does before it prints the address (reviewapp.serve)
        print(
            f"{size:,} actions; starting (plan.csv read and checked, the actions frame built): "
            f"{time.perf_counter() - started:.2f} s wall, {time.process_time() - cpu:.2f} s CPU"
        )
        with ReviewServer(review) as server:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)

            def ask(
                method: str, path: str, body: str | None = None, **headers: str
            ) -> tuple[int, str, float, float]:
                wall, cpu = time.perf_counter(), time.process_time()
                connection.request(method, path, body=body, headers=headers)
                answer = connection.getresponse()
                text = answer.read().decode()
                return answer.status, text, time.perf_counter() - wall, time.process_time() - cpu

            status, _, _, _ = ask("GET", f"/?token={review.token}")
            cookie = f"{review.secrets.cookie}={review.session}"  # each run's cookie has a name of its own
            status, first, wall, cpu = ask("GET", "/", Cookie=cookie)
            assert status == 200
            print(f"the address opened, first page: {wall:.2f} s wall, {cpu:.2f} s CPU")
            etag = re.search(r'data-etag="([^"]+)"', first)
            assert etag
            cases = {
                "first page": "/",
                "a rule's page": f"/?rule={RULES[7]}",
                "a rule and state": f"/?rule={RULES[7]}&state=approved+by+default",
                "page 500": "/?page=500",
                "search": "/?q=person.4242",
            }
            for name, path in cases.items():
                runs = [ask("GET", path, Cookie=cookie) for _ in range(REPEAT)]
                assert all(r[0] == 200 for r in runs)
                print(f"{name:>18}: median {statistics.median(r[2] for r in runs):.3f} s wall, "
                      f"{statistics.median(r[3] for r in runs):.3f} s CPU")  # fmt: skip
            saves = []
            for i in range(REPEAT):
                action = plan.actions[i * 7].action_id
                body = f'{{"ids": ["{action}"], "answer": "no", "etag": "{etag.group(1)}"}}'
                status, text, wall, cpu = ask("POST", "/api/decide", body, Cookie=cookie, **{
                    "X-CSRF-Token": review.csrf, "Content-Type": "application/json"})  # fmt: skip
                assert status == 200, text
                etag = re.search(r'"etag":"([^"]+)"', text)
                assert etag
                again = ask("GET", "/", Cookie=cookie)
                saves.append((wall + again[2], cpu + again[3]))
            print(f"{'decide + reload':>18}: median {statistics.median(s[0] for s in saves):.3f} s wall, "
                  f"{statistics.median(s[1] for s in saves):.3f} s CPU")  # fmt: skip
            connection.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
