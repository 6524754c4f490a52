"""The bench's claim of an L2 hit within 1.3x a raw redis-py GET is checked as a ratio of the
same row's figures (and says "not run" without Redis)."""

from __future__ import annotations

from defiperf.bench._table import Row
from defiperf.bench.claims import check_claims

CLAIM = "L2 hit within 1.3x a Redis GET"


def verdict(rows: list[Row]) -> tuple[str, str]:
    return {claim: (ours, v) for claim, _, ours, v in check_claims(rows)}[CLAIM]


def test_l2_claim_is_a_ratio_to_the_raw_get() -> None:
    def row(ours: float) -> Row:
        return Row("cache", "L2 hit (Redis), await get", "ns/op", ours, {"redis-py GET": 50_000.0})
    assert verdict([row(60_000.0)]) == ("1.20x", "pass")
    assert verdict([row(70_000.0)]) == ("1.40x", "FAIL")
    assert verdict([Row("cache", "L2 hit (Redis), await get", "ns/op", 60_000.0)]) == ("-", "not run")
    assert verdict([]) == ("-", "not run")
