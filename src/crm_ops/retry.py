"""The retry policy, in one place: which failures are retried, how long to wait, how often to try.

Retried: 429 (honouring ``Retry-After`` when the server sends one, else HubSpot's 10-second window),
5xx, timeouts and dropped connections. Not retried: every other 4xx. Backoff is exponential with
jitter and bounded in attempts; a host that cannot be reached at all (``UnreachableError``: refused, a
name that does not resolve) is also bounded in time, ``unreachable_after`` seconds.

Logging: each retry is a debug line (``api.retry``, seen with ``--verbose``); a burst (one call's
retries) ends in one summary line, ``api.retried``, when the call finally succeeds (info) or gives up
(warning), with the attempts, the failures by status and the seconds waited. Under a flaky network
that is one line per troubled call, not one per retry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import structlog
import tenacity

from crm_ops.errors import RetriableApiError, UnreachableError, unanswered

log = structlog.get_logger("crm_ops.retry")
P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts in all, the first and the longest wait between them (seconds)."""

    attempts: int = 8
    initial_wait: float = 0.5
    max_wait: float = 30.0
    unreachable_after: float = 20.0  # seconds a host that cannot be reached at all is tried for

    def wait_for(self, attempt: int, error: BaseException | None) -> float:
        """The delay before the next attempt: the server's own ``Retry-After`` when given, else backoff."""
        if isinstance(error, RetriableApiError) and error.retry_after is not None:
            return min(error.retry_after, self.max_wait)
        return 0.0


def _failure(error: BaseException | None) -> str:
    """How a failed attempt is counted: its HTTP status, else "no answer" (a timeout, a dropped
    connection), else the error's kind."""
    status = getattr(error, "status", None)
    if status:
        return str(status)
    return "no answer" if status == 0 else type(error).__name__ if error else "unknown"


class _Summarising(tenacity.Retrying):
    """``tenacity.Retrying`` that logs one line per burst of retries, when the call is over."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(before_sleep=self._retried, **kwargs)
        self.failures: Counter[str] = Counter()
        self.waited = 0.0
        self.system: str | None = None

    def _retried(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        self.failures[_failure(error)] += 1
        self.waited += wait
        self.system = self.system or getattr(error, "system", None)
        log.debug(
            "api.retry",
            attempt=state.attempt_number,
            wait_seconds=round(wait, 3),
            error=type(error).__name__ if error else None,
            status=getattr(error, "status", None),
            system=getattr(error, "system", None),
        )

    def __iter__(self) -> Generator[tenacity.AttemptManager, None, None]:
        last: tenacity.RetryCallState | None = None
        try:
            for attempt in super().__iter__():
                last = attempt.retry_state
                yield attempt
        finally:  # the call returned (the generator is closed), succeeded, or gave up (it raised)
            if last is not None and self.failures:
                failed = last.outcome is None or last.outcome.failed
                if failed and last.outcome is not None:
                    self.failures[_failure(last.outcome.exception())] += 1
                (log.warning if failed else log.info)(
                    "api.retried",
                    system=self.system,
                    outcome="gave up" if failed else "succeeded",
                    attempts=last.attempt_number,
                    failures=dict(self.failures),
                    waited_seconds=round(self.waited, 1),
                )


class _StopUnreachable(tenacity.stop.stop_base):
    """A host that cannot be reached at all is tried for ``after`` seconds, not for every attempt."""

    def __init__(self, after: float) -> None:
        self.after = after

    def __call__(self, state: tenacity.RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        waited = (state.seconds_since_start or 0.0) + state.upcoming_sleep
        return isinstance(error, UnreachableError) and waited > self.after


def retrying(policy: RetryPolicy, *, sleep: Callable[[float], None] | None = None) -> tenacity.Retrying:
    """A tenacity controller applying ``policy`` to ``RetriableApiError``; others pass straight through."""
    backoff = tenacity.wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = policy.wait_for(state.attempt_number, error)
        return asked if asked > 0 else float(backoff(state))

    kwargs = {} if sleep is None else {"sleep": sleep}
    return _Summarising(
        retry=tenacity.retry_if_exception_type(RetriableApiError),
        stop=tenacity.stop_after_attempt(policy.attempts) | _StopUnreachable(policy.unreachable_after),
        wait=wait,
        reraise=True,
        **kwargs,
    )


class GaveUpError(Exception):
    """A call whose own retries are spent, carried through an outer retry loop that must not repeat it
    (an outer loop retries something else: records still locked, a search index catching up)."""

    def __init__(self, error: RetriableApiError) -> None:
        super().__init__(str(error))
        self.error = error


def settle(system: str, landed: Callable[[], T | None]) -> T | None:
    """After a write that got no answer, ``landed()``: what the CRM shows it did (None: it did not, and
    the write is sent again). Logged either way (``api.reply_lost``)."""
    found = landed()
    log.info("api.reply_lost", system=system, landed=found is not None)
    return found


def call_settled(
    policy: RetryPolicy,
    system: str,
    attempt: Callable[[], T],
    landed: Callable[[], T | None] | None,
    *,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """``attempt()`` under ``policy``. A write that is not safe to send twice gives ``landed``: after an
    attempt that got no answer (a reply lost after the CRM did it, or not), ``landed()`` looks it up
    before the write goes again, and its answer, when not None, is the call's; so after the last one."""
    lost = False
    try:
        for state in retrying(policy, sleep=sleep):
            with state:
                if lost and landed is not None:
                    found = settle(system, landed)
                    if found is not None:
                        return found
                try:
                    return attempt()
                except RetriableApiError as exc:
                    lost = unanswered(exc)
                    raise
    except RetriableApiError as exc:
        if landed is not None and unanswered(exc):  # the last attempt's reply was lost too
            found = settle(system, landed)
            if found is not None:
                return found
        raise
    raise AssertionError("unreachable: tenacity re-raises")  # pragma: no cover


def call_with_retry(policy: RetryPolicy, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call ``fn`` under ``policy``; the last error is re-raised when the attempts run out."""
    for attempt in retrying(policy):
        with attempt:
            return fn(*args, **kwargs)
    raise AssertionError("unreachable: tenacity re-raises")  # pragma: no cover
