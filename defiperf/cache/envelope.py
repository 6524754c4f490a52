"""Entry: a value with its freshness deadline and hard expiry (wall-clock seconds), and the byte
envelope the shared tiers store: 16 bytes of header (``!dd``: fresh_until, expires_at; inf for
never), then optionally the entry's tags (``T``, a ``!H`` count, each tag ``!H``-length-prefixed
UTF-8), then the serialized value (which starts with its format byte, never ``T``)."""

from __future__ import annotations

import math
import struct
from typing import Any, NamedTuple

HEADER = struct.Struct("!dd")
_COUNT = struct.Struct("!H")
MAX_TAGS = 64


class Entry(NamedTuple):
    """A cached value with its freshness and expiry times (clock seconds), weight and tags."""
    value: Any
    fresh_until: float
    expires_at: float
    weight: int = 1
    payload: bytes | None = None  # the serialized value, as a shared tier read it (not kept in L1)
    refresh_at: float = math.inf  # after this a read schedules a refresh-ahead (if a loader is known)
    tags: tuple[str, ...] = ()

    def fresh(self, now: float) -> bool:
        """True while ``now`` is before the end of the fresh period."""
        return now < self.fresh_until

    def alive(self, now: float) -> bool:
        """True while ``now`` is before the hard expiry (a stale entry may still be alive)."""
        return now < self.expires_at

    def remaining_s(self, now: float) -> float | None:
        """Seconds until the hard expiry (None: never)."""
        return None if math.isinf(self.expires_at) else self.expires_at - now


def pack(fresh_until: float, expires_at: float, payload: bytes, tags: tuple[str, ...] = ()) -> bytes:
    head = HEADER.pack(fresh_until, expires_at)
    if not tags:
        return head + payload
    parts = [head, b"T", _COUNT.pack(len(tags))]
    for tag in tags:
        data = tag.encode()
        parts += [_COUNT.pack(len(data)), data]
    parts.append(payload)
    return b"".join(parts)


def unpack(data: bytes) -> tuple[float, float, bytes, tuple[str, ...]]:
    """(fresh_until, expires_at, payload, tags); ValueError when it is not an envelope."""
    if len(data) < HEADER.size + 1:
        raise ValueError(f"cache envelope of {len(data)} bytes is truncated")
    fresh_until, expires_at = HEADER.unpack_from(data)
    if math.isnan(fresh_until) or math.isnan(expires_at) or fresh_until > expires_at:
        raise ValueError("cache envelope header is corrupt")
    pos = HEADER.size
    tags: list[str] = []
    if data[pos:pos + 1] == b"T":
        (count,) = _COUNT.unpack_from(data, pos + 1)
        if count > MAX_TAGS:
            raise ValueError("cache envelope has too many tags")
        pos += 1 + _COUNT.size
        for _ in range(count):
            (n,) = _COUNT.unpack_from(data, pos)
            pos += _COUNT.size
            if pos + n > len(data):
                raise ValueError("cache envelope tags are truncated")
            tags.append(data[pos:pos + n].decode())
            pos += n
    if pos >= len(data):
        raise ValueError("cache envelope has no payload")
    return fresh_until, expires_at, data[pos:], tuple(tags)
