"""Trace readers: each returns the trace as a numpy int64 array of keys.

Formats: ``lirs`` (one integer key per line, lines starting with ``*`` skipped), ``text`` (one
key per line, any text; keys are numbered in order of first appearance), ``i64be`` and
``i32be`` (big-endian binary integers: cache2k's traces are ``i32be``), and ``auto`` (``i32be``
if the data holds a NUL byte or a byte outside ASCII, as binary keys do, else ``lirs``). A
``.gz``, ``.xz`` or ``.bz2`` suffix decompresses. A trace without a single key is an error,
not an empty result.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import zlib
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


def _auto(data: bytes) -> np.ndarray:
    head = data[:65536]
    if b"\x00" in head or not head.isascii():
        return _binary(">i4")(data)
    return _lirs(data)


FORMATS: dict[str, Callable[[bytes], np.ndarray]] = {
    "auto": _auto,
    "lirs": _lirs,
    "text": _text,
    "i64be": _binary(">i8"),
    "i32be": _binary(">i4"),
}


TRACE_SUFFIXES = (".trace", ".trace.gz", ".trace.xz", ".trace.bz2")


def default_trace_dir() -> Path:
    """``$DEFIPERF_TRACES``, else ``../shared/data/traces`` beside the source checkout (for an
    editable install) or beside the current directory, whichever exists."""
    env = os.environ.get("DEFIPERF_TRACES")
    if env:
        return Path(env)
    beside_checkout = Path(__file__).resolve().parents[3] / "shared" / "data" / "traces"
    for candidate in (beside_checkout, Path.cwd().parent / "shared" / "data" / "traces"):
        if candidate.is_dir():
            return candidate
    return beside_checkout


def find_traces(directory: str | os.PathLike[str]) -> list[Path]:
    """The trace files (``*.trace``, optionally compressed) in `directory`, sorted by name."""
    return sorted(p for p in Path(directory).iterdir()
                  if p.is_file() and p.name.endswith(TRACE_SUFFIXES))


def trace_name(path: Path) -> str:
    """``gli`` for ``gli.trace.gz``."""
    return path.name.split(".")[0]


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
    try:
        keys = FORMATS[format](_read_bytes(path))
    except (EOFError, lzma.LZMAError, gzip.BadGzipFile, zlib.error) as exc:
        raise ValueError(f"cannot decompress: {exc}") from None
    if len(keys) == 0:
        raise ValueError("the trace holds no keys (an empty file, or only '*' lines)")
    return keys
