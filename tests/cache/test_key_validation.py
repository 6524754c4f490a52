"""Keys and tags a caller passes are checked before anything is written (review 19, finding 12):
one that cannot be stored (a lone surrogate, from a path decoded with surrogateescape) is a
ValueError naming it, never a tier failure that opens the breakers for every other caller."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from defiperf.cache import CacheConfig, SmartCacheManager, SyncCacheManager
from defiperf.cache.keys import MAX_KEY_CHARS, MAX_TAG_CHARS, check_key, check_tags

SURROGATES = ["\ud800", "a\udc80b", "x" * 100 + "\udfff"]


def config(tmp_path: Path, redis_url: str) -> CacheConfig:
    return CacheConfig(redis_url=redis_url, disk_dir=str(tmp_path / f"l3-{uuid.uuid4().hex[:6]}"),
                       namespace="k" + uuid.uuid4().hex[:8], invalidation=False)


def assert_nothing_written(cache: Any, redis_url: str) -> None:
    health = cache.health()
    assert health["status"] == "ok", health
    assert {health["tiers"][t]["breaker"] for t in ("l2", "l3")} == {"closed"}
    assert redis.Redis.from_url(redis_url).keys(cache.config.namespace + ":*") == []
    assert len(cache.l1) == 0 and len(cache.l3._store()) == 0


def test_sync_manager_refuses_unencodable_keys_and_tags(redis_server: str, tmp_path: Path) -> None:
    with SyncCacheManager(config(tmp_path, redis_server)) as cache:
        for _ in range(10):  # far more than the breakers' failure threshold
            for bad in SURROGATES:
                with pytest.raises(ValueError, match="cache key .*not valid UTF-8"):
                    cache.set(bad, 1)
                with pytest.raises(ValueError, match="tag .*not valid UTF-8"):
                    cache.set("good", 1, tags=["ok", bad])
                with pytest.raises(ValueError, match="cache key"):
                    cache.set_many({"good": 1, bad: 2})
                with pytest.raises(ValueError, match="cache key"):
                    cache.get(bad)
                with pytest.raises(ValueError, match="cache key"):
                    cache.get_or_set(bad, lambda k: 1)
        assert_nothing_written(cache, redis_server)
        cache.set("good", 1, tags=["ok"])  # and the tiers still work
        assert cache.l1 is not None
        cache.l1.clear()
        assert cache.get("good") == 1


async def test_async_manager_refuses_unencodable_keys_and_tags(
        redis_server: str, tmp_path: Path) -> None:
    async with SmartCacheManager(config(tmp_path, redis_server)) as cache:
        for _ in range(10):
            for bad in SURROGATES:
                with pytest.raises(ValueError, match="cache key .*not valid UTF-8"):
                    await cache.set(bad, 1)
                with pytest.raises(ValueError, match="tag .*not valid UTF-8"):
                    await cache.set("good", 1, tags=[bad])
                with pytest.raises(ValueError, match="cache key"):
                    await cache.set_many({bad: 2})
        assert_nothing_written(cache, redis_server)


def test_cached_functions_refuse_unencodable_keys_and_tags(
        redis_server: str, tmp_path: Path) -> None:
    with SyncCacheManager(config(tmp_path, redis_server)) as cache:
        with pytest.raises(ValueError, match="tag"):
            cache.cached(ttl=60, tags=["\ud800"])(lambda: 1)

        @cache.cached(ttl=60, key=lambda name: name)
        def by_callable(name: str) -> str:
            return name

        @cache.cached(ttl=60, key="user:{name}")
        def by_template(name: str) -> str:
            return name

        for _ in range(10):
            for fn in (by_callable, by_template):
                with pytest.raises(ValueError, match="not valid UTF-8"):
                    fn("\udc80")
        assert_nothing_written(cache, redis_server)

        @cache.cached(ttl=60)
        def by_digest(name: str) -> int:  # the canonical digest holds any str
            return len(name)

        assert by_digest("\udc80") == 1


def test_edge_cases_of_keys_and_tags() -> None:
    assert check_key("a\x00b") == "a\x00b"  # NUL is a valid key character in every tier
    assert check_key(b"caf\xc3\xa9") == "café"
    assert check_key("é" * MAX_KEY_CHARS) == "é" * MAX_KEY_CHARS
    with pytest.raises(ValueError, match="over 4096"):
        check_key("x" * (MAX_KEY_CHARS + 1))
    with pytest.raises(ValueError, match="bytes keys must be UTF-8"):
        check_key(b"\xed\xa0\x80")  # a surrogate encoded in bytes
    with pytest.raises(TypeError, match="str or UTF-8 bytes"):
        check_key(1)
    assert check_tags(["\U0001f600" * MAX_TAG_CHARS]) == ("\U0001f600" * MAX_TAG_CHARS,)
    for bad_tag in ["", "a\x1fb", "x" * (MAX_TAG_CHARS + 1), "\ud800"]:
        with pytest.raises(ValueError, match="tag"):
            check_tags([bad_tag])
    with pytest.raises(TypeError, match="tags must be str"):
        check_tags([b"bytes"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="single str"):
        check_tags("abc")
    with pytest.raises(ValueError, match="at most 64 tags"):
        check_tags([f"t{i}" for i in range(65)])


def test_str_subclasses_become_exact_str() -> None:
    class Hostile(str):
        def __hash__(self) -> int:
            raise RuntimeError("hash")

        def encode(self, *args: Any, **kwargs: Any) -> bytes:
            raise RuntimeError("encode")

    key, (tag,) = check_key(Hostile("k")), check_tags([Hostile("t")])
    assert type(key) is str and key == "k" and type(tag) is str and tag == "t"
    hash(key), tag.encode()
