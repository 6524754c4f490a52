"""Cache keys.

Plain keys (``get``/``set``/...) are str, or UTF-8 bytes naming the same key, of at most
``MAX_KEY_CHARS`` characters that encode as UTF-8 (no lone surrogates). Tags are non-empty str
of at most ``MAX_TAG_CHARS`` such characters, without U+001F. Both are checked — ValueError or
TypeError naming the key or the tag — before anything is written, and returned as exact str
(a str subclass's methods are never called by the tiers), so nothing a caller passes can fail
a tier's write and count against its breaker.

Keys of decorated functions come from the call's arguments normalised through the function's
signature (positional, keyword and default spellings of one call are one key; ``self``/``cls``
left out unless asked). Each argument is written in a canonical, type-tagged byte encoding —
never ``repr()``, ``id()`` or ``hash()`` — and the encoding is digested with BLAKE2b, so the
key is short, and equal across processes, machines and Python versions:
``<module>.<qualname>:<40 hex digits>``. Lists, dicts, sets and numpy arrays key by content
(dicts and sets order-insensitive). A hashable argument with value equality but no known
encoding (define ``__cache_key__()`` to give it one) keys by equality in L1 only, as in
``functools.lru_cache``; an argument with neither (equality by identity) is a TypeError.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import hashlib
import inspect
import string
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from defiperf.cache.envelope import MAX_TAGS

MAX_KEY_CHARS = 4096
MAX_TAG_CHARS = 256
MAX_DEPTH = 64
_GLOB_SPECIALS = "\\*?[]"


def _utf8_error(text: str) -> str | None:
    """Why text does not encode as UTF-8 (None when it does)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"{text[exc.start]!r} at index {exc.start} (a lone surrogate) is not valid UTF-8"
    return None


def check_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """tags as a tuple of exact str; TypeError / ValueError naming the tag that is wrong."""
    if isinstance(tags, (str, bytes)):
        raise TypeError("tags must be an iterable of str, not a single str")
    out = tuple(tags)
    if len(out) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags per entry, not {len(out)}")
    checked = []
    for tag in out:
        if not isinstance(tag, str):
            raise TypeError(f"tags must be str, not {type(tag).__name__}")
        tag = str.__str__(tag)  # an exact str: no subclass code runs in the tiers
        if not tag or "\x1f" in tag or len(tag) > MAX_TAG_CHARS:
            raise ValueError(f"tag {tag[:80]!r} must be a non-empty str of at most {MAX_TAG_CHARS} "
                             "characters without \\x1f")
        why = _utf8_error(tag)
        if why is not None:
            raise ValueError(f"tag {tag[:80]!r}: {why}")
        checked.append(tag)
    return tuple(checked)


def check_key(key: Any) -> str:
    """key as an exact str (UTF-8 bytes decoded); TypeError / ValueError naming what is wrong."""
    if isinstance(key, bytes):
        try:
            key = bytes(key).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("bytes keys must be UTF-8") from None
    elif not isinstance(key, str):
        raise TypeError(f"cache keys must be str or UTF-8 bytes, not {type(key).__name__}")
    checked: str = str.__str__(key)  # an exact str: no subclass __hash__/__eq__ in L1
    if len(checked) > MAX_KEY_CHARS:
        raise ValueError(f"cache key of {len(checked)} characters is over {MAX_KEY_CHARS}")
    why = _utf8_error(checked)
    if why is not None:
        raise ValueError(f"cache key {checked[:80]!r}: {why}")
    return checked


def escape_glob(text: str) -> str:
    """text with Redis glob metacharacters escaped (for SCAN MATCH): ``prod*`` matches only
    itself."""
    return "".join("\\" + c if c in _GLOB_SPECIALS else c for c in text)


class NoEncoding(TypeError):
    """An argument has no canonical encoding (see ``encode``)."""


def _qualname(tp: type) -> bytes:
    return f"{tp.__module__}.{tp.__qualname__}".encode()


def _sized(tag: bytes, data: bytes) -> bytes:
    return tag + str(len(data)).encode() + b":" + data


def encode(value: Any, path: str = "value", depth: int = 0) -> bytes:
    """The canonical, type-tagged encoding of value; NoEncoding (a TypeError) naming ``path``
    when it has none."""
    if depth > MAX_DEPTH:
        raise ValueError(f"{path} is nested deeper than {MAX_DEPTH} levels (or is cyclic)")
    d = depth + 1
    if value is None:
        return b"N"
    if value is True or value is False:
        return b"T" if value else b"F"
    if isinstance(value, enum.Enum):
        return b"E" + _sized(b"", _qualname(type(value))) + encode(value.value, path, d)
    if isinstance(value, int):
        return b"i" + str(int(value)).encode() + b";"
    if isinstance(value, float):
        return b"f" + (0.0 if value == 0 else value).hex().encode() + b";"
    if isinstance(value, str):
        return _sized(b"s", value.encode("utf-8", "surrogatepass"))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _sized(b"b", bytes(value))
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return b"(" + b"".join(encode(v, f"{path}[{i}]", d) for i, v in enumerate(value)) + b")"
    if isinstance(value, list):
        return b"[" + b"".join(encode(v, f"{path}[{i}]", d) for i, v in enumerate(value)) + b"]"
    if isinstance(value, dict):
        items = sorted(encode(k, f"{path} key", d) + encode(v, f"{path}[{k!r}]", d)
                       for k, v in value.items())
        return b"{" + b"".join(items) + b"}"
    if isinstance(value, (set, frozenset)):
        return b"<" + b"".join(sorted(encode(v, f"{path} item", d) for v in value)) + b">"
    return _encode_other(value, path, d)


def _encode_other(value: Any, path: str, d: int) -> bytes:
    if isinstance(value, decimal.Decimal):
        return _sized(b"d", str(value.normalize() if value.is_finite() else value).encode())
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            return _sized(b"Z", value.astimezone(datetime.timezone.utc).isoformat().encode())
        return _sized(b"W", value.isoformat().encode())
    if isinstance(value, datetime.date):
        return _sized(b"D", value.isoformat().encode())
    if isinstance(value, datetime.time):
        return _sized(b"H", value.isoformat().encode())
    if isinstance(value, datetime.timedelta):
        return b"t" + f"{value.days},{value.seconds},{value.microseconds}".encode() + b";"
    if isinstance(value, uuid.UUID):
        return b"u" + value.bytes
    if isinstance(value, tuple):  # a NamedTuple: its type and its fields
        return _sized(b"n", _qualname(type(value))) + encode(tuple(value), path, d)
    numpy_key = _encode_numpy(value, path)
    if numpy_key is not None:
        return numpy_key
    hook = getattr(type(value), "__cache_key__", None)
    if hook is not None:
        return _sized(b"K", _qualname(type(value))) + encode(hook(value), path, d)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _sized(b"C", _qualname(type(value))) + encode(fields, path, d)
    dump = getattr(value, "model_dump", None)
    if dump is not None and hasattr(type(value), "model_fields"):  # a pydantic model
        return _sized(b"P", _qualname(type(value))) + encode(dump(), path, d)
    raise NoEncoding(f"{path} of type {type(value).__name__} has no canonical encoding")


def _encode_numpy(value: Any, path: str) -> bytes | None:
    module = type(value).__module__
    if not module.startswith("numpy"):
        return None
    import numpy as np

    if isinstance(value, np.generic):
        value = np.asarray(value)
        tag = b"g"
    elif isinstance(value, np.ndarray):
        tag = b"a"
    else:
        return None
    if value.dtype.hasobject:
        raise TypeError(f"{path} is a numpy array of Python objects: it cannot be keyed by "
                        "content (pass key=)")
    head = f"{value.dtype.str}{list(value.shape)}".encode()
    return _sized(tag, head) + _sized(b"", np.ascontiguousarray(value).tobytes())


def digest(data: bytes) -> str:
    """40 hex digits of BLAKE2b(data)."""
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def keys_by_equality(value: Any) -> bool:
    """Is value hashable with an equality of its own (not object identity)?"""
    tp = type(value)
    try:
        hash(value)
    except Exception:
        return False
    if isinstance(value, (tuple, frozenset)):
        return all(keys_by_equality(v) for v in value)
    eq: Any = tp.__eq__
    hash_: Any = tp.__hash__
    return eq is not object.__eq__ and hash_ is not object.__hash__


class FunctionKey:
    """Turns a call of ``fn`` into its cache key: a str for every tier, or — when an argument
    keys only by equality — a tuple for L1 alone.

    ``key``: None (the canonical digest), a callable taking the function's arguments and
    returning the key (str), or a ``str.format`` template naming parameters
    (``"price:{pair}:{venue}"``), checked here, at decoration time.
    """

    def __init__(self, fn: Callable[..., Any], key: str | Callable[..., Any] | None = None, *,
                 include_self: bool = False) -> None:
        self.signature = inspect.signature(fn)
        params = list(self.signature.parameters.values())
        self.skip: str | None = None
        if (not include_self and params and params[0].name in ("self", "cls")
                and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD)):
            self.skip = params[0].name
        self.prefix = f"{fn.__module__}.{fn.__qualname__}"
        self.template: str | None = None
        self.key_fn: Callable[..., Any] | None = None
        if isinstance(key, str):
            self._check_template(key, {p.name for p in params})
            self.template = key
        elif callable(key):
            self.key_fn = key
        elif key is not None:
            raise TypeError(f"key must be a callable or a format string, not {type(key).__name__}")
        # keys made by key= do not start with the prefix: their entries carry this tag, so that
        # cache_clear() finds them in every tier and process
        self.clear_tag: str | None = None
        if key is not None:
            tag = f"defiperf.fn:{self.prefix}"
            self.clear_tag = tag if len(tag) <= 256 else f"defiperf.fn:{digest(tag.encode())}"

    def _check_template(self, template: str, names: set[str]) -> None:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        except ValueError as exc:
            raise ValueError(f"key template {template!r} is malformed: {exc}") from None
        for field in fields:
            root = field.split(".", 1)[0].split("[", 1)[0]
            if not root or root.isdigit():
                raise ValueError(f"key template {template!r} must name parameters, "
                                 f"not positions ({{{field}}})")
            if root not in names:
                raise ValueError(f"key template {template!r} names {root!r}, which is not a "
                                 f"parameter of {self.prefix}{self.signature}")

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name, defaults applied (TypeError as a call)."""
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound.arguments

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.key_fn is not None:
            made = self.key_fn(*args, **kwargs)
            if not isinstance(made, (str, bytes)):
                raise TypeError(f"key= of {self.prefix} returned {type(made).__name__}, not str")
            return check_key(made)
        arguments = self.arguments(args, kwargs)
        if self.template is not None:
            return check_key(self.template.format(**arguments))
        if self.skip is not None:
            arguments.pop(self.skip, None)
        try:
            return f"{self.prefix}:{digest(encode(arguments, 'arguments'))}"
        except NoEncoding:
            return self._local_key(arguments)

    def _local_key(self, arguments: dict[str, Any]) -> tuple[Any, ...]:
        items = []
        for name, value in arguments.items():
            if self.signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
                for k, v in value.items():
                    self._require_keyable(k, v)
                value = frozenset(value.items())
            else:
                self._require_keyable(name, value)
            items.append((name, value))
        return (self.prefix, *items)

    def _require_keyable(self, name: str, value: Any) -> None:
        try:
            encode(value, name)
            return
        except NoEncoding:
            pass
        if not keys_by_equality(value):
            raise TypeError(
                f"argument {name!r} of {self.prefix} ({type(value).__name__}) cannot be a cache "
                "key: it compares by identity and has no canonical encoding; pass key=, or give "
                "the type __eq__/__hash__ or a __cache_key__() method")
