"""One root exception, grouped by what the caller should do about it.

- ``ConfigError``: the user's configuration or input is wrong; fix it and run again. Lists every
  problem found at once, each naming its file, line or key.
- ``ApiError``: a CRM answered with an error. ``RetriableApiError`` (429, 5xx, timeouts, dropped
  connections) is retried by ``crm_ops.retry``; ``FatalApiError`` (other 4xx) is not;
  ``SessionExpiredError`` is the fatal one of a given session id that expired; ``NotApiAnswerError``
  is a page (a proxy's sign-in) answering in the API's place.
- ``BudgetExhaustedError``: a pull stopped on purpose before spending more of the CRM's API allowance than
  configured; the next run resumes where this one stopped.
- ``PartialPullError``: some (system, entity) pulls failed while the others were pulled; it carries both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class CrmOpsError(Exception):
    """The root of every error crm_ops raises on purpose."""


class ConfigError(CrmOpsError):
    """The configuration (or another user-provided file) is invalid; ``problems`` lists every issue."""

    def __init__(self, problems: Sequence[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(
            "; ".join(self.problems)
            if len(self.problems) == 1
            else "configuration problems:\n" + "\n".join(f"- {p}" for p in self.problems)
        )


class ApiError(CrmOpsError):
    """A CRM API call failed. ``status`` is the HTTP status (0 when no answer came)."""

    def __init__(self, system: str, message: str, *, status: int = 0, code: str | None = None) -> None:
        self.system = system
        self.status = status
        self.code = code
        super().__init__(f"{system}: {message}")


class RetriableApiError(ApiError):
    """A failure worth retrying: throttling, a server error, a timeout or a dropped connection.

    ``retry_after`` is the delay the server asked for, in seconds, when it said one.
    """

    def __init__(
        self,
        system: str,
        message: str,
        *,
        status: int = 0,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(system, message, status=status, code=code)
        self.retry_after = retry_after


NO_ANSWER = "NO_ANSWER"  # the code of a RetriableApiError for a request that got no answer at all


def unanswered(error: BaseException | None) -> bool:
    """Whether ``error`` is a call that got no answer (a timeout, a dropped connection): the CRM may or
    may not have done what was asked, so a write is looked up before it is sent again."""
    return isinstance(error, RetriableApiError) and error.code == NO_ANSWER


UNREACHABLE = "UNREACHABLE"  # the code of an UnreachableError


class UnreachableError(RetriableApiError):
    """The CRM's host could not be reached at all (refused, a name that does not resolve, no connection in
    time): nothing was sent. Retried only for the profile's ``unreachable_after`` seconds; a pull then
    skips the host's other entities instead of trying each."""

    def __init__(self, system: str, host: str, reason: str, after: float) -> None:
        super().__init__(
            system,
            f"cannot reach {host}: {reason} (gave up after trying for {after:g} s, unreachable_after); "
            "check the URL in the profile, DNS, the network and HTTPS_PROXY / NO_PROXY",
            code=UNREACHABLE,
        )
        self.host = host


class FatalApiError(ApiError):
    """A failure that retrying will not fix (bad request, bad credentials, missing resource)."""


class NotApiAnswerError(ApiError):
    """Something other than the CRM's API answered: a proxy's or single sign-on page in place of JSON.
    Not a refusal of the records asked about (no record-by-record fallback catches it) and not retried:
    the operation stops (exit 3); what was done is kept and the next run resumes."""


class SessionExpiredError(FatalApiError):
    """A given session id (``auth = "session"``) expired mid-run: crm-ops cannot sign in again by itself.
    What was pulled is kept; the next run, with a fresh session id or a flow crm-ops can repeat,
    resumes."""


class BudgetExhaustedError(CrmOpsError):
    """A pull stopped before spending more than the configured share of the CRM's daily API limit."""


@dataclass(frozen=True)
class PullFailure:
    """One (system, entity) that could not be pulled, and why (``entity`` None: the whole system)."""

    system: str
    entity: str | None
    error: CrmOpsError

    def __str__(self) -> str:
        return f"{self.system} {self.entity or '(every entity)'}: {self.error}"


class PartialPullError(CrmOpsError):
    """Some entities were pulled and some failed; ``results`` are the pulls that finished."""

    def __init__(self, results: Sequence[Any], failures: Sequence[PullFailure]) -> None:
        self.results = list(results)
        self.failures = list(failures)
        pulled = len(self.results)
        super().__init__(
            f"{len(self.failures)} pull(s) failed, {pulled} done:\n"
            + "\n".join(f"- {f}" for f in self.failures)
        )
