"""OpenTelemetry bridge: a monitor's series through the OpenTelemetry metrics API (``otel`` extra).

The bridge observes the monitor's store when the SDK collects: recording costs the same with or
without it, and what it reports is exact (the store's own counts and sums since each series was
made, whenever the bridge was attached). ``OTelBridge(monitor, meter_provider)`` (or
``monitor.bridge_otel(...)``) reports, all as asynchronous (observable) instruments:

- per duration kind (``request``, ``db``, ``cache``, ``chain``, ``timer``, ``http``), with the
  series' labels as attributes: ``<prefix>.request.duration.count`` (records),
  ``.sum`` (seconds) and ``.bucket`` (cumulative records <= each of the monitor's ``buckets_s``,
  attribute ``le``: ``"0.1"`` ... ``"+Inf"``) -- the classic histogram as exact counters, since
  the metrics API has no asynchronous histogram -- and failures (``<prefix>.request.errors``);
  ``http`` uses the HTTP semantic-convention attributes (``http.request.method``,
  ``http.route``, ``http.response.status_code``);
- custom metrics (``record_metric``) in their base unit: ``<prefix>.metric.count``,
  ``<prefix>.metric.sum`` (an up-down counter: values may be negative) and
  ``<prefix>.metric.last`` (a gauge), attributes ``name`` and ``unit``;
- every ``counter()`` (``<prefix>.counters``), ``gauge()`` (``<prefix>.gauges``), the host
  gauges (``<prefix>.system``) and the overflow records.

Several monitors may share one MeterProvider and prefix: the instruments are made once, and each
collection reads every bridged monitor. Give each its own ``attributes`` to tell them apart;
points of two monitors with the same attributes are added up (counts, sums, buckets, failures,
counters: exact totals, nothing lost), except gauges, where the first bridged monitor's value is
reported and a (rate-limited) warning asks for distinct attributes. Only this module imports
``opentelemetry``.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from defiperf._ratelimit import RateLimitedLog
from defiperf.monitor.prometheus import _SYSTEM, UNITS, metric_name, unit_name

_log = RateLimitedLog(logging.getLogger("defiperf.monitor"), interval_s=60.0)

# kind -> (instrument stem, description, attribute names in label order, failures counter)
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
_OTHER = ("metric.count", "metric.sum", "metric.last", "counters", "gauges", "system",
          "series.overflow_records")
#: OpenTelemetry's instrument name syntax (API spec: at most 255 characters)
INSTRUMENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-/]{0,254}")
_ATTRIBUTE_NAMES = {name for spec in _TIMED.values() for name in spec[2]} | {"le", "name", "unit"}


def instrument_names(prefix: str) -> list[str]:
    """Every instrument name a bridge with ``prefix`` makes."""
    names = []
    for stem, _, _, bad in _TIMED.values():
        names += [f"{prefix}.{stem}.{part}" for part in ("count", "sum", "bucket")]
        if bad is not None:
            names.append(f"{prefix}.{bad}")
    return names + [f"{prefix}.{stem}" for stem in _OTHER]


def _check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
    bad = [n for n in instrument_names(prefix) if not INSTRUMENT_NAME.fullmatch(n)]
    if bad:
        raise ValueError(f"prefix {prefix[:60]!r} makes invalid OpenTelemetry instrument names "
                         f"(e.g. {bad[0][:80]!r}): a name starts with a letter, has only letters, "
                         f"digits, '_', '.', '-', '/' and at most 255 characters")
    return prefix


def _check_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    attrs = dict(attributes or {})
    for key, value in attrs.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"attributes: {key!r} is not a valid attribute name")
        if key in _ATTRIBUTE_NAMES:
            raise ValueError(f"attributes: {key!r} is an attribute of the series already")
        if not isinstance(value, (str, bool, int, float)):
            raise TypeError(f"attributes[{key!r}] must be a str, bool, int or float, not "
                            f"{type(value).__name__}")
    return attrs


class _Instruments:
    """The instruments of one (MeterProvider, prefix), made once, and the monitors they read."""

    def __init__(self, meter: Any, observation: Any, prefix: str) -> None:
        self.sources: list[tuple[Any, dict[str, Any]]] = []
        self._observation = observation
        observe = meter.create_observable_counter
        for kind, (stem, doc, _, bad) in _TIMED.items():
            base = f"{prefix}.{stem}"
            observe(f"{base}.count", [self._timed(kind, 0)], unit="1",
                    description=f"{doc}: records")
            observe(f"{base}.sum", [self._timed(kind, 1)], unit="s",
                    description=f"{doc}: sum of the durations")
            observe(f"{base}.bucket", [self._timed(kind, 4)], unit="1",
                    description=f"{doc}: records <= the bound in attribute le (cumulative)")
            if bad is not None:
                observe(f"{prefix}.{bad}", [self._timed(kind, 2)], unit="1",
                        description=f"{doc}: failures (misses for caches)")
        observe(f"{prefix}.metric.count", [self._metrics(0)], unit="1",
                description="custom metrics: records (the metric in attribute name)")
        meter.create_observable_up_down_counter(
            f"{prefix}.metric.sum", [self._metrics(1)], unit="1",
            description="custom metrics: sum of the values, in the base unit of attribute unit")
        meter.create_observable_gauge(
            f"{prefix}.metric.last", [self._metrics(5, additive=False)], unit="1",
            description="custom metrics: the last value, in the base unit of attribute unit")
        observe(f"{prefix}.counters", [self._named(lambda m: m.counters())], unit="1",
                description="defiperf counters (the counter's name in attribute name)")
        meter.create_observable_gauge(
            f"{prefix}.gauges", [self._named(lambda m: m.gauges(), additive=False)], unit="1",
            description="defiperf gauges (the gauge's name in attribute name)")
        meter.create_observable_gauge(
            f"{prefix}.system", [self._each(_system, additive=False)], unit="1",
            description="host usage ratios and thread count (the quantity in attribute name)")
        observe(f"{prefix}.series.overflow_records",
                [self._each(lambda m: [(m.overflow_records, {})])], unit="1",
                description="records for new names past max_series")

    def _each(self, read: Callable[[Any], Any],
              additive: bool = True) -> Callable[[Any], Iterator[Any]]:
        """A callback observing ``read(monitor)``'s (value, attributes) for every monitor, with
        its own attributes added. Points of several monitors with equal attributes are added up
        when ``additive`` (totals); otherwise the first is kept and a warning logged. A monitor
        that fails is logged and skipped, never the others."""

        def callback(options: Any) -> Iterator[Any]:
            merged: dict[frozenset[tuple[str, Any]], list[Any]] = {}
            for monitor, const in list(self.sources):
                try:
                    points = list(read(monitor))
                except Exception as exc:  # noqa: BLE001 - one bad monitor must not hide the rest
                    _log.warning("otel.observe", "OpenTelemetry: reading a monitor failed: "
                                 "%s: %s", type(exc).__name__, exc)
                    continue
                for value, attrs in points:
                    full = {**const, **attrs}
                    key = frozenset(full.items())
                    if key not in merged:
                        merged[key] = [value, full]
                    elif additive:
                        merged[key][0] += value
                    else:
                        _log.warning("otel.same", "OpenTelemetry: two bridged monitors report a "
                                     "gauge with attributes %s; the first one's value is kept "
                                     "(give each monitor distinct attributes=)", full)
            for value, full in merged.values():
                yield self._observation(value, full)
        return callback

    def _timed(self, kind: str, field: int) -> Callable[[Any], Iterator[Any]]:
        """count (0), sum in s (1), failures (2) or cumulative buckets (4) of each series."""
        names = _TIMED[kind][2]

        def read(monitor: Any) -> Iterator[tuple[float, dict[str, Any]]]:
            bounds = [repr(float(b)) for b in monitor.buckets_s] + ["+Inf"]
            for s in monitor.series(kind):
                attrs = dict(zip(names, s.labels))
                if kind == "http":
                    status = attrs["http.response.status_code"]
                    attrs["http.response.status_code"] = int(status) if status.isdigit() else status
                snap = s.snapshot()
                if field == 4:
                    for le, n in zip(bounds, [*snap[4], snap[0]]):
                        yield n, {**attrs, "le": le}
                else:
                    yield (snap[1] / 1000.0 if field == 1 else snap[field]), attrs
        return self._each(read)

    def _metrics(self, field: int, additive: bool = True) -> Callable[[Any], Iterator[Any]]:
        """count (0), sum (1) or last value (5) of each custom metric, in its base unit."""

        def read(monitor: Any) -> Iterator[tuple[float, dict[str, Any]]]:
            for s in monitor.series("metric"):
                factor = unit_name(s.name, s.unit)[1]
                attrs = {"name": s.name, "unit": base_unit(s.unit)}
                if field == 5:
                    if not math.isnan(s.last):
                        yield s.last * factor, attrs
                else:
                    snap = s.snapshot()
                    yield (snap[1] * factor if field == 1 else snap[0]), attrs
        return self._each(read, additive)

    def _named(self, items: Callable[[Any], list[Any]],
               additive: bool = True) -> Callable[[Any], Iterator[Any]]:
        return self._each(lambda m: [(c.value, {"name": c.name}) for c in items(m)], additive)


def base_unit(unit: str) -> str:
    """The base unit a value recorded in ``unit`` is reported in (``"KiB"`` -> ``"bytes"``)."""
    return UNITS.get(unit, (metric_name(unit) if unit else "", 1.0))[0]


def _system(monitor: Any) -> Iterator[tuple[float, dict[str, Any]]]:
    for s in monitor.series("system"):
        spec = _SYSTEM.get(s.name)
        if spec is not None and spec[1] == "gauge" and not math.isnan(s.last):
            yield s.last * spec[3], {"name": spec[0]}


# MeterProvider -> prefix -> its instruments (made once: the API cannot remove an instrument,
# and a second instrument of one name would be refused by the SDK, losing its callbacks)
_SHARED: weakref.WeakKeyDictionary[Any, dict[str, _Instruments]] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


class OTelBridge:
    """Exposes ``monitor`` through ``meter_provider`` (default: the global one) under ``prefix``
    (``defiperf.request.duration.count``), with ``attributes`` added to every point (to tell
    monitors sharing a provider and prefix apart; without, their totals add up). ``close()``
    stops it."""

    def __init__(self, monitor: Any, meter_provider: Any = None, prefix: str = "defiperf",
                 attributes: Mapping[str, Any] | None = None) -> None:
        try:
            from opentelemetry import metrics
        except ImportError as exc:
            raise ImportError("the OpenTelemetry bridge needs opentelemetry-api: "
                              "pip install 'defiperf[otel]'") from exc
        if not all(callable(getattr(monitor, name, None))
                   for name in ("series", "counters", "gauges")):
            raise TypeError("monitor must be a PerformanceMonitor or MetricStore")
        prefix = _check_prefix(prefix)
        attrs = _check_attributes(attributes)
        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        if not callable(getattr(provider, "get_meter", None)):
            raise TypeError("meter_provider must be an OpenTelemetry MeterProvider")
        from defiperf import __version__

        with _SHARED_LOCK:
            by_prefix = _SHARED.setdefault(provider, {})
            shared = by_prefix.get(prefix)
            if shared is not None and any(m is monitor for m, _ in shared.sources):
                raise ValueError("this monitor is bridged to this MeterProvider and prefix "
                                 "already")
            if shared is None:
                meter = provider.get_meter("defiperf", __version__)
                shared = by_prefix[prefix] = _Instruments(meter, metrics.Observation, prefix)
            shared.sources.append((monitor, attrs))
        self._shared = shared
        self._monitor = monitor
        self.prefix = prefix
        self.attributes = attrs

    def close(self) -> None:
        """Stop reporting this monitor (idempotent); the instruments stay for other monitors
        and for a later bridge."""
        with _SHARED_LOCK:
            self._shared.sources[:] = [(m, a) for m, a in self._shared.sources
                                       if m is not self._monitor]

