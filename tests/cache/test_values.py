"""Values of real services through the shared tiers (disk and a real Redis): typed values
rebuilt from the return annotation or type=, the default= and serializer= hooks, hostile bytes
(deeply nested extension types, a zlib bomb) as logged misses, and TTL validation."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import logging
import math
import time
import uuid
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import msgpack  # type: ignore[import-untyped]
import numpy as np
import pytest
import redis

from defiperf.cache import CacheConfig, SerializationError, SmartCacheManager, SyncCacheManager
from defiperf.cache.envelope import pack


class Side(enum.Enum):
    BUY = "buy"
    SELL = "sell"


@dataclasses.dataclass(frozen=True)
class Fill:
    id: uuid.UUID
    side: Side
    price: Decimal
    when: datetime.datetime
    day: datetime.date
    at: datetime.time
    hold: datetime.timedelta
    venues: frozenset[str]
    tags: set[str]
    path: tuple[str, ...]
    amounts: np.ndarray = dataclasses.field(compare=False)


class Quote(NamedTuple):
    pair: str
    price: float


def fill() -> Fill:
    return Fill(uuid.UUID(int=42), Side.SELL, Decimal("3412.55"),
                datetime.datetime(2026, 12, 1, 12, tzinfo=datetime.timezone.utc),
                datetime.date(2026, 12, 1), datetime.time(12, 30), datetime.timedelta(seconds=90),
                frozenset({"uni", "curve"}), {"a"}, ("ETH", "USDC"), np.arange(4.0))


def fresh_l1(cache: Any) -> None:
    assert cache.l1 is not None
    cache.l1.clear()


@pytest.mark.parametrize("with_redis", [False, True])
def test_typed_values_come_back_as_their_types(tmp_path: Path, redis_server: str,
                                               with_redis: bool) -> None:
    cfg = CacheConfig(disk_dir=str(tmp_path / "l3"), namespace="v" + uuid.uuid4().hex[:6],
                      redis_url=redis_server if with_redis else None)
    with SyncCacheManager(cfg) as cache:
        @cache.cached(ttl=60)
        def last_fill(pair: str) -> Fill:
            return fill()

        @cache.cached(ttl=60)
        def quotes(pair: str) -> list[Quote]:
            return [Quote(pair, 1.5)]

        assert last_fill("ETH") == fill()
        assert quotes("ETH") == [Quote("ETH", 1.5)]
        fresh_l1(cache)
        back = last_fill("ETH")  # from L2 or L3, rebuilt from the annotation
        assert back == fill() and isinstance(back.side, Side) and np.array_equal(back.amounts, np.arange(4.0))
        assert last_fill.cache_info().hits == 0 and cache.counters["loads"] == 2
        assert quotes("ETH") == [Quote("ETH", 1.5)] and isinstance(quotes("ETH")[0], Quote)
        cache.set("f", fill())
        fresh_l1(cache)
        assert cache.get("f", type=Fill) == fill()
        fresh_l1(cache)
        assert cache.get("f")["side"] == "sell"  # without a type: plain data


def test_pydantic_models_round_trip(tmp_path: Path) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Position(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        address: str
        amount: Decimal
        opened: datetime.datetime

    pos = Position(address="0xabc", amount=Decimal("1.5"),
                   opened=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
    with SyncCacheManager(CacheConfig(disk_dir=str(tmp_path / "l3"))) as cache:
        cache.set("p", pos)
        fresh_l1(cache)
        assert cache.get("p", type=Position) == pos


def test_default_hook_and_custom_serializer(tmp_path: Path) -> None:
    class Money:
        def __init__(self, cents: int) -> None:
            self.cents = cents

    with SyncCacheManager(CacheConfig(disk_dir=str(tmp_path / "a")),
                          default=lambda o: {"cents": o.cents} if isinstance(o, Money) else o) as cache:
        cache.set("m", Money(5))
        fresh_l1(cache)
        assert cache.get("m") == {"cents": 5}

    class Upper:
        def dumps(self, value: Any) -> bytes:
            return b"M" + msgpack.packb(str(value).upper())

        def loads(self, data: bytes) -> Any:
            return msgpack.unpackb(data[1:])

    with SyncCacheManager(CacheConfig(disk_dir=str(tmp_path / "b")), serializer=Upper()) as cache:
        cache.set("k", "abc")
        fresh_l1(cache)
        assert cache.get("k") == "ABC"


def test_unserializable_value_names_the_type_and_the_hook_and_writes_nothing(tmp_path: Path) -> None:
    class Opaque:
        pass

    with SyncCacheManager(CacheConfig(disk_dir=str(tmp_path / "l3"))) as cache:
        with pytest.raises(SerializationError, match=r"Opaque.*default="):
            cache.set("k", {"x": Opaque()})
        assert cache.l1 is not None and len(cache.l1) == 0
        assert cache.l3 is not None and list(cache.l3._cache.iterkeys()) == []


def nested_ext_payload(depth: int = 200) -> bytes:
    """715-ish bytes: ``depth`` tuple extension types, each holding the next."""
    inner = msgpack.packb([])
    for _ in range(depth):
        inner = msgpack.packb([msgpack.ExtType(4, inner)])
    return b"M" + inner


HOSTILE = {
    "nested": nested_ext_payload(),
    "bomb": b"Z" + zlib.compress(b"\x00" * (256 << 20), 9),
    "garbage": b"M\xc1\xff\x00",
    "bad-array": b"M" + msgpack.packb(msgpack.ExtType(2, msgpack.packb(["<f8", [10**12]]))),
    "object-array": b"M" + msgpack.packb(msgpack.ExtType(2, msgpack.packb(["|O", [1]]) + b"\x00" * 8)),
    "deep-arrays": b"M" + b"\x91" * 100_000 + b"\xc0",
    "deep-maps": b"M" + b"\x81\xa1a" * 100_000 + b"\xc0",
    "truncated-array32": b"M\xdd\xff\xff\xff\xff",
    "future-format": b"N" + msgpack.packb({"a": 1}),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_bytes_on_disk_are_logged_misses(tmp_path: Path, name: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    with SyncCacheManager(CacheConfig(disk_dir=str(tmp_path / "l3"))) as cache:
        assert cache.l3 is not None
        now = time.time()
        cache.l3._cache.set("k", pack(now + 60, now + 60, HOSTILE[name]))
        with caplog.at_level(logging.WARNING, logger="defiperf.cache"):
            t0 = time.monotonic()
            assert cache.get("k") is None
            assert time.monotonic() - t0 < 5
        assert "unreadable" in caplog.text and cache.get_metrics()["corrupt_entries"] == 1


async def test_hostile_bytes_in_redis_are_logged_misses(redis_server: str) -> None:
    ns = "h" + uuid.uuid4().hex[:6]
    raw = redis.Redis.from_url(redis_server)
    now = time.time()
    for name, payload in HOSTILE.items():
        raw.set(f"{ns}:cache:{name}", pack(now + 60, now + 60, payload))
    raw.close()
    async with SmartCacheManager(CacheConfig(redis_url=redis_server, namespace=ns,
                                             disk_enabled=False)) as cache:
        for name in HOSTILE:
            assert await cache.get(name) is None
        assert cache.get_metrics()["corrupt_entries"] == len(HOSTILE)
        assert cache.health()["status"] == "ok"


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, -1, 0, 1e300, True, "10",
                                 datetime.timedelta(seconds=-5)])
def test_bad_ttls_are_refused_before_anything_is_written(tmp_path: Path, bad: Any) -> None:
    with SyncCacheManager(CacheConfig(disk_dir=str(tmp_path / "l3"))) as cache:
        with pytest.raises((TypeError, ValueError), match="ttl"):
            cache.set("k", 1, ttl=bad)
        with pytest.raises((TypeError, ValueError), match="ttl"):
            cache.cached(ttl=bad)
        assert cache.l1 is not None and len(cache.l1) == 0
        assert cache.l3 is not None and list(cache.l3._cache.iterkeys()) == []


async def test_ttl_forms(tmp_path: Path, fake_timer: Any) -> None:
    cfg = CacheConfig(disk_dir=str(tmp_path / "l3"), default_ttl_s=10)
    async with SmartCacheManager(cfg, clock=fake_timer) as cache:
        await cache.set("td", 1, ttl=datetime.timedelta(seconds=30))
        await cache.set("forever", 2, ttl=None)
        await cache.set("default", 3)
        fake_timer.tick(20)
        assert await cache.get("td") == 1 and await cache.get("default") is None
        fake_timer.tick(10**8)
        assert await cache.get("forever") == 2 and await cache.get("td") is None


async def test_a_callers_huge_ttl_cannot_open_the_breaker(redis_server: str) -> None:
    cfg = CacheConfig(redis_url=redis_server, namespace="b" + uuid.uuid4().hex[:6],
                      disk_enabled=False)
    async with SmartCacheManager(cfg) as cache:
        for _ in range(10):
            with pytest.raises(ValueError):
                await cache.set("k", 1, ttl=1e300)
        await cache.set("k", 1, ttl=9 * 365 * 86400)  # near the limit: Redis accepts it
        assert cache.health()["tiers"]["l2"]["breaker"] == "closed"
        assert cache.get_metrics()["tiers"]["l2"]["errors"] == 0


def test_a_monitor_without_record_cache_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="monitor"):
        SyncCacheManager(CacheConfig(disk_dir=str(tmp_path / "l3")), monitor=object())  # type: ignore[arg-type]
