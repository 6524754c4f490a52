"""PerformanceMonitor: the recording core (C) plus sampling, alerts, analysis and reports."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from defiperf._ratelimit import RateLimitedLog
from defiperf.monitor.alerts import AlertEngine, AlertHandler, AlertRule, Alert
from defiperf.monitor.analysis import Bottleneck, HotPath, bottlenecks, hot_paths
from defiperf.monitor.config import DEFAULT_MONITORING_CONFIG, MonitoringConfig
from defiperf.monitor.report import Report
from defiperf.monitor.timing import OpTimer
from defiperf.monitor._store import MetricStore
from defiperf.structures.histogram import LogHistogram

logger = logging.getLogger("defiperf.monitor")
_log = RateLimitedLog(logger, interval_s=60.0)

HISTORY_KINDS = ("request", "http", "db", "chain", "timer", "cache")


class PerformanceMonitor(MetricStore):
    """PerformanceMonitor(config=DEFAULT_MONITORING_CONFIG, *, timer=None, alert_handlers=None,
    system_collector=None)

    Record with the inherited C methods (``record_metric``, ``record_request``,
    ``record_db_query``, ``record_cache``, ``record_chain_call``, ``record_http``, ``counter``,
    ``gauge``, all one ``record(kind, key, value)`` path) or ``timer(name)``. Past
    ``config.max_series`` new names go to ``__overflow__`` series: nothing raises for it and
    memory stays flat. Export with ``register_prometheus``, ``metrics_asgi_app``,
    ``asgi_middleware`` or ``bridge_otel``. ``start()`` runs a background sampler thread that every
    ``config.sample_interval_s`` records system metrics (psutil), samples watched queues, keeps
    percentile history and evaluates alert rules; ``tick()`` does one such step by hand.
    ``with monitor:`` / ``async with monitor:`` start and stop it (the async form also measures
    event-loop lag). Recording is thread-safe under the GIL.

    >>> m = PerformanceMonitor(system_collector=False)
    >>> m.record_metric("price_updates_per_second", 1500, "ops/sec")
    >>> m.record_request("/api/portfolio", 45, True)
    >>> [p.key for p in m.get_hot_paths()]
    ['request:/api/portfolio']
    """

    def __init__(self, config: MonitoringConfig | None = None, *,
                 timer: Callable[[], float] | None = None,
                 alert_handlers: Sequence[AlertHandler] | None = None,
                 system_collector: Any = None) -> None:
        config = DEFAULT_MONITORING_CONFIG if config is None else config
        if not isinstance(config, MonitoringConfig):
            raise TypeError(f"config must be a MonitoringConfig, not {type(config).__name__}")
        super().__init__(window_s=config.window_s, window_slots=config.window_slots,
                         max_series=config.max_series, timer=timer, buckets_s=config.buckets_s)
        self.config = config
        self._clock = timer or time.perf_counter
        self._alerts = AlertEngine() if alert_handlers is None else AlertEngine(list(alert_handlers))
        if system_collector is None and config.system_metrics:
            from defiperf.monitor.system import SystemCollector
            system_collector = SystemCollector()
        self._system = system_collector or None
        self._queues: dict[str, tuple[Callable[[], float], deque[tuple[float, float]]]] = {}
        self.history: dict[str, deque[dict[str, float]]] = {}
        #: called on every tick before the alert rules (the suite's memory guard lives here)
        self.tick_hooks: list[Callable[[], object]] = []
        self._tick_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lag_task: asyncio.Task[None] | None = None

    # --- recording helpers -------------------------------------------------------------------

    def timer(self, name: str) -> OpTimer:
        """A context manager and decorator (sync or async) recording into ``timer:<name>``."""
        return OpTimer(self, name, self._clock)

    def watch_queue(self, name: str, depth: Callable[[], float]) -> None:
        """Sample ``depth()`` every tick; a depth rising over the window is a bottleneck. At
        most ``max_series`` queues are watched: a new one past that is ignored (and logged)."""
        if not isinstance(name, str) or not callable(depth):
            raise TypeError("watch_queue(name: str, depth: callable)")
        if name not in self._queues and len(self._queues) >= self.max_series:
            _log.warning("watch_queue", "max_series=%d queues watched already: %r is not",
                         self.max_series, name)
            return
        self._queues[name] = (depth, deque(maxlen=self.config.history_len))

    def queue_depths(self) -> dict[str, list[tuple[float, float]]]:
        """``{name: [(time, depth)]}`` of every watched queue."""
        return {name: list(samples) for name, (_, samples) in self._queues.items()}

    # --- alerts ------------------------------------------------------------------------------

    def add_alert_rule(self, rule: AlertRule) -> None:
        """Add ``rule`` (replacing a rule of the same name); it is checked on each sampler tick."""
        self._alerts.add(rule)

    def remove_alert_rule(self, name: str) -> None:
        """Remove the rule named ``name`` (its active alert resolves)."""
        self._alerts.remove(name)

    @property
    def alert_rules(self) -> list[AlertRule]:
        """The alert rules, in the order they were added."""
        return self._alerts.rules

    @property
    def alert_handlers(self) -> list[AlertHandler]:
        """The handlers each fired or resolved Alert is given to (a list you may change)."""
        return self._alerts.handlers

    def get_active_alerts(self) -> list[Alert]:
        """The alerts firing now."""
        return self._alerts.active()

    def evaluate_alerts(self) -> list[Alert]:
        """Check every rule now; returns what fired or resolved."""
        return self._alerts.evaluate(self.stat, self.now())

    def stat(self, metric: str, stat: str, window: str = "current") -> float | None:
        """One statistic of a series (or ``"value"`` of a counter/gauge); None without data.
        ``error_rate`` is ``bad_rate``; ``hit_rate`` is ``1 - bad_rate`` (cache series)."""
        if stat == "value":
            for c in self.counters() + self.gauges():
                if c.name == metric:
                    return c.value
            return None
        stats = self.get_series(metric).stats(window)
        if not stats["count"]:
            return None
        if stat == "error_rate":
            return float(stats["bad_rate"])
        if stat == "hit_rate":
            return 1.0 - float(stats["bad_rate"])
        return float(stats[stat])

    # --- analysis ----------------------------------------------------------------------------

    def get_hot_paths(self, n: int = 10) -> list[HotPath]:
        """Operations ranked by total time (count x mean) in the current window."""
        return hot_paths(self, n)

    def get_bottlenecks(self) -> list[Bottleneck]:
        """What limits throughput now, largest impact first (see analysis.IMPACT)."""
        return bottlenecks(self)

    def _summary(self) -> dict[str, Any]:
        served = self.series("request") + self.series("http")   # recorded by hand or middleware
        requests = [s.stats("current") for s in served]
        count = sum(r["count"] for r in requests)
        errors = sum(r["bad"] for r in requests)
        merged = LogHistogram()
        for s in served:
            merged.merge(s.histogram("current"))
        out: dict[str, Any] = {
            "requests": count,
            "errors": errors,
            "error_rate": errors / count if count else None,
            "requests_per_s": sum(r["rate"] for r in requests),
            "request_p99_ms": merged.quantile(0.99) if merged.count else None,
        }
        for s in self.series("cache"):
            st = s.stats("current")
            out[f"cache_{s.name}_hit_rate"] = 1 - st["bad_rate"] if st["count"] else None
        out["series"] = self.n_series
        out["overflow_records"] = self.overflow_records
        out["active_alerts"] = len(self.get_active_alerts())
        return out

    def generate_report(self, hot_paths_n: int = 10) -> Report:
        """Summary, every series (current window and since start), alerts, bottlenecks, hot
        paths and trends (current versus previous window)."""
        series, trends = [], []
        for s in self.series():
            cur, prev = s.stats("current"), s.stats("previous")
            series.append({"key": s.key, "kind": s.kind, "name": s.name, "unit": s.unit,
                           "current": cur, "total": s.stats("total")})
            if cur["count"] and prev["count"]:
                trends.append({"key": s.key, "rate_change": cur["rate"] / prev["rate"] - 1,
                               "p99_change": cur["p99"] / prev["p99"] - 1 if prev["p99"] else None})
        return Report(
            generated_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            monotonic_s=self.now(), window_s=self.window_s, summary=self._summary(),
            series=series, alerts=self.get_active_alerts(), bottlenecks=self.get_bottlenecks(),
            hot_paths=self.get_hot_paths(hot_paths_n), trends=trends,
        )

    def snapshot(self) -> dict[str, Any]:
        """Every series, counter and gauge as plain JSON-able data (NaN as None)."""
        return Report("", self.now(), self.window_s, {
            "counters": {c.name: c.value for c in self.counters()},
            "gauges": {g.name: g.value for g in self.gauges()},
            "overflow_records": self.overflow_records,
        }, series=[{"key": s.key, "kind": s.kind, "name": s.name, "unit": s.unit,
                    "current": s.stats("current"), "total": s.stats("total")}
                   for s in self.series()]).to_dict()

    # --- export ------------------------------------------------------------------------------

    def system_totals(self) -> dict[str, float]:
        """The host's cumulative I/O counters at the last sample (bytes since boot; empty
        without a system collector or before the first tick)."""
        totals = getattr(self._system, "totals", None)
        return dict(totals) if totals else {}

    def _check_buckets(self, buckets_s: Sequence[float] | None) -> None:
        if buckets_s is not None and tuple(float(b) for b in buckets_s) != self.buckets_s:
            raise ValueError(
                f"buckets_s={tuple(buckets_s)!r}: histogram bounds are fixed when the monitor is "
                f"made (MonitoringConfig(buckets_s=...), now {self.buckets_s!r}), because the "
                f"counts are kept exactly at those bounds as values are recorded")

    def prometheus_collector(self, namespace: str = "defiperf",
                             const_labels: Mapping[str, str] | None = None,
                             buckets_s: Sequence[float] | None = None) -> Any:
        """A prometheus_client collector over this monitor alone (register it yourself).
        ``buckets_s``, if given, must be the monitor's ``config.buckets_s``."""
        from defiperf.monitor.prometheus import PrometheusCollector
        self._check_buckets(buckets_s)
        return PrometheusCollector(self, namespace, const_labels)

    def register_prometheus(self, registry: Any = None, namespace: str = "defiperf",
                            const_labels: Mapping[str, str] | None = None,
                            buckets_s: Sequence[float] | None = None) -> Any:
        """Export this monitor on ``registry`` (default: prometheus_client's global REGISTRY).
        Monitors on one registry share one collector per namespace: each needs distinct
        ``const_labels`` (a ValueError says so otherwise), so no series is written twice.
        Histogram bounds are ``config.buckets_s`` (``buckets_s``, if given, must equal them)."""
        from prometheus_client import REGISTRY

        from defiperf.monitor.prometheus import register
        self._check_buckets(buckets_s)
        return register(self, REGISTRY if registry is None else registry, namespace, const_labels)

    def bridge_otel(self, meter_provider: Any = None, prefix: str = "defiperf",
                    attributes: Mapping[str, Any] | None = None,
                    max_pending: int = 16384) -> Any:
        """Expose this monitor through the OpenTelemetry metrics API (needs the ``otel``
        extra): durations as histograms, recorded into the SDK at each collection from a
        bounded pending buffer (a recording thread that fills it drains it), the rest observed
        from the store. Returns the OTelBridge (``close()`` detaches it). Give monitors sharing
        a MeterProvider and prefix distinct ``attributes`` (without, their points add up)."""
        from defiperf.monitor.otel import OTelBridge
        return OTelBridge(self, meter_provider, prefix, attributes, max_pending)

    def asgi_middleware(self, app: Any, **kwargs: Any) -> Any:
        """``app`` wrapped so every HTTP request is recorded (see monitor.middleware)."""
        from defiperf.monitor.middleware import ASGIMetricsMiddleware
        return ASGIMetricsMiddleware(app, self, **kwargs)

    def metrics_asgi_app(self, registry: Any = None, namespace: str = "defiperf") -> Any:
        """An ASGI app serving this monitor's Prometheus exposition, to mount at /metrics."""
        from defiperf.monitor.middleware import metrics_asgi_app
        return metrics_asgi_app(self, registry, namespace)

    def unregister_prometheus(self, registry: Any = None) -> None:
        """Stop exporting this monitor on ``registry`` (default: the global REGISTRY)."""
        from prometheus_client import REGISTRY

        from defiperf.monitor.prometheus import unregister
        unregister(self, REGISTRY if registry is None else registry)

    # --- sampling ----------------------------------------------------------------------------

    def tick(self) -> list[Alert]:
        """One sampler step: system metrics, queue depths, history, alert rules. Returns the
        alerts that fired or resolved."""
        with self._tick_lock:
            now = self.now()
            if self._system is not None:
                for name, value in self._system.sample(now).items():
                    self.record_system(name, value, self._system.UNITS.get(name, ""))
            for name, (depth, samples) in list(self._queues.items()):
                try:
                    samples.append((now, float(depth())))
                except Exception as exc:
                    _log.warning(f"queue:{name}", "queue depth of %r failed: %s: %s", name,
                                 type(exc).__name__, exc)
            for s in self.series():
                if s.kind in HISTORY_KINDS:
                    st = s.stats("current")
                    if st["count"]:
                        points = self.history.setdefault(s.key, deque(maxlen=self.config.history_len))
                        points.append({"t": now, "p50": st["p50"], "p90": st["p90"],
                                       "p99": st["p99"], "rate": st["rate"]})
            for hook in list(self.tick_hooks):
                try:
                    hook()
                except Exception as exc:
                    _log.warning(f"hook:{hook!r}", "monitor tick hook %r failed: %s: %s", hook,
                                 type(exc).__name__, exc)
            return self.evaluate_alerts()

    def _run(self) -> None:
        while not self._stop.wait(self.config.sample_interval_s):
            try:
                self.tick()
            except Exception as exc:  # the sampler must outlive a bad reading
                _log.error("tick", "monitor sampler tick failed: %s: %s", type(exc).__name__, exc,
                           exc_info=True)

    @property
    def running(self) -> bool:
        """True while the sampler thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the sampler thread (a no-op if it runs); takes a first sample at once."""
        if self.running:
            return
        self.tick()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="defiperf-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the sampler thread and wait for it (a no-op if it is not running)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> PerformanceMonitor:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- asyncio -----------------------------------------------------------------------------

    def watch_event_loop(self, interval_s: float = 0.1) -> asyncio.Task[None]:
        """Measure the running loop's lag (how late a ``sleep(interval_s)`` wakes) into
        ``system:event_loop_lag_ms``; call from a coroutine. Stopped by ``async with`` exit or
        ``unwatch_event_loop()``."""
        if not (isinstance(interval_s, (int, float)) and interval_s > 0):
            raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
        if self._lag_task is not None and not self._lag_task.done():
            return self._lag_task

        async def probe() -> None:
            while True:
                start = time.monotonic()
                await asyncio.sleep(interval_s)
                lag_ms = max((time.monotonic() - start - interval_s) * 1000.0, 0.0)
                self.record_system("event_loop_lag_ms", lag_ms, "ms")

        self._lag_task = asyncio.get_running_loop().create_task(probe(), name="defiperf-loop-lag")
        return self._lag_task

    async def unwatch_event_loop(self) -> None:
        """Stop measuring event-loop lag (started by ``watch_event_loop``)."""
        task, self._lag_task = self._lag_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> PerformanceMonitor:
        self.start()
        self.watch_event_loop()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.unwatch_event_loop()
        await asyncio.to_thread(self.stop)
