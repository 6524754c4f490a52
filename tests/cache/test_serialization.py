"""Serializer: msgpack round trips (Decimal, numpy, datetime, tuple, set), compression, and no
unpickling unless opted in."""

from __future__ import annotations

import datetime
import pickle
import tempfile
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from defiperf.cache import SerializationError, Serializer

plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
    | st.text() | st.binary() | st.decimals(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    | st.tuples(inner, inner),
    max_leaves=20,
)


@given(plain, st.sampled_from([None, 0, 64]))
def test_round_trip(value: Any, threshold: int | None) -> None:
    s = Serializer(threshold)
    assert s.loads(s.dumps(value)) == value


def test_numpy_datetime_set_and_compression() -> None:
    s = Serializer(compress_threshold_bytes=100)
    arr = np.arange(1000, dtype=np.float32).reshape(10, 100)
    when = datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.timezone.utc)
    data = s.dumps({"a": arr, "t": when, "s": {1, 2}, "amount": Decimal("1e-18")})
    assert data[:1] == b"Z" and len(data) < arr.nbytes
    back = s.loads(data)
    assert back["a"].dtype == np.float32 and np.array_equal(back["a"], arr)
    assert back["t"] == when and back["s"] == {1, 2} and back["amount"] == Decimal("1e-18")


@pytest.mark.parametrize("value", [object(), {"f": lambda: 1}, np.array([object()]), [complex(1, 2)]])
def test_unserializable_values_raise_a_clear_error(value: Any) -> None:
    with pytest.raises((SerializationError, TypeError)):
        Serializer().dumps(value)


def test_pickles_are_never_loaded_without_opt_in() -> None:
    evil = b"P" + pickle.dumps({"x": 1})
    with pytest.raises(SerializationError, match="unpickle"):
        Serializer().loads(evil)
    trusted = Serializer(allow_pickle=True, use_pickle=True)
    assert trusted.loads(trusted.dumps({"x": object.__name__})) == {"x": "object"}
    with pytest.raises(ValueError, match="allow_pickle"):
        Serializer(use_pickle=True)


def test_unknown_format_byte() -> None:
    with pytest.raises(SerializationError, match="format"):
        Serializer().loads(b"X123")


def test_doctest() -> None:
    import doctest

    import defiperf.cache.serialization as module

    assert doctest.testmod(module).failed == 0


def deep(levels: int, unit: bytes = b"\x91") -> bytes:
    """A msgpack body of ``levels`` nested one-element arrays (or maps with unit b"\\x81\\xa1a")."""
    return unit * levels + b"\xc0"


@pytest.mark.parametrize("unit", [b"\x91", b"\x81\xa1a"], ids=["arrays", "maps"])
def test_deeply_nested_raw_msgpack_is_an_error_not_a_crash(unit: bytes) -> None:
    s = Serializer()
    with pytest.raises(ValueError, match="deeper than 32"):
        s.loads(b"M" + deep(100_000, unit))
    with pytest.raises(ValueError, match="deeper than 32"):
        s.loads(b"M" + deep(33, unit))
    assert s.loads(b"M" + deep(32, unit)) is not None  # nesting within max_depth decodes


# Run in a child: if the bound failed it would take the process down, not fail an assert.
_CHILD = """
import sys, threading
from defiperf.cache import Serializer
sys.setrecursionlimit({limit})
if {stack_kib}:
    threading.stack_size({stack_kib} * 1024)
nested = b"\\x91" * 100_000 + b"\\xc0"
ext = b"\\x90"
for _ in range(200):
    ext = b"\\x91\\xc9" + len(ext).to_bytes(4, "big") + b"\\x04" + ext
out = []
def run():
    for body in (nested, ext):
        try:
            Serializer().loads(b"M" + body)
            out.append("decoded")
        except (RecursionError, ValueError):
            out.append("refused")
t = threading.Thread(target=run)
t.start()
t.join()
print(out)
"""


@pytest.mark.parametrize(("limit", "stack_kib"), [
    (1000, 0), (3000, 64), (1_000_000, 0), (1_000_000, 64)])
def test_depth_stays_bounded_whatever_the_recursion_limit_and_stack(limit: int, stack_kib: int) -> None:
    """The validator bounds the depth before decoding: neither a raised recursion limit nor a
    64 KiB thread stack turns a crafted payload into a SIGSEGV."""
    import subprocess
    import sys

    # cwd outside the source tree, whose uncompiled package would shadow the installed one
    child = subprocess.run([sys.executable, "-c", _CHILD.format(limit=limit, stack_kib=stack_kib)],
                           capture_output=True, text=True, timeout=120,
                           cwd=tempfile.gettempdir())
    assert child.returncode == 0, child.stderr[-2000:]
    assert eval(child.stdout) == ["refused", "refused"]  # noqa: S307 - our own child's repr
