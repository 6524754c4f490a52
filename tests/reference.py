"""Slow but obviously correct models the compiled structures are tested against."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NEVER = 2**63 - 1


def seconds_to_ns(seconds: float) -> int:
    """The same conversion the compiled types make (truncation of seconds * 1e9)."""
    if math.isinf(seconds) or seconds * 1e9 >= 9.2e18:
        return NEVER
    return int(seconds * 1e9)


@dataclass
class ModelEntry:
    value: Any
    expires_ns: int
    weight: int
    hits: int = 0


class LRUModel:
    """OrderedDict LRU with TTL and weights; the last item is the most recent.

    Where the real cache may choose among equally good victims (several expired entries with
    the same expiry), the model is told the choice (``victims``) and checks that it was valid.
    """

    def __init__(self, max_size: int, ttl: float | None, timer: Callable[[], float],
                 max_weight: int | None = None,
                 size_of: Callable[[Any, Any], int] | None = None) -> None:
        self.max_size = max_size
        self.ttl_ns = NEVER if ttl is None else seconds_to_ns(ttl)
        self.timer = timer
        self.max_weight = max_weight
        self.size_of = size_of
        self.od: OrderedDict[Any, ModelEntry] = OrderedDict()
        self.events: list[tuple[Any, Any, str]] = []
        self.hits = self.misses = self.evictions = self.expirations = 0

    def now_ns(self) -> int:
        return int(self.timer() * 1e9)

    def _expired(self, e: ModelEntry, now: int) -> bool:
        return e.expires_ns <= now

    def live_keys_mru_first(self) -> list[Any]:
        now = self.now_ns()
        return [k for k, e in reversed(self.od.items()) if not self._expired(e, now)]

    def total_weight(self) -> int:
        return sum(e.weight for e in self.od.values())

    def _remove(self, key: Any, reason: str) -> None:
        e = self.od.pop(key)
        self.events.append((key, e.value, reason))
        if reason == "size":
            self.evictions += 1
        elif reason == "expired":
            self.expirations += 1

    def valid_victims(self, now: int) -> tuple[set[Any], str]:
        """The keys the cache may evict next, and the reason it would give."""
        expired = {k: e.expires_ns for k, e in self.od.items() if self._expired(e, now)}
        if expired:
            soonest = min(expired.values())
            return {k for k, t in expired.items() if t == soonest}, "expired"
        return {next(iter(self.od))}, "size"

    def evict_one(self, now: int, chosen: Any) -> None:
        allowed, reason = self.valid_victims(now)
        assert chosen in allowed, f"evicted {chosen!r}, expected one of {allowed!r}"
        self._remove(chosen, reason)

    def set(self, key: Any, value: Any, ttl: float | None, victims: list[Any]) -> None:
        weight = self.size_of(key, value) if self.size_of else 0
        if self.max_weight is not None and weight > self.max_weight:
            raise ValueError("too heavy")
        ttl_ns = self.ttl_ns if ttl is None else seconds_to_ns(ttl)
        now = self.now_ns()
        expires = NEVER if ttl_ns == NEVER or ttl_ns >= NEVER - now else now + ttl_ns
        victims = list(victims)
        if key in self.od:
            e = self.od[key]
            reason = "expired" if self._expired(e, now) else "replaced"
            if reason == "expired":
                self.expirations += 1
            self.events.append((key, e.value, reason))
            e.value, e.weight, e.expires_ns = value, weight, expires
            e.hits += 1
            self.od.move_to_end(key)
        else:
            while len(self.od) >= self.max_size:
                self.evict_one(now, victims.pop(0))
            while self.max_weight is not None and self.total_weight() + weight > self.max_weight:
                self.evict_one(now, victims.pop(0))
            self.od[key] = ModelEntry(value, expires, weight)
        while self.max_weight is not None and self.total_weight() > self.max_weight:
            self.evict_one(now, victims.pop(0))
        assert not victims, f"the cache evicted more than needed: {victims!r}"

    def get(self, key: Any) -> tuple[bool, Any]:
        now = self.now_ns()
        e = self.od.get(key)
        if e is not None and self._expired(e, now):
            self._remove(key, "expired")
            e = None
        if e is None:
            self.misses += 1
            return False, None
        self.hits += 1
        e.hits += 1
        self.od.move_to_end(key)
        return True, e.value

    def peek(self, key: Any) -> tuple[bool, Any]:
        e = self.od.get(key)
        if e is None or self._expired(e, self.now_ns()):
            return False, None
        return True, e.value

    def delete(self, key: Any) -> tuple[bool, Any]:
        now = self.now_ns()
        e = self.od.get(key)
        if e is None:
            return False, None
        if self._expired(e, now):
            self._remove(key, "expired")
            return False, None
        self._remove(key, "deleted")
        return True, e.value

    def popitem(self) -> tuple[Any, Any] | None:
        now = self.now_ns()
        while self.od:
            key, e = next(iter(self.od.items()))
            if self._expired(e, now):
                self._remove(key, "expired")
                continue
            self._remove(key, "deleted")
            return key, e.value
        return None

    def clear(self) -> None:
        for key in list(self.od):
            self._remove(key, "deleted")

    def expire(self) -> int:
        now = self.now_ns()
        gone = [k for k, e in self.od.items() if self._expired(e, now)]
        for k in gone:
            self._remove(k, "expired")
        return len(gone)

    def resize(self, new_max_size: int, victims: list[Any]) -> None:
        now = self.now_ns()
        victims = list(victims)
        while len(self.od) > new_max_size:
            self.evict_one(now, victims.pop(0))
        assert not victims
        self.max_size = new_max_size


M64 = 2**64 - 1


def bloom_bit_indices(key: bytes, n_bits: int, n_hashes: int, seed: int) -> set[int]:
    """The bits a BloomFilter sets for `key`'s bytes, computed independently: reference
    MurmurHash3 (mmh3), enhanced double hashing, multiply-high reduction to [0, n_bits)."""
    import mmh3

    if len(key) <= 8 and seed == len(key):
        seed ^= 0x27D4EB4F  # a seed equal to a short key's length would link the probes
    h = mmh3.hash128(key, seed, True, signed=False)
    a, b = h & M64, h >> 64
    bits = set()
    for i in range(n_hashes):
        bits.add((a * n_bits) >> 64)
        a = (a + b) & M64
        b = (b + i) & M64
    return bits


def bloom_with_version(blob: bytes, version: int) -> bytes:
    """BloomFilter.to_bytes() output relabelled with another format version: the header's
    version field (after the 8 magic bytes) and the trailing MurmurHash3 checksum rewritten."""
    import struct

    from defiperf.structures.bloom import hash128  # the checksum's seed is past mmh3's 32 bits

    body = bytearray(blob[:-16])
    struct.pack_into("<I", body, 8, version)
    return bytes(body) + struct.pack("<QQ", *hash128(bytes(body), 0x64656669706572))


def bloom_payload_bits(blob: bytes, header_bytes: int = 56, checksum_bytes: int = 16) -> set[int]:
    """The set bits of a BloomFilter.to_bytes() payload (little-endian words)."""
    payload = int.from_bytes(blob[header_bytes:len(blob) - checksum_bytes], "little")
    return {i for i in range(payload.bit_length()) if payload >> i & 1}


class TinyLFUModel(LRUModel):
    """The LRUModel's contents, TTL and weights, without an eviction order: W-TinyLFU may evict
    any live entry (an expired one is still evicted first, soonest expiry first)."""

    def valid_victims(self, now: int) -> tuple[set[Any], str]:
        expired = {k: e.expires_ns for k, e in self.od.items() if self._expired(e, now)}
        if expired:
            soonest = min(expired.values())
            return {k for k, t in expired.items() if t == soonest}, "expired"
        return set(self.od), "size"


def ring_exact_stats(rows: list[tuple[float, float, float]]) -> tuple[float, float, float | None]:
    """Exact (Fraction) mean and population variance of the volumes of (t, price, volume)
    rows, and their vwap (None when the volumes sum to 0), rounded once to float at the end."""
    from fractions import Fraction

    vols = [Fraction(v) for _, _, v in rows]
    mean = sum(vols) / len(vols)
    var = sum((v - mean) ** 2 for v in vols) / len(vols)
    total = sum(vols)
    vwap = None if total == 0 else sum(Fraction(p) * Fraction(v) for _, p, v in rows) / total
    return float(mean), float(var), None if vwap is None else float(vwap)


def ring_stats_match(buf: Any, rows: list[tuple[float, float, float]]) -> None:
    """Assert a RingBuffer's volume mean, variance and vwap are within 1e-6 of the exact ones
    (a variance also within 1e-12 of the mean square, its conditioning limit)."""
    import math

    mean, var, vwap = ring_exact_stats(rows)
    assert math.isclose(buf.mean("volume"), mean, rel_tol=1e-6, abs_tol=1e-300), rows
    got_var = buf.var("volume")
    assert (math.isclose(got_var, var, rel_tol=1e-6, abs_tol=1e-300)
            or abs(got_var - var) <= 1e-12 * (mean * mean + var)), rows
    if vwap is None:
        try:
            buf.vwap()
        except ValueError:
            return
        raise AssertionError(f"vwap of zero volume did not raise: {rows}")
    assert math.isclose(buf.vwap(), vwap, rel_tol=1e-6), rows

