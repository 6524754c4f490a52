"""Shared pieces of the asv suites. Inputs and peers come from `defiperf.bench`, so that asv
and `python -m defiperf.bench` measure exactly the same thing."""

from __future__ import annotations

SEED = 12345


class Benchmark:
    """Base class: a timeout long enough for the slow peers on a 2-core machine."""

    timeout = 120.0
