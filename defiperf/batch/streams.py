"""Jobs shared by many worker processes through Redis Streams.

A submitter (``RedisStreamQueue``) writes a job's items, in chunks, to one stream per processor
and priority band; ``StreamWorker`` processes read them in a consumer group (XREADGROUP), run
each chunk through a local BatchProcessingEngine (bisecting retries, breaker, sizing), write the
results and dead letters into the job's hashes and acknowledge the chunk in one MULTI. A chunk
of a worker that died stays pending and is reclaimed by another worker after ``claim_idle_s``
(XAUTOCLAIM), so every item is processed at least once, and, results being keyed by item
index, each item appears exactly once in the job's results.

Keys (all under ``<namespace>:batch:``): ``stream:<processor>:<band>``, ``job:<id>`` (meta),
``job:<id>:results`` / ``:dead`` / ``:cancelled`` (hashes by item index), ``job:<id>:cancel``.
Items and results travel as msgpack (no pickle): they must be msgpack-serializable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

import msgpack  # type: ignore[import-untyped]
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from defiperf._validate import check_int, check_number
from defiperf.batch.config import BatchConfig
from defiperf.batch.engine import BatchProcessingEngine
from defiperf.batch.jobs import DeadLetter, JobProgress, JobResult, JobStatus, Processor
from defiperf._msgcheck import check_msgpack

logger = logging.getLogger("defiperf.batch")

BANDS = ("high", "normal", "low")  # XREADGROUP order: high first
GROUP = "workers"


def band(priority: int) -> str:
    """The stream band of a priority: 7..10 high, 4..6 normal, 0..3 low."""
    return "high" if priority >= 7 else "normal" if priority >= 4 else "low"


class RemoteError(Exception):
    """An error raised in a worker process, as stored in Redis: its type name and message."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


class _Keys:
    def __init__(self, namespace: str) -> None:
        if not isinstance(namespace, str) or not namespace or ":" in namespace:
            raise ValueError("namespace must be a non-empty str without ':'")
        self.prefix = f"{namespace}:batch"

    def stream(self, processor: str, band_name: str) -> str:
        return f"{self.prefix}:stream:{processor}:{band_name}"

    def job(self, job_id: str, part: str = "") -> str:
        return f"{self.prefix}:job:{job_id}" + (f":{part}" if part else "")


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


# Stream entries come from a shared Redis: bounded before msgpack builds any object (its parser
# stops at 1,024 levels by itself; a few bytes an object could still ask for gigabytes).
_MAX_DEPTH = 512
_MAX_ITEMS = 1 << 22


def _unpack(data: bytes) -> Any:
    check_msgpack(data, _MAX_DEPTH, _MAX_ITEMS)  # ValueError on anything out of bounds
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


class RedisStreamQueue:
    """RedisStreamQueue(url, *, namespace="defiperf", chunk_size=100, result_ttl_s=86400)

    The submitting side, with the engine's API: ``await submit_job(items, processor,
    priority)``, ``await wait(job_id, timeout)``; ``job_status`` and ``cancel`` are coroutines
    here (they ask Redis). ``url`` may carry AUTH and TLS (``rediss://user:pass@host``).
    """

    def __init__(self, url: str, *, namespace: str = "defiperf", chunk_size: int = 100,
                 result_ttl_s: float = 86_400.0, poll_interval_s: float = 0.02,
                 client: aioredis.Redis | None = None) -> None:
        check_int("chunk_size", chunk_size)
        self._keys = _Keys(namespace)
        self._r = client or aioredis.from_url(url)
        self.chunk_size = chunk_size
        self.result_ttl_s = int(result_ttl_s)
        self.poll_interval_s = poll_interval_s

    async def __aenter__(self) -> RedisStreamQueue:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        await self._r.aclose()

    async def submit_job(self, items: Iterable[Any], processor: Processor | str,
                         priority: int = 5) -> str:
        """Write the job's items to the processor's stream; returns the job id."""
        name = processor.name if isinstance(processor, Processor) else processor
        if not isinstance(name, str) or not name:
            raise TypeError("processor must be a Processor or a processor name")
        check_int("priority", priority, minimum=0, maximum=10)
        if isinstance(items, (str, bytes)):
            raise TypeError("items must be an iterable of items (not a str/bytes)")
        items = list(items)
        chunks = [_pack(items[i:i + self.chunk_size]) for i in range(0, len(items), self.chunk_size)]
        job_id = uuid.uuid4().hex
        stream = self._keys.stream(name, band(priority))
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self._keys.job(job_id), mapping={"total": len(items), "processor": name})
            pipe.expire(self._keys.job(job_id), self.result_ttl_s)
            for i, chunk in enumerate(chunks):
                pipe.xadd(stream, {"job": job_id, "start": i * self.chunk_size, "items": chunk})
            await pipe.execute()
        return job_id

    async def _counts(self, job_id: str) -> tuple[int, int, int, int]:
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.hget(self._keys.job(job_id), "total")
            for part in ("results", "dead", "cancelled"):
                pipe.hlen(self._keys.job(job_id, part))
            total, ok, dead, cancelled = await pipe.execute()
        if total is None:
            raise KeyError(f"no job {job_id!r} (unknown or expired)")
        return int(total), ok, dead, cancelled

    async def job_status(self, job_id: str) -> JobProgress:
        total, ok, dead, cancelled = await self._counts(job_id)
        if ok + dead + cancelled < total:
            status = JobStatus.RUNNING if ok + dead + cancelled else JobStatus.QUEUED
        else:
            status = (JobStatus.CANCELLED if cancelled else JobStatus.FAILED if dead
                      else JobStatus.DONE)
        return JobProgress(job_id, status, total, ok, dead, cancelled)

    async def cancel(self, job_id: str) -> None:
        """Ask workers to cancel the job's chunks they have not started."""
        await self._counts(job_id)  # KeyError for unknown jobs
        await self._r.set(self._keys.job(job_id, "cancel"), 1, ex=self.result_ttl_s)

    async def wait(self, job_id: str, timeout: float | None = None) -> JobResult:
        """Poll until every item is accounted for; TimeoutError after ``timeout`` s."""
        async def until_done() -> JobResult:
            while True:
                progress = await self.job_status(job_id)
                if progress.pending == 0:
                    return await self._result(job_id, progress)
                await asyncio.sleep(self.poll_interval_s)
        return await asyncio.wait_for(until_done(), timeout)

    async def _result(self, job_id: str, progress: JobProgress) -> JobResult:
        async with self._r.pipeline(transaction=False) as pipe:
            for part in ("results", "dead", "cancelled"):
                pipe.hgetall(self._keys.job(job_id, part))
            ok, dead, cancelled = await pipe.execute()
        results: list[Any] = [None] * progress.total
        for index, value in ok.items():
            results[int(index)] = _unpack(value)
        letters = []
        for index, value in dead.items():
            d = _unpack(value)
            letters.append(DeadLetter(int(index), d["item"], RemoteError(d["type"], d["message"]),
                                      d["attempts"]))
        letters.sort(key=lambda d: d.index)
        return JobResult(job_id, progress.status, results, letters,
                         sorted(int(i) for i in cancelled))


class StreamWorker:
    """StreamWorker(url, processors, *, namespace="defiperf", consumer=None, claim_idle_s=30)

    One worker process's loop: ``await worker.run(stop_event)`` reads chunks of the given
    processors, processes them and writes the results back. ``consumer`` names this worker in
    the group (default: host-pid); ``claim_idle_s``: how long a chunk may stay unacknowledged
    by a silent worker before another takes it over.
    """

    def __init__(self, url: str, processors: Sequence[Processor], *, namespace: str = "defiperf",
                 consumer: str | None = None, claim_idle_s: float = 30.0, concurrency: int = 4,
                 block_ms: int = 200, config: BatchConfig | None = None,
                 client: aioredis.Redis | None = None) -> None:
        if not processors or not all(isinstance(p, Processor) for p in processors):
            raise TypeError("processors must be a non-empty sequence of Processor")
        check_number("claim_idle_s", claim_idle_s, inclusive=True)
        check_int("concurrency", concurrency)
        check_int("block_ms", block_ms, minimum=0)
        self._keys = _Keys(namespace)
        self._r = client or aioredis.from_url(url)
        self._processors = {p.name: p for p in processors}
        self._streams = {self._keys.stream(p.name, b): p for p in processors for b in BANDS}
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.claim_idle_ms = int(claim_idle_s * 1000)
        self.concurrency = concurrency
        self.block_ms = block_ms
        self._config = config
        self.chunks_done = 0

    async def _ensure_groups(self) -> None:
        for stream in self._streams:
            with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
                await self._r.xgroup_create(stream, GROUP, id="0", mkstream=True)

    async def _next_entries(self) -> list[tuple[str, bytes, dict[bytes, bytes]]]:
        out: list[tuple[str, bytes, dict[bytes, bytes]]] = []
        for stream in self._streams:  # first, chunks abandoned by dead workers
            _next, claimed, *_ = await self._r.xautoclaim(
                stream, GROUP, self.consumer, self.claim_idle_ms, start_id="0-0",
                count=self.concurrency)
            out += [(stream, entry_id, fields) for entry_id, fields in claimed if fields]
            if out:
                return out
        for band_name in BANDS:  # the highest band with work, without waiting
            out = await self._read([s for s in self._streams if s.endswith(f":{band_name}")], None)
            if out:
                return out
        return await self._read(list(self._streams), self.block_ms)  # idle: wait on them all

    async def _read(self, streams: list[str], block_ms: int | None) -> list[tuple[str, bytes, dict[bytes, bytes]]]:
        reply: Any = await self._r.xreadgroup(GROUP, self.consumer, {s: ">" for s in streams},
                                              count=self.concurrency, block=block_ms)
        out: list[tuple[str, bytes, dict[bytes, bytes]]] = []
        for stream, entries in reply or []:
            name = stream.decode() if isinstance(stream, bytes) else stream
            out += [(name, entry_id, fields) for entry_id, fields in entries]
        return out

    async def _handle(self, engine: BatchProcessingEngine, stream: str, entry_id: bytes,
                      fields: dict[bytes, bytes]) -> None:
        job_id = fields[b"job"].decode()
        start = int(fields[b"start"])
        items = _unpack(fields[b"items"])
        keys = self._keys
        ok: dict[int, bytes] = {}
        dead: dict[int, bytes] = {}
        cancelled: dict[int, int] = {}
        if await self._r.exists(keys.job(job_id, "cancel")):
            cancelled = {start + i: 1 for i in range(len(items))}
        else:
            result = await engine.wait(await engine.submit_job(items, self._streams[stream]))
            failed = {d.index: d for d in result.dead_letters}
            for i, item in enumerate(items):
                letter = failed.get(i)
                if letter is None:
                    try:
                        ok[start + i] = _pack(result.results[i])
                        continue
                    except (TypeError, ValueError) as exc:  # not msgpack-serializable
                        letter = DeadLetter(i, item, exc, 1)
                err = letter.error
                dead[start + i] = _pack({"item": item, "type": type(err).__name__,
                                         "message": str(err), "attempts": letter.attempts})
        async with self._r.pipeline(transaction=True) as pipe:
            for part, mapping in (("results", ok), ("dead", dead), ("cancelled", cancelled)):
                if mapping:
                    pipe.hset(keys.job(job_id, part), mapping=mapping)  # type: ignore[arg-type]
                    pipe.expire(keys.job(job_id, part), 86_400)
            pipe.xack(stream, GROUP, entry_id)
            pipe.xdel(stream, entry_id)
            await pipe.execute()
        self.chunks_done += 1

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Process chunks until ``stop`` is set (chunks in hand are finished first)."""
        stop = stop or asyncio.Event()
        await self._ensure_groups()
        cfg = self._config or BatchConfig(workers_per_processor=self.concurrency)
        async with BatchProcessingEngine(cfg) as engine:
            while not stop.is_set():
                entries = await self._next_entries()
                for band_name in BANDS:  # a higher band's chunks finish before a lower's start
                    batch = [e for e in entries if e[0].endswith(f":{band_name}")]
                    await asyncio.gather(*(self._handle(engine, *e) for e in batch))

    async def close(self) -> None:
        await self._r.aclose()
