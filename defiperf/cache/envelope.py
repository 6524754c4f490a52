"""Entry: a value with its freshness deadline and hard expiry (wall-clock seconds), and the byte
envelope the shared tiers store: 16 bytes of header (``!dd``: fresh_until, expires_at; inf for
never) followed by the serialized value."""

from __future__ import annotations

import math
import struct
from typing import Any, NamedTuple

HEADER = struct.Struct("!dd")


class Entry(NamedTuple):
    value: Any
    fresh_until: float
    expires_at: float
    weight: int = 1
    payload: bytes | None = None  # the serialized value, as a shared tier read it (not kept in L1)

    def fresh(self, now: float) -> bool:
        return now < self.fresh_until

    def alive(self, now: float) -> bool:
        return now < self.expires_at

    def remaining_s(self, now: float) -> float | None:
        """Seconds until the hard expiry (None: never)."""
        return None if math.isinf(self.expires_at) else self.expires_at - now


def pack(fresh_until: float, expires_at: float, payload: bytes) -> bytes:
    return HEADER.pack(fresh_until, expires_at) + payload


def unpack(data: bytes) -> tuple[float, float, bytes]:
    """(fresh_until, expires_at, payload); ValueError when too short to be an envelope."""
    if len(data) < HEADER.size + 1:
        raise ValueError(f"cache envelope of {len(data)} bytes is truncated")
    fresh_until, expires_at = HEADER.unpack_from(data)
    if math.isnan(fresh_until) or math.isnan(expires_at) or fresh_until > expires_at:
        raise ValueError("cache envelope header is corrupt")
    return fresh_until, expires_at, data[HEADER.size:]
