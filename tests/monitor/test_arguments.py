"""Bad arguments to the recording methods, the Prometheus export and the middleware: a TypeError
or ValueError naming the argument, raised before anything is recorded or registered."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from conftest import FakeTimer
from defiperf.monitor import MonitoringConfig, PerformanceMonitor
from defiperf.monitor.middleware import ASGIMetricsMiddleware, WSGIMetricsMiddleware
from defiperf.monitor.middleware import metrics_asgi_app
from defiperf.monitor.prometheus import PrometheusCollector


def monitor(timer: FakeTimer) -> PerformanceMonitor:
    return PerformanceMonitor(MonitoringConfig(system_metrics=False), timer=timer,
                              alert_handlers=[])


def unchanged(m: PerformanceMonitor) -> tuple[Any, ...]:
    return (m.n_series, [(s.key, s.count, s.bad) for s in m.series()])


@pytest.mark.parametrize("call, arg", [
    (lambda m: m.record_request("/a", 1.0, "False"), "success"),
    (lambda m: m.record_request("/a", 1.0, 0), "success"),
    (lambda m: m.record_db_query("q", 1.0, None), "success"),
    (lambda m: m.record_chain_call("eth", "eth_call", 1.0, "yes"), "success"),
    (lambda m: m.record_timing("job", 1.0, 1), "success"),
    (lambda m: m.record("request", "/a", 1.0, success="False"), "success"),
    (lambda m: m.record_cache("l1", "hit"), "hit"),
    (lambda m: m.record_cache("l1", 1, 0.1), "hit"),
])
def test_success_and_hit_must_be_bools(fake_timer: FakeTimer, call: Callable[[Any], None],
                                       arg: str) -> None:
    m = monitor(fake_timer)
    m.record_request("/a", 1.0)
    m.record_cache("l1", True)
    before = unchanged(m)
    with pytest.raises(TypeError, match=f"^{arg} must be a bool"):
        call(m)
    assert unchanged(m) == before


def test_numpy_bools_are_bools(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer)
    m.record_request("/a", 1.0, np.bool_(False))
    m.record_cache("l1", np.bool_(True))
    assert m.get_series("request:/a").bad == 1 and m.get_series("cache:l1").bad == 0


@pytest.mark.parametrize("status", [-1, 0, 99, 600, 1000, 10**30])
def test_http_status_must_be_a_status_code(fake_timer: FakeTimer, status: int) -> None:
    m = monitor(fake_timer)
    with pytest.raises(ValueError, match="status must be an HTTP status code in 100..599"):
        m.record_http("GET", "/a", status, 1.0)
    assert m.n_series == 0 and m.series("http") == []
    with pytest.raises(ValueError, match="status"):
        m.record("http", ("GET", "/a", str(status)), 1.0)
    with pytest.raises(ValueError, match="status"):
        m.record("http", ("GET", "/a", "2OO"), 1.0)
    assert m.n_series == 0 and m.series("http") == []
    m.record_http("GET", "/a", 100, 1.0)
    m.record_http("GET", "/a", 599, 1.0)
    assert [s.bad for s in m.series("http")] == [0, 1]


@pytest.mark.parametrize("namespace, exc", [
    ("", ValueError), ("my-app", ValueError), ("1app", ValueError), ("app:sub", ValueError),
    ("__app", ValueError), ("app ns", ValueError), (None, TypeError), (b"app", TypeError),
])
def test_namespace_must_be_a_metric_name_prefix(fake_timer: FakeTimer, namespace: Any,
                                                exc: type[Exception]) -> None:
    m = monitor(fake_timer)
    registry = CollectorRegistry()
    with pytest.raises(exc, match="namespace"):
        m.register_prometheus(registry, namespace=namespace)
    with pytest.raises(exc, match="namespace"):
        PrometheusCollector(m, namespace=namespace)
    with pytest.raises(exc, match="namespace"):
        metrics_asgi_app(m, registry, namespace=namespace)
    assert generate_latest(registry) == b""          # nothing was registered
    m.register_prometheus(registry, namespace="My_app2")
    assert b"My_app2_series_overflow_records_total" in generate_latest(registry)


def _asgi_app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("not called")


def _wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
    return [b""]


@pytest.mark.parametrize("make", [
    lambda m, **kw: ASGIMetricsMiddleware(_asgi_app, m, **kw),
    lambda m, **kw: WSGIMetricsMiddleware(_wsgi_app, m, **kw),
])
def test_middleware_checks_its_timer_app_and_hooks(fake_timer: FakeTimer,
                                                   make: Callable[..., Any]) -> None:
    m = monitor(fake_timer)
    with pytest.raises(TypeError, match="^timer must be a callable"):
        make(m, timer=1.5)
    with pytest.raises(ValueError, match="^timer must return finite seconds"):
        make(m, timer=lambda: "now")
    with pytest.raises(ValueError, match="^timer must return finite seconds"):
        make(m, timer=lambda: float("nan"))
    with pytest.raises(TypeError, match="^route must be a callable"):
        make(m, route="/items/{id}")
    with pytest.raises(TypeError, match="^monitor must have record_http"):
        make(object())
    make(m, timer=fake_timer)                        # fine
    with pytest.raises(TypeError, match="^app must be a callable"):
        ASGIMetricsMiddleware("app", m)              # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^app must be a callable"):
        WSGIMetricsMiddleware("app", m)              # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^url_map must be a werkzeug Map"):
        WSGIMetricsMiddleware(_wsgi_app, m, url_map={"/a": "a"})


def test_middleware_records_an_invalid_app_status_as_500(fake_timer: FakeTimer) -> None:
    import asyncio

    m = monitor(fake_timer)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 1000, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def noop(message: Any) -> None:
        pass

    async def receive() -> Any:
        return {"type": "http.request"}

    wrapped = ASGIMetricsMiddleware(app, m, route=lambda scope: "/a", timer=fake_timer)
    asyncio.run(wrapped({"type": "http", "method": "GET", "path": "/a"}, receive, noop))
    assert [(s.labels, s.bad) for s in m.series("http")] == [(("GET", "/a", "500"), 1)]
