"""OpTimer: ``with monitor.timer(name):`` and ``@monitor.timer(name)`` for sync and async code."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _Recorder(Protocol):
    def record_timing(self, name: str, duration_ms: float, success: bool = True) -> None: ...


class OpTimer:
    """Times a block or each call of a function into the ``timer:<name>`` series, in ms; an
    exception counts the call as failed (and is re-raised). One instance may be reused and
    nested: each ``with`` keeps its own start time."""

    def __init__(self, recorder: _Recorder, name: str, clock: Callable[[], float]) -> None:
        if not isinstance(name, str):
            raise TypeError(f"timer name must be a str, not {type(name).__name__}")
        self._recorder = recorder
        self._clock = clock
        self.name = name
        self._starts: list[float] = []

    def __enter__(self) -> OpTimer:
        self._starts.append(self._clock())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        elapsed_ms = (self._clock() - self._starts.pop()) * 1000.0
        self._recorder.record_timing(self.name, max(elapsed_ms, 0.0), exc_type is None)

    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                start = self._clock()
                ok = False
                try:
                    result = await fn(*args, **kwargs)
                    ok = True
                    return result
                finally:
                    self._record(start, ok)
            return timed_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = self._clock()
            ok = False
            try:
                result = fn(*args, **kwargs)
                ok = True
                return result
            finally:
                self._record(start, ok)
        return timed  # type: ignore[return-value]

    def _record(self, start: float, ok: bool) -> None:
        self._recorder.record_timing(self.name, max((self._clock() - start) * 1000.0, 0.0), ok)
