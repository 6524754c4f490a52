"""The main job: a DeFi pipeline on embedded defaults, then the monitor's report.

For ``seconds`` it runs, on one event loop:
- a synthetic price feed of ``pairs`` pairs into ring buffers (one RingBuffer per pair),
- transaction dedup through a Bloom filter (the feed replays some transactions),
- portfolio lookups through the smart cache, whose loader is a slow simulated chain call,
- batch validation of the fresh transactions through the batch engine (some are invalid),
then prints throughputs, hit rates, p99s, bottlenecks and hot paths. No Redis is needed (L1 +
L3 in a temporary directory); ``--redis URL`` adds Redis as L2.

It keeps to its time on a busy host: every loop checks the clock, validation results are
claimed as they come (``as_completed``), and at the end what the engine has not finished
within a short grace period is cancelled and counted, not waited for.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from defiperf.batch import Processor
from defiperf.profiles import SuiteProfile
from defiperf.suite import PerformanceSuite, create_optimal_performance_suite

GRACE_S = 1.0  # at the end, how long queued validation may take (at most 10% of the run)


@dataclass
class DemoResult:
    seconds: float
    elapsed_s: float = 0.0
    interrupted: bool = False
    price_updates: int = 0
    transactions: int = 0
    duplicates_dropped: int = 0
    validated: int = 0
    invalid: int = 0
    validation_cancelled: int = 0
    portfolio_lookups: int = 0
    portfolio_span_s: float = 0.0   # serving time of the portfolio API (after warming)
    vwap: dict[str, float] = field(default_factory=dict)
    report_markdown: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)

    @property
    def span_s(self) -> float:
        """The time the rates are over: as measured, or the stated seconds before it ends."""
        return self.elapsed_s or self.seconds


class RunClock:
    """When the run ends: ``seconds`` after ``begin``, or at once after ``stop()`` (Ctrl-C)."""

    def __init__(self) -> None:
        self.start = 0.0
        self.until: float | None = None
        self.interrupted = False

    def begin(self, seconds: float) -> None:
        self.start = time.monotonic()
        self.until = self.start if self.interrupted else self.start + seconds

    def running(self) -> bool:
        return self.until is not None and time.monotonic() < self.until

    def remaining_s(self) -> float:
        return 0.0 if self.until is None else max(self.until - time.monotonic(), 0.0)

    def stop(self) -> None:
        self.interrupted = True
        if self.until is not None:
            self.until = min(self.until, time.monotonic())


def _tx_hash(i: int) -> str:
    return hashlib.sha256(i.to_bytes(8, "little")).hexdigest()


async def _price_feed(suite: PerformanceSuite, pairs: list[str], clock: RunClock, out: DemoResult,
                      rng: np.random.Generator) -> None:
    buffers = {p: suite.structures.price_buffer(2_000) for p in pairs}
    price = {p: 100.0 * (i + 1) for i, p in enumerate(pairs)}
    t = 0.0
    second_start, second_updates = time.monotonic(), 0
    while clock.running():
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
        second_updates += n
        suite.monitor.record_timing("price_feed.tick", (time.perf_counter() - start) * 1000.0)
        now = time.monotonic()
        if now - second_start >= 1.0:  # the wall-clock rate, as the headline counts it
            suite.monitor.record_metric("price_updates_per_second",
                                        second_updates / (now - second_start), "ops/sec")
            second_start, second_updates = now, 0
        await asyncio.sleep(0.002)
    out.vwap = {p: round(buffers[p].vwap(), 4) for p in pairs[:3]}


async def _transactions(suite: PerformanceSuite, clock: RunClock, out: DemoResult,
                        rng: random.Random) -> None:
    seen = suite.structures.transaction_filter(200_000, 0.001)

    async def validate(txs: list[dict[str, Any]]) -> list[bool]:
        await asyncio.sleep(0.0005 + 0.00002 * len(txs))  # signature checks
        return [tx["value"] >= 0 for tx in txs]

    processor = Processor("validate_tx", validate, max_batch_size=200, timeout=2.0)
    engine = suite.batch
    pending: set[str] = set()

    async def collect() -> None:  # claim results as jobs finish: nothing piles up
        async for job_id, result in engine.as_completed():
            pending.discard(job_id)
            out.validated += sum(1 for r in result.results if r is True)
            out.invalid += sum(1 for r in result.results if r is False)
            out.validation_cancelled += len(result.cancelled)

    collector = asyncio.create_task(collect())
    next_id = 0
    while clock.running():
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
        pending.add(await engine.submit_job(fresh, processor, priority=7))
        suite.monitor.record_request("/api/transactions", (time.perf_counter() - start) * 1000.0)
        await asyncio.sleep(0.005)
    try:  # what is still queued at the end gets a short grace, then is cancelled and counted
        await engine.drain(timeout=min(GRACE_S, 0.1 * out.seconds))
    except TimeoutError:
        for job_id in list(pending):
            try:
                engine.cancel(job_id)
            except KeyError:
                pass  # finished meanwhile
    while pending and not collector.done():
        await asyncio.sleep(0.01)
    collector.cancel()
    try:
        await collector
    except asyncio.CancelledError:
        pass


async def _portfolio_api(suite: PerformanceSuite, clock: RunClock, out: DemoResult,
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

    # Warming gets a bounded share of the run: under memory pressure the suite pauses it.
    warm = suite.cache.warm_cache([f"portfolio:{a}" for a in addresses[:50]], 9, load_portfolio)
    try:
        await asyncio.wait_for(warm, timeout=min(clock.remaining_s(), 0.1 * out.seconds + 0.5))
    except asyncio.TimeoutError:
        pass  # serve cold: the loader fills the cache
    started = time.monotonic()
    while clock.running():
        batch = rng.choice(len(addresses), size=50, p=probs)
        await asyncio.gather(*(request(addresses[i]) for i in batch))
        out.portfolio_span_s = time.monotonic() - started
        await asyncio.sleep(0.001)


def status_line(out: DemoResult, suite: PerformanceSuite, elapsed_s: float) -> str:
    """One line of live progress: time, rates so far, hit rate, queue latency."""
    m = suite.get_performance_metrics()
    l1 = m.get("cache", {}).get("tiers", {}).get("l1", {}).get("hit_rate") or 0.0
    batch = m.get("batch", {}).get("processors", {}).get("validate_tx", {})
    q99 = batch.get("queue_latency_ms", {}).get("p99") or 0.0
    span = max(elapsed_s, 1e-9)
    return (f"{elapsed_s:5.1f}/{out.seconds:g} s | prices {out.price_updates / span:,.0f}/s | "
            f"tx {out.transactions / span:,.0f}/s, {out.validated + out.invalid:,} validated | "
            f"portfolio {out.portfolio_lookups / span:,.0f}/s, L1 hit {l1:.0%} | "
            f"batch queue p99 {q99:.1f} ms")


async def _report_status(suite: PerformanceSuite, clock: RunClock, out: DemoResult,
                         status: Callable[[str], None]) -> None:
    while clock.running():
        await asyncio.sleep(min(1.0, clock.remaining_s()))
        if clock.running():
            status(status_line(out, suite, time.monotonic() - clock.start))


async def run_demo(seconds: float = 5.0, *, profile: str | SuiteProfile = "analytics",
                   redis_url: str | None = None,
                   pairs: int = 40, seed: int = 7, status: Callable[[str], None] | None = None,
                   clock: RunClock | None = None) -> DemoResult:
    """Run the pipeline for ``seconds``; L3 lives in a temporary directory removed afterwards.

    ``status`` gets a one-line progress summary every second. ``clock``: a RunClock whose
    ``stop()`` ends the run early (Ctrl-C) with the partial report.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < float("inf"):
        raise ValueError(f"seconds must be a finite number > 0, got {seconds!r}")
    out = DemoResult(seconds=seconds)
    with tempfile.TemporaryDirectory(prefix="defiperf-demo-") as l3_dir:
        overrides: dict[str, Any] = {"disk_dir": l3_dir}
        if redis_url:
            overrides["redis_url"] = redis_url
        suite = create_optimal_performance_suite(profile, **overrides)
        async with suite:
            clock = clock or RunClock()
            clock.begin(seconds)
            tasks = [
                _price_feed(suite, [f"PAIR{i}/USDC" for i in range(pairs)], clock, out,
                            np.random.default_rng(seed)),
                _transactions(suite, clock, out, random.Random(seed)),
                _portfolio_api(suite, clock, out, np.random.default_rng(seed + 1)),
            ]
            if status is not None:
                tasks.append(_report_status(suite, clock, out, status))
            await asyncio.gather(*tasks)
            out.elapsed_s = time.monotonic() - clock.start
            out.interrupted = clock.interrupted
            suite.monitor.tick()
            out.report_markdown = suite.monitor.generate_report(hot_paths_n=8).to_markdown()
            out.metrics = suite.get_performance_metrics()
            out.health = suite.get_health_status()
    return out


def summary(out: DemoResult) -> str:
    cache = out.metrics.get("cache", {})
    batch = out.metrics.get("batch", {}).get("processors", {}).get("validate_tx", {})
    span = out.span_s
    title = f"# defiperf demo ({out.seconds:g} s stated, {span:.1f} s run"
    title += ", interrupted: partial report)" if out.interrupted else ")"
    cancelled = (f", {out.validation_cancelled:,} cancelled at the end"
                 if out.validation_cancelled else "")
    lines = [
        title,
        "",
        f"- price feed: {out.price_updates:,} updates ({out.price_updates / span:,.0f}/s) "
        f"into ring buffers; VWAP {out.vwap}",
        f"- transactions: {out.transactions:,} seen ({out.transactions / span:,.0f}/s), "
        f"{out.duplicates_dropped:,} duplicates dropped by the Bloom filter, {out.validated:,} "
        f"valid and {out.invalid:,} invalid after batch validation{cancelled} (queue p99 "
        f"{batch.get('queue_latency_ms', {}).get('p99') or 0:.2f} ms)",
        f"- portfolio API: {out.portfolio_lookups:,} lookups "
        f"({out.portfolio_lookups / (out.portfolio_span_s or span):,.0f}/s after warming), "
        f"L1 hit rate {(cache.get('tiers', {}).get('l1', {}).get('hit_rate') or 0):.1%}, "
        f"{cache.get('loads', 0)} loads from the chain, {cache.get('stale_served', 0)} served stale",
        f"- health: {out.health.get('status')}",
        "",
    ]
    return "\n".join(lines) + out.report_markdown
