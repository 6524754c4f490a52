"""WSGI middleware behind a real WSGI server (wsgiref) on a loopback port: a client that goes
away mid-response is recorded as 499 (as the ASGI middleware records it), a full response as
its status, an app that fails mid-stream as 500."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from defiperf.monitor import MonitoringConfig, PerformanceMonitor
from defiperf.monitor.middleware import CLIENT_CLOSED, WSGIMetricsMiddleware

CHUNK = b"x" * 65536


class Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Recorded:
    """The monitor, plus an Event set when the server thread has recorded the request."""

    def __init__(self) -> None:
        self.monitor = PerformanceMonitor(MonitoringConfig(system_metrics=False),
                                          alert_handlers=[])
        self.done = threading.Event()

    def record_http(self, method: str, route: str, status: int, duration_ms: float) -> None:
        self.monitor.record_http(method, route, status, duration_ms)
        self.done.set()

    def statuses(self) -> list[str]:
        assert self.done.wait(30), "the request was never recorded"
        return [s.labels[2] for s in self.monitor.series("http")]


def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    if environ["PATH_INFO"] == "/small":
        yield b"ok"
        return
    if environ["PATH_INFO"] == "/broken":
        yield b"part"
        raise RuntimeError("feed went away")
    for _ in range(16384):              # 1 GiB: far more than any socket buffer holds
        yield CHUNK


def serve_one(recorded: Recorded) -> tuple[WSGIServer, threading.Thread]:
    wrapped = WSGIMetricsMiddleware(app, recorded, route=lambda environ: environ["PATH_INFO"])
    server = make_server("127.0.0.1", 0, wrapped, handler_class=Quiet)
    server.timeout = 30
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    return server, thread


def request(server: WSGIServer, path: str) -> socket.socket:
    client = socket.create_connection(server.server_address[:2], timeout=30)
    client.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    return client


def test_a_client_that_goes_away_mid_response_is_recorded_as_499() -> None:
    recorded = Recorded()
    server, thread = serve_one(recorded)
    try:
        client = request(server, "/stream")
        assert client.recv(1024).startswith(b"HTTP/1.0 200")
        # close with a reset, as a client that gives up does: the server's next write fails
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        assert recorded.statuses() == [str(CLIENT_CLOSED)]
        thread.join(30)
        assert not thread.is_alive()
    finally:
        server.server_close()


@pytest.mark.parametrize("path, status", [("/small", "200"), ("/broken", "500")])
def test_a_full_or_failed_response_keeps_its_status(path: str, status: str) -> None:
    recorded = Recorded()
    server, thread = serve_one(recorded)
    try:
        with request(server, path) as client:
            received = b""
            while chunk := client.recv(65536):
                received += chunk
        assert received.startswith(b"HTTP/1.0 200")
        assert recorded.statuses() == [status]
        thread.join(30)
    finally:
        server.server_close()
