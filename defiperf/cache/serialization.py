"""Serializer: how values are stored in the shared tiers (Redis, disk).

Default: msgpack with extension types for Decimal (DeFi amounts), numpy arrays, datetimes,
tuples and sets; zlib above ``compress_threshold_bytes``. ``pickle`` only when the user opts
in (``allow_pickle=True``): bytes from a shared tier are never unpickled otherwise, even if
they claim to be pickles. Every payload starts with one format byte, so a reader can refuse
what it does not trust.
"""

from __future__ import annotations

import datetime
import decimal
import pickle
import zlib
from typing import Any

import msgpack  # type: ignore[import-untyped]
import numpy as np

from defiperf._validate import check_bool, check_int

MSGPACK, MSGPACK_ZLIB, PICKLE, PICKLE_ZLIB = b"M", b"Z", b"P", b"Q"

_EXT_DECIMAL, _EXT_NDARRAY, _EXT_DATETIME, _EXT_TUPLE, _EXT_SET = 1, 2, 3, 4, 5


class SerializationError(TypeError):
    """A value cannot be serialized (or a payload cannot be read back)."""


def _default(obj: Any) -> Any:
    if isinstance(obj, decimal.Decimal):
        return msgpack.ExtType(_EXT_DECIMAL, str(obj).encode())
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise SerializationError("numpy arrays of Python objects cannot be serialized safely")
        header = msgpack.packb([obj.dtype.str, list(obj.shape)])
        return msgpack.ExtType(_EXT_NDARRAY, header + np.ascontiguousarray(obj).tobytes())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, datetime.datetime):
        return msgpack.ExtType(_EXT_DATETIME, obj.isoformat().encode())
    if isinstance(obj, tuple):
        return msgpack.ExtType(_EXT_TUPLE, _packb(list(obj)))
    if isinstance(obj, (set, frozenset)):
        return msgpack.ExtType(_EXT_SET, _packb(sorted(obj, key=repr)))
    raise SerializationError(f"cannot serialize {type(obj).__name__} with msgpack "
                             "(use plain data, Decimal, numpy arrays, or opt in to pickle)")


def _packb(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_default, use_bin_type=True, strict_types=True)  # type: ignore[no-any-return]


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_DECIMAL:
        return decimal.Decimal(data.decode())
    if code == _EXT_NDARRAY:
        unpacker = msgpack.Unpacker(raw=False)
        unpacker.feed(data)
        dtype, shape = unpacker.unpack()
        offset = unpacker.tell()
        return np.frombuffer(data[offset:], dtype=np.dtype(dtype)).reshape(shape).copy()
    if code == _EXT_DATETIME:
        return datetime.datetime.fromisoformat(data.decode())
    if code == _EXT_TUPLE:
        return tuple(_unpackb(data))
    if code == _EXT_SET:
        return set(_unpackb(data))
    raise SerializationError(f"unknown msgpack extension type {code}")


def _unpackb(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)


class Serializer:
    """Serializer(compress_threshold_bytes=4096, allow_pickle=False, use_pickle=False)

    ``dumps(value) -> bytes`` and ``loads(bytes) -> value``. ``use_pickle`` writes pickles (for
    values msgpack cannot hold); it requires ``allow_pickle``, which also governs reading.

    >>> s = Serializer()
    >>> from decimal import Decimal
    >>> s.loads(s.dumps({"price": Decimal("3412.55"), "pair": ("ETH", "USDC")}))
    {'price': Decimal('3412.55'), 'pair': ('ETH', 'USDC')}
    """

    def __init__(self, compress_threshold_bytes: int | None = 4096, *, allow_pickle: bool = False,
                 use_pickle: bool = False) -> None:
        check_int("compress_threshold_bytes", compress_threshold_bytes, minimum=0, allow_none=True)
        check_bool("allow_pickle", allow_pickle)
        check_bool("use_pickle", use_pickle)
        if use_pickle and not allow_pickle:
            raise ValueError("use_pickle=True needs allow_pickle=True (pickle runs code on load)")
        self.compress_threshold_bytes = compress_threshold_bytes
        self.allow_pickle = allow_pickle
        self.use_pickle = use_pickle

    def dumps(self, value: Any) -> bytes:
        if self.use_pickle:
            data, fmt, zfmt = pickle.dumps(value, protocol=5), PICKLE, PICKLE_ZLIB
        else:
            try:
                data = _packb(value)
            except SerializationError:
                raise
            except (TypeError, ValueError, OverflowError) as exc:
                raise SerializationError(f"cannot serialize {type(value).__name__}: {exc}") from exc
            fmt, zfmt = MSGPACK, MSGPACK_ZLIB
        threshold = self.compress_threshold_bytes
        if threshold is not None and len(data) > threshold:
            return zfmt + zlib.compress(data, 1)
        return fmt + data

    def loads(self, payload: bytes) -> Any:
        fmt, body = payload[:1], payload[1:]
        if fmt in (MSGPACK_ZLIB, PICKLE_ZLIB):
            body = zlib.decompress(body)
        if fmt in (MSGPACK, MSGPACK_ZLIB):
            return _unpackb(body)
        if fmt in (PICKLE, PICKLE_ZLIB):
            if not self.allow_pickle:
                raise SerializationError("refusing to unpickle a cached value: allow_pickle=False")
            return pickle.loads(body)
        raise SerializationError(f"unknown payload format byte {fmt!r}")
