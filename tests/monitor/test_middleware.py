"""ASGI and WSGI middleware through real apps: Starlette and FastAPI (through httpx's
ASGITransport), Flask and a bare WSGI app (werkzeug's test Client), and the mountable /metrics
apps."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from defiperf._ratelimit import RateLimitedLog
from defiperf.monitor import MonitoringConfig, PerformanceMonitor, middleware
from defiperf.monitor.middleware import (
    UNMATCHED,
    ASGIMetricsMiddleware,
    WSGIMetricsMiddleware,
    metrics_wsgi_app,
)

import fastapi
import flask
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client


def client_of(app: Any) -> httpx.AsyncClient:
    """An httpx client that calls ``app`` in process (server errors come back as 500s)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def quiet(**cfg: Any) -> PerformanceMonitor:
    return PerformanceMonitor(MonitoringConfig(system_metrics=False, **cfg), alert_handlers=[])


def http_counts(m: PerformanceMonitor) -> dict[str, tuple[int, int]]:
    """{"GET /items/{item_id} 200": (count, failures)} of every http series."""
    return {s.name: (s.count, s.bad) for s in m.series("http")}


def starlette_app(m: PerformanceMonitor) -> Starlette:
    async def item(request: Any) -> JSONResponse:
        return JSONResponse({"id": request.path_params["item_id"]})

    async def boom(request: Any) -> PlainTextResponse:
        raise RuntimeError("handler failed")

    async def teapot(request: Any) -> PlainTextResponse:
        return PlainTextResponse("no", status_code=418)

    return Starlette(
        routes=[Route("/items/{item_id}", item), Route("/boom", boom), Route("/teapot", teapot),
                Mount("/metrics", app=m.metrics_asgi_app())],
        middleware=[Middleware(ASGIMetricsMiddleware, monitor=m)],
    )


async def test_starlette_routes_statuses_and_errors() -> None:
    m = quiet()
    async with client_of(starlette_app(m)) as client:
        for item_id in ("1", "22", "abc"):
            assert (await client.get(f"/items/{item_id}")).status_code == 200
        assert (await client.get("/boom")).status_code == 500
        assert (await client.get("/teapot")).status_code == 418
        assert (await client.get("/no/such/path/123")).status_code == 404
        assert (await client.post("/items/9")).status_code == 405
    got = http_counts(m)
    assert got["GET /items/{item_id} 200"] == (3, 0)     # one series, not one per raw path
    assert got["GET /boom 500"] == (1, 1)
    assert got["GET /teapot 418"] == (1, 0)
    assert got[f"GET {UNMATCHED} 404"] == (1, 0)
    assert not any("/items/1" in name or "123" in name for name in got)
    series = m.get_series("http:GET /items/{item_id} 200")
    assert series.labels == ("GET", "/items/{item_id}", "200") and series.stats()["max"] > 0


async def test_routes_under_a_mount_keep_the_mount_prefix() -> None:
    m = quiet()

    async def item(request: Any) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["item_id"])

    app = Starlette(routes=[Mount("/api", routes=[Route("/items/{item_id}", item)]),
                            Mount("/metrics", app=m.metrics_asgi_app())],
                    middleware=[Middleware(ASGIMetricsMiddleware, monitor=m)])
    async with client_of(app) as client:
        assert (await client.get("/api/items/5")).text == "5"
        assert (await client.get("/api/items/6")).status_code == 200
        assert (await client.get("/metrics/")).status_code == 200
    assert http_counts(m) == {"GET /api/items/{item_id} 200": (2, 0), "GET /metrics 200": (1, 0)}


async def test_metrics_app_is_mountable_and_serves_the_http_histogram() -> None:
    m = quiet()
    async with client_of(starlette_app(m)) as client:
        await client.get("/items/7")
        resp = await client.get("/metrics/")
    assert resp.status_code == 200
    fams = {f.name: f for f in text_string_to_metric_families(resp.text)}
    hist = fams["defiperf_http_server_request_duration_seconds"]
    count = [s for s in hist.samples if s.name.endswith("_count")
             and s.labels["route"] == "/items/{item_id}"]
    assert count[0].labels == {"method": "GET", "route": "/items/{item_id}", "status": "200"}
    assert count[0].value == 1
    assert any(name.startswith("process_") for name in fams)  # the standard collectors too


async def test_any_asgi_app_through_httpx_transport() -> None:
    m = quiet()

    async def bare(scope: Any, receive: Any, send: Any) -> None:  # no framework at all
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = ASGIMetricsMiddleware(bare, m, route=lambda scope: "/fixed")
    async with client_of(app) as client:
        for path in ("/a", "/b"):
            assert (await client.delete(path)).status_code == 204
    assert http_counts(m) == {"DELETE /fixed 204": (2, 0)}


async def test_exceptions_are_recorded_and_reraised() -> None:
    m = quiet()

    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("app bug")

    app = ASGIMetricsMiddleware(broken, m)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(ValueError, match="app bug"):
            await client.get("/x")
    assert http_counts(m) == {f"GET {UNMATCHED} 500": (1, 1)}


async def test_lifespan_and_websocket_scopes_pass_through() -> None:
    m = quiet()
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    mw = ASGIMetricsMiddleware(app, m)
    await mw({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    await mw({"type": "websocket", "path": "/ws"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan", "websocket"] and m.series("http") == []


async def test_a_failing_monitor_never_breaks_the_app(caplog: pytest.LogCaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(middleware, "_log", RateLimitedLog(middleware._log.logger))  # fresh
    class Broken:
        def record_http(self, *args: Any) -> None:
            raise RuntimeError("monitor down")

    async def ok(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/", ok)],
                    middleware=[Middleware(ASGIMetricsMiddleware, monitor=Broken())])
    with caplog.at_level(logging.WARNING, logger="defiperf.monitor"):
        async with client_of(app) as client:
            for _ in range(20):
                assert (await client.get("/")).text == "ok"
    assert sum("monitor down" in r.getMessage() for r in caplog.records) == 1  # rate-limited


async def test_route_cardinality_stays_bounded_past_max_series() -> None:
    m = quiet(max_series=4)
    async with client_of(starlette_app(m)) as client:
        for i in range(30):
            await client.get(f"/unknown/{i}")
            await client.get(f"/items/{i}")
    assert m.n_series <= 4
    assert sum(c for c, _ in http_counts(m).values()) == 60


async def test_fastapi_app_with_add_middleware() -> None:
    m = quiet()
    app = fastapi.FastAPI()

    @app.get("/users/{user_id}/orders/{order_id}")
    async def order(user_id: int, order_id: int) -> dict[str, int]:
        return {"user": user_id, "order": order_id}

    app.add_middleware(ASGIMetricsMiddleware, monitor=m)
    app.mount("/metrics", m.metrics_asgi_app())
    async with client_of(app) as client:
        for i in range(5):
            assert (await client.get(f"/users/{i}/orders/{i * 10}")).status_code == 200
        assert (await client.get("/users/x/orders/1")).status_code == 422
        body = (await client.get("/metrics/")).text
    got = http_counts(m)
    assert got["GET /users/{user_id}/orders/{order_id} 200"] == (5, 0)
    assert got["GET /users/{user_id}/orders/{order_id} 422"] == (1, 0)
    assert 'route="/users/{user_id}/orders/{order_id}"' in body


# --- WSGI ------------------------------------------------------------------------------------


def test_flask_routes_through_the_url_map() -> None:
    m = quiet()
    app = flask.Flask("t")

    @app.get("/pools/<pool_id>")
    def pool(pool_id: str) -> str:
        return pool_id

    @app.get("/fail")
    def fail() -> str:
        raise RuntimeError("view failed")

    app.wsgi_app = WSGIMetricsMiddleware(app.wsgi_app, m, url_map=app.url_map)  # type: ignore[method-assign]
    served = DispatcherMiddleware(app, {"/metrics": metrics_wsgi_app(m)})
    c = Client(served)

    def get(path: str) -> Any:  # a server reads and closes every body (PEP 3333): so do we
        resp = c.get(path)
        resp.get_data()
        resp.close()
        return resp

    for pool_id in ("a", "b", "c"):
        assert get(f"/pools/{pool_id}").status_code == 200
    assert get("/fail").status_code == 500
    assert get("/nope").status_code == 404
    metrics = get("/metrics")
    got = http_counts(m)
    assert got["GET /pools/<pool_id> 200"] == (3, 0)
    assert got["GET /fail 500"] == (1, 1)
    assert got[f"GET {UNMATCHED} 404"] == (1, 0)
    assert 'route="/pools/<pool_id>"' in metrics.get_data(as_text=True)


def test_bare_wsgi_app_with_a_route_function_and_a_streamed_body() -> None:
    m = quiet()
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Any:
            yield b"a"
            yield b"b"

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("201 Created", [("Content-Type", "text/plain")])
        return Body()

    def route(environ: dict[str, Any]) -> str:
        return "/things/{id}" if environ["PATH_INFO"].startswith("/things/") else ""

    c = Client(WSGIMetricsMiddleware(app, m, route=route))
    first = c.post("/things/1")
    assert m.series("http") == []               # not done until the body is sent
    assert first.get_data() == b"ab"
    assert http_counts(m) == {"POST /things/{id} 201": (1, 0)}
    first.close()
    for path in ("/things/2", "/other"):
        resp = c.post(path)
        assert resp.status_code == 201 and resp.get_data() == b"ab"
        resp.close()
    assert closed == [True, True, True]         # the app's close() still runs, once
    assert http_counts(m) == {"POST /things/{id} 201": (2, 0), f"POST {UNMATCHED} 201": (1, 0)}


def test_flask_url_map_is_found_without_being_passed() -> None:
    m = quiet()
    app = flask.Flask("t2")

    @app.get("/tokens/<int:token_id>")
    def token(token_id: int) -> str:
        return str(token_id)

    app.wsgi_app = WSGIMetricsMiddleware(app.wsgi_app, m)  # type: ignore[method-assign]
    client = Client(app)
    for token_id in (1, 2):
        resp = client.get(f"/tokens/{token_id}")
        assert resp.get_data() == str(token_id).encode()
        resp.close()
    assert http_counts(m) == {"GET /tokens/<int:token_id> 200": (2, 0)}


def test_wsgi_app_that_raises_is_recorded_as_500() -> None:
    m = quiet()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        Client(WSGIMetricsMiddleware(app, m)).get("/x")
    assert http_counts(m) == {f"GET {UNMATCHED} 500": (1, 1)}


def test_middleware_refuses_what_is_not_a_monitor() -> None:
    with pytest.raises(TypeError, match="record_http"):
        ASGIMetricsMiddleware(lambda *a: None, object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="record_http"):
        WSGIMetricsMiddleware(lambda *a: [], object())  # type: ignore[arg-type]


async def test_thousands_of_concurrent_requests_are_all_recorded() -> None:
    import asyncio

    m = quiet()

    async def slow(request: Any) -> PlainTextResponse:
        await asyncio.sleep(0)
        return PlainTextResponse("ok", status_code=200 if request.path_params["n"] % 7 else 500)

    app = Starlette(routes=[Route("/jobs/{n:int}", slow)],
                    middleware=[Middleware(ASGIMetricsMiddleware, monitor=m)])
    async with client_of(app) as client:
        codes = await asyncio.gather(*(client.get(f"/jobs/{i}") for i in range(2000)))
    assert sum(r.status_code == 500 for r in codes) == len(range(0, 2000, 7))
    got = http_counts(m)
    assert got == {"GET /jobs/{n} 200": (2000 - 286, 0), "GET /jobs/{n} 500": (286, 286)}


async def test_http_routes_feed_hot_paths_bottlenecks_and_the_report() -> None:
    m = quiet(min_samples=5)

    async def slow(request: Any) -> PlainTextResponse:
        return PlainTextResponse("late", status_code=503)

    app = Starlette(routes=[Route("/quotes/{pair}", slow)],
                    middleware=[Middleware(ASGIMetricsMiddleware, monitor=m)])
    async with client_of(app) as client:
        for i in range(10):
            await client.get(f"/quotes/{i}")
    key = "http:GET /quotes/{pair} 503"
    assert [p.key for p in m.get_hot_paths()] == [key]
    assert any(b.kind == "error_rate" and b.subject == key for b in m.get_bottlenecks())
    summary = m.generate_report().summary
    assert summary["requests"] == 10 and summary["errors"] == 10


async def test_made_up_http_methods_share_one_label_and_cannot_fill_the_cap() -> None:
    m = quiet(max_series=100)
    async with client_of(starlette_app(m)) as client:
        for i in range(150):
            await client.request(f"X{i}", "/items/1")
        assert (await client.get("/items/1")).status_code == 200
    names = set(http_counts(m))
    assert "GET /items/{item_id} 200" in names
    assert not any(name.startswith("X") for name in names)
    assert any(name.startswith("_OTHER /items/{item_id}") for name in names)


async def test_a_parameter_in_a_mount_path_is_a_template_not_raw_values() -> None:
    m = quiet()

    async def post(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Mount("/users/{uid}", routes=[Route("/posts/{pid}", post)])],
                    middleware=[Middleware(ASGIMetricsMiddleware, monitor=m)])
    async with client_of(app) as client:
        for uid in range(20):
            assert (await client.get(f"/users/{uid}/posts/{uid * 7}")).status_code == 200
    assert http_counts(m) == {"GET /users/{uid}/posts/{pid} 200": (20, 0)}


async def test_a_fastapi_sub_app_under_a_parameterised_mount() -> None:
    m = quiet()
    sub = fastapi.FastAPI()

    @sub.get("/items/{iid}")
    async def item(iid: str) -> dict[str, str]:
        return {"iid": iid}

    app = fastapi.FastAPI()
    app.mount("/tenant/{tid}", sub)
    app.add_middleware(ASGIMetricsMiddleware, monitor=m)
    async with client_of(app) as client:
        for t in ("a", "b", "c"):
            assert (await client.get(f"/tenant/{t}/items/{t}1")).status_code == 200
    assert http_counts(m) == {"GET /tenant/{tid}/items/{iid} 200": (3, 0)}


async def test_work_after_the_response_is_not_the_requests_latency_or_status() -> None:
    m = quiet()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        await asyncio.sleep(0.3)               # a background task after the response
        raise RuntimeError("background task failed")

    wrapped = ASGIMetricsMiddleware(app, m, route=lambda scope: "/jobs")
    async with client_of(wrapped) as client:
        assert (await client.get("/jobs")).status_code == 200
    (series,) = m.series("http")
    assert series.name == "GET /jobs 200" and series.stats("total")["max"] < 250
