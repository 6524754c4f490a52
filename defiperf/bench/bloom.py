"""BloomFilter beside rbloom and pybloomfiltermmap3, each sized for the same capacity and rate.

Keys: 64-hex-char str keys (transaction hashes as text) and int keys, added and looked up in
one pass each; ``contains_many`` on 1,000,000 uint64 keys against a Python loop over rbloom;
bits used against the optimum; false-positive rate measured on fresh keys at capacity.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from defiperf.bench import _peers
from defiperf.bench._table import Row
from defiperf.bench._timing import best_ns_per_op
from defiperf.structures import BloomFilter


def make_ours(capacity: int, rate: float) -> Any:
    return BloomFilter(capacity, rate)


def make_rbloom(capacity: int, rate: float) -> Any:
    return importlib.import_module("rbloom").Bloom(capacity, rate)


def make_pybloom(capacity: int, rate: float) -> Any:
    return importlib.import_module("pybloomfilter").BloomFilter(capacity, rate)


CONTENDERS: dict[str, tuple[Callable[[int, float], Any], str | None]] = {
    "defiperf": (make_ours, None),
    "rbloom": (make_rbloom, "rbloom"),
    "pybloomfiltermmap3": (make_pybloom, "pybloomfilter"),
}


def available() -> dict[str, Callable[[int, float], Any]]:
    """The contenders whose package is installed (peers come from the `bench` extra)."""
    return _peers.available(CONTENDERS)


def bits_used(label: str, f: Any) -> int:
    return int({"defiperf": lambda: f.bit_count, "rbloom": lambda: f.size_in_bits,
                "pybloomfiltermmap3": lambda: f.num_bits}[label]())


def _add_pass(f: Any, keys: list[Any]) -> Callable[[], int]:
    def run() -> int:
        add = f.add
        for k in keys:
            add(k)
        return len(keys)
    return run


def _contains_pass(f: Any, keys: list[Any]) -> Callable[[], int]:
    def run() -> int:
        for k in keys:
            k in f  # noqa: B015
        return len(keys)
    return run


def run(quick: bool = False, capacity: int = 1_000_000, rate: float = 0.01,
        n_keys: int = 200_000, seed: int = 12345) -> list[Row]:
    rounds = 3 if quick else 7
    makers = available()
    rng = np.random.default_rng(seed)
    n_keys = min(n_keys, capacity)
    str_keys = [f"{x:064x}" for x in rng.integers(0, 2**63, n_keys, dtype=np.int64)]
    int_keys = [int(x) for x in rng.integers(0, 2**63, n_keys, dtype=np.int64)]
    rows: list[Row] = []
    for kind, keys in (("str64", str_keys), ("int", int_keys)):
        filters = {label: make(capacity, rate) for label, make in makers.items()}
        best = best_ns_per_op({lb: _add_pass(f, keys) for lb, f in filters.items()}, rounds)
        rows.append(Row("bloom", f"add {kind}", "ns/op", best.pop("defiperf"), best))
        best = best_ns_per_op({lb: _contains_pass(f, keys) for lb, f in filters.items()}, rounds)
        rows.append(Row("bloom", f"contains {kind}", "ns/op", best.pop("defiperf"), best))
    # Bulk: our contains_many over a uint64 array against Python loops over the peers.
    n_bulk = 100_000 if quick else 1_000_000
    arr = np.arange(n_bulk, dtype=np.uint64)
    listed = arr.tolist()
    filters = {label: make(capacity, rate) for label, make in makers.items()}
    for label, f in filters.items():  # the same half of the keys present in every filter
        if label == "defiperf":
            f.add_many(arr[: n_bulk // 2])
        else:
            f.update(listed[: n_bulk // 2])
    passes: dict[str, Callable[[], int]] = {
        "defiperf": lambda: len(filters["defiperf"].contains_many(arr))}
    for label, f in filters.items():
        if label != "defiperf":
            passes[f"{label} (loop)"] = _contains_pass(f, listed)
    best = best_ns_per_op(passes, max(2, rounds // 2))
    rows.append(Row("bloom", f"contains_many {n_bulk:,} u64", "ns/key", best.pop("defiperf"),
                    best))
    # Size and quality at capacity.
    optimum = -capacity * math.log(rate) / math.log(2) ** 2
    n_fpr = capacity // 10 if quick else capacity
    fill = np.arange(n_fpr, dtype=np.uint64)
    fresh = np.arange(n_fpr, 2 * n_fpr, dtype=np.uint64)
    sized = {label: make(n_fpr, rate) for label, make in makers.items()}
    fpr: dict[str, float] = {}
    for label, f in sized.items():
        if label == "defiperf":
            f.add_many(fill)
            fpr[label] = float(f.contains_many(fresh).mean())
        else:
            f.update(fill.tolist())
            fpr[label] = sum(k in f for k in fresh.tolist()) / n_fpr
    bits = {label: bits_used(label, f) / optimum for label, f in filters.items()}
    rows.append(Row("bloom", "bits / optimum", "ratio", bits.pop("defiperf"), bits))
    ours_fpr = fpr.pop("defiperf")
    rows.append(Row("bloom", f"FPR at capacity (target {rate})", "rate", ours_fpr, fpr))
    return rows
