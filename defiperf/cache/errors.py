"""The cache's exceptions: one class per thing a caller may want to catch."""

from __future__ import annotations


class TierError(Exception):
    """A tier's store failed (connection, timeout, disk); the manager treats it as a miss.

    ``transient``: the store itself is unreachable or failing (counts toward the tier's circuit
    breaker); False for an error reply about one request, which must not open the breaker for
    every other caller."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class SerializationError(TypeError):
    """A value cannot be serialized (or a payload cannot be read back)."""


class CacheClosedError(RuntimeError):
    """The manager was closed while this call waited, or is closed now."""


class ReentrantLoadError(RuntimeError):
    """A loader asked the cache for the very key it is loading (it would wait for itself)."""


class LoopThreadError(RuntimeError):
    """A blocking (sync) cache call was made on a thread that runs an event loop."""
