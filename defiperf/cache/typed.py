"""rebuild(value, type): a value read back from a shared tier (plain msgpack data) turned into
the type the caller expects — the decorated function's return annotation or ``type=``:
dataclasses, pydantic models, NamedTuples, Enums, UUID, Decimal, and list/dict/tuple/set/
Optional/Union of them. Values already of the type are returned as they are. A value that does
not fit raises TypeError/ValueError, which the manager treats as a miss."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import types
import typing
import uuid
from typing import Any



def _union(value: Any, args: tuple[Any, ...]) -> Any:
    if value is None and type(None) in args:
        return None
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return rebuild(value, arg)
        except (TypeError, ValueError) as exc:
            errors.append(exc)
    raise TypeError(f"value fits none of {args}: {errors}")


def _generic(value: Any, origin: Any, args: tuple[Any, ...]) -> Any:
    if origin in (list, typing.List) or origin in (set, frozenset):
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise TypeError(f"expected a sequence, got {type(value).__name__}")
        item = args[0] if args else Any
        built = [rebuild(v, item) for v in value]
        return origin(built) if origin in (set, frozenset) else built
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"expected a tuple, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(rebuild(v, args[0]) for v in value)
        if args and len(args) != len(value):
            raise ValueError("tuple length does not match its annotation")
        return tuple(rebuild(v, a) for v, a in zip(value, args)) if args else tuple(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"expected a dict, got {type(value).__name__}")
        kt, vt = args if len(args) == 2 else (Any, Any)
        return {rebuild(k, kt): rebuild(v, vt) for k, v in value.items()}
    return value


def rebuild(value: Any, tp: Any) -> Any:
    if tp is None or tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return rebuild(value, typing.get_args(tp)[0])
    if origin is typing.Union or origin is types.UnionType:
        return _union(value, typing.get_args(tp))
    if origin is typing.Literal:
        return value
    if origin is not None:
        return _generic(value, origin, typing.get_args(tp))
    if not isinstance(tp, type):
        return value
    if isinstance(value, tp):
        return value
    if dataclasses.is_dataclass(tp):
        return _dataclass(value, tp)
    if hasattr(tp, "model_validate"):  # pydantic
        return tp.model_validate(value)
    if issubclass(tp, tuple) and hasattr(tp, "_fields") and isinstance(value, (list, tuple)):
        hints = typing.get_type_hints(tp)
        return tp(*(rebuild(v, hints.get(f)) for v, f in zip(value, tp._fields)))
    if issubclass(tp, enum.Enum):
        return tp(value)
    if tp is uuid.UUID and isinstance(value, str):
        return uuid.UUID(value)
    if tp is decimal.Decimal and isinstance(value, (str, int)):
        return decimal.Decimal(value)
    if tp in (tuple, set, frozenset) and isinstance(value, (list, tuple, set, frozenset)):
        return tp(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (datetime.datetime, datetime.date, datetime.time) and isinstance(value, str):
        return tp.fromisoformat(value)
    raise TypeError(f"cached {type(value).__name__} is not a {tp.__name__}")


def _dataclass(value: Any, tp: type) -> Any:
    if not isinstance(value, dict):
        raise TypeError(f"expected the fields of {tp.__name__}, got {type(value).__name__}")
    hints = typing.get_type_hints(tp)
    kwargs = {f.name: rebuild(value[f.name], hints.get(f.name))
              for f in dataclasses.fields(tp) if f.init and f.name in value}
    return tp(**kwargs)


def return_type(fn: Any) -> Any:
    """fn's return annotation (None when absent or unresolvable)."""
    try:
        return typing.get_type_hints(fn).get("return")
    except Exception:
        return None
