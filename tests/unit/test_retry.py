"""The retry policy: what is retried, how long it waits, when it gives up. Sleeps are recorded, not slept."""

from __future__ import annotations

import pytest

from crm_ops import logs
from crm_ops.errors import ConfigError, FatalApiError, RetriableApiError
from crm_ops.retry import RetryPolicy, retrying


def _run(policy: RetryPolicy, outcomes: list[Exception | str]) -> tuple[str, list[float], int]:
    sleeps: list[float] = []
    calls = 0

    def call() -> str:
        nonlocal calls
        outcome = outcomes[calls]
        calls += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    for attempt in retrying(policy, sleep=sleeps.append):
        with attempt:
            result = call()
    return result, sleeps, calls


def test_retriable_errors_are_retried_with_bounded_backoff() -> None:
    boom = RetriableApiError("hubspot", "503", status=503)
    result, sleeps, calls = _run(RetryPolicy(attempts=5, initial_wait=0.5, max_wait=4), [boom, boom, "ok"])
    assert result == "ok"
    assert calls == 3
    assert len(sleeps) == 2
    assert all(0 <= s <= 4 for s in sleeps)


def test_retry_after_is_honoured() -> None:
    limited = RetriableApiError("salesforce", "429", status=429, retry_after=7.0)
    _, sleeps, _ = _run(RetryPolicy(attempts=3, max_wait=30), [limited, "ok"])
    assert sleeps == [7.0]


def test_gives_up_after_the_attempts_and_reraises() -> None:
    boom = RetriableApiError("hubspot", "dropped")
    with pytest.raises(RetriableApiError):
        _run(RetryPolicy(attempts=3), [boom, boom, boom, "never"])


def test_fatal_errors_are_not_retried() -> None:
    with pytest.raises(FatalApiError):
        _run(RetryPolicy(attempts=5), [FatalApiError("salesforce", "MALFORMED_QUERY", status=400), "never"])


def test_config_error_lists_every_problem() -> None:
    error = ConfigError(["crm-ops.toml:3: unknown key 'tokn'", "crm-ops.toml:7: profile 'prod' has no url"])
    assert "unknown key 'tokn'" in str(error)
    assert "has no url" in str(error)
    assert len(error.problems) == 2


def test_a_burst_of_retries_is_one_summary_line() -> None:
    from structlog.testing import capture_logs

    boom = RetriableApiError("hubspot", "503", status=503)
    limited = RetriableApiError("hubspot", "429", status=429, retry_after=1.0)
    logs.configure(level="debug")  # the per-retry lines are debug ones
    with capture_logs() as logged:
        result, _, calls = _run(RetryPolicy(attempts=5), [boom, limited, boom, "ok"])
    assert (result, calls) == ("ok", 4)
    summaries = [e for e in logged if e["event"] == "api.retried"]
    assert len(summaries) == 1
    assert summaries[0]["outcome"] == "succeeded"
    assert summaries[0]["failures"] == {"503": 2, "429": 1}
    assert summaries[0]["attempts"] == 4 and summaries[0]["system"] == "hubspot"
    assert summaries[0]["log_level"] == "info"
    assert [e["log_level"] for e in logged if e["event"] == "api.retry"] == ["debug"] * 3


def test_a_burst_that_gives_up_is_one_warning() -> None:
    from structlog.testing import capture_logs

    boom = RetriableApiError("salesforce", "dropped")
    with capture_logs() as logged, pytest.raises(RetriableApiError):
        _run(RetryPolicy(attempts=3), [boom, boom, boom])
    summaries = [e for e in logged if e["event"] == "api.retried"]
    assert len(summaries) == 1
    assert summaries[0]["log_level"] == "warning" and summaries[0]["outcome"] == "gave up"
    assert summaries[0]["failures"] == {"no answer": 3}


def test_a_call_that_returns_inside_the_attempt_is_summarised() -> None:
    """Connectors ``return`` from inside ``with attempt:``: the burst is summarised all the same."""
    from structlog.testing import capture_logs

    from crm_ops.retry import call_with_retry

    outcomes: list[Exception | str] = [RetriableApiError("hubspot", "503", status=503), "ok"]

    def call() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with capture_logs() as logged:
        assert call_with_retry(RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.001), call) == "ok"
    assert [e["outcome"] for e in logged if e["event"] == "api.retried"] == ["succeeded"]


def test_a_call_that_never_failed_logs_nothing() -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logged:
        _run(RetryPolicy(attempts=3), ["ok"])
    assert logged == []
