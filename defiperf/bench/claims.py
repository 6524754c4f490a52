"""The original's claimed targets, checked against one benchmark run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from defiperf.bench._table import Row


@dataclass(frozen=True)
class Claim:
    claim: str
    target: str
    suite: str
    operation: str
    check: Callable[[float], bool]
    show: Callable[[float], str]
    worst: Callable[[list[float]], float] = max  # of several matching rows (tiers, idle/busy)
    versus: str | None = None  # checks ours / this peer's figure (same row) instead of ours


CLAIMS = (
    Claim("cache hit rate > 95%", "> 0.95", "cache", "Zipf hit rate, TTL 10 s",
          lambda v: v > 0.95, lambda v: f"{v:.1%}"),
    Claim("batch > 1000 ops/s", "> 1,000 items/s", "batch", "no-op throughput, *",
          lambda v: v > 1000, lambda v: f"{v:,.0f} items/s", worst=min),
    Claim("L1 memory < 100 MB", "< 100 MB for 1e6 entries", "lru", "memory *",
          lambda v: v * 1e6 < 100e6, lambda v: f"{v:.0f} B/entry = {v:.0f} MB"),
    Claim("cached response < 50 ms", "< 50 ms (slowest tier hit)", "cache",
          "L2 hit (Redis), await get|L3 hit (disk), await get",
          lambda v: v < 50e6, lambda v: f"{v / 1e6:.3f} ms"),
    Claim("queue latency < 10 ms", "p99 < 10 ms", "batch", "queue latency p99 at 50% of max*",
          lambda v: v < 10, lambda v: f"{v:.2f} ms"),
    Claim("L2 hit within 1.3x a Redis GET", "<= 1.3x redis-py GET", "cache",
          "L2 hit (Redis), await get", lambda v: v <= 1.3, lambda v: f"{v:.2f}x",
          versus="redis-py GET"),
)


def _matches(operation: str, patterns: str) -> bool:
    """``a|b`` alternatives; a trailing ``*`` matches any ending (memory rows name their size)."""
    return any(operation.startswith(p[:-1]) if p.endswith("*") else operation == p
               for p in patterns.split("|"))


def check_claims(rows: list[Row]) -> list[tuple[str, str, str, str]]:
    """(claim, target, ours, "pass" / "FAIL" / "not run") for each claim."""
    out = []
    for c in CLAIMS:
        matching = [r for r in rows if r.suite == c.suite and _matches(r.operation, c.operation)]
        values = [r.ours / r.peers[c.versus] if c.versus else r.ours for r in matching
                  if c.versus is None or r.peers.get(c.versus)]
        if not values:
            out.append((c.claim, c.target, "-", "not run"))
            continue
        value = c.worst(values)  # the slowest tier / the worst figure (busy host included)
        out.append((c.claim, c.target, c.show(value), "pass" if c.check(value) else "FAIL"))
    return out


def format_claims(rows: list[Row]) -> str:
    table = [("original's claim", "target", "defiperf", "result"), *check_claims(rows)]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
