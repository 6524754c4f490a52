"""MemoryTier (L1): an OptimizedLRU of Entry, bounded by entries and optionally by payload
bytes. Keys are str, or tuples for calls keyed by equality only (never shared). Every method is
atomic under the GIL, so threads and the event loop may share one MemoryTier."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from defiperf.cache.envelope import Entry
from defiperf.structures import OptimizedLRU


class MemoryTier:
    """L1 over OptimizedLRU; ``get``/``set``/... are plain (non-async) calls."""

    name = "l1"

    def __init__(self, max_entries: int, *, max_weight_bytes: int | None = None,
                 policy: str = "tinylfu", timer: Callable[[], float] | None = None) -> None:
        self._lru: OptimizedLRU[Hashable, Entry] = OptimizedLRU(
            max_entries, max_weight=max_weight_bytes,
            size_of=(lambda k, e: max(e.weight, 1)) if max_weight_bytes else None,
            policy=policy, timer=timer)
        self.corrupt = 0

    @property
    def lru(self) -> OptimizedLRU[Hashable, Entry]:
        """The ``OptimizedLRU`` that holds L1's entries."""
        return self._lru

    def get(self, key: Hashable) -> Entry | None:
        """The entry stored under ``key``, or None (missing, expired or unreadable)."""
        return self._lru.get(key)

    def get_many(self, keys: Iterable[Hashable]) -> dict[Hashable, Entry]:
        """The entries found among ``keys`` (missing ones are left out)."""
        return self._lru.get_many(keys)

    def set(self, key: Hashable, entry: Entry, ttl_s: float | None) -> None:
        """Store ``entry`` under ``key`` for ``ttl_s`` seconds (None: no expiry; <= 0: remove)."""
        if ttl_s is not None and ttl_s <= 0:
            self._lru.delete(key)
            return
        if entry.payload is not None:  # L1 keeps the value only
            entry = entry._replace(payload=None)
        self._lru.set(key, entry, ttl_s)

    def set_many(self, entries: Mapping[Hashable, tuple[Entry, bytes | None]],
                 ttl_s: float | None) -> None:
        """Store every ``key: (entry, payload)`` for ``ttl_s`` seconds (None: no expiry)."""
        for key, (entry, _) in entries.items():
            self.set(key, entry, ttl_s)

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; True if it was there."""
        return self._lru.delete(key)

    def delete_tagged(self, tags: Iterable[str]) -> int:
        """Remove the entries carrying any of ``tags`` (a scan: tag invalidation is rare)."""
        wanted = set(tags)
        doomed = [k for k, e in self._lru.items() if wanted.intersection(e.tags)]
        return sum(self._lru.delete(k) for k in doomed)

    def delete_prefix(self, prefix: str) -> int:
        """Remove the entries of one decorated function (keys ``<prefix>:...`` or tuple keys
        starting with ``prefix``)."""
        head = prefix + ":"
        doomed = [k for k in self._lru.keys()
                  if (isinstance(k, str) and k.startswith(head))
                  or (isinstance(k, tuple) and k and k[0] == prefix)]
        return sum(self._lru.delete(k) for k in doomed)

    def clear(self) -> None:
        """Remove every entry."""
        self._lru.clear()

    def close(self) -> None:
        """Remove every entry (L1 holds nothing else)."""
        self._lru.clear()

    def __len__(self) -> int:
        return len(self._lru)


__all__ = ["MemoryTier"]
