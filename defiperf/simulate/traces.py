"""Trace readers: each returns the trace as a numpy int64 array of keys.

Formats: ``lirs`` (one integer key per line, lines starting with ``*`` skipped), ``text`` (one
key per line, any text; keys are numbered in order of first appearance), ``i64be`` and
``i32be`` (big-endian binary integers). A ``.gz``, ``.xz`` or ``.bz2`` suffix decompresses.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

_OPENERS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".xz": lzma.open,
                                           ".bz2": bz2.open}


def _read_bytes(path: Path) -> bytes:
    opener = _OPENERS.get(path.suffix.lower())
    if opener is None:
        return path.read_bytes()
    with opener(path, "rb") as f:
        data: bytes = f.read()
        return data


def _lirs(data: bytes) -> np.ndarray:
    keys = []
    for n, line in enumerate(data.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(b"*"):
            continue
        try:
            keys.append(int(line))
        except ValueError:
            raise ValueError(f"line {n}: {line[:40]!r} is not an integer key "
                             "(use --format text for other keys)") from None
    return np.array(keys, dtype=np.int64)


def _text(data: bytes) -> np.ndarray:
    ids: dict[bytes, int] = {}
    keys = [ids.setdefault(line.strip(), len(ids)) for line in data.splitlines() if line.strip()]
    return np.array(keys, dtype=np.int64)


def _binary(dtype: str) -> Callable[[bytes], np.ndarray]:
    def read(data: bytes) -> np.ndarray:
        width = np.dtype(dtype).itemsize
        if len(data) % width:
            raise ValueError(f"{len(data)} bytes is not a whole number of {width}-byte keys")
        return np.frombuffer(data, dtype=dtype).astype(np.int64)
    return read


FORMATS: dict[str, Callable[[bytes], np.ndarray]] = {
    "lirs": _lirs,
    "text": _text,
    "i64be": _binary(">i8"),
    "i32be": _binary(">i4"),
}


def read_trace(path: str | os.PathLike[str], format: str = "lirs") -> np.ndarray:
    """Read a trace file (optionally compressed) into an int64 key array.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.trace"
    >>> _ = p.write_text("1\\n*\\n2\\n1\\n")
    >>> read_trace(p).tolist()
    [1, 2, 1]
    """
    if format not in FORMATS:
        raise ValueError(f"unknown trace format {format!r}; choose from {', '.join(FORMATS)}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no trace file at {path}")
    return FORMATS[format](_read_bytes(path))
