"""Hit rate of W-TinyLFU on every trace (`python -m defiperf.simulate`), with LRU and OPT beside
it for reference: a tuning change shows up here as a step, per trace and size."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from defiperf.simulate import SYNTHETIC, hit_rate, parse_sizes, read_trace
from defiperf.simulate.traces import find_traces, trace_name

from .common import Benchmark

# The real traces live beside the repository (../shared/data/traces), or at DEFIPERF_TRACES.
TRACES = Path(os.environ.get("DEFIPERF_TRACES",
                             Path(__file__).resolve().parents[3] / "shared/data/traces"))
REAL = {trace_name(p): p for p in find_traces(TRACES)} if TRACES.is_dir() else {}
_loaded: dict[str, np.ndarray] = {}


def load(name: str) -> np.ndarray:
    """A real trace by name, or a synthetic one; NotImplementedError (asv: skip) if missing."""
    if name not in _loaded:
        if name in SYNTHETIC:
            _loaded[name] = SYNTHETIC[name]()
        elif name in REAL:
            _loaded[name] = read_trace(REAL[name], "auto")
        else:
            raise NotImplementedError(f"no trace {name!r} in {TRACES}; set DEFIPERF_TRACES")
    return _loaded[name]


class TraceHitRate(Benchmark):
    """Hit rate (0..1) at 5% and 20% of the trace's distinct keys."""

    params = [sorted(REAL) + list(SYNTHETIC), ["tinylfu", "lru", "opt"], ["5%", "20%"]]
    param_names = ["trace", "policy", "size"]
    unit = "hit rate"

    def setup(self, trace: str, policy: str, size: str) -> None:
        self.trace = load(trace)
        self.size = parse_sizes(size)[0].entries(len(np.unique(self.trace)))

    def track_hit_rate(self, trace: str, policy: str, size: str) -> float:
        return hit_rate(policy, self.trace, self.size)
