"""Shared fixtures: FakeTimer, hypothesis profiles, refcount checks, a real redis-server."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from redis_process import RedisProcess

try:
    import defiperf.structures.lru  # noqa: F401  (the compiled module)
except ImportError as exc:  # pragma: no cover - a set-up mistake, explained
    raise pytest.UsageError(
        f"defiperf's compiled modules cannot be imported ({exc}). Install the package first: "
        "`python -m pip install -e '.[test]'` compiles them in place; after a non-editable "
        "install run `pytest tests` (not `python -m pytest`, which puts the uncompiled source "
        "tree first on sys.path)."
    ) from exc

# Neither profile times examples: on a busy host (2 shared cores, other processes burning CPU)
# a draw or an example can take a second, which is the machine, not a defect under test.
_NOT_TIMED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("dev", max_examples=10, **_NOT_TIMED)
settings.register_profile("ci", max_examples=200, **_NOT_TIMED)
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


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a random loopback port; yields its URL, kills it afterwards.

    A missing redis-server is a test failure, never a skip: `.ci/run` installs it."""
    try:
        server = RedisProcess(tmp_path_factory.mktemp("redis")).start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server.url
    finally:
        server.kill()


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of this test's own, which the test may kill and restart."""
    try:
        server = RedisProcess(tmp_path / "redis").start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.kill()
