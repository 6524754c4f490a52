"""Prometheus export by the book (https://prometheus.io/docs/practices/naming/).

One metric family per quantity, in base units (seconds, bytes, ratios 0-1) named in the metric
name, counters ending in ``_total``, HELP and TYPE for every family. Durations are histograms in
seconds whose ``le`` counts are exact (the store counts every value at its ``buckets_s`` bounds
as it records); failures and cache misses are counters; custom and system metrics are summaries
(count and sum since start, quantiles over the current window) or gauges. OpenMetrics forbids
negative summary quantiles and sums (``_sum`` is a counter), so a custom or system series is a
summary while every value it recorded is >= 0, and once it records a negative value (a PnL, a
price change) it is exported as a gauge of its last value instead; record a signed quantity
with ``gauge(name)`` to have a gauge from the start. Process CPU, RSS and open fds are left to
prometheus_client's standard ``process_*`` collector. Past ``max_series``, what went to the
``__overflow__`` series of a kind is exported under its own family per kind
(``<ns>_series_overflow_metric``, ``_system``, ``_increments_total``, ``_value``), so the overflow of one
kind never clashes with another's or with a user's name.

Several monitors may share one registry (``register_prometheus``): each needs distinct
``const_labels`` with the same label names, or registration fails with a ValueError saying so.
Their series are merged into one set of families, so no family or series is written twice.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from defiperf._ratelimit import RateLimitedLog
from defiperf.monitor._store import KIND_SPECS, OVERFLOW

_log = RateLimitedLog(logging.getLogger("defiperf.monitor"), interval_s=60.0)

# duration kind -> (family stem, HELP, failure counter stem or None, its HELP)
_TIMED = {
    "request": ("request_duration_seconds", "Request latency", "request_errors",
                "Requests that failed"),
    "db": ("db_query_duration_seconds", "Database query latency", "db_query_errors",
           "Database queries that failed"),
    "cache": ("cache_lookup_duration_seconds", "Cache lookup latency", "cache_misses",
              "Cache lookups that missed"),
    "chain": ("chain_call_duration_seconds", "Blockchain RPC call latency", "chain_call_errors",
              "Blockchain RPC calls that failed"),
    "timer": ("operation_duration_seconds", "Timed operation latency", "operation_errors",
              "Timed operations that raised"),
    "http": ("http_server_request_duration_seconds", "HTTP server request latency", None, ""),
}
# system series -> (family stem, type, HELP, factor to the base unit); None: left to process_*
_SYSTEM: dict[str, tuple[str, str, str, float] | None] = {
    "cpu_percent_process": None,      # process_cpu_seconds_total
    "rss_bytes": None,                # process_resident_memory_bytes
    "open_fds": None,                 # process_open_fds
    "cpu_percent_system": ("host_cpu_usage_ratio", "gauge", "Host CPU busy share (0-1)", 0.01),
    "memory_percent_system": ("host_memory_usage_ratio", "gauge", "Host memory used share (0-1)",
                              0.01),
    "threads": ("threads", "gauge", "Threads of this process", 1.0),
    "event_loop_lag_ms": ("event_loop_lag_seconds", "summary", "How late the event loop wakes",
                          1e-3),
}
# rates the sampler computes client-side are exported as the raw counters they came from
_SYSTEM_RATES = ("disk_read_bytes_per_s", "disk_write_bytes_per_s", "net_sent_bytes_per_s",
                 "net_recv_bytes_per_s")
# recorded unit -> (name suffix, factor to the base unit)
UNITS: dict[str, tuple[str, float]] = {
    "": ("", 1.0), "s": ("seconds", 1.0), "sec": ("seconds", 1.0), "seconds": ("seconds", 1.0),
    "ms": ("seconds", 1e-3), "us": ("seconds", 1e-6), "µs": ("seconds", 1e-6),
    "ns": ("seconds", 1e-9), "bytes": ("bytes", 1.0), "B": ("bytes", 1.0),
    "KiB": ("bytes", 1024.0), "MiB": ("bytes", 1024.0**2), "GiB": ("bytes", 1024.0**3),
    "kB": ("bytes", 1e3), "KB": ("bytes", 1e3), "MB": ("bytes", 1e6), "GB": ("bytes", 1e9),
    "%": ("ratio", 0.01), "percent": ("ratio", 0.01), "ratio": ("ratio", 1.0),
    "ops/sec": ("per_second", 1.0), "ops/s": ("per_second", 1.0), "/s": ("per_second", 1.0),
    "1/s": ("per_second", 1.0), "per_second": ("per_second", 1.0),
}
# what a name may already end with for each suffix (replaced by the suffix)
_UNIT_WORDS = {
    "seconds": ("_ms", "_msec", "_milliseconds", "_us", "_ns", "_s", "_sec", "_secs", "_seconds"),
    "bytes": ("_bytes", "_b"),
    "ratio": ("_percent", "_pct", "_ratio"),
    "per_second": ("_per_second", "_per_sec", "_per_s", "_ps", "_s"),
}
QUANTILES = (0.5, 0.9, 0.99)


class _Source(Protocol):
    """What the exporter reads from a monitor (PerformanceMonitor satisfies it)."""

    @property
    def overflow_records(self) -> int: ...
    @property
    def buckets_s(self) -> tuple[float, ...]: ...

    def series(self, kind: str | None = None) -> list[Any]: ...
    def counters(self) -> list[Any]: ...
    def gauges(self) -> list[Any]: ...


def metric_name(text: str) -> str:
    """``text`` made a valid snake_case Prometheus metric name (other characters become ``_``)."""
    name = re.sub(r"[^a-zA-Z0-9_]+", "_", text).strip("_").lower()
    name = re.sub(r"_+", "_", name)
    return name if name and not name[0].isdigit() else f"_{name}"


def check_namespace(namespace: object) -> str:
    """``namespace`` if it can start every metric name (``[a-zA-Z_][a-zA-Z0-9_]*``, no colon:
    colons are for recording rules); a TypeError or ValueError naming it otherwise."""
    if not isinstance(namespace, str):
        raise TypeError(f"namespace must be a str, not {type(namespace).__name__}")
    if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", namespace) or namespace.startswith("__"):
        raise ValueError(f"namespace must match [a-zA-Z_][a-zA-Z0-9_]* (not starting with "
                         f"'__'), got {namespace!r}")
    return namespace


def unit_name(name: str, unit: str) -> tuple[str, float]:
    """The family name stem of a quantity called ``name`` recorded in ``unit``, and the factor
    that turns its values into the base unit: ``("latency", "ms") -> ("latency_seconds", 0.001)``."""
    suffix, factor = UNITS.get(unit, (metric_name(unit) if unit else "", 1.0))
    stem = metric_name(name)
    if stem.endswith("_total"):
        stem = stem[: -len("_total")]
    for word in _UNIT_WORDS.get(suffix, ()):
        if stem.endswith(word) and len(stem) > len(word):
            stem = stem[: -len(word)]
            break
    if not suffix or stem.endswith(f"_{suffix}"):
        return stem, factor
    return f"{stem}_{suffix}", factor


# The sample names each kind of family writes besides its own name (OpenMetrics included).
_SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "gauge": (),
}


class _Families:
    """The families of one scrape, merged across monitors; a second family of the same name
    with another type, or a second series with the same labels, is dropped (and logged)."""

    def __init__(self) -> None:
        self._by_name: dict[str, Metric] = {}
        self._seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        self._sample_names: dict[str, str] = {}  # every sample name a family writes -> family

    def family(self, name: str, doc: str, kind: str) -> Metric | None:
        fam = self._by_name.get(name)
        if fam is None:
            owned = [name, *(name + suffix for suffix in _SAMPLE_SUFFIXES.get(kind, ()))]
            taken = [n for n in owned if self._sample_names.get(n, name) != name]
            if taken:  # e.g. a gauge "lat_count" beside the histogram "lat"
                _log.warning(f"clash:{name}", "prometheus: %s would write %s, which %s writes "
                             "already; it is not exported (rename it)", name, taken[0],
                             self._sample_names[taken[0]])
                return None
            for n in owned:
                self._sample_names[n] = name
            fam = self._by_name[name] = Metric(name, doc, kind)
        elif fam.type != kind:
            _log.warning(f"clash:{name}", "prometheus: %s is a %s already; a %s of that name is "
                         "not exported (rename it)", name, fam.type, kind)
            return None
        return fam

    def series(self, fam: Metric, labels: dict[str, str]) -> bool:
        """Whether ``labels`` are new in ``fam`` (a duplicate is logged, not exported)."""
        key = (fam.name, tuple(sorted(labels.items())))
        if key in self._seen:
            _log.warning(f"dup:{fam.name}", "prometheus: a second %s series with labels %s is "
                         "not exported (two names map to one)", fam.name, labels)
            return False
        self._seen.add(key)
        return True

    def __iter__(self) -> Iterator[Metric]:
        return iter(f for f in self._by_name.values() if f.samples)


class PrometheusCollector(Collector):
    """A prometheus_client collector over one or more monitors, each with its const labels.

    ``monitor.register_prometheus(registry)`` makes (or reuses) the one collector of a registry
    and namespace; ``PrometheusCollector(monitor)`` is one for your own registration.
    """

    def __init__(self, monitor: _Source | None = None, namespace: str = "defiperf",
                 const_labels: Mapping[str, str] | None = None) -> None:
        self.namespace = check_namespace(namespace)
        self._sources: list[tuple[_Source, dict[str, str]]] = []
        if monitor is not None:
            self.add(monitor, const_labels)

    def add(self, monitor: _Source, const_labels: Mapping[str, str] | None = None) -> None:
        """Export ``monitor`` too; ``ValueError`` when it is here already, or when its const
        labels do not tell its series apart from the others'."""
        labels = _check_labels(const_labels)
        check_new_source(self._sources, monitor, labels, "registry", "const_labels",
                         "register_prometheus(registry, const_labels={'monitor': 'b'})")
        self._sources.append((monitor, labels))

    def remove(self, monitor: _Source) -> None:
        """Stop exporting ``monitor`` (``ValueError`` when it is not exported here)."""
        for i, (other, _) in enumerate(self._sources):
            if other is monitor:
                del self._sources[i]
                return
        raise ValueError("this monitor is not exported by this collector")

    @property
    def monitors(self) -> list[_Source]:
        """The monitors this collector exports."""
        return [m for m, _ in self._sources]

    def describe(self) -> list[Metric]:
        """The one family always exported: enough for a registry to refuse a second collector
        of this namespace (which would write every family twice)."""
        return [Metric(f"{self.namespace}_series_overflow_records",
                       "Records for new names past max_series (sent to __overflow__)", "counter")]

    def collect(self) -> Iterator[Metric]:
        fams = _Families()
        for monitor, const in list(self._sources):
            _Export(self.namespace, fams, const).monitor(monitor)
        yield from fams


class _Export:
    """Writes one monitor's series into the families of a scrape."""

    def __init__(self, ns: str, fams: _Families, const: dict[str, str]) -> None:
        self.ns, self.fams, self.const = ns, fams, const

    def sample(self, fam: Metric | None, suffix: str, labels: dict[str, str], value: float,
               check: bool = True) -> None:
        if fam is not None and (not check or self.fams.series(fam, labels)):
            fam.add_sample(fam.name + suffix, labels, value)

    def monitor(self, m: _Source) -> None:
        for kind, (stem, doc, bad_stem, bad_doc) in _TIMED.items():
            self.timed(m, kind, stem, doc, bad_stem, bad_doc)
        for s in m.series("metric"):
            self.custom(s, "metric")
        self.system(m)
        for kind, items in (("counter", m.counters()), ("gauge", m.gauges())):
            for c in items:
                stem, doc = _stem_doc(c.name, "", kind)
                fam = self.fams.family(f"{self.ns}_{stem}", doc, kind)
                self.sample(fam, "_total" if kind == "counter" else "", dict(self.const), c.value)
        fam = self.fams.family(f"{self.ns}_series_overflow_records",
                               "Records for new names past max_series (sent to __overflow__)",
                               "counter")
        self.sample(fam, "_total", dict(self.const), m.overflow_records)

    def timed(self, m: _Source, kind: str, stem: str, doc: str, bad_stem: str | None,
              bad_doc: str) -> None:
        series = m.series(kind)
        if not series:
            return
        hist = self.fams.family(f"{self.ns}_{stem}", doc, "histogram")
        bad = self.fams.family(f"{self.ns}_{bad_stem}", bad_doc, "counter") if bad_stem else None
        names = _label_names(kind)
        for s in series:
            labels = {**self.const, **dict(zip(names, s.labels))}
            if hist is None or not self.fams.series(hist, labels):
                continue
            count, total, n_bad, _, cumulative = s.snapshot()   # one instant: buckets <= count
            for bound, n in zip(m.buckets_s, cumulative):
                hist.add_sample(hist.name + "_bucket", {**labels, "le": _le(bound)}, n)
            hist.add_sample(hist.name + "_bucket", {**labels, "le": "+Inf"}, count)
            hist.add_sample(hist.name + "_count", labels, count)
            hist.add_sample(hist.name + "_sum", labels, total / 1000.0)
            self.sample(bad, "_total", labels, n_bad)

    def custom(self, s: Any, kind: str) -> None:
        """A custom (or unknown system) series as a summary in its base unit."""
        stem, factor = unit_name(s.name, s.unit)
        if s.name == OVERFLOW:   # merged names (units may differ): values as recorded
            stem, factor = _OVERFLOW_FAMILIES[kind][0], 1.0
        self.summary(s, stem, _stem_doc(s.name, s.unit, kind)[1], factor, {})

    def summary(self, s: Any, stem: str, doc: str, factor: float, extra: dict[str, str]) -> None:
        """A summary of ``s`` in the base unit (``factor``); a gauge of its last value once it
        has recorded a negative value (OpenMetrics: no negative quantiles or sums)."""
        count, total, _, lowest, _ = s.snapshot()
        signed = bool(count) and lowest < 0
        fam = self.fams.family(f"{self.ns}_{stem}",
                               f"{doc}; last value (it has been negative)" if signed else doc,
                               "gauge" if signed else "summary")
        labels = {**self.const, **extra}
        if fam is None or not self.fams.series(fam, labels):
            return
        if signed:
            fam.add_sample(fam.name, labels, s.last * factor)
            return
        window = s.histogram("current")
        if window.count:
            for q in QUANTILES:
                value = window.quantile(q) * factor
                fam.add_sample(fam.name, {**labels, "quantile": repr(q)}, value)
        fam.add_sample(fam.name + "_count", labels, count)
        fam.add_sample(fam.name + "_sum", labels, total * factor)

    def system(self, m: _Source) -> None:
        for s in m.series("system"):
            if s.name in _SYSTEM_RATES:
                continue
            spec = _SYSTEM.get(s.name, ...)
            if spec is None:
                continue
            if spec is ...:
                self.custom(s, "system")
            elif spec[1] == "summary":
                self.summary(s, spec[0], spec[2], spec[3], {})
            elif not math.isnan(s.last):
                fam = self.fams.family(f"{self.ns}_{spec[0]}", spec[2], spec[1])
                self.sample(fam, "", dict(self.const), s.last * spec[3])
        totals = getattr(m, "system_totals", None)   # a bare MetricStore has no sampler
        for name, total in (totals() if totals is not None else {}).items():
            fam = self.fams.family(f"{self.ns}_host_{name}", f"Host {name.replace('_', ' ')} "
                                   "since boot", "counter")
            self.sample(fam, "_total", dict(self.const), total)


# kind -> (overflow family stem, HELP); no type word in a name (promtool's lint)
_OVERFLOW_FAMILIES = {
    "metric": ("series_overflow_metric", "Custom metrics with new names past max_series, merged"),
    "system": ("series_overflow_system", "System metrics with new names past max_series, merged"),
    "counter": ("series_overflow_increments",
                "Increments of counters with new names past max_series, merged"),
    "gauge": ("series_overflow_value", "The value last set on a gauge with a new name past "
              "max_series"),
}


def _stem_doc(name: str, unit: str, kind: str) -> tuple[str, str]:
    """The family stem and HELP of a counter, gauge or custom series called ``name``; the
    overflow series of each kind gets its own family."""
    if name == OVERFLOW:
        return _OVERFLOW_FAMILIES[kind]
    if kind in ("counter", "gauge"):
        return unit_name(name, "")[0], f"{kind} {name}"
    return unit_name(name, unit)[0], f"{name} ({unit or 'no unit'})"


def check_new_source(sources: Sequence[tuple[Any, Mapping[str, Any]]], monitor: Any,
                     labels: Mapping[str, Any], shared: str, argument: str, example: str) -> None:
    """A ValueError unless ``monitor`` may join ``sources`` (the monitors exported through one
    ``shared`` thing): it is not among them, and its ``argument`` (labels or attributes) has
    the same keys as theirs and other values, so no series is reported twice."""
    for other, other_labels in sources:
        if other is monitor:
            raise ValueError(f"this monitor is exported through this {shared} already")
        if not labels or set(labels) != set(other_labels) or labels == other_labels:
            raise ValueError(
                f"two monitors on one {shared} need distinct {argument} with the same keys "
                f"(have {dict(other_labels) or 'none'}, got {dict(labels) or 'none'}); e.g. "
                f"{example} and give the first one its own")


def _label_names(kind: str) -> tuple[str, ...]:
    return tuple(KIND_SPECS[kind][2])


def _le(bound: float) -> str:
    """The ``le`` text prometheus_client writes for a bound (``0.1``, ``1.0``, ``2.5``)."""
    return repr(float(bound))


def _check_labels(const_labels: Mapping[str, str] | None) -> dict[str, str]:
    labels = dict(const_labels or {})
    for key, value in labels.items():
        if not isinstance(key, str) or not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", key) \
                or key.startswith("__") or key in ("le", "quantile"):
            raise ValueError(f"const_labels: {key!r} is not a valid label name")
        if not isinstance(value, str):
            raise TypeError(f"const_labels[{key!r}] must be a str, not {type(value).__name__}")
    taken = {name for spec in KIND_SPECS.values() for name in spec[2]}
    clash = taken & set(labels)
    if clash:
        raise ValueError(f"const_labels: {sorted(clash)} are label names of the series already")
    return labels


# registry -> namespace -> its one collector (so monitors on one registry merge, never clash)
_EXPORTERS: weakref.WeakKeyDictionary[Any, dict[str, PrometheusCollector]] = (
    weakref.WeakKeyDictionary())
_EXPORTERS_LOCK = threading.Lock()


def register(monitor: _Source, registry: Any, namespace: str = "defiperf",
             const_labels: Mapping[str, str] | None = None) -> PrometheusCollector:
    """Export ``monitor`` on ``registry`` through the registry's one collector for
    ``namespace`` (made and registered on first use)."""
    with _EXPORTERS_LOCK:
        by_ns = _EXPORTERS.setdefault(registry, {})
        key = check_namespace(namespace)
        collector = by_ns.get(key)
        if collector is None:
            collector = PrometheusCollector(monitor, namespace, const_labels)
            registry.register(collector)
            by_ns[key] = collector
        else:
            collector.add(monitor, const_labels)
        return collector


def unregister(monitor: _Source, registry: Any) -> None:
    """Stop exporting ``monitor`` on ``registry`` (the collector goes when it exports none)."""
    with _EXPORTERS_LOCK:
        by_ns = _EXPORTERS.get(registry, {})
        for key, collector in list(by_ns.items()):
            if any(m is monitor for m in collector.monitors):
                collector.remove(monitor)
                if not collector.monitors:
                    registry.unregister(collector)
                    del by_ns[key]
                return
    raise ValueError("this monitor is not registered on this registry")
