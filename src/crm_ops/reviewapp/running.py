"""Apply and undo started from the review app: one run at a time in a thread, its progress (each step's
count and total, as the command's bars show them) and its end (the outcome counts, the records the CRM
refused, the report file) or its refusal (the review file's contract, production without leave, another
apply of the plan running) kept for the page to show.

The run itself is given by the caller (``crm_ops.api.Workspace.review``: ``Workspace.apply`` with the
plan's plan.csv as the review file, or ``Workspace.undo``), so the app never goes round the API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from crm_ops.errors import ConfigError, CrmOpsError
from crm_ops.progress import Steps

log = structlog.get_logger()
KINDS = ("apply", "undo")
# (apply or undo, write or only a dry run, progress) -> what to show of the end: counts, lines, report
Run = Callable[[str, bool, Steps], dict[str, Any]]


@dataclass
class Job:
    """One run as the page shows it."""

    kind: str
    write: bool
    reviewer: str
    state: str = "running"  # running, done, refused, failed
    started: float = field(default_factory=time.time)
    steps: dict[str, list[int | None]] = field(default_factory=dict)  # label -> [n, total]
    result: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # the run's thread counts steps while the app's threads show them: both under this lock
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def step(self, label: str, n: int, total: int | None = None) -> None:
        """Count ``n`` more of step ``label`` (``total``: how many in all, when known)."""
        with self.lock:
            held = self.steps.setdefault(label, [0, total])
            held[0] = (held[0] or 0) + n
            if total is not None:
                held[1] = total

    def as_dict(self) -> dict[str, Any]:
        """The job as JSON for the page: a copy, taken under the lock (never the live steps)."""
        with self.lock:
            steps = {label: list(counts) for label, counts in self.steps.items()}
            return {"kind": self.kind, "write": self.write, "reviewer": self.reviewer, "state": self.state,
                    "seconds": round(time.time() - self.started, 1), "steps": steps,
                    "result": dict(self.result), "problems": list(self.problems)}  # fmt: skip


class Runner:
    """Starts ``run`` in a thread, one at a time, and keeps the last job."""

    def __init__(self, run: Run | None) -> None:
        self.run = run
        self.job: Job | None = None
        self._lock = threading.Lock()

    def start(self, kind: str, write: bool, reviewer: str) -> Job:
        """Start an apply or an undo (``ConfigError`` when one is running, or the app cannot run them)."""
        if self.run is None:
            raise ConfigError("this review app was started without apply and undo")
        if kind not in KINDS:
            raise ConfigError(f"{kind!r} is not apply or undo")
        with self._lock:
            if self.job is not None and self.job.state == "running":
                raise ConfigError(
                    f"an {self.job.kind} started by {self.job.reviewer} is running: wait for its end"
                )
            job = Job(kind, write, reviewer)
            self.job = job
        threading.Thread(target=self._work, args=(job,), daemon=True, name=f"review-{kind}").start()
        return job

    def _work(self, job: Job) -> None:
        assert self.run is not None
        log.info("review.run_started", kind=job.kind, write=job.write, reviewer=job.reviewer)
        result: dict[str, Any] = {}
        problems: list[str] = []
        try:
            result, state = self.run(job.kind, job.write, job.step), "done"
        except ConfigError as exc:
            problems, state = list(exc.problems), "refused"
        except CrmOpsError as exc:
            problems, state = [str(exc)], "failed"
        except Exception as exc:  # shown on the page, logged with its traceback
            log.exception("review.run_failed", kind=job.kind)
            problems, state = [f"{type(exc).__name__}: {exc}"], "failed"
        with job.lock:  # the end seen whole: never "done" without its result
            job.result, job.problems, job.state = result, problems, state
        log.info("review.run_ended", kind=job.kind, state=job.state)
