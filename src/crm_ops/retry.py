"""The retry policy, in one place: which failures are retried, how long to wait, how often to try.

Retried: 429 (honouring ``Retry-After`` when the server sends one, else HubSpot's 10-second window),
5xx, timeouts and dropped connections. Not retried: every other 4xx. Backoff is exponential with
jitter and bounded in attempts; every retry is logged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import structlog
import tenacity

from crm_ops.errors import RetriableApiError

log = structlog.get_logger("crm_ops.retry")
P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts in all, the first and the longest wait between them (seconds)."""

    attempts: int = 8
    initial_wait: float = 0.5
    max_wait: float = 30.0

    def wait_for(self, attempt: int, error: BaseException | None) -> float:
        """The delay before the next attempt: the server's own ``Retry-After`` when given, else backoff."""
        if isinstance(error, RetriableApiError) and error.retry_after is not None:
            return min(error.retry_after, self.max_wait)
        return 0.0


def _log_retry(state: tenacity.RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning(
        "api.retry",
        attempt=state.attempt_number,
        wait_seconds=round(state.next_action.sleep if state.next_action else 0.0, 3),
        error=type(error).__name__ if error else None,
        status=getattr(error, "status", None),
        system=getattr(error, "system", None),
    )


def retrying(policy: RetryPolicy, *, sleep: Callable[[float], None] | None = None) -> tenacity.Retrying:
    """A tenacity controller applying ``policy`` to ``RetriableApiError``; others pass straight through."""
    backoff = tenacity.wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = policy.wait_for(state.attempt_number, error)
        return asked if asked > 0 else float(backoff(state))

    kwargs = {} if sleep is None else {"sleep": sleep}
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(RetriableApiError),
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=wait,
        before_sleep=_log_retry,
        reraise=True,
        **kwargs,  # type: ignore[arg-type]
    )


class GaveUpError(Exception):
    """A call whose own retries are spent, carried through an outer retry loop that must not repeat it
    (an outer loop retries something else: records still locked, a search index catching up)."""

    def __init__(self, error: RetriableApiError) -> None:
        super().__init__(str(error))
        self.error = error


def call_with_retry(policy: RetryPolicy, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call ``fn`` under ``policy``; the last error is re-raised when the attempts run out."""
    for attempt in retrying(policy):
        with attempt:
            return fn(*args, **kwargs)
    raise AssertionError("unreachable: tenacity re-raises")  # pragma: no cover
