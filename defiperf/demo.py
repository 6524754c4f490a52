"""The main job: a DeFi pipeline on embedded defaults, then the monitor's report.

For ``seconds`` it runs, on one event loop:
- a synthetic price feed of ``pairs`` pairs into ring buffers (one RingBuffer per pair),
- transaction dedup through a Bloom filter (the feed replays some transactions),
- portfolio lookups through the smart cache, whose loader is a slow simulated chain call,
- batch validation of the fresh transactions through the batch engine (some are invalid),
then prints throughputs, hit rates, p99s, bottlenecks and hot paths. No Redis is needed (L1 +
L3 in a temporary directory); ``--redis URL`` adds Redis as L2.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from defiperf.batch import Processor
from defiperf.suite import PerformanceSuite, create_optimal_performance_suite


@dataclass
class DemoResult:
    seconds: float
    price_updates: int = 0
    transactions: int = 0
    duplicates_dropped: int = 0
    validated: int = 0
    invalid: int = 0
    portfolio_lookups: int = 0
    vwap: dict[str, float] = field(default_factory=dict)
    report_markdown: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)


def _tx_hash(i: int) -> str:
    return hashlib.sha256(i.to_bytes(8, "little")).hexdigest()


async def _price_feed(suite: PerformanceSuite, pairs: list[str], until: float, out: DemoResult,
                      rng: np.random.Generator) -> None:
    buffers = {p: suite.structures.price_buffer(2_000) for p in pairs}
    price = {p: 100.0 * (i + 1) for i, p in enumerate(pairs)}
    t = 0.0
    while time.monotonic() < until:
        start = time.perf_counter()
        steps = rng.normal(0, 0.001, size=(len(pairs), 50))
        for j, pair in enumerate(pairs):
            buf = buffers[pair]
            for k in range(50):
                price[pair] *= 1.0 + steps[j, k]
                t += 0.001
                buf.push(t, price[pair], 1.0 + (k % 7))
        n = 50 * len(pairs)
        out.price_updates += n
        elapsed = time.perf_counter() - start
        suite.monitor.record_metric("price_updates_per_second", n / max(elapsed, 1e-9), "ops/sec")
        suite.monitor.record_timing("price_feed.tick", elapsed * 1000.0)
        await asyncio.sleep(0.002)
    out.vwap = {p: round(buffers[p].vwap(), 4) for p in pairs[:3]}


async def _transactions(suite: PerformanceSuite, until: float, out: DemoResult,
                        rng: random.Random) -> None:
    seen = suite.structures.transaction_filter(200_000, 0.001)

    async def validate(txs: list[dict[str, Any]]) -> list[bool]:
        await asyncio.sleep(0.0005 + 0.00002 * len(txs))  # signature checks
        return [tx["value"] >= 0 for tx in txs]

    processor = Processor("validate_tx", validate, max_batch_size=200, timeout=2.0)
    jobs = []
    next_id = 0
    while time.monotonic() < until:
        fresh = []
        for _ in range(500):
            i = next_id if rng.random() > 0.1 or next_id == 0 else rng.randrange(next_id)
            next_id += i == next_id
            h = _tx_hash(i)
            out.transactions += 1
            if h in seen:
                out.duplicates_dropped += 1
                continue
            seen.add(h)
            fresh.append({"hash": h, "value": -1 if rng.random() < 0.01 else rng.randrange(10**6)})
        start = time.perf_counter()
        jobs.append(await suite.batch.submit_job(fresh, processor, priority=7))
        suite.monitor.record_request("/api/transactions", (time.perf_counter() - start) * 1000.0)
        await asyncio.sleep(0.005)
    for job in jobs:
        result = await suite.batch.wait(job)
        out.validated += sum(1 for r in result.results if r is True)
        out.invalid += sum(1 for r in result.results if r is False)


async def _portfolio_api(suite: PerformanceSuite, until: float, out: DemoResult,
                         rng: np.random.Generator) -> None:
    addresses = [f"0x{i:040x}" for i in range(500)]
    ranks = np.arange(1, len(addresses) + 1) ** -1.1
    probs = ranks / ranks.sum()

    async def load_portfolio(key: str) -> dict[str, Any]:
        start = time.perf_counter()
        await asyncio.sleep(0.02)  # a slow eth_call to a node
        suite.monitor.record_chain_call("ethereum", "eth_call", (time.perf_counter() - start) * 1000.0)
        return {"address": key.split(":", 1)[1], "positions": [{"token": "ETH", "amount": "1.5"}]}

    async def request(address: str) -> None:
        start = time.perf_counter()
        await suite.cache.get_or_set(f"portfolio:{address}", load_portfolio, ttl=5.0, stale_ttl=10.0)
        suite.monitor.record_request("/api/portfolio", (time.perf_counter() - start) * 1000.0)
        out.portfolio_lookups += 1

    await suite.cache.warm_cache([f"portfolio:{a}" for a in addresses[:50]], 9, load_portfolio)
    while time.monotonic() < until:
        batch = rng.choice(len(addresses), size=50, p=probs)
        await asyncio.gather(*(request(addresses[i]) for i in batch))
        await asyncio.sleep(0.001)


async def run_demo(seconds: float = 5.0, *, profile: str = "analytics", redis_url: str | None = None,
                   pairs: int = 40, seed: int = 7) -> DemoResult:
    """Run the pipeline for ``seconds``; L3 lives in a temporary directory removed afterwards."""
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds!r}")
    out = DemoResult(seconds=seconds)
    with tempfile.TemporaryDirectory(prefix="defiperf-demo-") as l3_dir:
        overrides: dict[str, Any] = {"disk_dir": l3_dir}
        if redis_url:
            overrides["redis_url"] = redis_url
        suite = create_optimal_performance_suite(profile, **overrides)
        async with suite:
            until = time.monotonic() + seconds
            await asyncio.gather(
                _price_feed(suite, [f"PAIR{i}/USDC" for i in range(pairs)], until, out,
                            np.random.default_rng(seed)),
                _transactions(suite, until, out, random.Random(seed)),
                _portfolio_api(suite, until, out, np.random.default_rng(seed + 1)),
            )
            suite.monitor.tick()
            out.report_markdown = suite.monitor.generate_report(hot_paths_n=8).to_markdown()
            out.metrics = suite.get_performance_metrics()
            out.health = suite.get_health_status()
    return out


def summary(out: DemoResult) -> str:
    cache = out.metrics.get("cache", {})
    batch = out.metrics.get("batch", {}).get("processors", {}).get("validate_tx", {})
    lines = [
        f"# defiperf demo ({out.seconds:g} s)",
        "",
        f"- price feed: {out.price_updates:,} updates ({out.price_updates / out.seconds:,.0f}/s) "
        f"into ring buffers; VWAP {out.vwap}",
        f"- transactions: {out.transactions:,} seen, {out.duplicates_dropped:,} duplicates dropped "
        f"by the Bloom filter, {out.validated:,} valid and {out.invalid:,} invalid after batch "
        f"validation (queue p99 {batch.get('queue_latency_ms', {}).get('p99') or 0:.2f} ms)",
        f"- portfolio API: {out.portfolio_lookups:,} lookups, L1 hit rate "
        f"{(cache.get('tiers', {}).get('l1', {}).get('hit_rate') or 0):.1%}, "
        f"{cache.get('loads', 0)} loads from the chain, {cache.get('stale_served', 0)} served stale",
        f"- health: {out.health.get('status')}",
        "",
    ]
    return "\n".join(lines) + out.report_markdown
