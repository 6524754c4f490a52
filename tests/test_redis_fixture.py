"""The redis_server fixture starts a real server that answers the protocol."""

from __future__ import annotations

import socket
from urllib.parse import urlparse


def test_redis_server_answers_ping(redis_server: str) -> None:
    url = urlparse(redis_server)
    assert url.hostname == "127.0.0.1"
    assert url.port is not None
    with socket.create_connection((url.hostname, url.port), timeout=5) as conn:
        conn.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert conn.recv(64) == b"+PONG\r\n"
