"""Cache-policy simulation: ``python -m defiperf.simulate [PATH ...] --sizes 1%,10%,500``.

Replays traces of keys (real ones from files, or deterministic synthetic ones) through each
policy at each cache size and reports the hit rate, with Belady's clairvoyant OPT as the limit.
"""

from __future__ import annotations

from defiperf.simulate.policies import POLICIES as POLICIES
from defiperf.simulate.policies import hit_rate as hit_rate
from defiperf.simulate.synthetic import SYNTHETIC as SYNTHETIC
from defiperf.simulate.table import parse_sizes as parse_sizes
from defiperf.simulate.table import simulate as simulate
from defiperf.simulate.traces import FORMATS as FORMATS
from defiperf.simulate.traces import read_trace as read_trace

__all__ = ["FORMATS", "POLICIES", "SYNTHETIC", "hit_rate", "parse_sizes", "read_trace", "simulate"]
