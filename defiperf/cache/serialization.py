"""Serializer: how values are stored in the shared tiers (Redis, disk).

Default: msgpack with extension types for Decimal, numpy arrays, datetime/date/time/timedelta,
UUID, tuple, set and frozenset; dataclasses and pydantic models are stored as their fields and
Enums as their values, and rebuilt on the way out from a type (``rebuild``: the decorated
function's return annotation, or ``type=``). A ``default=`` hook turns other types into
storable data. zlib above ``compress_threshold_bytes``. ``pickle`` only when the user opts in
(``allow_pickle=True``): bytes from a shared tier are never unpickled otherwise.

Decoding is bounded, because anyone who can write to Redis or the disk tier controls the
bytes: extension types nest at most ``max_depth`` levels (msgpack's own arrays and maps are
bounded by its fixed parse stack), and a compressed payload inflates to at most
``max_value_bytes``. Every payload starts with one format byte, so a reader refuses what it
does not trust.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import pickle
import uuid
import zlib
from collections.abc import Callable
from typing import Any

import msgpack  # type: ignore[import-untyped]
import numpy as np

from defiperf._validate import check_bool, check_int
from defiperf.cache.errors import SerializationError as SerializationError

MSGPACK, MSGPACK_ZLIB, PICKLE, PICKLE_ZLIB = b"M", b"Z", b"P", b"Q"

(_EXT_DECIMAL, _EXT_NDARRAY, _EXT_DATETIME, _EXT_TUPLE, _EXT_SET, _EXT_FROZENSET, _EXT_DATE,
 _EXT_TIME, _EXT_TIMEDELTA, _EXT_UUID) = range(1, 11)
_NESTING_EXTS = (_EXT_TUPLE, _EXT_SET, _EXT_FROZENSET)


def _fields_of(obj: Any) -> dict[str, Any] | None:
    """A dataclass's or pydantic model's fields as a dict; None for other objects."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    dump = getattr(obj, "model_dump", None)
    if dump is not None and hasattr(type(obj), "model_fields"):
        fields: dict[str, Any] = dump()
        return fields
    return None


class _Encoder:
    """msgpack's ``default``: the built-in types, then the user's hook."""

    def __init__(self, hook: Callable[[Any], Any] | None) -> None:
        self.hook = hook

    def packb(self, obj: Any) -> bytes:
        return msgpack.packb(obj, default=self, use_bin_type=True, strict_types=True)  # type: ignore[no-any-return]

    def __call__(self, obj: Any) -> Any:  # noqa: C901 - one dispatch table
        if isinstance(obj, enum.Enum):
            return obj.value
        if isinstance(obj, bool):
            return bool(obj)
        if isinstance(obj, int):  # int subclasses (IntFlag handled above)
            return int(obj)
        if isinstance(obj, float):
            return float(obj)
        if isinstance(obj, str):
            return str(obj)
        if isinstance(obj, decimal.Decimal):
            return msgpack.ExtType(_EXT_DECIMAL, str(obj).encode())
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                raise SerializationError("numpy arrays of Python objects cannot be serialized "
                                         "safely")
            header = msgpack.packb([obj.dtype.str, list(obj.shape)])
            return msgpack.ExtType(_EXT_NDARRAY, header + np.ascontiguousarray(obj).tobytes())
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, datetime.datetime):
            return msgpack.ExtType(_EXT_DATETIME, obj.isoformat().encode())
        if isinstance(obj, datetime.date):
            return msgpack.ExtType(_EXT_DATE, obj.isoformat().encode())
        if isinstance(obj, datetime.time):
            return msgpack.ExtType(_EXT_TIME, obj.isoformat().encode())
        if isinstance(obj, datetime.timedelta):
            return msgpack.ExtType(_EXT_TIMEDELTA, self.packb(
                [obj.days, obj.seconds, obj.microseconds]))
        if isinstance(obj, uuid.UUID):
            return msgpack.ExtType(_EXT_UUID, obj.bytes)
        if isinstance(obj, tuple):
            if hasattr(obj, "_fields"):  # a NamedTuple: its fields, rebuilt by type
                return list(obj)
            return msgpack.ExtType(_EXT_TUPLE, self.packb(list(obj)))
        if isinstance(obj, (set, frozenset)):
            code = _EXT_FROZENSET if isinstance(obj, frozenset) else _EXT_SET
            return msgpack.ExtType(code, self.packb(sorted(obj, key=repr)))
        if isinstance(obj, (list, dict)):  # subclasses
            return list(obj) if isinstance(obj, list) else dict(obj)
        fields = _fields_of(obj)
        if fields is not None:
            return fields
        if self.hook is not None:
            converted = self.hook(obj)
            if converted is not obj and converted is not NotImplemented:
                return converted
        raise SerializationError(
            f"cannot serialize {type(obj).__module__}.{type(obj).__qualname__}: give the "
            "manager a default= hook returning storable data, a serializer= object, or opt in "
            "to pickle (allow_pickle=True, use_pickle=True)")


class _Decoder:
    """msgpack's ``ext_hook`` for one ``loads`` call, counting how deep extensions nest."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.depth = 0

    def unpackb(self, data: bytes) -> Any:
        return msgpack.unpackb(data, ext_hook=self, raw=False, strict_map_key=False)

    def __call__(self, code: int, data: bytes) -> Any:
        if code in _NESTING_EXTS or code == _EXT_TIMEDELTA:
            self.depth += 1
            if self.depth > self.max_depth:
                raise ValueError(f"payload nests extension types deeper than {self.max_depth}")
            try:
                items = self.unpackb(data)
            finally:
                self.depth -= 1
            if not isinstance(items, list):
                raise ValueError(f"extension {code} does not hold an array")
            if code == _EXT_TUPLE:
                return tuple(items)
            if code == _EXT_SET:
                return set(items)
            if code == _EXT_FROZENSET:
                return frozenset(items)
            return datetime.timedelta(*items)
        if code == _EXT_DECIMAL:
            return decimal.Decimal(data.decode())
        if code == _EXT_NDARRAY:
            return _decode_ndarray(data)
        if code == _EXT_DATETIME:
            return datetime.datetime.fromisoformat(data.decode())
        if code == _EXT_DATE:
            return datetime.date.fromisoformat(data.decode())
        if code == _EXT_TIME:
            return datetime.time.fromisoformat(data.decode())
        if code == _EXT_UUID:
            return uuid.UUID(bytes=data)
        raise ValueError(f"unknown msgpack extension type {code}")


def _decode_ndarray(data: bytes) -> np.ndarray[Any, Any]:
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=len(data))
    unpacker.feed(data)
    dtype_str, shape = unpacker.unpack()
    dtype = np.dtype(dtype_str)
    if dtype.hasobject or not isinstance(shape, list) or not all(
            isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError("untrusted numpy header")
    body = data[unpacker.tell():]
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != len(body):
        raise ValueError("numpy payload does not match its shape")
    array: np.ndarray[Any, Any] = np.frombuffer(body, dtype=dtype).reshape(shape).copy()
    return array


class Serializer:
    """Serializer(compress_threshold_bytes=4096, *, allow_pickle=False, use_pickle=False,
    default=None, max_depth=32, max_value_bytes=64 MiB)

    ``dumps(value) -> bytes`` and ``loads(bytes) -> value``. ``use_pickle`` writes pickles (for
    values msgpack cannot hold); it requires ``allow_pickle``, which also governs reading.
    ``default(obj)`` returns storable data for a type the serializer does not know.

    >>> s = Serializer()
    >>> from decimal import Decimal
    >>> s.loads(s.dumps({"price": Decimal("3412.55"), "pair": ("ETH", "USDC")}))
    {'price': Decimal('3412.55'), 'pair': ('ETH', 'USDC')}
    """

    def __init__(self, compress_threshold_bytes: int | None = 4096, *, allow_pickle: bool = False,
                 use_pickle: bool = False, default: Callable[[Any], Any] | None = None,
                 max_depth: int = 32, max_value_bytes: int = 64 << 20) -> None:
        check_int("compress_threshold_bytes", compress_threshold_bytes, minimum=0, allow_none=True)
        check_bool("allow_pickle", allow_pickle)
        check_bool("use_pickle", use_pickle)
        check_int("max_depth", max_depth)
        check_int("max_value_bytes", max_value_bytes)
        if use_pickle and not allow_pickle:
            raise ValueError("use_pickle=True needs allow_pickle=True (pickle runs code on load)")
        if default is not None and not callable(default):
            raise TypeError("default must be callable")
        self.compress_threshold_bytes = compress_threshold_bytes
        self.allow_pickle = allow_pickle
        self.use_pickle = use_pickle
        self.max_depth = max_depth
        self.max_value_bytes = max_value_bytes
        self._encoder = _Encoder(default)

    def dumps(self, value: Any) -> bytes:
        """``value`` as bytes: msgpack (pickle only when opted in), compressed when large; raises
        SerializationError if it cannot be stored."""
        if self.use_pickle:
            data, fmt, zfmt = pickle.dumps(value, protocol=5), PICKLE, PICKLE_ZLIB
        else:
            try:
                data = self._encoder.packb(value)
            except SerializationError:
                raise
            except (TypeError, ValueError, OverflowError, RecursionError) as exc:
                raise SerializationError(f"cannot serialize {type(value).__name__}: {exc}") from exc
            fmt, zfmt = MSGPACK, MSGPACK_ZLIB
        if len(data) > self.max_value_bytes:
            raise SerializationError(f"serialized value of {len(data)} bytes is over "
                                     f"max_value_bytes={self.max_value_bytes}")
        threshold = self.compress_threshold_bytes
        if threshold is not None and len(data) > threshold:
            return zfmt + zlib.compress(data, 1)
        return fmt + data

    def _inflate(self, body: bytes) -> bytes:
        inflater = zlib.decompressobj()
        data = inflater.decompress(body, self.max_value_bytes + 1)
        if len(data) > self.max_value_bytes or inflater.unconsumed_tail:
            raise ValueError(f"compressed payload inflates beyond max_value_bytes="
                             f"{self.max_value_bytes}")
        return data

    def loads(self, payload: bytes) -> Any:
        """The value of payload; ValueError/SerializationError (never a crash) when it is
        malformed, too deep, too large or an untrusted pickle."""
        fmt, body = payload[:1], payload[1:]
        if fmt in (MSGPACK_ZLIB, PICKLE_ZLIB):
            body = self._inflate(body)
        if fmt in (MSGPACK, MSGPACK_ZLIB):
            return _Decoder(self.max_depth).unpackb(body)
        if fmt in (PICKLE, PICKLE_ZLIB):
            if not self.allow_pickle:
                raise SerializationError("refusing to unpickle a cached value: allow_pickle=False")
            return pickle.loads(body)
        raise SerializationError(f"unknown payload format byte {fmt!r}")
