"""Crafted bytes in a shared tier (review 19, findings 1, 2 and 9): a logged miss, never a crash,
whatever the reader thread's stack size or the recursion limit, and bounded in the objects it
builds. Each crash case runs in a child process started outside the source tree (the installed
package), so a SIGSEGV fails the test instead of killing the run."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import uuid
import zlib
from pathlib import Path

import pytest

from defiperf.cache import SerializationError, Serializer
from defiperf.cache.serialization import DEFAULT_MAX_DEPTH, DEFAULT_MAX_ITEMS

NEVER = struct.pack("!dd", math.inf, math.inf)  # an envelope header: fresh and alive forever


def nested_tuples(levels: int) -> bytes:
    """A msgpack body of ``levels`` tuple extension values, each holding the next one."""
    import msgpack  # type: ignore[import-untyped]

    body = msgpack.packb(None)
    for _ in range(levels):
        body = msgpack.packb(msgpack.ExtType(4, b"\x91" + body))
    return bytes(body)


# The child stores ``payload`` (hex) as the entry of key "k" in Redis (``redis_url``) or in the
# disk tier, then reads it with a SyncCacheManager on a thread of ``stack_kib`` KiB; it prints
# the repr of what get() returned, and logs to stderr.
_CHILD = """
import logging, math, struct, sys, tempfile, threading
from defiperf.cache import CacheConfig, SyncCacheManager
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
payload, redis_url, stack_kib, limit = bytes.fromhex(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sys.setrecursionlimit(limit)
head = struct.pack("!dd", math.inf, math.inf)
if redis_url:
    import redis
    cfg = CacheConfig(redis_url=redis_url, disk_enabled=False, invalidation=False,
                      namespace=sys.argv[5])
else:
    cfg = CacheConfig(disk_dir=tempfile.mkdtemp(prefix="untrusted-"))
with SyncCacheManager(cfg) as cache:
    cache.set("k", 1)
    if redis_url:
        redis.Redis.from_url(redis_url).set(cfg.namespace + ":cache:k", head + payload)
    else:
        cache.l3._store().set("k", head + payload)
    cache.l1.clear()
    threading.stack_size(stack_kib * 1024)
    out = []
    t = threading.Thread(target=lambda: out.append(cache.get("k", "MISS")))
    t.start()
    t.join()
    print(repr(out[0]))
"""


def read_in_child(tmp_path: Path, payload: bytes, *, redis_url: str = "", stack_kib: int = 64,
                  recursion_limit: int = 1000) -> tuple[str, str]:
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, payload.hex(), redis_url, str(stack_kib),
         str(recursion_limit), "u" + uuid.uuid4().hex[:8]],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert child.returncode == 0, f"exit {child.returncode}: {child.stderr[-2000:]}"
    return child.stdout.strip(), child.stderr


@pytest.mark.parametrize("stack_kib", [64, 256])
def test_deep_arrays_from_redis_on_a_small_stack_are_a_logged_miss(
        redis_server: str, tmp_path: Path, stack_kib: int) -> None:
    """r1: 1,000 nested arrays in a Redis value SIGSEGVed a reader on a 256 KiB thread."""
    got, log = read_in_child(tmp_path, b"M" + b"\x91" * 1000 + b"\xc0", redis_url=redis_server,
                             stack_kib=stack_kib)
    assert got == "'MISS'"
    assert "unreadable" in log and "deeper than 32" in log


@pytest.mark.parametrize("limit", [1000, 10_000, 1_000_000])
def test_nested_extension_types_with_a_raised_recursion_limit_never_crash(
        tmp_path: Path, limit: int) -> None:
    """r4: with the recursion limit raised, 32 nested tuple extension types on the disk tier
    SIGSEGVed a reader on a 1 MiB thread. Within max_depth they now decode (on 64 KiB), one
    more level or a crafted 200 are a logged miss."""
    got, _ = read_in_child(tmp_path, b"M" + nested_tuples(DEFAULT_MAX_DEPTH), stack_kib=64,
                           recursion_limit=limit)
    expected: object = None
    for _ in range(DEFAULT_MAX_DEPTH):
        expected = (expected,)
    assert got == repr(expected)
    for levels in (DEFAULT_MAX_DEPTH + 1, 200):
        got, log = read_in_child(tmp_path, b"M" + nested_tuples(levels), stack_kib=64,
                                 recursion_limit=limit)
        assert got == "'MISS'"
        assert "unreadable" in log and "deeper than" in log


# r10: a 15.6 KB zlib value of 16 million empty maps made the reader allocate ~1.2 GiB.
_BOMB_CHILD = """
import asyncio, logging, math, struct, sys, zlib
import redis
from defiperf.cache import CacheConfig, SmartCacheManager
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
n = 16_000_000
value = struct.pack("!dd", math.inf, math.inf) + b"Z" + zlib.compress(
    b"\\xdd" + struct.pack("!I", n) + b"\\x80" * n, 9)
cfg = CacheConfig(redis_url=sys.argv[1], disk_enabled=False, invalidation=False,
                  namespace=sys.argv[2])
redis.Redis.from_url(sys.argv[1]).set(cfg.namespace + ":cache:prices", value)

def peak_mib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))

async def main():
    async with SmartCacheManager(cfg) as cache:
        before = peak_mib()
        got = await cache.get("prices", "MISS")
        print(repr(got), len(value), round(peak_mib() - before))
asyncio.run(main())
"""


def test_a_small_compressed_value_of_millions_of_maps_is_a_cheap_logged_miss(
        redis_server: str, tmp_path: Path) -> None:
    child = subprocess.run([sys.executable, "-c", _BOMB_CHILD, redis_server,
                            "u" + uuid.uuid4().hex[:8]],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert child.returncode == 0, child.stderr[-2000:]
    got, stored, growth_mib = child.stdout.split()
    assert got == "'MISS'" and int(stored) < 20_000
    assert "unreadable" in child.stderr and f"more than {DEFAULT_MAX_ITEMS} objects" in child.stderr
    assert int(growth_mib) < 64  # the inflated 16 MB, not 1.2 GiB of dicts


def test_the_object_bound_is_on_both_sides() -> None:
    s = Serializer(max_items=100)
    assert s.loads(s.dumps(list(range(99)))) == list(range(99))  # the list and 99 ints
    with pytest.raises(SerializationError, match="max_items=100"):
        s.dumps(list(range(100)))
    with pytest.raises(ValueError, match="more than 100 objects"):
        s.loads(Serializer().dumps(list(range(100))))
    with pytest.raises(ValueError, match="more than 100 objects"):  # counted inside extensions
        s.loads(Serializer().dumps([(i,) for i in range(50)]))


def test_the_depth_bound_is_on_both_sides_and_counts_extension_types() -> None:
    s = Serializer(max_depth=3)
    assert s.loads(s.dumps([(1, {2: 3})])) == [(1, {2: 3})]
    for too_deep in ([[[[1]]]], (((((1,),),),),), [{1: frozenset({(1,)})}]):
        with pytest.raises(SerializationError, match="max_depth=3"):
            s.dumps(too_deep)
        with pytest.raises(ValueError, match="deeper than 3"):
            s.loads(Serializer().dumps(too_deep))


def test_a_numpy_header_is_walked_too() -> None:
    import msgpack

    header = b"\x91" * 40 + b"\xc0"  # a crafted header nested 40 deep, then the body
    payload = b"M" + msgpack.packb(msgpack.ExtType(2, header + b"\x00" * 8))
    with pytest.raises(ValueError, match="deeper than"):
        Serializer().loads(payload)


@pytest.mark.parametrize(("body", "reason"), [
    (b"\x92\x01", "truncated"), (b"\x01\x02", "after its value"), (b"\xc1", "malformed"),
    (b"\xdd\xff\xff\xff\xff", "truncated"), (b"\xc9\xff\xff\xff\xff\x04", "truncated"),
    (b"\xd5\x04\x90\x01", "malformed"),  # a tuple whose payload is not one whole value
    (b"", "truncated")])
def test_malformed_bodies_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Serializer().loads(b"M" + body)
    with pytest.raises(ValueError, match=reason):
        Serializer().loads(b"Z" + zlib.compress(body))


def test_limits_are_checked() -> None:
    for bad in ({"max_items": 0}, {"max_depth": 0}, {"max_depth": 10**6}):
        with pytest.raises(ValueError):
            Serializer(**bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Serializer(max_items=1.5)  # type: ignore[arg-type]
