"""Hit-rate regression on the shared traces: W-TinyLFU's rate must not fall below floors that
the current tuning clears with margin, nor more than a point below LRU where it now holds.
Each case replays one trace at one size (under a second or two; loop, the longest, is 505,500
reads). The full table is `python -m defiperf.simulate`; docs/hit-rate.md explains it."""

from __future__ import annotations

import os

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from defiperf.simulate import SYNTHETIC, hit_rate, parse_sizes, read_trace
from defiperf.simulate.synthetic import moving_hot, scan_loop

# Beside this checkout (not beside the installed package), or at DEFIPERF_TRACES.
TRACES = Path(os.environ.get("DEFIPERF_TRACES",
                             Path(__file__).resolve().parents[2].parent / "shared/data/traces"))
REAL = ["2_pools", "cpp", "cs", "gli", "loop", "multi1", "multi2", "multi3", "ps", "scan",
        "sprite", "zigzag", "web07"]


@cache
def trace(name: str) -> np.ndarray:
    paths = [p for p in TRACES.glob(f"{name}.trace*") if p.is_file()]
    assert paths, f"the shared trace {name} is missing from {TRACES}; set DEFIPERF_TRACES"
    return read_trace(paths[0], "auto")


def size_of(name: str, percent: int) -> int:
    return parse_sizes(f"{percent}%")[0].entries(len(np.unique(trace(name))))


def test_all_thirteen_traces_read() -> None:
    assert sorted(p.name.split(".")[0] for p in Path(TRACES).glob("*.trace*")) == sorted(REAL)
    web07 = trace("web07")  # cache2k's binary format, detected
    assert (len(web07), len(np.unique(web07))) == (76_118, 20_484)
    assert (len(trace("loop")), len(np.unique(trace("loop")))) == (505_500, 1_011)


# (trace, % of distinct keys) -> tinylfu's floor in percent. Measured after the sample floors
# (5,000 reads / 10,000 counts), each at least 0.4 points above its floor; before them, the
# small-cache rows were far below (cpp 1%: 7.89, loop 20%: 6.72, loop 50%: 42.32). cpp 5% and
# web07 1% were 63.5 and 42.5 until the read buffer shrank to 16 hits (docs/hit-rate.md, s5):
# 64.32 -> 63.32 and 43.02 -> 41.72 (theine 62.1 and 41.9).
FLOORS = {
    ("cpp", 1): 13.0, ("cpp", 5): 62.9, ("cs", 20): 15.5, ("gli", 5): 8.0, ("gli", 20): 33.0,
    ("loop", 20): 17.0, ("loop", 50): 47.0, ("multi1", 1): 14.5, ("multi2", 5): 42.5,
    ("multi3", 20): 56.5, ("ps", 1): 15.5, ("scan", 20): 17.5, ("2_pools", 1): 46.0,
    ("web07", 1): 41.3, ("web07", 20): 61.5,
}


@pytest.mark.parametrize("name, percent", list(FLOORS))
def test_tinylfu_floor(name: str, percent: int) -> None:
    rate = 100 * hit_rate("tinylfu", trace(name), size_of(name, percent))
    assert rate >= FLOORS[name, percent], rate


# Where LRU is near-optimal and the trace short, the warm-up before the shadows switch to LRU
# cost more than a point. zigzag 20% closed when the switch back to W-TinyLFU became a fair
# comparison of the two shadows (-1.6 -> -0.7); zigzag 50% (a strict expected failure until
# then: -4.7, then -1.9) when the first step to LRU grew the window to the LRU shadow's reach and
# froze the main region instead of turning it over (-0.5; docs/hit-rate.md, s5). Rows still
# more than a point behind would go in KNOWN_GAPS, as strict expected failures.
KNOWN_GAPS: set[tuple[str, int]] = set()
LRU_ROWS = [pytest.param(name, pct, marks=pytest.mark.xfail(strict=True, reason="known gap"))
            if (name, pct) in KNOWN_GAPS else (name, pct)
            for name in REAL for pct in (1, 5, 20, 50)]


@pytest.mark.parametrize("name, percent", LRU_ROWS)
def test_tinylfu_within_a_point_of_lru(name: str, percent: int) -> None:
    size = size_of(name, percent)
    tinylfu, lru = hit_rate("tinylfu", trace(name), size), hit_rate("lru", trace(name), size)
    assert tinylfu >= lru - 0.01, (tinylfu, lru)


# zigzag (26 sweeps over 2,001 keys, alternating direction) at 25-40%, where tinylfu trailed LRU
# by 1.1-1.8 points. Both causes were the switches to LRU (docs/hit-rate.md, s5):
# - the first one turned over a main region that holds the first sweep's first keys, which the
#   backward second sweep reads last: a cache's worth of hits lost in that sweep. The first step
#   to LRU now grows the window to three times the depth of the LRU shadow's lead and freezes
#   the main region: 30% -1.14 -> -0.53, 40% -1.52 -> -0.53;
# - at 25% (500 entries) a lead of the TinyLFU shadow of exactly 2 standard deviations switched
#   back at read 33,495, and the return to LRU 2,200 reads later turned the content over twice:
#   the verdict back now has to fire twice (DP_TINYLFU_BACK_CONFIRM). -1.84 -> -0.68.
@pytest.mark.parametrize("percent", [25, 30, 40])
def test_tinylfu_within_a_point_of_lru_on_zigzag(percent: int) -> None:
    size = size_of("zigzag", percent)
    tinylfu, lru = hit_rate("tinylfu", trace("zigzag"), size), hit_rate("lru", trace("zigzag"), size)
    assert tinylfu >= lru - 0.01, (tinylfu, lru)


@cache
def synthetic(name: str) -> np.ndarray:
    return SYNTHETIC[name]()


# The recency-heavy synthetic traces, where the sampled shadow LRU switches the window to the
# whole cache: before it, tinylfu trailed LRU here by 11.9 (reuse_twice 2%), 12.7 (reuse_twice
# 20%) and 2.6 points (moving_hot 10%); now by 0.3, 0.8 and 0.3. recency 2% (0.7 behind, no
# switch) guards the other side: an ORM-like trace the shadows must not make worse.
# moving_hot 50% trailed by 2.8 until a 1% lead (not 3%) was enough to switch: now by 0.8.
# reuse_twice 40% and 50% trailed by 1.05 and 1.22 (the warm-up before the first switch) until
# the first verdict needed Z = 2 rather than 3: now by 0.9 and 0.5.
@pytest.mark.parametrize("name, percent", [("reuse_twice", 2), ("reuse_twice", 20),
                                           ("reuse_twice", 40), ("reuse_twice", 50),
                                           ("moving_hot", 10), ("moving_hot", 50),
                                           ("recency", 2)])
def test_tinylfu_within_a_point_of_lru_on_recency_heavy_traces(name: str, percent: int) -> None:
    keys = synthetic(name)
    size = parse_sizes(f"{percent}%")[0].entries(len(np.unique(keys)))
    tinylfu, lru = hit_rate("tinylfu", keys, size), hit_rate("lru", keys, size)
    assert tinylfu >= lru - 0.01, (tinylfu, lru)


# moving_hot, seed 2 (a held-out seed until this change), at 25% and 30% (4,227 and 5,072
# entries): after the hot set moved, the main region kept the last phase's keys for a whole phase
# (their counts outrank the new phase's) and the verdict to LRU came a phase late, its lead under
# 1% of the sampled reads: 1.08 and 1.05 points behind LRU. The verdict now also fires when the
# LRU shadow beats the W-TinyLFU shadow by far and us by a little (DP_TINYLFU_AGREE_VERSUS_Z):
# 0.72 and 0.49 behind.
@pytest.mark.parametrize("percent", [25, 30])
def test_tinylfu_within_a_point_of_lru_on_a_moving_hot_set(percent: int) -> None:
    keys = moving_hot(seed=2)
    size = parse_sizes(f"{percent}%")[0].entries(len(np.unique(keys)))
    tinylfu, lru = hit_rate("tinylfu", keys, size), hit_rate("lru", keys, size)
    assert tinylfu >= lru - 0.01, (tinylfu, lru)


# Small caches: shadows from 8 entries (exact under 32, 1 key in 2 or 4 under 128), where there
# were none under 64. On the ORM-like recency trace at 16-50 entries tinylfu trailed LRU by 3.9
# to 4.5 points without them; now by 0.1-0.5.
@pytest.mark.parametrize("size", [16, 32, 50])
def test_tinylfu_within_a_point_of_lru_in_a_small_cache(size: int) -> None:
    keys = synthetic("recency")
    tinylfu, lru = hit_rate("tinylfu", keys, size), hit_rate("lru", keys, size)
    assert tinylfu >= lru - 0.01, (tinylfu, lru)


# A Zipf hot set broken by loops (scan_loop at 20% of its keys, 5,000 entries: the hot set and
# the loop fit together). Each loop phase sent the loop's keys back to their ghosts, and the
# quick check halved the sketch two or three times per phase, so the loop displaced the hot
# set: 76.6%. The quick check now ages the sketch only in caches under 1,500 entries: 82.5%,
# on every generator seed (theine 83.8%, LRU 67.5%).
@pytest.mark.parametrize("seed", [1, 2])
def test_tinylfu_keeps_a_hot_set_through_loops(seed: int) -> None:
    keys = scan_loop(seed=seed)
    assert 100 * hit_rate("tinylfu", keys, 5_000) >= 82.0


# A hit's list move waits for at most 16 hits, a probation hit's promotion for cap / 8
# promotions (at most 128). With every move waiting for 128 hits, multi1 at 25% and 30% scored
# 53.8 and 58.0 (theine 57.0 and 60.6) and multi2 at 15% 53.0 (theine 55.2): the window's and
# protected's recency came late. With promotions as prompt as the other moves, cs at 50% (a
# loop longer than the cache) fell from 41.4 to 38.0: the keys not yet re-read in a pass were
# left at the probation tail, one count behind each newcomer, and evicted just before their
# reads. Each floor is 0.4-0.5 points under the rate now.
@pytest.mark.parametrize("name, percent, floor", [("multi1", 25, 57.9), ("multi1", 30, 62.0),
                                                  ("multi2", 15, 54.5), ("cs", 50, 40.9)])
def test_tinylfu_prompt_moves_and_waiting_promotions(name: str, percent: int, floor: float) -> None:
    assert 100 * hit_rate("tinylfu", trace(name), size_of(name, percent)) >= floor


# Ghost returns age the sketch at most once per 4 x cap counts since it last halved. On sprite
# at 70-212 entries (1-3% of its keys) the quick check, on a period of 64-106 reads, halved it
# every 170-200 reads, so no count grew past 1 or 2: 19.87 / 34.62 / 46.81 (theine 22.3 / 37.9
# / 49.5); now 20.82 / 36.77 / 47.92 (20.79 / 37.01 / 48.54 before the zigzag change's frozen
# main region joined it). Each floor is 0.4 points under the rate now.
@pytest.mark.parametrize("percent, floor", [(1, 20.42), (2, 36.37), (3, 47.52)])
def test_tinylfu_small_cache_sketch_keeps_a_memory(percent: int, floor: float) -> None:
    assert 100 * hit_rate("tinylfu", trace("sprite"), size_of("sprite", percent)) >= floor


# The climber turns round on a drop of more than half a standard error of its sample (it kept
# its direction up to one): on loop at 20% and 25% of its keys (202 and 252 entries) tinylfu
# scored 18.76 and 23.32 (theine 18.2 and 22.6), now 19.35 and 24.11. Floors 0.4 under.
@pytest.mark.parametrize("percent, floor", [(20, 18.95), (25, 23.71)])
def test_tinylfu_climber_turns_on_a_real_drop(percent: int, floor: float) -> None:
    assert 100 * hit_rate("tinylfu", trace("loop"), size_of("loop", percent)) >= floor
