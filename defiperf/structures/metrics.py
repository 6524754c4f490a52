"""The old home of LogHistogram (now ``defiperf.structures.histogram``); kept so imports work.

The monitor's store (MetricStore, Series, Counter, Gauge) moved to ``defiperf.monitor``.
"""

from __future__ import annotations

from defiperf.structures.histogram import QUANTILES as QUANTILES
from defiperf.structures.histogram import LogHistogram as LogHistogram

__all__ = ["QUANTILES", "LogHistogram"]
