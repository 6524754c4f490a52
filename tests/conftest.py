"""Shared fixtures: FakeTimer, hypothesis profiles, refcount checks, a real redis-server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

try:
    import defiperf.structures.lru  # noqa: F401  (the compiled module)
except ImportError as exc:  # pragma: no cover - a set-up mistake, explained
    raise pytest.UsageError(
        f"defiperf's compiled modules cannot be imported ({exc}). Install the package first: "
        "`python -m pip install -e '.[test]'` compiles them in place; after a non-editable "
        "install run `pytest tests` (not `python -m pytest`, which puts the uncompiled source "
        "tree first on sys.path)."
    ) from exc

settings.register_profile("dev", max_examples=10)
settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


class FakeTimer:
    """A monotonic clock in seconds that only moves when told to (``tick``)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_timer() -> FakeTimer:
    return FakeTimer()


@pytest.fixture
def refcount_guard() -> Iterator[None]:
    """On a debug build of Python, fail a test that leaks references (no effect elsewhere)."""
    total = getattr(sys, "gettotalrefcount", None)
    if total is None:
        yield
        return
    before = total()
    yield
    leaked = total() - before
    assert leaked < 100, f"{leaked} references leaked"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a random loopback port; yields its URL, kills it afterwards.

    A missing redis-server is a test failure, never a skip: `.ci/run` installs it."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start on port {port}")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait(timeout=10)
