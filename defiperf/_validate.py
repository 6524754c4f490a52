"""The argument checks every config object shares: a TypeError or ValueError naming the field."""

from __future__ import annotations

import math
from typing import Any


def check_number(name: str, value: Any, *, low: float = 0.0, inclusive: bool = False,
                 high: float | None = None, allow_none: bool = False) -> None:
    """A finite real above ``low`` (at or above it when ``inclusive``), at most ``high``."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    above = value >= low if inclusive else value > low
    if not (math.isfinite(value) and above and (high is None or value <= high)):
        bound = f"{'>=' if inclusive else '>'} {low:g}" + (f" and <= {high:g}" if high is not None else "")
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")


def check_bool(name: str, value: Any) -> None:
    """A bool: not an int, a str or anything else that merely has a truth value."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")


def check_int(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None,
              allow_none: bool = False) -> None:
    """An int (not a bool) in ``minimum..maximum``."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"in {minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{name} must be {bound}, got {value}")
