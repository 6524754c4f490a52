"""The three tiers behind one contract: ``get``/``get_many`` -> Entry | None, ``set``/``set_many``
with the entry and its serialized payload, ``delete``, ``clear``, ``close``.

MemoryTier keeps Entry objects (no serialization). RedisTier and DiskTier keep envelopes (see
envelope.py) under namespaced keys; an envelope that cannot be read back is a miss: logged,
removed, counted in ``corrupt``. Failures of the store itself raise TierError for the manager
to count (and, for Redis, to feed its circuit breaker).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from defiperf.cache.envelope import Entry, pack, unpack
from defiperf.cache.serialization import Serializer
from defiperf.structures import OptimizedLRU

logger = logging.getLogger("defiperf.cache")


class TierError(Exception):
    """A tier's store failed (connection, timeout, disk); the manager treats it as a miss."""


def _decode(tier: str, key: str, data: bytes, serializer: Serializer, now: float) -> Entry | None:
    fresh_until, expires_at, payload = unpack(data)
    if expires_at <= now:
        return None
    return Entry(serializer.loads(payload), fresh_until, expires_at, len(data), payload)


class MemoryTier:
    """L1: an OptimizedLRU of Entry, bounded by entries and optionally by payload bytes."""

    name = "l1"

    def __init__(self, max_entries: int, *, max_weight_bytes: int | None = None,
                 policy: str = "lru", timer: Callable[[], float] | None = None) -> None:
        self._lru: OptimizedLRU[str, Entry] = OptimizedLRU(
            max_entries, max_weight=max_weight_bytes,
            size_of=(lambda k, e: max(e.weight, 1)) if max_weight_bytes else None,
            policy=policy, timer=timer)  # type: ignore[arg-type]
        self.corrupt = 0

    @property
    def lru(self) -> OptimizedLRU[str, Entry]:
        return self._lru

    def get_nowait(self, key: str) -> Entry | None:
        return self._lru.get(key)

    def set_nowait(self, key: str, entry: Entry, ttl_s: float | None) -> None:
        if ttl_s is not None and ttl_s <= 0:
            self._lru.delete(key)
            return
        if entry.payload is not None:  # L1 keeps the value only
            entry = entry._replace(payload=None)
        self._lru.set(key, entry, ttl_s)

    async def get(self, key: str) -> Entry | None:
        return self._lru.get(key)

    async def get_many(self, keys: Iterable[str]) -> dict[str, Entry]:
        return self._lru.get_many(keys)

    async def set(self, key: str, entry: Entry, payload: bytes | None, ttl_s: float | None) -> None:
        self.set_nowait(key, entry, ttl_s)

    async def set_many(self, entries: Mapping[str, tuple[Entry, bytes | None]], ttl_s: float | None) -> None:
        for key, (entry, _) in entries.items():
            self.set_nowait(key, entry, ttl_s)

    async def delete(self, key: str) -> bool:
        return self._lru.delete(key)

    async def clear(self) -> None:
        self._lru.clear()

    async def close(self) -> None:
        self._lru.clear()


class RedisTier:
    """L2 over redis.asyncio (hiredis parser when installed): ``<namespace>:cache:<key>``, TTL
    via ``SET ... PX``, MGET / pipelines for many keys; ``cluster=True`` uses RedisCluster."""

    name = "l2"

    def __init__(self, url: str, serializer: Serializer, *, namespace: str,
                 timeout_s: float = 0.25, cluster: bool = False, clock: Callable[[], float],
                 client: Any = None) -> None:
        import redis.asyncio as aioredis

        self._serializer = serializer
        self._clock = clock
        self._prefix = f"{namespace}:cache:"
        self.url = url
        self.cluster = cluster
        if client is not None:
            self.client = client
        elif cluster:
            from redis.asyncio.cluster import RedisCluster

            self.client = RedisCluster.from_url(url, socket_timeout=timeout_s,
                                                socket_connect_timeout=timeout_s)
        else:
            self.client = aioredis.from_url(url, socket_timeout=timeout_s,
                                            socket_connect_timeout=timeout_s)
        self.corrupt = 0
        self._discarding: set[asyncio.Task[None]] = set()

    def key(self, key: str) -> str:
        return self._prefix + key

    async def _call(self, coro: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            return await coro
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            raise TierError(f"redis: {type(exc).__name__}: {exc}") from exc

    def _read(self, key: str, data: bytes | None) -> Entry | None:
        if data is None:
            return None
        try:
            return _decode(self.name, key, data, self._serializer, self._clock())
        except Exception as exc:  # corrupt or untrusted payload: a miss, removed
            self.corrupt += 1
            logger.warning("l2: unreadable entry %r removed (%s)", key, exc)
            task = asyncio.get_running_loop().create_task(self._discard(key))
            self._discarding.add(task)  # a reference until done: the loop keeps only weak ones
            task.add_done_callback(self._discarding.discard)
            return None

    async def _discard(self, key: str) -> None:
        try:
            await self.client.delete(self.key(key))
        except Exception:  # best effort
            logger.debug("l2: could not delete %r", key, exc_info=True)

    async def get(self, key: str) -> Entry | None:
        return self._read(key, await self._call(self.client.get(self.key(key))))

    async def get_many(self, keys: Iterable[str]) -> dict[str, Entry]:
        keys = list(keys)
        if not keys:
            return {}
        names = [self.key(k) for k in keys]
        if self.cluster:
            values = await self._call(self.client.mget_nonatomic(names))
        else:
            values = await self._call(self.client.mget(names))
        out = {}
        for key, data in zip(keys, values):
            entry = self._read(key, data)
            if entry is not None:
                out[key] = entry
        return out

    @staticmethod
    def _px(ttl_s: float | None) -> int | None:
        return None if ttl_s is None else max(1, int(math.ceil(ttl_s * 1000)))

    async def set(self, key: str, entry: Entry, payload: bytes | None, ttl_s: float | None) -> None:
        assert payload is not None
        data = pack(entry.fresh_until, entry.expires_at, payload)
        await self._call(self.client.set(self.key(key), data, px=self._px(ttl_s)))

    async def set_many(self, entries: Mapping[str, tuple[Entry, bytes | None]], ttl_s: float | None) -> None:
        async def run() -> None:
            async with self.client.pipeline(transaction=False) as pipe:
                for key, (entry, payload) in entries.items():
                    assert payload is not None
                    pipe.set(self.key(key), pack(entry.fresh_until, entry.expires_at, payload),
                             px=self._px(ttl_s))
                await pipe.execute()
        await self._call(run())

    async def delete(self, key: str) -> bool:
        return bool(await self._call(self.client.delete(self.key(key))))

    async def clear(self) -> None:
        """Delete this namespace's keys (SCAN, never FLUSHDB)."""
        async def run() -> None:
            names = [name async for name in self.client.scan_iter(match=self._prefix + "*",
                                                                  count=500)]
            for i in range(0, len(names), 500):
                if self.cluster:  # keys of one DEL must share a slot in a cluster
                    for name in names[i:i + 500]:
                        await self.client.delete(name)
                else:
                    await self.client.delete(*names[i:i + 500])
        await self._call(run())

    async def close(self) -> None:
        await self.client.aclose()


def default_disk_dir(namespace: str) -> Path:
    """``$XDG_CACHE_HOME/defiperf/<namespace>`` (default ``~/.cache``), created 0700 and checked
    to be a real directory owned by this user (not a symlink planted by someone else)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "defiperf" / namespace
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise PermissionError(f"{path} is not a plain directory")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise PermissionError(f"{path} is owned by another user")
    return path


class DiskTier:
    """L3 over diskcache (SQLite, process-safe) in ``directory`` with a size limit; entries
    expire in diskcache too. Calls run on one background thread: the loop never blocks on disk."""

    name = "l3"

    def __init__(self, directory: str | os.PathLike[str] | None, serializer: Serializer, *,
                 namespace: str, size_limit_bytes: int, clock: Callable[[], float]) -> None:
        import diskcache  # type: ignore[import-untyped]

        path = Path(directory) if directory is not None else default_disk_dir(namespace)
        path.mkdir(parents=True, exist_ok=True)
        self.directory = path
        self._serializer = serializer
        self._clock = clock
        self._cache = diskcache.Cache(str(path), size_limit=size_limit_bytes)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="defiperf-l3")
        self.corrupt = 0

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))
        except Exception as exc:
            raise TierError(f"disk: {type(exc).__name__}: {exc}") from exc

    def _get_sync(self, key: str) -> Entry | None:
        data = self._cache.get(key)
        if data is None:
            return None
        try:
            if not isinstance(data, bytes):
                raise ValueError(f"not an envelope ({type(data).__name__})")
            return _decode(self.name, key, data, self._serializer, self._clock())
        except Exception as exc:
            self.corrupt += 1
            logger.warning("l3: unreadable entry %r removed (%s)", key, exc)
            self._cache.delete(key)
            return None

    async def get(self, key: str) -> Entry | None:
        result: Entry | None = await self._run(self._get_sync, key)
        return result

    async def get_many(self, keys: Iterable[str]) -> dict[str, Entry]:
        def run(keys: list[str]) -> dict[str, Entry]:
            found = {k: self._get_sync(k) for k in keys}
            return {k: e for k, e in found.items() if e is not None}
        result: dict[str, Entry] = await self._run(run, list(keys))
        return result

    async def set(self, key: str, entry: Entry, payload: bytes | None, ttl_s: float | None) -> None:
        assert payload is not None
        await self._run(self._cache.set, key, pack(entry.fresh_until, entry.expires_at, payload),
                        expire=ttl_s)

    async def set_many(self, entries: Mapping[str, tuple[Entry, bytes | None]], ttl_s: float | None) -> None:
        def run() -> None:
            with self._cache.transact():
                for key, (entry, payload) in entries.items():
                    assert payload is not None
                    self._cache.set(key, pack(entry.fresh_until, entry.expires_at, payload),
                                    expire=ttl_s)
        await self._run(run)

    async def delete(self, key: str) -> bool:
        return bool(await self._run(self._cache.delete, key))

    async def clear(self) -> None:
        await self._run(self._cache.clear)

    async def close(self) -> None:
        await self._run(self._cache.close)
        self._executor.shutdown(wait=True)


def temp_disk_dir() -> str:
    """A fresh private temporary directory for an L3 (the demo's embedded default)."""
    return tempfile.mkdtemp(prefix="defiperf-l3-")
