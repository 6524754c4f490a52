"""OpenTelemetry bridge: a monitor's series through the OpenTelemetry metrics API (``otel`` extra).

``OTelBridge(monitor, meter_provider)`` (or ``monitor.bridge_otel(...)``) makes:

- a Histogram per duration kind, in seconds, fed with every value recorded from then on (so its
  counts, sums and bucket counts are exact at whatever boundaries your SDK views choose), with
  the series' labels as attributes (``http`` uses the semantic conventions:
  ``http.server.request.duration`` with ``http.request.method``, ``http.route``,
  ``http.response.status_code``);
- a Histogram per custom metric (``record_metric``), in the base unit of its recorded unit;
- an ObservableCounter of failures per duration kind, of every ``counter()`` and of the overflow
  records, and an ObservableGauge of every ``gauge()`` and of the system gauges.

Only this module imports ``opentelemetry``. The store calls the bridge only while one is
attached (one ``is not None`` check per record otherwise); ``close()`` detaches it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from typing import Any

from defiperf._ratelimit import RateLimitedLog
from defiperf.monitor.prometheus import _SYSTEM, unit_name

_log = RateLimitedLog(logging.getLogger("defiperf.monitor"), interval_s=60.0)

# kind -> (instrument name, description, attribute names in label order, failures counter)
_TIMED = {
    "request": ("request.duration", "Request latency", ("endpoint",), "request.errors"),
    "db": ("db.query.duration", "Database query latency", ("db.query",), "db.query.errors"),
    "cache": ("cache.lookup.duration", "Cache lookup latency", ("cache.tier",), "cache.misses"),
    "chain": ("chain.call.duration", "Blockchain RPC call latency", ("chain", "rpc.method"),
              "chain.call.errors"),
    "timer": ("operation.duration", "Timed operation latency", ("operation",),
              "operation.errors"),
    "http": ("http.server.request.duration", "HTTP server request latency",
             ("http.request.method", "http.route", "http.response.status_code"), None),
}
_OTEL_UNITS = {"seconds": "s", "bytes": "By", "ratio": "1", "per_second": "1/s", "": "1"}


class OTelBridge:
    """Exposes ``monitor`` through ``meter_provider`` (default: the global one) under
    ``prefix`` (``defiperf.request.duration``; ``http.server.request.duration`` keeps its
    standard name)."""

    def __init__(self, monitor: Any, meter_provider: Any = None, prefix: str = "defiperf") -> None:
        try:
            from opentelemetry import metrics
        except ImportError as exc:
            raise ImportError("the OpenTelemetry bridge needs opentelemetry-api: "
                              "pip install 'defiperf[otel]'") from exc
        if not isinstance(prefix, str) or not prefix:
            raise TypeError("prefix must be a non-empty str")
        from defiperf import __version__

        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        self._meter = provider.get_meter("defiperf", __version__)
        self._observation = metrics.Observation
        self._monitor = monitor
        self._prefix = prefix
        self._histograms: dict[str, Any] = {}
        self._attrs: dict[Any, tuple[Any, dict[str, Any], float]] = {}
        for kind, (name, doc, _, bad) in _TIMED.items():
            full = name if kind == "http" else f"{prefix}.{name}"
            self._histograms[kind] = self._meter.create_histogram(full, unit="s", description=doc)
            if bad is not None:
                self._meter.create_observable_counter(
                    f"{prefix}.{bad}", [self._failures(kind)], unit="1",
                    description=f"{doc}: failures (misses for caches)")
        self._meter.create_observable_counter(
            f"{prefix}.counters", [self._counters], unit="1",
            description="defiperf counters (the counter's name in the 'name' attribute)")
        self._meter.create_observable_gauge(
            f"{prefix}.gauges", [self._gauges], unit="1",
            description="defiperf gauges (the gauge's name in the 'name' attribute)")
        self._meter.create_observable_gauge(
            f"{prefix}.system", [self._system], unit="1",
            description="host usage ratios and thread count (the quantity in 'name')")
        self._meter.create_observable_counter(
            f"{prefix}.series.overflow_records", [self._overflow], unit="1",
            description="records for new names past max_series")
        monitor.set_sink(self._on_record)

    def close(self) -> None:
        """Stop feeding the histograms (the observable instruments report the last values)."""
        self._monitor.set_sink(None)

    # --- the record path (called by the store after each record) ------------------------------

    def _on_record(self, series: Any, value: float) -> None:
        try:
            found = self._attrs.get(series)
            if found is None:
                found = self._attrs[series] = self._describe(series)
            instrument, attrs, factor = found
            if instrument is not None:
                instrument.record(value * factor, attrs)
        except Exception as exc:  # noqa: BLE001 - the bridge must never fail a record
            _log.warning("otel.record", "OpenTelemetry record failed: %s: %s",
                         type(exc).__name__, exc)

    def _describe(self, series: Any) -> tuple[Any, dict[str, Any], float]:
        spec = _TIMED.get(series.kind)
        if spec is not None:
            attrs: dict[str, Any] = dict(zip(spec[2], series.labels))
            if series.kind == "http":
                status = attrs["http.response.status_code"]
                attrs["http.response.status_code"] = int(status) if status.isdigit() else status
            return self._histograms[series.kind], attrs, 1e-3
        if series.kind != "metric":
            return None, {}, 1.0  # system series: exported as gauges
        stem, factor = unit_name(series.name, series.unit)
        key = f"metric:{stem}"
        if key not in self._histograms:
            suffix = unit_name("x", series.unit)[0][2:]
            self._histograms[key] = self._meter.create_histogram(
                f"{self._prefix}.{stem}", unit=_OTEL_UNITS.get(suffix, suffix),
                description=f"{series.name} ({series.unit or 'no unit'})")
        return self._histograms[key], {}, factor

    # --- observable callbacks -----------------------------------------------------------------

    def _failures(self, kind: str) -> Any:
        names = _TIMED[kind][2]

        def callback(options: Any) -> Iterator[Any]:
            for s in self._monitor.series(kind):
                yield self._observation(s.bad, dict(zip(names, s.labels)))
        return callback

    def _counters(self, options: Any) -> Iterable[Any]:
        return [self._observation(c.value, {"name": c.name}) for c in self._monitor.counters()]

    def _gauges(self, options: Any) -> Iterable[Any]:
        return [self._observation(g.value, {"name": g.name}) for g in self._monitor.gauges()]

    def _system(self, options: Any) -> Iterator[Any]:
        for s in self._monitor.series("system"):
            spec = _SYSTEM.get(s.name)
            if spec is not None and spec[1] == "gauge" and not math.isnan(s.last):
                yield self._observation(s.last * spec[3], {"name": spec[0]})

    def _overflow(self, options: Any) -> Iterable[Any]:
        return [self._observation(self._monitor.overflow_records)]
