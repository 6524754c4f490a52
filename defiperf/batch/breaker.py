"""CircuitBreaker: CLOSED -> OPEN on a failure rate, OPEN -> HALF_OPEN after a reset timeout,
HALF_OPEN -> CLOSED on a successful probe (or back to OPEN on a failed one).

Every transition happens in ``_transition``; ``allow()`` and ``record()`` are driven by the
injected timer, so tests step through the states with a FakeTimer.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable

from defiperf._validate import check_int


class BreakerState(enum.Enum):
    """A circuit breaker's state: CLOSED (calls pass), OPEN (calls wait), HALF_OPEN (one probe)."""
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens when at least ``failure_rate_threshold`` of the last ``window_calls`` calls failed
    (once ``min_calls`` are known); after ``reset_timeout_s`` it lets one probe call through.

    >>> b = CircuitBreaker(failure_rate_threshold=0.5, min_calls=2, timer=lambda: 0.0)
    >>> b.record(False); b.record(False); b.state
    <BreakerState.OPEN: 'open'>
    """

    def __init__(self, failure_rate_threshold: float = 0.5, min_calls: int = 10,
                 window_calls: int = 50, reset_timeout_s: float = 5.0,
                 timer: Callable[[], float] = time.monotonic,
                 on_transition: Callable[[BreakerState, BreakerState], object] | None = None) -> None:
        if not (isinstance(failure_rate_threshold, (int, float))
                and 0 < failure_rate_threshold <= 1):
            raise ValueError(f"failure_rate_threshold must be in (0, 1], got {failure_rate_threshold!r}")
        check_int("min_calls", min_calls)
        check_int("window_calls", window_calls)
        if not min_calls <= window_calls:
            raise ValueError("need ints 1 <= min_calls <= window_calls")
        if not (isinstance(reset_timeout_s, (int, float)) and reset_timeout_s >= 0):
            raise ValueError(f"reset_timeout_s must be >= 0, got {reset_timeout_s!r}")
        self.failure_rate_threshold = float(failure_rate_threshold)
        self.min_calls = min_calls
        self.reset_timeout_s = float(reset_timeout_s)
        self._timer = timer
        self._on_transition = on_transition
        self._calls: deque[bool] = deque(maxlen=window_calls)
        self._failures = 0
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probing = False
        self.transitions = 0

    @property
    def state(self) -> BreakerState:
        """The state now (OPEN turns HALF_OPEN by itself once the reset timeout has passed)."""
        if self._state is BreakerState.OPEN and self.seconds_until_probe() <= 0:
            self._transition(BreakerState.HALF_OPEN)
        return self._state

    @property
    def failure_rate(self) -> float:
        """The share of failed calls among the recent ones (0.0 when there were none)."""
        return self._failures / len(self._calls) if self._calls else 0.0

    def seconds_until_probe(self) -> float:
        """0 unless OPEN; then how long until a probe is let through."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.reset_timeout_s - self._timer())

    def allow(self) -> bool:
        """May a call go out now? In HALF_OPEN only one probe at a time is allowed."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def record(self, success: bool) -> None:
        """The outcome of a call that ``allow()`` let through."""
        if self._state is BreakerState.HALF_OPEN:
            self._probing = False
            self._transition(BreakerState.CLOSED if success else BreakerState.OPEN)
            return
        if len(self._calls) == self._calls.maxlen and not self._calls[0]:
            self._failures -= 1
        self._calls.append(success)
        self._failures += not success
        if (self._state is BreakerState.CLOSED and len(self._calls) >= self.min_calls
                and self.failure_rate >= self.failure_rate_threshold):
            self._transition(BreakerState.OPEN)

    def _transition(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if new is BreakerState.OPEN:
            self._opened_at = self._timer()
        if new is BreakerState.CLOSED:
            self._calls.clear()
            self._failures = 0
        self.transitions += 1
        if self._on_transition is not None and old is not new:
            self._on_transition(old, new)
