"""A client-side rate limiter: at most ``calls`` in any ``per_seconds`` window (HubSpot's rolling window).

Staying under the window costs a little waiting; going over costs a 429 and a retry after the window
clears, which is slower and spends the portal's shared allowance. Thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """A sliding-window limiter. ``acquire()`` blocks until a call is allowed."""

    def __init__(
        self,
        calls: int,
        per_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if calls < 1 or per_seconds <= 0:
            raise ValueError(
                f"a rate limit needs calls >= 1 and a positive window, got {calls}/{per_seconds}s"
            )
        self.calls = calls
        self.per_seconds = per_seconds
        self._clock = clock
        self._sleep = sleep
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> None:
        """Take one call from the window, waiting for the oldest one to leave it if it is full."""
        while True:
            with self._lock:
                now = self._clock()
                while self._stamps and now - self._stamps[0] >= self.per_seconds:
                    self._stamps.popleft()
                if len(self._stamps) < self.calls:
                    self._stamps.append(now)
                    return
                delay = self.per_seconds - (now - self._stamps[0]) + 0.001
            self.waited += delay
            self._sleep(delay)
