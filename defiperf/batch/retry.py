"""Retry policy from small callables (tenacity's shape): stop conditions combine with ``|``,
waits add with ``+``. Each takes a RetryState; randomness comes from an injected ``random.Random``.

>>> policy = RetryPolicy(stop=stop_after_attempt(5) | stop_after_delay(30),
...                      wait=wait_full_jitter(0.01, 2.0))
>>> policy.should_stop(RetryState(attempt=5, elapsed_s=1.0))
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from defiperf._validate import check_int, check_number


@dataclass(frozen=True)
class RetryState:
    """Attempts made so far (1 after the first failure) and seconds since the first one."""

    attempt: int
    elapsed_s: float = 0.0


class Stop:
    """A stop condition: ``stop(state) -> bool``; ``a | b`` stops when either does."""

    def __call__(self, state: RetryState) -> bool:
        raise NotImplementedError

    def __or__(self, other: Stop) -> Stop:
        return _StopAny(self, other)


@dataclass(frozen=True)
class _StopAny(Stop):
    a: Stop
    b: Stop

    def __call__(self, state: RetryState) -> bool:
        return self.a(state) or self.b(state)


@dataclass(frozen=True)
class stop_after_attempt(Stop):  # noqa: N801 - tenacity's name
    """Stop once ``max_attempts`` attempts have failed."""

    max_attempts: int

    def __post_init__(self) -> None:
        check_int("max_attempts", self.max_attempts)

    def __call__(self, state: RetryState) -> bool:
        return state.attempt >= self.max_attempts


@dataclass(frozen=True)
class stop_after_delay(Stop):  # noqa: N801
    """Stop once ``seconds`` have passed since the first failure."""

    seconds: float

    def __post_init__(self) -> None:
        check_number("seconds", self.seconds, inclusive=True)

    def __call__(self, state: RetryState) -> bool:
        return state.elapsed_s >= self.seconds


class Wait:
    """A wait: ``wait(state, rng) -> seconds``; ``a + b`` adds them."""

    def __call__(self, state: RetryState, rng: random.Random) -> float:
        raise NotImplementedError

    def __add__(self, other: Wait) -> Wait:
        return _WaitSum(self, other)


@dataclass(frozen=True)
class _WaitSum(Wait):
    a: Wait
    b: Wait

    def __call__(self, state: RetryState, rng: random.Random) -> float:
        return self.a(state, rng) + self.b(state, rng)


@dataclass(frozen=True)
class wait_exponential(Wait):  # noqa: N801
    """``initial * multiplier ** (attempt - 1)`` seconds, capped at ``maximum``."""

    initial: float = 0.01
    maximum: float = 5.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        check_number("initial", self.initial, inclusive=True)
        check_number("maximum", self.maximum, inclusive=True)
        check_number("multiplier", self.multiplier, low=1.0, inclusive=True)

    def __call__(self, state: RetryState, rng: random.Random) -> float:
        exponent = min(max(state.attempt - 1, 0), 64)
        return float(min(self.maximum, self.initial * self.multiplier**exponent))


@dataclass(frozen=True)
class wait_full_jitter(Wait):  # noqa: N801
    """Full jitter (AWS architecture blog): uniform in [0, the capped exponential backoff]."""

    initial: float = 0.01
    maximum: float = 5.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        wait_exponential(self.initial, self.maximum, self.multiplier)  # same checks

    def __call__(self, state: RetryState, rng: random.Random) -> float:
        cap = wait_exponential(self.initial, self.maximum, self.multiplier)(state, rng)
        return rng.uniform(0.0, cap)


@dataclass(frozen=True)
class wait_fixed(Wait):  # noqa: N801
    """Wait the same ``seconds`` before every retry."""
    seconds: float

    def __post_init__(self) -> None:
        check_number("seconds", self.seconds, inclusive=True)

    def __call__(self, state: RetryState, rng: random.Random) -> float:
        return float(self.seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """When to give up on an item (``stop``) and how long to wait between tries (``wait``).

    Default: 3 attempts, full-jitter exponential backoff from 10 ms capped at 5 s.
    """

    stop: Stop = field(default_factory=lambda: stop_after_attempt(3))
    wait: Wait = field(default_factory=lambda: wait_full_jitter(0.01, 5.0))

    def __post_init__(self) -> None:
        if not isinstance(self.stop, Stop):
            raise TypeError("stop must be a Stop (stop_after_attempt(...), stop_after_delay(...))")
        if not isinstance(self.wait, Wait):
            raise TypeError("wait must be a Wait (wait_full_jitter(...), wait_exponential(...))")

    def should_stop(self, state: RetryState) -> bool:
        """True if no further attempt should be made after ``state``."""
        return self.stop(state)

    def delay_s(self, state: RetryState, rng: random.Random) -> float:
        """Seconds to wait before the next attempt (never negative)."""
        return max(0.0, self.wait(state, rng))
