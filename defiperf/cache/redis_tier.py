"""RedisTier (L2) for the async manager (redis.asyncio) and SyncRedisTier for the sync one
(redis-py's thread-safe client), with the invalidation channel inside the tier.

Names (the namespace cannot hold ':'; glob characters in it are escaped wherever it is used as
a SCAN pattern): values ``<ns>:cache:<key>``, tag indexes ``<ns>:tag:<tag>`` (see _ADD_TAG), the epoch key
``<ns>:meta:epoch``, the channel ``<ns>:cache:invalidate``. Messages are
``<origin>|<op>|<arg>``: ``k`` a key changed, ``c`` the namespace was cleared, ``t`` tags
(``\\x1f``-separated) were invalidated, ``p`` a decorated function's entries were cleared.

Coherence: the listener calls ``handler.on_reset(reason)`` — drop all of L1 — when the channel
is lost, after every (re)subscription, and when the epoch key vanished or changed (FLUSHDB,
FLUSHALL, a restart without persistence), which it checks every ``check_s``. So no process
serves an L1 value that another process replaced more than about ``check_s`` + a reconnect
(≤ 2 s) ago, whatever happened to the connection.

New connections get ``connect_timeout_s`` (2 s: a burst of cold callers connecting at once
does not time out on a healthy Redis), and at most ``max_connections`` commands run at once
per tier (so at most that many pooled connections): further callers wait, up to
``connect_timeout_s``, instead of opening thousands of connections. Dead pooled connections (after a Redis
restart) are retried once on a new connection before a call fails; an error reply (a request
Redis refused) is not transient and never feeds the breaker.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from defiperf._ratelimit import RateLimitedLog
from defiperf.cache.envelope import Entry, pack
from defiperf.cache.errors import TierError
from defiperf.cache.keys import escape_glob
from defiperf.cache.serialization import Serializer
from defiperf.cache.tier_codec import decode_envelope

logger = logging.getLogger("defiperf.cache")
_BATCH = 500


class InvalidationHandler(Protocol):
    def on_invalidate(self, key: str) -> None: ...
    def on_invalidate_tags(self, tags: list[str]) -> None: ...
    def on_invalidate_prefix(self, prefix: str) -> None: ...
    def on_reset(self, reason: str) -> None: ...


def tier_error(exc: BaseException) -> TierError:
    from redis.exceptions import ResponseError

    if isinstance(exc, TierError):
        return exc
    transient = not isinstance(exc, ResponseError)
    return TierError(f"redis: {type(exc).__name__}: {exc}", transient=transient)


def _busy(waited_s: float) -> TierError:
    """Every connection was busy for the whole wait: load on this process, not a Redis fault
    (not transient: it must not open the breaker)."""
    return TierError(f"redis: no free connection within {waited_s:g} s (redis_max_connections)",
                     transient=False)


def _errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError, asyncio.TimeoutError, TimeoutError)


def _raise_if_cancelling() -> None:
    """A cancellation some library swallowed (Python 3.11+ keeps count of them) ends the
    listener anyway."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    if cancelling is not None and cancelling():
        raise asyncio.CancelledError


async def _close_quietly(*things: Any) -> None:
    """aclose() each within 0.5 s; a failing or hung close is dropped, but a cancellation is
    not swallowed (a listener that outlives asyncio.run would hang the program's exit)."""
    for thing in things:
        if thing is None:
            continue
        try:
            await asyncio.wait_for(thing.aclose(), 0.5)
        except asyncio.CancelledError:
            raise
        except Exception:
            pass


# The tag index: <ns>:tag:<tag> is a sorted set of the tagged keys scored by when their entry
# expires (ms, Redis's own clock: TIME in the script, so the clocks of writers do not matter;
# +inf: no expiry). Each tagged write adds its key, drops the members expired more than
# _TAG_SLACK_MS ago (ZREMRANGEBYSCORE: O(log n) + what it drops, paid once per member, so O(1)
# amortised a write) and sets the set's expiry to its last member's, so an index is bounded by
# the live entries (plus those of the last _TAG_SLACK_MS) and disappears with them. A tag set of
# the former kind (a plain SET) is converted on its first write.
_TAG_SLACK_MS = 1000
_ADD_TAG = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('TYPE', KEYS[1]).ok == 'set' then
  local old = redis.call('SMEMBERS', KEYS[1])
  redis.call('DEL', KEYS[1])
  for i = 1, #old do redis.call('ZADD', KEYS[1], '+inf', old[i]) end
end
local ttl = tonumber(ARGV[1])
if ttl < 0 then
  redis.call('ZADD', KEYS[1], '+inf', ARGV[2])
else
  redis.call('ZADD', KEYS[1], now + ttl + tonumber(ARGV[3]), ARGV[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] == nil then return 0 end
if top[2] == 'inf' or top[2] == '+inf' then redis.call('PERSIST', KEYS[1])
else redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(top[2]))) end
return 1
"""
# The members of a tag set (either kind) and the set deleted, atomically.
_TAKE_TAG = """
local kind = redis.call('TYPE', KEYS[1]).ok
local members = {}
if kind == 'zset' then members = redis.call('ZRANGE', KEYS[1], 0, -1)
elseif kind == 'set' then members = redis.call('SMEMBERS', KEYS[1]) end
redis.call('DEL', KEYS[1])
return members
"""


class _Names:
    """Key names, the message format and envelope reading shared by both tiers."""

    name = "l2"
    _asyncio = False  # the client kind: redis.asyncio (RedisTier) or redis (SyncRedisTier)

    def __init__(self, url: str, serializer: Serializer, *, namespace: str,
                 timeout_s: float = 0.25, connect_timeout_s: float = 2.0, cluster: bool = False,
                 clock: Any, client: Any = None, origin: str | None = None,
                 max_connections: int = 64) -> None:
        self._serializer = serializer
        self._clock = clock
        self.namespace = namespace
        self.prefix = f"{namespace}:cache:"
        self.tag_prefix = f"{namespace}:tag:"
        self.epoch_key = f"{namespace}:meta:epoch"
        self.channel = f"{namespace}:cache:invalidate"
        self.patterns = [escape_glob(self.prefix) + "*", escape_glob(self.tag_prefix) + "*"]
        self.origin = origin or uuid.uuid4().hex
        self.corrupt = 0
        self._log = RateLimitedLog(logger, interval_s=10.0)
        self._connect(self._asyncio, url, timeout_s, connect_timeout_s, cluster, client)
        self._start(max_connections)

    def _start(self, max_connections: int) -> None:
        """The tier kind's own state: its bound on commands at once, its listener's."""
        raise NotImplementedError

    def _fetch_many(self, keys: list[str]) -> tuple[Any, list[str]]:
        """MGET for keys (a cluster's: per slot), and their names."""
        fetch = self.client.mget_nonatomic if self.cluster else self.client.mget
        return fetch, [self.key(k) for k in keys]

    def key(self, key: str) -> str:
        """The Redis key for cache key ``key`` (namespaced)."""
        return self.prefix + key

    @staticmethod
    def px(ttl_s: float | None) -> int | None:
        """``ttl_s`` as Redis' PX milliseconds (at least 1), or None for no expiry."""
        return None if ttl_s is None else max(1, int(math.ceil(ttl_s * 1000)))

    def envelope(self, entry: Entry, payload: bytes | None) -> bytes:
        """The bytes stored in Redis for ``entry``: times, tags and the serialized payload."""
        if payload is None:
            raise TierError("redis: no payload to store", transient=False)
        return pack(entry.fresh_until, entry.expires_at, payload, entry.tags)

    def queue_set(self, pipe: Any, key: str, entry: Entry, payload: bytes | None,
                  ttl_s: float | None) -> None:
        """Queue on pipe the writes of key's entry and of its tags' index (see _ADD_TAG)."""
        px = self.px(ttl_s)
        pipe.set(self.key(key), self.envelope(entry, payload), px=px)
        for tag in entry.tags:
            pipe.eval(_ADD_TAG, 1, self.tag_prefix + tag, -1 if px is None else px, key,
                      _TAG_SLACK_MS)

    def read(self, key: str, data: Any) -> tuple[Entry | None, bool]:
        """(entry, corrupt)."""
        if data is None:
            return None, False
        entry = decode_envelope(self.name, key, data, self._serializer, self._clock(), self._log)
        if entry is False:
            self.corrupt += 1
            return None, True
        return entry, False

    def _connect(self, asyncio_client: bool, url: str, timeout_s: float, connect_timeout_s: float,
                 cluster: bool, client: Any) -> None:
        """self.client: the given one, a RedisCluster, or a client owning its pool."""
        if asyncio_client:
            import redis.asyncio as module
            from redis.asyncio.cluster import RedisCluster
        else:
            import redis as module  # type: ignore[no-redef]
            from redis.cluster import RedisCluster  # type: ignore[assignment]
        self.url = url
        self.cluster = cluster
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        # (redis.asyncio bounds each socket operation with asyncio.wait_for, a Task per command.
        # One asyncio.timeout around the whole command was measured cheaper, but it also bounds
        # opening a connection, and a burst of cold callers on a busy host then timed out and
        # opened the breaker: kept per operation.)
        kwargs = {"socket_timeout": timeout_s, "socket_connect_timeout": connect_timeout_s}
        if client is not None:
            self.client = client
        elif cluster:
            self.client = RedisCluster.from_url(url, **kwargs)
        else:
            pool = module.ConnectionPool.from_url(url, **kwargs, **_retry_kwargs(asyncio_client))
            self.client = module.Redis.from_pool(pool)  # owns the pool: closing it closes it

    def message(self, op: str, arg: str) -> str:
        """The invalidation message for ``op`` on ``arg``, tagged with this process's origin."""
        return f"{self.origin}|{op}|{arg}"

    def dispatch(self, data: Any, handler: InvalidationHandler) -> None:
        """Apply an invalidation message from another process to ``handler`` (ours are ignored)."""
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        parts = text.split("|", 2)
        if len(parts) != 3 or parts[0] == self.origin:
            return
        _, op, arg = parts
        if op == "k":
            handler.on_invalidate(arg)
        elif op == "t":
            handler.on_invalidate_tags(arg.split("\x1f"))
        elif op == "p":
            handler.on_invalidate_prefix(arg)
        elif op == "c":
            handler.on_reset("namespace cleared by another process")

    def lost(self, connected: bool, handler: InvalidationHandler, exc: BaseException) -> None:
        """The invalidation channel failed: reset L1 (if it was connected) and log the failure."""
        if connected:
            handler.on_reset(f"invalidation channel lost ({type(exc).__name__})")
        self._log.log(logging.WARNING, "l2 listener", "l2: invalidation channel: %s: %s; L1 dropped, "
                 "reconnecting", type(exc).__name__, exc)


def _retry_kwargs(asyncio_client: bool, retries: int = 1) -> dict[str, Any]:
    """A dead pooled connection (Redis restarted) is retried ``retries`` times on a new one;
    timeouts are never retried (a stopped Redis must cost one timeout, not several)."""
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    if asyncio_client:
        from redis.asyncio.retry import Retry as AsyncRetry

        return {"retry": AsyncRetry(NoBackoff(), retries, supported_errors=(RedisConnectionError,)),
                "retry_on_error": [RedisConnectionError]}
    from redis.retry import Retry

    return {"retry": Retry(NoBackoff(), retries, supported_errors=(RedisConnectionError,)),
            "retry_on_error": [RedisConnectionError]}


class RedisTier(_Names):
    """L2 over redis.asyncio (hiredis parser when installed); ``cluster=True`` uses
    RedisCluster. Every method raises TierError on failure."""

    _asyncio = True

    def _start(self, max_connections: int) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._listen_client: Any = None

    async def _call(self, coro: Any) -> Any:
        slots = self._slots
        if slots.locked():  # all connections busy: wait, within the connect timeout
            try:
                await asyncio.wait_for(slots.acquire(), self.connect_timeout_s)
            except asyncio.TimeoutError:
                coro.close()
                raise _busy(self.connect_timeout_s) from None
        else:
            await slots.acquire()
        try:
            return await coro
        except _errors() as exc:
            raise tier_error(exc) from exc
        finally:
            slots.release()

    async def _read_one(self, key: str, data: Any) -> Entry | None:
        entry, corrupt = self.read(key, data)
        if corrupt:  # removed in the same call: no task may outlive close()
            try:
                await self.client.delete(self.key(key))
            except Exception:  # best effort
                logger.debug("l2: could not delete %r", key, exc_info=True)
        return entry

    async def get(self, key: str) -> Entry | None:
        """The entry stored under ``key``, or None (missing, expired or unreadable)."""
        return await self._read_one(key, await self._call(self.client.get(self.key(key))))

    async def get_many(self, keys: Iterable[str]) -> dict[str, Entry]:
        """The entries found among ``keys`` (missing ones are left out)."""
        keys = list(keys)
        if not keys:
            return {}
        fetch, names = self._fetch_many(keys)
        values = await self._call(fetch(names))
        out = {}
        for key, data in zip(keys, values):
            entry = await self._read_one(key, data)
            if entry is not None:
                out[key] = entry
        return out

    async def set(self, key: str, entry: Entry, payload: bytes | None, ttl_s: float | None) -> None:
        """Store ``entry`` under ``key`` for ``ttl_s`` seconds (None: no expiry)."""
        if not entry.tags:
            await self._call(self.client.set(self.key(key), self.envelope(entry, payload),
                                             px=self.px(ttl_s)))
            return
        await self.set_many({key: (entry, payload)}, ttl_s)

    async def set_many(self, entries: Mapping[str, tuple[Entry, bytes | None]],
                       ttl_s: float | None) -> None:
        """Store every ``key: (entry, payload)`` for ``ttl_s`` seconds (None: no expiry)."""
        async def run() -> None:
            async with self.client.pipeline(transaction=False) as pipe:
                for key, (entry, payload) in entries.items():
                    self.queue_set(pipe, key, entry, payload, ttl_s)
                await pipe.execute()
        await self._call(run())

    async def delete(self, key: str) -> bool:
        """Remove ``key``; True if it was there."""
        return bool(await self._call(self.client.delete(self.key(key))))

    async def _delete_names(self, names: list[str]) -> int:
        removed = 0
        for i in range(0, len(names), _BATCH):
            chunk = names[i:i + _BATCH]
            if self.cluster:  # keys of one DEL must share a slot in a cluster
                for name in chunk:
                    removed += await self.client.delete(name)
            else:
                removed += await self.client.delete(*chunk)
        return removed

    async def delete_tagged(self, tags: Iterable[str]) -> int:
        """Remove the entries carrying any of ``tags``; returns how many were removed."""
        async def run() -> int:
            removed = 0
            for tag in tags:
                members = await self.client.eval(_TAKE_TAG, 1, self.tag_prefix + tag)
                names = [self.key(m.decode() if isinstance(m, bytes) else m) for m in members]
                removed += await self._delete_names(names)
            return removed
        return await self._call(run())  # type: ignore[no-any-return]

    async def delete_prefix(self, prefix: str) -> int:
        """Remove the entries whose key starts with ``prefix:``; returns how many were removed."""
        async def run() -> int:
            pattern = escape_glob(self.key(prefix + ":")) + "*"
            names = [n async for n in self.client.scan_iter(match=pattern, count=_BATCH)]
            return await self._delete_names(names)
        return await self._call(run())  # type: ignore[no-any-return]

    async def clear(self) -> None:
        """Delete this namespace's keys and tag sets (SCAN with the namespace escaped)."""
        async def run() -> None:
            for pattern in self.patterns:
                names = [n async for n in self.client.scan_iter(match=pattern, count=_BATCH)]
                await self._delete_names(names)
        await self._call(run())

    async def publish(self, op: str, arg: str) -> None:
        """Tell the other processes about an invalidation (``op`` on ``arg``)."""
        await self._call(self.client.publish(self.channel, self.message(op, arg)))

    async def listen(self, handler: InvalidationHandler, stop: asyncio.Event,
                     check_s: float, ready: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set: apply other processes' invalidations to L1, reset L1
        when the channel is lost or re-established (not on a first subscription that
        succeeded at once: the manager waited for it) or the epoch changed; reconnect with
        backoff. ``ready`` is set after the first subscription attempt, whatever its outcome."""
        delay, connected, attempts = 0.05, False, 0
        while not stop.is_set():
            _raise_if_cancelling()
            pubsub = None
            try:
                # its own connection without retries: a lost channel must surface here (redis-py
                # would re-subscribe silently and the messages of the gap would be lost unseen);
                # in a cluster PUBLISH reaches every node, so one node's channel is enough
                import redis.asyncio as aioredis

                self._listen_client = client = aioredis.from_url(
                    self.url, socket_connect_timeout=self.connect_timeout_s,
                    socket_timeout=self.connect_timeout_s, **_retry_kwargs(True, retries=0))
                pubsub = client.pubsub()
                await pubsub.subscribe(self.channel)  # bounded by the socket timeouts
                keys = self.client if self.cluster else client  # a node answers its slots only
                epoch = await self._epoch(keys, None, handler)
                connected, delay = True, 0.05
                if attempts:
                    handler.on_reset("invalidation channel re-subscribed")
                attempts += 1
                if ready is not None:
                    ready.set()
                next_check = time.monotonic() + check_s
                while not stop.is_set():
                    _raise_if_cancelling()
                    # no asyncio.wait_for here: on 3.11 it can swallow a cancellation that
                    # races with the result, and the listener would outlive its loop
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=min(0.2, check_s))
                    if message is not None and message.get("type") == "message":
                        self.dispatch(message["data"], handler)
                    if time.monotonic() >= next_check:
                        epoch = await self._epoch(keys, epoch, handler)
                        next_check = time.monotonic() + check_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.lost(connected, handler, exc)
                connected = False
                attempts += 1
                if ready is not None:
                    ready.set()
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                delay = min(delay * 2, 1.0)
            finally:
                client, self._listen_client = self._listen_client, None
                await _close_quietly(pubsub, client)

    async def _epoch(self, client: Any, seen: bytes | None, handler: InvalidationHandler) -> bytes:
        """The epoch token (set if missing) read on the listener's own client: nothing of the
        listener touches the main pool, which close() may have closed."""
        token = await client.get(self.epoch_key)
        if token is None:
            await client.set(self.epoch_key, uuid.uuid4().hex, nx=True)
            token = await client.get(self.epoch_key) or b""
            if seen is not None:
                handler.on_reset("the shared Redis was flushed")
        elif seen is not None and token != seen:
            handler.on_reset("the shared Redis was flushed or restarted")
        return bytes(token)

    async def close(self) -> None:
        """Release the tier's resources (connections, files); the tier is not used after this."""
        await self.client.aclose()


class SyncRedisTier(_Names):
    """L2 over redis-py's blocking client (one connection pool shared by all threads); the
    listener is a daemon thread started by ``start_listener``."""

    def _start(self, max_connections: int) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._slots.acquire(timeout=self.connect_timeout_s):
            raise _busy(self.connect_timeout_s)
        try:
            return fn(*args, **kwargs)
        except _errors() as exc:
            raise tier_error(exc) from exc
        finally:
            self._slots.release()

    def _read_one(self, key: str, data: Any) -> Entry | None:
        entry, corrupt = self.read(key, data)
        if corrupt:
            try:
                self.client.delete(self.key(key))
            except Exception:  # best effort
                logger.debug("l2: could not delete %r", key, exc_info=True)
        return entry

    def get(self, key: str) -> Entry | None:
        """The entry stored under ``key``, or None (missing, expired or unreadable)."""
        return self._read_one(key, self._call(self.client.get, self.key(key)))

    def get_many(self, keys: Iterable[str]) -> dict[str, Entry]:
        """The entries found among ``keys`` (missing ones are left out)."""
        keys = list(keys)
        if not keys:
            return {}
        fetch, names = self._fetch_many(keys)
        values = self._call(fetch, names)
        out = {}
        for key, data in zip(keys, values):
            entry = self._read_one(key, data)
            if entry is not None:
                out[key] = entry
        return out

    def set(self, key: str, entry: Entry, payload: bytes | None, ttl_s: float | None) -> None:
        """Store ``entry`` under ``key`` for ``ttl_s`` seconds (None: no expiry)."""
        if not entry.tags:
            self._call(self.client.set, self.key(key), self.envelope(entry, payload),
                       px=self.px(ttl_s))
            return
        self.set_many({key: (entry, payload)}, ttl_s)

    def set_many(self, entries: Mapping[str, tuple[Entry, bytes | None]],
                 ttl_s: float | None) -> None:
        """Store every ``key: (entry, payload)`` for ``ttl_s`` seconds (None: no expiry)."""
        def run() -> None:
            with self.client.pipeline(transaction=False) as pipe:
                for key, (entry, payload) in entries.items():
                    self.queue_set(pipe, key, entry, payload, ttl_s)
                pipe.execute()
        self._call(run)

    def delete(self, key: str) -> bool:
        """Remove ``key``; True if it was there."""
        return bool(self._call(self.client.delete, self.key(key)))

    def _delete_names(self, names: list[str]) -> int:
        removed = 0
        for i in range(0, len(names), _BATCH):
            chunk = names[i:i + _BATCH]
            if self.cluster:
                removed += sum(self.client.delete(name) for name in chunk)
            else:
                removed += self.client.delete(*chunk)
        return removed

    def delete_tagged(self, tags: Iterable[str]) -> int:
        """Remove the entries carrying any of ``tags``; returns how many were removed."""
        def run() -> int:
            removed = 0
            for tag in tags:
                members = self.client.eval(_TAKE_TAG, 1, self.tag_prefix + tag)
                removed += self._delete_names(
                    [self.key(m.decode() if isinstance(m, bytes) else m) for m in members])
            return removed
        return self._call(run)  # type: ignore[no-any-return]

    def delete_prefix(self, prefix: str) -> int:
        """Remove the entries whose key starts with ``prefix:``; returns how many were removed."""
        def run() -> int:
            pattern = escape_glob(self.key(prefix + ":")) + "*"
            return self._delete_names(list(self.client.scan_iter(match=pattern, count=_BATCH)))
        return self._call(run)  # type: ignore[no-any-return]

    def clear(self) -> None:
        """Remove every entry of this namespace (other namespaces are untouched)."""
        def run() -> None:
            for pattern in self.patterns:
                self._delete_names(list(self.client.scan_iter(match=pattern, count=_BATCH)))
        self._call(run)

    def publish(self, op: str, arg: str) -> None:
        """Tell the other processes about an invalidation (``op`` on ``arg``)."""
        self._call(self.client.publish, self.channel, self.message(op, arg))

    def start_listener(self, handler: InvalidationHandler, check_s: float,
                       wait_s: float = 0.0) -> None:
        """Start the listener thread and wait up to ``wait_s`` for its first subscription."""
        self._stop.clear()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._listen, args=(handler, check_s, ready),
                                        name="defiperf-cache-invalidate", daemon=True)
        self._thread.start()
        ready.wait(wait_s)

    def stop_listener(self, timeout_s: float) -> bool:
        """Stop the listener thread; False when it did not end within ``timeout_s`` (it is a
        daemon and ends at its next poll)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    def _listen(self, handler: InvalidationHandler, check_s: float,
                ready: threading.Event) -> None:
        delay, connected, attempts = 0.05, False, 0
        while not self._stop.is_set():
            pubsub = None
            listen_client = None
            try:
                listen_client = self._listen_client()
                pubsub = listen_client.pubsub()
                pubsub.subscribe(self.channel)
                keys = self.client if self.cluster else listen_client
                epoch = self._epoch(keys, None, handler)
                connected, delay = True, 0.05
                if attempts:
                    handler.on_reset("invalidation channel re-subscribed")
                attempts += 1
                ready.set()
                next_check = time.monotonic() + check_s
                while not self._stop.is_set():
                    message = pubsub.get_message(ignore_subscribe_messages=True,
                                                 timeout=min(0.2, check_s))
                    if message is not None and message.get("type") == "message":
                        self.dispatch(message["data"], handler)
                    if time.monotonic() >= next_check:
                        epoch = self._epoch(keys, epoch, handler)
                        next_check = time.monotonic() + check_s
            except Exception as exc:
                self.lost(connected, handler, exc)
                connected = False
                attempts += 1
                ready.set()
                self._stop.wait(delay)
                delay = min(delay * 2, 1.0)
            finally:
                for closeable in (pubsub, listen_client):
                    if closeable is not None:
                        try:
                            closeable.close()
                        except Exception:
                            pass

    def _listen_client(self) -> Any:
        """A connection of the listener's own, without retries (see RedisTier.listen)."""
        import redis

        return redis.Redis.from_url(self.url, socket_connect_timeout=self.connect_timeout_s,
                                    socket_timeout=self.connect_timeout_s,
                                    **_retry_kwargs(False, retries=0))

    def _epoch(self, client: Any, seen: bytes | None, handler: InvalidationHandler) -> bytes:
        token = client.get(self.epoch_key)
        if token is None:
            client.set(self.epoch_key, uuid.uuid4().hex, nx=True)
            token = client.get(self.epoch_key) or b""
            if seen is not None:
                handler.on_reset("the shared Redis was flushed")
        elif seen is not None and token != seen:
            handler.on_reset("the shared Redis was flushed or restarted")
        return bytes(token)

    def close(self) -> None:
        """Release the tier's resources (connections, files); the tier is not used after this."""
        self.stop_listener(0.5)
        self.client.close()
