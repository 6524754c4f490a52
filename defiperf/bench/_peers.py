"""Which contenders a suite can measure: ours always, a peer when its package is installed."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def available(contenders: dict[str, tuple[F, str | None]]) -> dict[str, F]:
    """label -> factory for each contender whose module (None: ours) can be imported."""
    return {label: make for label, (make, module) in contenders.items()
            if module is None or importlib.util.find_spec(module) is not None}
