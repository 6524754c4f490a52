"""TTL arguments: seconds (int/float) or ``timedelta``; ``None`` means no expiry.

Everything else is refused before anything is written: bools, NaN, infinities, negative
values and values above ``MAX_TTL_S`` (ten years; Redis and SQLite store expiries as 64-bit
milliseconds/seconds and a caller-chosen huge TTL must not break a shared tier for others).
"""

from __future__ import annotations

import datetime
import math
from typing import Any, Final, Union

MAX_TTL_S: Final = 10 * 365 * 86400.0


class _Default:
    """The type of ``DEFAULT``: "use the configured value"."""

    _instance: _Default | None = None

    def __new__(cls) -> _Default:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = _Default()
TTL = Union[float, int, datetime.timedelta, None]
"""What a ``ttl=`` argument may be (besides ``DEFAULT``)."""


def ttl_seconds(name: str, value: Any, *, allow_zero: bool = False) -> float | None:
    """``value`` as seconds (None: no expiry); TypeError/ValueError naming ``name``."""
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be seconds (int, float) or a timedelta, "
                        f"not {type(value).__name__}")
    seconds = float(value)
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"{name} must be finite (use None for no expiry), got {seconds!r}")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} seconds, got {seconds!r}")
    if seconds > MAX_TTL_S:
        raise ValueError(f"{name} of {seconds:g} s is above the {MAX_TTL_S:g} s limit "
                         "(use None for no expiry)")
    return seconds


def resolve_ttl(name: str, value: Any, default: float | None, *,
                allow_zero: bool = False) -> float | None:
    """``ttl_seconds`` with ``DEFAULT`` replaced by the configured ``default``."""
    if value is DEFAULT:
        return default
    return ttl_seconds(name, value, allow_zero=allow_zero)
