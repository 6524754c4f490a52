"""ASGI and WSGI middleware that record every HTTP request into a monitor, and /metrics apps.

Each request becomes one record of the ``http`` kind: method, route *template* (``/items/{id}``,
never the raw path, so the series stay few), status and latency; a status >= 500 or an exception
counts as a failure. Requests no route matched share the route ``UNMATCHED``. Nothing here
imports a web framework: Starlette/FastAPI routes are read from the ASGI scope they fill in,
werkzeug/Flask routes from the ``url_map`` you pass.

    app.add_middleware(ASGIMetricsMiddleware, monitor=monitor)          # Starlette / FastAPI
    app.mount("/metrics", metrics_asgi_app(monitor))
    flask_app.wsgi_app = WSGIMetricsMiddleware(flask_app.wsgi_app, monitor,
                                               url_map=flask_app.url_map)
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any, Protocol

from defiperf._ratelimit import RateLimitedLog

UNMATCHED = "<unmatched>"
#: status recorded for a request whose client went away before the response (nginx's 499)
CLIENT_CLOSED = 499

_log = RateLimitedLog(logging.getLogger("defiperf.monitor"), interval_s=60.0)

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]


class HTTPRecorder(Protocol):
    """What the middleware needs of a monitor."""

    def record_http(self, method: str, route: str, status: int, duration_ms: float) -> None: ...


# The methods of RFC 9110 and PATCH; anything else a client sends is one label, not one each
# (as OpenTelemetry's HTTP conventions do), so made-up methods cannot fill the series cap.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                           "PATCH"})


def _check_common(app: Any, monitor: Any, timer: Any) -> None:
    """The arguments both middlewares take: TypeError/ValueError naming the bad one."""
    if not callable(app):
        raise TypeError(f"app must be a callable (the app to wrap), not {type(app).__name__}")
    if not callable(getattr(monitor, "record_http", None)):
        raise TypeError("monitor must have record_http (a PerformanceMonitor)")
    if not callable(timer):
        raise TypeError(f"timer must be a callable returning seconds, not {type(timer).__name__}")
    now = timer()
    if isinstance(now, bool) or not isinstance(now, (int, float)) or not math.isfinite(now):
        raise ValueError(f"timer must return finite seconds (a float), got {now!r}")


def _record(monitor: HTTPRecorder, method: str, route: str, status: int, ms: float) -> None:
    """Record one request; a monitor error is logged (rate-limited), never raised into the app."""
    if method not in KNOWN_METHODS:
        method = "_OTHER"
    if not 100 <= status <= 599:   # the app sent no valid status: the server fails the response
        status = 500
    try:
        monitor.record_http(method, route, status, max(ms, 0.0))
    except Exception as exc:  # noqa: BLE001 - observability must not break serving
        _log.warning("middleware.record", "recording an HTTP request failed: %s: %s",
                     type(exc).__name__, exc)


def starlette_route(scope: Scope) -> str | None:
    """The template of the route Starlette/FastAPI matched (they put it in the scope), with the
    prefix of the Mount it sits under (``/api`` + ``/items/{id}``). A mounted app that is not a
    router (``Mount("/metrics", app)``) is named by its mount path."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str):
        return None
    if not hasattr(route, "endpoint"):   # a Mount of an app: its path, not "/metrics/{path}"
        path = getattr(route, "path", None)
        return path if isinstance(path, str) and path else template
    if "app_root_path" not in scope:
        return template
    root, app_root = str(scope.get("root_path", "")), str(scope["app_root_path"])
    prefix = root[len(app_root):] if root.startswith(app_root) else ""
    if not prefix:
        return template
    # the app and path as this middleware saw them: a mounted sub-app rewrites scope["app"]
    outer = scope.get("defiperf.outer", scope)
    mounts = _mount_templates(getattr(outer.get("app"), "routes", None), outer, len(prefix))
    # The Mounts' own templates ("/users/{uid}"), not the path they matched ("/users/42"): a
    # parameter in a Mount path must not put raw values into the label.
    return (mounts if mounts is not None else prefix).rstrip("/") + template


def _mount_templates(routes: Any, scope: Scope, depth: int) -> str | None:
    """The path templates of the chain of Mounts that matched this request (as Starlette
    matches them), or None when they cannot be found (then the caller keeps the raw prefix)."""
    try:
        from starlette.routing import Match, Mount
    except ImportError:
        return None
    if not routes or depth <= 0:
        return None
    probe = {"type": "http", "path": scope.get("path") or "",
             "root_path": scope.get("app_root_path") or "", "method": scope.get("method") or "GET"}
    out = ""
    for _ in range(8):  # Mounts nest a few levels at most
        for route in routes:
            if isinstance(route, Mount):
                match, child = route.matches(probe)
                if match is Match.FULL:
                    fmt = route.path_format  # "/users/{uid}/{path}": the Mount adds {path}
                    out += (fmt[:-len("/{path}")] if fmt.endswith("/{path}") else fmt).rstrip("/")
                    probe = {**probe, **child}
                    routes = getattr(route, "routes", None)
                    break
        else:
            return out or None
        if not routes:
            return out
    return out


class ASGIMetricsMiddleware:
    """ASGIMetricsMiddleware(app, monitor, *, route=starlette_route, timer=time.perf_counter)

    Times each HTTP request of ``app`` until its last response body message is sent (work the
    app does after that, e.g. a background task, is not the client's latency, and its error does
    not change the status the client got). ``route(scope)`` returns the
    route template once the app has run (None: unmatched). Lifespan and websocket scopes pass
    through untouched.
    """

    def __init__(self, app: ASGIApp, monitor: HTTPRecorder, *,
                 route: Callable[[Scope], str | None] = starlette_route,
                 timer: Callable[[], float] = time.perf_counter) -> None:
        _check_common(app, monitor, timer)
        if not callable(route):
            raise TypeError(f"route must be a callable(scope), not {type(route).__name__}")
        self.app = app
        self.monitor = monitor
        self.route = route
        self.timer = timer

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        start = self.timer()
        status = 500
        scope["defiperf.outer"] = {k: scope.get(k) for k in ("app", "path", "app_root_path", "method")}

        sent: float | None = None  # when the last body message went out

        async def send_status(message: Mapping[str, Any]) -> None:
            nonlocal status, sent
            kind = message.get("type")
            if kind == "http.response.start":
                status = int(message.get("status", 500))
            await send(message)
            if kind == "http.response.body" and not message.get("more_body", False):
                sent = self.timer()

        try:
            await self.app(scope, receive, send_status)
        except asyncio.CancelledError:
            if sent is None:
                status = CLIENT_CLOSED
            raise
        except BaseException:
            if sent is None:  # after the response went out (a background task) the client
                status = 500  # got its status: that is what is recorded
            raise
        finally:
            ms = ((sent if sent is not None else self.timer()) - start) * 1000.0
            _record(self.monitor, str(scope.get("method", "GET")), self._route(scope), status, ms)

    def _route(self, scope: Scope) -> str:
        try:
            template = self.route(scope)
        except Exception as exc:  # noqa: BLE001 - a broken route hook must not break serving
            _log.warning("middleware.route", "route(scope) failed: %s: %s", type(exc).__name__, exc)
            return UNMATCHED
        return template if isinstance(template, str) and template else UNMATCHED


class WSGIMetricsMiddleware:
    """WSGIMetricsMiddleware(app, monitor, *, url_map=None, route=None, timer=time.perf_counter)

    Times each request of the WSGI ``app`` until its response body is sent or closed; a response
    the server stops sending before its end (the client went away) is recorded as 499, an app
    that raises as 500. The route
    template comes from ``route(environ)`` when given, else from a werkzeug ``url_map`` (found
    by itself on a Flask app or its ``wsgi_app``), else every request is ``UNMATCHED`` (raw
    paths are never used).
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], monitor: HTTPRecorder, *,
                 url_map: Any = None, route: Callable[[dict[str, Any]], str | None] | None = None,
                 timer: Callable[[], float] = time.perf_counter) -> None:
        _check_common(app, monitor, timer)
        if route is not None and not callable(route):
            raise TypeError("route must be a callable(environ) -> template or None")
        if url_map is not None and not callable(getattr(url_map, "bind_to_environ", None)):
            raise TypeError("url_map must be a werkzeug Map (with bind_to_environ)")
        self.app = app
        self.monitor = monitor
        if url_map is None and route is None:  # Flask: the app or its bound wsgi_app
            url_map = getattr(getattr(app, "__self__", app), "url_map", None)
        self.url_map = url_map
        self.route = route
        self.timer = timer

    def _route(self, environ: dict[str, Any]) -> str:
        try:
            if self.route is not None:
                template = self.route(environ)
            elif self.url_map is not None:
                template = _werkzeug_route(self.url_map, environ)
            else:
                template = None
        except Exception as exc:  # noqa: BLE001 - a broken route hook must not break serving
            _log.warning("middleware.route", "route(environ) failed: %s: %s",
                         type(exc).__name__, exc)
            template = None
        return template if isinstance(template, str) and template else UNMATCHED

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start = self.timer()
        status = [500]

        def start_status(status_line: str, headers: Any, exc_info: Any = None) -> Any:
            try:
                status[0] = int(status_line.split(None, 1)[0])
            except (ValueError, IndexError):
                status[0] = 500
            if exc_info is not None:
                return start_response(status_line, headers, exc_info)
            return start_response(status_line, headers)

        method = str(environ.get("REQUEST_METHOD", "GET"))
        try:
            body = self.app(environ, start_status)
        except BaseException:
            _record(self.monitor, method, self._route(environ), 500, (self.timer() - start) * 1e3)
            raise

        def done(outcome: str) -> None:
            if outcome == "failed":
                code = 500
            elif outcome == "closed" and method != "HEAD":  # a server may skip a HEAD's body
                code = CLIENT_CLOSED
            else:
                code = status[0]
            _record(self.monitor, method, self._route(environ), code, (self.timer() - start) * 1e3)

        return _Body(body, done)


class _Body:
    """The app's response iterable, calling ``done`` once with how the response ended:
    ``"sent"`` (exhausted), ``"failed"`` (the app raised while producing it) or ``"closed"``
    (the server stopped before the end -- the client went away: its write failed and it
    dropped or closed the iterator, PEP 3333 -- recorded as 499, as the ASGI middleware does).
    """

    def __init__(self, body: Iterable[bytes], done: Callable[[str], None]) -> None:
        self._body = body
        self._done: Callable[[str], None] | None = done

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except GeneratorExit:   # the server dropped the iterator before the end
            self._finish("closed")
            raise
        except BaseException:
            self._finish("failed")
            raise
        self._finish("sent")

    def _finish(self, outcome: str) -> None:
        done, self._done = self._done, None
        if done is not None:
            done(outcome)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish("closed")   # a no-op once the body was sent or failed


def _werkzeug_route(url_map: Any, environ: dict[str, Any]) -> str | None:
    from werkzeug.exceptions import HTTPException

    try:
        rule, _ = url_map.bind_to_environ(environ).match(return_rule=True)
    except HTTPException:  # 404, 405, a redirect: no route to name
        return None
    return str(rule.rule)


def _registry_for(monitor: Any, registry: Any, namespace: str) -> Any:
    """``registry``, or a new one with the standard process/platform/gc collectors, with
    ``monitor`` exported on it."""
    from defiperf.monitor.prometheus import check_namespace

    check_namespace(namespace)
    from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

    if registry is None:
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    monitor.register_prometheus(registry, namespace=namespace)
    return registry


def metrics_asgi_app(monitor: Any, registry: Any = None, namespace: str = "defiperf") -> Any:
    """An ASGI app serving the Prometheus exposition of ``monitor`` (and, with no ``registry``
    given, the standard ``process_*``/``python_*`` metrics): mount it at ``/metrics``."""
    from prometheus_client import make_asgi_app

    return make_asgi_app(_registry_for(monitor, registry, namespace))


def metrics_wsgi_app(monitor: Any, registry: Any = None, namespace: str = "defiperf") -> Any:
    """The WSGI form of ``metrics_asgi_app`` (e.g. under werkzeug's DispatcherMiddleware)."""
    from prometheus_client import make_wsgi_app

    return make_wsgi_app(_registry_for(monitor, registry, namespace))
