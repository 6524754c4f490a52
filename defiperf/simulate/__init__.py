"""Cache-policy simulation on real traces: ``python -m defiperf.simulate TRACE --sizes ...``.

Replays a trace of keys through each policy at each cache size and reports the hit rate, with
Belady's clairvoyant OPT as the upper limit.
"""

from __future__ import annotations

from defiperf.simulate.policies import POLICIES as POLICIES
from defiperf.simulate.policies import hit_rate as hit_rate
from defiperf.simulate.traces import FORMATS as FORMATS
from defiperf.simulate.traces import read_trace as read_trace

__all__ = ["FORMATS", "POLICIES", "hit_rate", "read_trace"]
