"""FlightTable: the loads in flight of one cache, shared by an async manager and its blocking
companion (one object for the life of the cache: close() empties it in place, so both sides
keep sharing it after a restart).

Keys of ``@cached`` calls hold the caller's arguments, whose ``__hash__``/``__eq__`` are user
code that may call the cache again (or be slow). None of it runs under the table's lock: the
hash is computed first, the lock guards a dict keyed by that int (buckets of (key, future)
tuples, replaced, never mutated), equality is tested outside the lock on a snapshot of the
bucket, and a new flight is added only if the bucket is still that snapshot (else the caller
looks again)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Hashable
from typing import Any

from defiperf.cache.load_future import LoadFuture

# A waiter looks every LIVENESS_SLICE_S at whether the owner of its load can still finish it:
# an owner whose event loop is closed is gone at once, one whose loop has not been running for
# STALLED_OWNER_S (stopped) is taken as gone; the waiter then takes the load over.
LIVENESS_SLICE_S = 0.1
STALLED_OWNER_S = 1.0

Bucket = tuple[tuple[Hashable, LoadFuture], ...]


def _find(bucket: Bucket, key: Hashable) -> LoadFuture | None:
    for k, fut in bucket:
        if k is key or k == key:  # user code: never under the lock
            return fut
    return None


def _owner_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class FlightTable:
    __slots__ = ("_lock", "_buckets")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[int, Bucket] = {}

    def get(self, key: Hashable) -> LoadFuture | None:
        """The Future of key's load in flight, or None."""
        bucket = self._buckets.get(hash(key))
        return None if bucket is None else _find(bucket, key)

    def __contains__(self, key: Hashable) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        return sum(len(b) for b in list(self._buckets.values()))

    def join_or_own(self, key: Hashable) -> tuple[LoadFuture, bool]:
        """(the Future of key's load in flight, False), or (a new one, True): the caller owns
        the load, must settle the Future and then ``land`` it."""
        h = hash(key)
        buckets = self._buckets
        while True:
            snapshot = buckets.get(h, ())
            found = _find(snapshot, key)
            if found is not None:
                return found, False
            fut = LoadFuture(_owner_loop())
            fut.key_hash = h
            with self._lock:
                if buckets.get(h, ()) is snapshot:
                    buckets[h] = (*snapshot, (key, fut))
                    return fut, True
            # another flight of this hash came or went meanwhile: look again

    def land(self, fut: LoadFuture) -> None:
        """Remove fut's flight if it is still in the table (found by identity: no user code);
        also how a waiter drops the flight of an owner that is gone."""
        h = fut.key_hash
        with self._lock:
            bucket = self._buckets.get(h)
            if bucket is None:
                return
            rest = tuple(e for e in bucket if e[1] is not fut)
            if rest:
                self._buckets[h] = rest
            else:
                del self._buckets[h]

    def take_all(self) -> list[LoadFuture]:
        """Empty the table in place; the Futures that were in it."""
        with self._lock:
            futures = [fut for bucket in self._buckets.values() for _, fut in bucket]
            self._buckets.clear()
        return futures


class OwnerWatch:
    """A waiter's bounded wait for fut, in slices: ``slice()`` is how long to wait next,
    ``verdict()`` after a slice is "" (wait on), "gone" (the owner cannot finish: take the
    load over) or "late" (load_wait_timeout_s is up). An owner on a thread, or on the waiter's
    own loop, cannot vanish unseen: one slice of the whole timeout."""

    __slots__ = ("fut", "deadline", "step", "stalled")

    def __init__(self, fut: LoadFuture, timeout_s: float,
                 own_loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.fut = fut
        self.deadline = time.monotonic() + timeout_s
        self.step = math.inf if fut.loop is None or fut.loop is own_loop else LIVENESS_SLICE_S
        self.stalled: float | None = None  # when the owner's loop was first seen stopped

    def slice(self) -> float:
        return min(self.step, max(0.0, self.deadline - time.monotonic()))

    def verdict(self) -> str:
        now = time.monotonic()
        if self.fut.owner_gone():
            return "gone"
        if not self.fut.owner_stalled():
            self.stalled = None
        elif self.stalled is None:
            self.stalled = now
        elif now - self.stalled >= STALLED_OWNER_S:
            return "gone"
        return "late" if now >= self.deadline else ""


__all__ = ["FlightTable", "OwnerWatch"]
