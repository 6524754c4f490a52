"""Serializer: how values are stored in the shared tiers (Redis, disk).

Default: msgpack with extension types for Decimal, numpy arrays, datetime/date/time/timedelta,
UUID, tuple, set and frozenset; dataclasses and pydantic models are stored as their fields and
Enums as their values, and rebuilt on the way out from a type (``rebuild``: the decorated
function's return annotation, or ``type=``). A ``default=`` hook turns other types into
storable data. zlib above ``compress_threshold_bytes``. ``pickle`` only when the user opts in
(``allow_pickle=True``): bytes from a shared tier are never unpickled otherwise.

Encoding is msgpack-python's: its ``default`` sees every tuple, set, Decimal and datetime,
which msgspec's encoder writes as plain arrays and strings (they would come back as lists and
str); ormsgpack can pass them to a hook but drops the hook's exception (our error naming the
type), and its decoder takes about 1 KiB of C stack a nesting level (1,024 levels a call,
multiplied by nested extension types: a crash). Decoding is msgspec's, with the same
extension hook: 1.4-2x faster on maps and arrays, about the same on values made mostly of
extension types.

Decoding is bounded, because anyone who can write to Redis or the disk tier controls the
bytes: a compressed payload inflates to at most ``max_value_bytes``; then a small C validator
(``_msgcheck``, iterative: no recursion, no Python objects) walks the msgpack bytes, the
payloads of our nesting extension types included, and refuses truncated or trailing bytes,
nesting deeper than ``max_depth`` levels (arrays, maps and extension values together) and more
than ``max_items`` objects, before msgspec builds anything. Decoding then recurses at most
``max_depth`` levels whatever the thread's stack size or the recursion limit. Every payload
starts with one format byte (the wire version: msgspec reads the same bytes msgpack wrote, so
it did not change), and an unknown one is refused. Any of these failures is the caller's miss;
``dumps`` refuses a value its own ``loads`` would refuse.
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
import msgspec
import numpy as np

from defiperf._validate import check_bool, check_int
from defiperf._msgcheck import MAX_DEPTH_LIMIT, check_msgpack
from defiperf.cache.errors import SerializationError as SerializationError

MSGPACK, MSGPACK_ZLIB, PICKLE, PICKLE_ZLIB = b"M", b"Z", b"P", b"Q"

(_EXT_DECIMAL, _EXT_NDARRAY, _EXT_DATETIME, _EXT_TUPLE, _EXT_SET, _EXT_FROZENSET, _EXT_DATE,
 _EXT_TIME, _EXT_TIMEDELTA, _EXT_UUID) = range(1, 11)
# Decoding recurses once per level: msgspec takes about 160 bytes of C stack per array or map
# level and about 1.3 KiB per extension level (its ext hook is a call into Python), measured on
# x86-64; 32 levels of either fit a thread started with threading.stack_size(64 KiB).
DEFAULT_MAX_DEPTH = 32
# Every object (scalar, container, map key, extension value) counts one. A value with more
# belongs in a numpy array (one object); a crafted 1-byte-per-object payload at this bound costs
# one C pass of 4 MiB before it is refused, instead of 70+ bytes of Python objects per byte.
DEFAULT_MAX_ITEMS = 1 << 22


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


def _utf8(data: Any) -> str:
    return str(data, "utf-8")


# extension types that hold no other values: code -> decoder of its bytes
_LEAF_EXTS: dict[int, Callable[[Any], Any]] = {
    _EXT_DECIMAL: lambda data: decimal.Decimal(_utf8(data)),
    _EXT_DATETIME: lambda data: datetime.datetime.fromisoformat(_utf8(data)),
    _EXT_DATE: lambda data: datetime.date.fromisoformat(_utf8(data)),
    _EXT_TIME: lambda data: datetime.time.fromisoformat(_utf8(data)),
    _EXT_UUID: lambda data: uuid.UUID(bytes=bytes(data)),
}
# extension types that hold an array of values: code -> what the array becomes
_NESTING_EXTS: dict[int, Callable[[list[Any]], Any]] = {
    _EXT_TUPLE: tuple, _EXT_SET: set, _EXT_FROZENSET: frozenset,
    _EXT_TIMEDELTA: lambda items: datetime.timedelta(*items),
}


class _Decoder:
    """Decodes a msgpack body with our extension types, after ``check_msgpack`` has bounded
    its depth (extension payloads included) and its objects: msgspec then recurses at most
    ``max_depth`` levels (one Decoder, re-entered by the extension hook)."""

    def __init__(self, max_depth: int, max_items: int) -> None:
        self.max_depth = max_depth
        self.max_items = max_items
        self._decoder = msgspec.msgpack.Decoder(ext_hook=self._ext)

    def check(self, data: Any) -> None:
        """ValueError unless data is one msgpack value within the bounds."""
        check_msgpack(data, self.max_depth, self.max_items, _NESTED_MASK, _PREFIX_MASK)

    def unpackb(self, data: Any) -> Any:
        self.check(data)
        return self._decoder.decode(data)

    def _ext(self, code: int, data: Any) -> Any:
        leaf = _LEAF_EXTS.get(code)
        if leaf is not None:
            return leaf(data)
        make = _NESTING_EXTS.get(code)
        if make is not None:
            items = self._decoder.decode(data)  # checked with the whole payload
            if not isinstance(items, list):
                raise ValueError(f"extension {code} does not hold an array")
            return make(items)
        if code == _EXT_NDARRAY:
            return _decode_ndarray(data)
        raise ValueError(f"unknown msgpack extension type {code}")


# extension codes whose payload is one msgpack value (walked by the check), or starts with one
_NESTED_MASK = sum(1 << code for code in _NESTING_EXTS)
_PREFIX_MASK = 1 << _EXT_NDARRAY


def _decode_ndarray(data: Any) -> np.ndarray[Any, Any]:
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
    default=None, max_depth=32, max_value_bytes=64 MiB, max_items=4 Mi)

    ``dumps(value) -> bytes`` and ``loads(bytes) -> value``. ``use_pickle`` writes pickles (for
    values msgpack cannot hold); it requires ``allow_pickle``, which also governs reading.
    ``default(obj)`` returns storable data for a type the serializer does not know.
    ``max_depth`` (levels of arrays, maps and extension types together), ``max_items`` (objects)
    and ``max_value_bytes`` (bytes, after inflating) bound both what ``dumps`` writes and what
    ``loads`` reads.

    >>> s = Serializer()
    >>> from decimal import Decimal
    >>> s.loads(s.dumps({"price": Decimal("3412.55"), "pair": ("ETH", "USDC")}))
    {'price': Decimal('3412.55'), 'pair': ('ETH', 'USDC')}
    """

    def __init__(self, compress_threshold_bytes: int | None = 4096, *, allow_pickle: bool = False,
                 use_pickle: bool = False, default: Callable[[Any], Any] | None = None,
                 max_depth: int = DEFAULT_MAX_DEPTH, max_value_bytes: int = 64 << 20,
                 max_items: int = DEFAULT_MAX_ITEMS) -> None:
        check_int("compress_threshold_bytes", compress_threshold_bytes, minimum=0, allow_none=True)
        check_bool("allow_pickle", allow_pickle)
        check_bool("use_pickle", use_pickle)
        check_int("max_depth", max_depth, minimum=1, maximum=MAX_DEPTH_LIMIT)
        check_int("max_value_bytes", max_value_bytes, minimum=1)
        check_int("max_items", max_items, minimum=1)
        if use_pickle and not allow_pickle:
            raise ValueError("use_pickle=True needs allow_pickle=True (pickle runs code on load)")
        if default is not None and not callable(default):
            raise TypeError("default must be callable")
        self.compress_threshold_bytes = compress_threshold_bytes
        self.allow_pickle = allow_pickle
        self.use_pickle = use_pickle
        self.max_depth = max_depth
        self.max_value_bytes = max_value_bytes
        self.max_items = max_items
        self._encoder = _Encoder(default)
        self._decoder = _Decoder(max_depth, max_items)

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
            try:  # what loads would refuse is refused here, with a reason, before any write
                self._decoder.check(data)
            except ValueError as exc:
                raise SerializationError(
                    f"cannot store {type(value).__name__}: {exc} (the bounds are the "
                    f"serializer's max_depth={self.max_depth} and max_items={self.max_items})"
                ) from None
            fmt, zfmt = MSGPACK, MSGPACK_ZLIB
        if len(data) > self.max_value_bytes:
            raise SerializationError(f"serialized value of {len(data)} bytes is over "
                                     f"max_value_bytes={self.max_value_bytes}")
        threshold = self.compress_threshold_bytes
        if threshold is not None and len(data) > threshold:
            return zfmt + zlib.compress(data, 1)
        return fmt + data

    def _inflate(self, body: bytes | memoryview) -> bytes:
        inflater = zlib.decompressobj()
        data = inflater.decompress(body, self.max_value_bytes + 1)
        if len(data) > self.max_value_bytes or inflater.unconsumed_tail:
            raise ValueError(f"compressed payload inflates beyond max_value_bytes="
                             f"{self.max_value_bytes}")
        return data

    def loads(self, payload: bytes) -> Any:
        """The value of payload; ValueError/SerializationError (never a crash) when it is
        malformed, too deep, too large or an untrusted pickle."""
        fmt, body = payload[:1], memoryview(payload)[1:]  # no copy of the body
        if fmt in (MSGPACK_ZLIB, PICKLE_ZLIB):
            body = memoryview(self._inflate(body))
        if fmt in (MSGPACK, MSGPACK_ZLIB):
            return self._decoder.unpackb(body)
        if fmt in (PICKLE, PICKLE_ZLIB):
            if not self.allow_pickle:
                raise SerializationError("refusing to unpickle a cached value: allow_pickle=False")
            return pickle.loads(body)
        raise SerializationError(f"unknown payload format byte {fmt!r}")
