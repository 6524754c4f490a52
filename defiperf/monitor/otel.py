"""OpenTelemetry bridge: a monitor's series through the OpenTelemetry metrics API (``otel`` extra).

``OTelBridge(monitor, meter_provider)`` (or ``monitor.bridge_otel(...)``) reports:

- per duration kind (``request``, ``db``, ``cache``, ``chain``, ``timer``, ``http``) a histogram
  in seconds, ``<prefix>.request.duration`` ..., with the series' labels as attributes (``http``
  uses the semantic-convention attributes ``http.request.method``, ``http.route``,
  ``http.response.status_code``) and the monitor's ``buckets_s`` as
  ``explicit_bucket_boundaries_advisory`` (the SDK uses them unless a View of yours chooses
  another aggregation); and failures as an observable counter (``<prefix>.request.errors``,
  cache misses as ``<prefix>.cache.misses``; since the series was made);
- custom metrics (``record_metric``) in their base unit: ``<prefix>.metric.count``,
  ``<prefix>.metric.sum`` (an up-down counter: values may be negative) and
  ``<prefix>.metric.last`` (a gauge), attributes ``name`` and ``unit``;
- every ``counter()`` (``<prefix>.counters``), ``gauge()`` (``<prefix>.gauges``), the host
  gauges (``<prefix>.system``) and the overflow records, observed from the store.

How the histograms stay exact and recording stays cheap: the metrics API has no asynchronous
histogram, so every duration must reach the SDK as one ``Histogram.record()``, which costs
microseconds. A bridged monitor's store therefore appends each duration (a C array write, no
Python call) to a bounded pending buffer; the bridge records the buffer into the histograms in
an observable instrument's callback, which the SDK runs before it aggregates the synchronous
instruments of the same collection (``SynchronousMeasurementConsumer.collect``). A collection
thus reports every duration recorded before it, with its exact value (a value on a bound counts
in that bound's bucket, exactly as the store counts it). When the buffer fills between
collections, the recording thread that filled it only takes it (``take_pending_batch``: a buffer
swap, no Python object per value, microseconds) and queues it for the bridge's drain thread (one
daemon thread per bridged monitor, started on the first full buffer, ended by ``close()`` or
after 30 s idle), which records it into the SDK (several microseconds a value; it holds the GIL
while it does, so a record on another thread may wait up to ``sys.getswitchinterval()``, 5 ms by
default). A collection records what is queued, then what is pending, in recording order, waiting
(at most 5 s) for a batch the thread is recording: each value reaches the SDK exactly once, and
a collection still sees everything recorded before it. Backpressure: when 4 batches are queued
already (the SDK cannot keep up with the recording rate), the recording thread that fills the
buffer records them itself, paying the SDK's cost (about 0.1 s at 16384 values a batch) as a
collection would; memory stays bounded (at most 5 batches). In a forked child the bridge starts
a drain thread of its own when needed. A monitor without a bridge appends nothing. The
histograms count what was recorded while bridged (as any instrument made at that time would);
the other instruments read the store's totals since each series was made.

Several monitors may share one MeterProvider and prefix (with the same ``buckets_s``): the
instruments are made once. Give each its own ``attributes`` to tell them apart; points of two
monitors with the same attributes add up (histograms, failures, counters: nothing lost), except
gauges, where the first bridged monitor's value is reported and a (rate-limited) warning asks for
distinct attributes. Only this module imports ``opentelemetry``.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from defiperf._ratelimit import RateLimitedLog
from defiperf.monitor._store import MetricStore, PendingBatch, Series
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
        names.append(f"{prefix}.{stem}")
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

    def __init__(self, meter: Any, observation: Any, prefix: str,
                 buckets_s: tuple[float, ...]) -> None:
        self.sources: list[tuple[Any, dict[str, Any]]] = []
        self.buckets_s = buckets_s
        self._observation = observation
        #: kind -> its synchronous histogram (fed by _Tap.drain)
        self.histograms = {
            kind: meter.create_histogram(f"{prefix}.{stem}", unit="s", description=doc,
                                         explicit_bucket_boundaries_advisory=list(buckets_s))
            for kind, (stem, doc, _, _) in _TIMED.items()}
        observe = meter.create_observable_counter
        # First callback of the first observable instrument: the SDK runs every callback before
        # it aggregates the synchronous histograms, so this collection sees what is drained.
        callbacks = [self._drain]
        for kind, (stem, doc, _, bad) in _TIMED.items():
            if bad is not None:
                observe(f"{prefix}.{bad}", [*callbacks, self._failures(kind)], unit="1",
                        description=f"{doc}: failures (misses for caches)")
                callbacks = []
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

    def _drain(self, options: Any) -> Iterator[Any]:
        """Record what every monitor bridged here has pending (observes nothing itself)."""
        for monitor, _ in list(self.sources):
            tap = _TAPS.get(id(monitor))
            if tap is None or tap.monitor is not monitor:
                continue                              # closed meanwhile
            try:
                if not tap.drain():
                    _log.warning("otel.wait", "OpenTelemetry: the drain thread took over %.0f s "
                                 "to record a batch; it reaches the next collection",
                                 tap.WAIT_S)
            except Exception as exc:  # noqa: BLE001 - one bad monitor must not hide the rest
                _log.warning("otel.drain", "OpenTelemetry: recording a monitor's durations "
                             "failed: %s: %s", type(exc).__name__, exc)
        return iter(())

    def _failures(self, kind: str) -> Callable[[Any], Iterator[Any]]:
        """Failures (misses for caches) of each series of ``kind``, since it was made."""
        return self._each(lambda m: [(s.bad, series_attributes(s)) for s in m.series(kind)])

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


def series_attributes(series: Series) -> dict[str, Any]:
    """The OpenTelemetry attributes of a duration series (its labels, semantic-convention names
    for HTTP: the status code as an int)."""
    attrs: dict[str, Any] = dict(zip(_TIMED[series.kind][2], series.labels))
    if series.kind == "http":
        status = attrs["http.response.status_code"]
        attrs["http.response.status_code"] = int(status) if status.isdigit() else status
    return attrs


#: where one bridge sends durations: its instruments, its attributes, series -> full attributes
_Target = tuple[_Instruments, dict[str, Any], dict[Series, dict[str, Any]]]


class _Tap:
    """The pending durations of one monitor and the bridges they go to (every value to each).

    Handover: a full buffer is taken by the recording thread (``on_full``:
    ``take_pending_batch``, a buffer swap, no Python object per value) and queued; one daemon
    thread per tap, started on the first full buffer, records queued batches into the SDK. A
    collection (``drain``) records what is queued, then what is pending, in that order. Batches
    leave the queue only under ``_handover`` and are recorded only under ``_delivering``, so
    each value is recorded exactly once and a collection waits for a batch the thread is
    recording. Backpressure: with ``MAX_QUEUED`` batches queued already (the SDK is slower than
    the recording rate), the recording thread records them itself, as a collection does."""

    #: batches queued for the drain thread before the recording thread records them itself
    MAX_QUEUED = 4
    #: how long a collection or close() waits for the batch the drain thread is recording
    WAIT_S = 5.0
    #: a drain thread idle this long ends (a new one starts on the next full buffer)
    IDLE_S = 30.0

    def __init__(self, monitor: MetricStore) -> None:
        self.monitor = monitor
        self.targets: list[_Target] = []
        self._reset()

    def _reset(self) -> None:
        self._handover = threading.Condition(threading.RLock())
        self._delivering = threading.RLock()
        self._queue: deque[PendingBatch] = deque()
        self._thread: threading.Thread | None = None

    def after_fork(self) -> None:
        """In a forked child: new locks (the parent's may be held by its threads) and no drain
        thread (it does not exist here); what is queued is kept, as the store's totals are."""
        queued = self._queue
        self._reset()
        self._queue.extend(queued)

    def on_full(self) -> None:
        """The recording thread's share of a full buffer: take it and queue it (or, with
        ``MAX_QUEUED`` batches queued already, record everything itself)."""
        with self._handover:
            if len(self._queue) < self.MAX_QUEUED:
                batch = self.monitor.take_pending_batch()
                if len(batch):
                    self._queue.append(batch)
                    self._handover.notify()
                    if self._thread is not None or self._start_thread():
                        return
                else:
                    return
        self.drain()                # backpressure (or no thread at shutdown): as a collection

    def _start_thread(self) -> bool:
        thread = threading.Thread(target=self._run, name="defiperf-otel-drain", daemon=True)
        self._thread = thread
        try:
            thread.start()
        except RuntimeError:                          # interpreter shutdown
            self._thread = None
            return False
        return True

    def _run(self) -> None:
        """The drain thread: record queued batches, oldest first; end when idle."""
        me = threading.current_thread()
        while True:
            with self._handover:
                if self._thread is not me:
                    return                            # replaced (closed, forked)
                if not self._queue and not self._handover.wait(self.IDLE_S) \
                        and not self._queue:
                    self._thread = None
                    return
            with self._delivering:
                with self._handover:
                    batch = self._queue.popleft() if self._queue else None
                if batch is not None:
                    self._deliver_logged(batch, list(self.targets))

    def drain(self, timeout: float | None = None) -> bool:
        """Record what is queued, then what is pending, into each target's histogram (for a
        collection, close() and backpressure); waits at most ``timeout`` (``WAIT_S``) for the
        batch the drain thread is recording. False if that wait timed out: that batch then
        reaches the SDK after this drain (the rest is recorded here all the same; batches
        leave the queue only under ``_handover``, so nothing is recorded twice)."""
        waited = self._delivering.acquire(timeout=self.WAIT_S if timeout is None else timeout)
        try:
            with self._handover:
                batches = [*self._queue, self.monitor.take_pending_batch()]
                self._queue.clear()
            targets = list(self.targets)
            for batch in batches:
                self._deliver_logged(batch, targets)
        finally:
            if waited:
                self._delivering.release()
        return waited

    def _deliver_logged(self, batch: PendingBatch | list[tuple[Series, list[float]]],
                        targets: list[_Target]) -> None:
        try:
            self.deliver(batch if isinstance(batch, list) else batch.items(), targets)
        except Exception as exc:  # noqa: BLE001 - the other batches must still be recorded
            _log.warning("otel.drain", "OpenTelemetry: recording a monitor's durations "
                         "failed: %s: %s", type(exc).__name__, exc)

    def stop_thread(self, timeout: float) -> bool:
        """End the drain thread (queued batches stay, for drain()); False if it is still
        recording after ``timeout`` seconds."""
        with self._handover:
            thread, self._thread = self._thread, None
            self._handover.notify_all()
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def flush(self, left: list[tuple[Series, list[float]]], targets: list[_Target]) -> None:
        """Record what is queued, then ``left``, into ``targets`` (close() of the last bridge,
        once nothing appends or queues any more)."""
        with self._handover:
            batches: list[PendingBatch | list[tuple[Series, list[float]]]] = [*self._queue, left]
            self._queue.clear()
        for batch in batches:
            self._deliver_logged(batch, targets)

    @staticmethod
    def deliver(batch: list[tuple[Series, list[float]]], targets: list[_Target]) -> None:
        for instruments, const, cache in targets:
            for series, values in batch:
                attrs = cache.get(series)
                if attrs is None:
                    attrs = cache[series] = {**const, **series_attributes(series)}
                record = instruments.histograms[series.kind].record
                for value in values:
                    record(value, attrs)


# id(monitor) -> its _Tap while at least one bridge of it is open (holds the monitor);
# changed under _SHARED_LOCK
_TAPS: dict[int, _Tap] = {}


def _after_fork_in_child() -> None:
    """The child of a fork has one thread: no drain thread runs and no lock is held."""
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()
    for tap in list(_TAPS.values()):
        tap.after_fork()


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
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class OTelBridge:
    """Exposes ``monitor`` (a PerformanceMonitor or MetricStore) through ``meter_provider``
    (default: the global one) under ``prefix`` (``defiperf.request.duration``), with
    ``attributes`` added to every point (to tell monitors sharing a provider and prefix apart;
    without, their totals add up). Up to ``max_pending`` recorded durations wait for the next
    collection; a full buffer is queued for the bridge's drain thread (the recording thread
    records it itself only when 4 batches wait already: see the module). A collection records
    what is queued and pending inside a callback, so it must fit the SDK's callback timeout (up
    to 5 x ``max_pending`` times the SDK's per-value cost: keep ``max_pending`` well below
    200,000). The values reach the SDK
    outside the request's context, so trace-based exemplars are not linked to its span.
    ``close()`` records what is queued and pending and stops it."""

    def __init__(self, monitor: Any, meter_provider: Any = None, prefix: str = "defiperf",
                 attributes: Mapping[str, Any] | None = None, max_pending: int = 16384) -> None:
        try:
            from opentelemetry import metrics
        except ImportError as exc:
            raise ImportError("the OpenTelemetry bridge needs opentelemetry-api: "
                              "pip install 'defiperf[otel]'") from exc
        if not isinstance(monitor, MetricStore):
            raise TypeError(f"monitor must be a PerformanceMonitor or MetricStore, not "
                            f"{type(monitor).__name__}")
        if isinstance(max_pending, bool) or not isinstance(max_pending, int):
            raise TypeError(f"max_pending must be an int, not {type(max_pending).__name__}")
        if not 1 <= max_pending <= 1 << 24:
            raise ValueError(f"max_pending must be in 1..{1 << 24}, got {max_pending}")
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
            if shared is not None and shared.buckets_s != monitor.buckets_s:
                raise ValueError(f"the histograms of this MeterProvider and prefix have bounds "
                                 f"{shared.buckets_s!r}, this monitor {monitor.buckets_s!r}: "
                                 f"bridge it under another prefix")
            if shared is None:
                meter = provider.get_meter("defiperf", __version__)
                shared = by_prefix[prefix] = _Instruments(meter, metrics.Observation, prefix,
                                                          monitor.buckets_s)
            tap = _TAPS.get(id(monitor))
            if tap is None or tap.monitor is not monitor:
                tap = _Tap(monitor)
            if max_pending > monitor.pending_cap:      # keeps what is pending
                monitor.start_pending(max_pending, tap.on_full)
            _TAPS[id(monitor)] = tap
            self._target: _Target = (shared, attrs, {})
            tap.targets.append(self._target)
            shared.sources.append((monitor, attrs))
        self._shared = shared
        self._monitor = monitor
        #: the bridged monitor
        self.monitor: MetricStore = monitor
        self._tap = tap
        self.prefix = prefix
        self.attributes = attrs
        self.max_pending = max_pending

    def close(self, timeout: float = 10.0) -> bool:
        """Record what is queued and pending, then stop reporting this monitor here
        (idempotent); the instruments stay for other monitors and for a later bridge. A monitor
        with no bridge left stops keeping durations and its drain thread ends. Waits at most
        about ``timeout`` seconds for the drain thread (for the batch it is recording, then for
        it to end); returns False if it had to stop waiting (that batch still reaches the SDK
        when the thread finishes it; everything else is recorded before close returns)."""
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number, not {type(timeout).__name__}")
        if not timeout >= 0:
            raise ValueError(f"timeout must be >= 0, got {timeout!r}")
        if not any(t is self._target for t in self._tap.targets):
            return True
        deadline = time.monotonic() + timeout
        done = self._tap.drain(timeout)
        with _SHARED_LOCK:
            if not any(t is self._target for t in self._tap.targets):
                return done                             # closed by another thread meanwhile
            self._tap.targets[:] = [t for t in self._tap.targets if t is not self._target]
            self._shared.sources[:] = [(m, a) for m, a in self._shared.sources
                                       if m is not self._monitor]
            last = not self._tap.targets
            if last:
                del _TAPS[id(self._monitor)]
                left = self._monitor.stop_pending()
        if last:                                        # recorded since the drain above
            done = self._tap.stop_thread(max(0.0, deadline - time.monotonic())) and done
            self._tap.flush(left, [self._target])
        return done
