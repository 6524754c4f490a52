"""Shared pieces of the asv suites: seeded inputs and the peers' factories."""

from __future__ import annotations

import random
from typing import Any

SEED = 12345


def int_and_str_keys(n: int) -> dict[str, tuple[list[Any], list[Any], list[Any]]]:
    """Per key kind: (present keys, a seeded shuffled read order, fresh keys)."""
    out: dict[str, tuple[list[Any], list[Any], list[Any]]] = {}
    for kind in ("int", "str"):
        if kind == "int":
            present: list[Any] = list(range(n))
            fresh: list[Any] = list(range(n, 2 * n))
        else:
            present = [f"token:{i}" for i in range(n)]
            fresh = [f"token:{i}" for i in range(n, 2 * n)]
        order = present[:]
        random.Random(SEED).shuffle(order)
        out[kind] = (present, order, fresh)
    return out


class Benchmark:
    """Base class: a timeout long enough for the slow peers on a 2-core machine."""

    timeout = 120.0
