"""Which contenders a suite can measure: ours always, a peer when its package is installed.

A peer (or Redis) that cannot be measured is remembered with the reason and how to get it; the
runner prints those lines under the suite's table, so nothing is dropped silently."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

INSTALL_HINT = "pip install defiperf[bench]"
_skipped: dict[str, str] = {}  # what -> why, in the order first seen


def skip(what: str, why: str) -> None:
    """Remember that ``what`` was not measured, and ``why`` (with how to get it)."""
    _skipped.setdefault(what, why)


def installed(module: str, label: str | None = None) -> bool:
    """True if ``module`` can be imported; otherwise note ``label`` (default: the module) as
    skipped, not installed."""
    if importlib.util.find_spec(module) is not None:
        return True
    skip(label or module, f"not installed; {INSTALL_HINT}")
    return False


def available(contenders: dict[str, tuple[F, str | None]]) -> dict[str, F]:
    """label -> factory for each contender whose module (None: ours) can be imported; the others
    are noted as skipped."""
    return {label: make for label, (make, module) in contenders.items()
            if module is None or installed(module, label)}


def take_skipped() -> list[str]:
    """The ``skipped: X (why)`` lines noted since the last call, and forget them."""
    lines = [f"skipped: {what} ({why})" for what, why in _skipped.items()]
    _skipped.clear()
    return lines
