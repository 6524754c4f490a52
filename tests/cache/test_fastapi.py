"""A FastAPI app as users write it: a module-level SmartCacheManager, a route returning a
pydantic model through @cached (rebuilt from Redis and disk), a sync route served from the
threadpool through a plain @cached function, and two TestClients in a row (the second runs on
a new event loop after the first closed the cache in its lifespan)."""

from __future__ import annotations

import contextlib
import uuid
import warnings
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from defiperf.cache import CacheConfig, SmartCacheManager

fastapi = pytest.importorskip("fastapi")
pydantic = pytest.importorskip("pydantic")
with warnings.catch_warnings():  # starlette deprecates the httpx it still works with
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


class Position(pydantic.BaseModel):  # type: ignore[misc, name-defined]
    address: str
    amount: Decimal


def make_app(cache: SmartCacheManager, loads: list[str]) -> object:
    @contextlib.asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        yield
        await cache.close()

    app = fastapi.FastAPI(lifespan=lifespan)

    @cache.cached(ttl=60)
    async def position(address: str) -> Position:
        loads.append(address)
        return Position(address=address, amount=Decimal("1.5"))

    @cache.cached(ttl=60)
    def balance(address: str) -> int:  # a plain function: FastAPI runs sync routes in threads
        loads.append("balance:" + address)
        return 42

    @app.get("/positions/{address}")
    async def get_position(address: str) -> Position:
        value = await position(address)
        assert isinstance(value, Position)
        return value

    @app.get("/balances/{address}")
    def get_balance(address: str) -> dict[str, int]:
        return {"balance": balance(address)}

    return app


@pytest.mark.parametrize("with_redis", [False, True])
def test_fastapi_app_with_two_test_clients(tmp_path: Path, redis_server: str,
                                           with_redis: bool) -> None:
    cfg = CacheConfig(disk_dir=str(tmp_path / "l3"), namespace="f" + uuid.uuid4().hex[:6],
                      redis_url=redis_server if with_redis else None)
    cache = SmartCacheManager(cfg)
    loads: list[str] = []
    app = make_app(cache, loads)
    for _ in range(2):
        with TestClient(app) as client:  # type: ignore[arg-type]
            for _ in range(3):
                r = client.get("/positions/0xabc")
                assert r.status_code == 200 and r.json() == {"address": "0xabc", "amount": "1.5"}
                r = client.get("/balances/0xabc")
                assert r.status_code == 200 and r.json() == {"balance": 42}
    # the first client loaded both once; the second read them back from Redis or disk
    assert loads == ["0xabc", "balance:0xabc"]
