"""Reading an envelope that a shared tier returned: untrusted bytes in, an Entry or a logged
miss out — never an exception and never a crash (see serialization.py for the bounds)."""

from __future__ import annotations

import logging
from typing import Any, Literal

from defiperf._ratelimit import RateLimitedLog
from defiperf.cache.envelope import Entry, unpack
from defiperf.cache.serialization import Serializer

logger = logging.getLogger("defiperf.cache")


def decode_envelope(tier: str, key: str, data: Any, serializer: Serializer, now: float,
                    log: RateLimitedLog) -> Entry | None | Literal[False]:
    """The live Entry in data; None when expired; False (logged through the tier's
    rate-limited ``log``) when data is unreadable."""
    try:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError(f"not an envelope ({type(data).__name__})")
        fresh_until, expires_at, payload, tags = unpack(bytes(data))
        if expires_at <= now:
            return None
        value = serializer.loads(payload)
    except Exception as exc:  # malformed, too deep, too big, an untrusted pickle: a miss
        log.log(logging.WARNING, f"unreadable {tier}", "%s: unreadable entry %r removed (%s: %s)",
                 tier, key, type(exc).__name__, str(exc)[:200])
        return False
    return Entry(value, fresh_until, expires_at, len(data), payload, tags=tags)
