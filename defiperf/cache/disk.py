"""DiskTier (L3): diskcache (SQLite, process-safe) in one directory with a size limit; entries
expire in diskcache too. Methods are blocking; the async manager runs them on one thread.

A damaged or unusable directory never stops the app: the constructor quarantines damaged files
(renamed ``*.corrupt-<time>``) and recreates the cache, or — when even that fails (read-only
directory, a file where the directory should be) — runs without L3 and says why in ``reason``.
Failures of the store later (disk full, I/O errors) raise TierError for the manager to count.
Entries diskcache would unpickle are refused: bytes on disk are untrusted like Redis's.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import diskcache  # type: ignore[import-untyped]
import msgpack  # type: ignore[import-untyped]

from defiperf._ratelimit import RateLimitedLog
from defiperf._msgcheck import check_msgpack
from defiperf.cache.envelope import Entry, pack
from defiperf.cache.errors import TierError
from defiperf.cache.serialization import Serializer
from defiperf.cache.tier_codec import decode_envelope

logger = logging.getLogger("defiperf.cache")
_LEGACY_INDEX_MAX = 1 << 20  # keys in one old-format tag index
_TAG_PREFIX = "\x00tag:"  # earlier versions' tag index: one msgpack list per tag (read only)
_MARK_PREFIX = "\x00tagged:"  # + tag + "\x1f" + key: key carries tag; expires with the entry
_DB_FILES = ("cache.db", "cache.db-wal", "cache.db-shm")
_FULL_BELOW_BYTES = 16 << 20


def default_disk_dir(namespace: str) -> Path:
    """``$XDG_CACHE_HOME/defiperf/<namespace>`` (default ``~/.cache``), created 0700 and checked
    to be a real directory owned by this user (not a symlink planted by someone else)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "defiperf" / namespace
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise PermissionError(f"{path} is not a plain directory")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise PermissionError(f"{path} is owned by another user")
    return path


class NoPickleDisk(diskcache.Disk):  # type: ignore[misc]
    """diskcache's Disk that refuses to unpickle what it reads back."""

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if mode == diskcache.core.MODE_PICKLE:
            raise ValueError("refusing to unpickle an entry of the disk tier")
        return super().fetch(mode, filename, value, read)


class DiskTier:
    """L3 over diskcache; ``available`` is False (and ``reason`` says why) when the directory
    could not be used at all."""

    name = "l3"

    def __init__(self, directory: str | os.PathLike[str] | None, serializer: Serializer, *,
                 namespace: str, size_limit_bytes: int, clock: Callable[[], float]) -> None:
        self._serializer = serializer
        self._clock = clock
        self._size_limit = size_limit_bytes
        self.corrupt = 0
        self._log = RateLimitedLog(logger, interval_s=10.0)
        self.reason = ""
        self._cache: Any = None
        try:
            path = Path(directory) if directory is not None else default_disk_dir(namespace)
        except OSError as exc:
            self.directory = Path(str(directory))
            self._disable(exc)
            return
        self.directory = path
        try:
            self._cache = self._open()
        except Exception as exc:
            self._recover(exc)

    @property
    def available(self) -> bool:
        """True while the disk store is open and usable."""
        return self._cache is not None

    def _open(self) -> Any:
        self.directory.mkdir(parents=True, exist_ok=True)
        return diskcache.Cache(str(self.directory), size_limit=self._size_limit, disk=NoPickleDisk)

    def _recover(self, exc: Exception) -> None:
        stamp = f"corrupt-{int(time.time())}-{os.getpid()}"
        try:
            for name in _DB_FILES:
                damaged = self.directory / name
                if damaged.exists() or damaged.is_symlink():
                    damaged.rename(self.directory / f"{name}.{stamp}")
            self._cache = self._open()
        except Exception as again:
            self._disable(again)
            return
        self.reason = f"damaged cache quarantined ({type(exc).__name__}: {exc})"
        logger.warning("l3: %s in %s; started empty", self.reason, self.directory)

    def _disable(self, exc: Exception) -> None:
        self._cache = None
        self.reason = f"disabled: {type(exc).__name__}: {exc}"
        logger.warning("l3: %s (%s); running without the disk tier", self.reason, self.directory)

    def _store(self) -> Any:
        if self._cache is None:
            raise TierError(f"disk: {self.reason}")
        return self._cache

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TierError:
            raise
        except Exception as exc:
            raise TierError(f"disk: {type(exc).__name__}: {exc}{self._space_note()}") from exc

    def _space_note(self) -> str:
        """", disk full (N bytes free)" when the filesystem is (nearly) out of space."""
        try:
            free = shutil.disk_usage(self.directory).free
        except OSError:
            return ""
        return f", disk full ({free} bytes free)" if free < _FULL_BELOW_BYTES else ""

    def _get_one(self, store: Any, key: str) -> Entry | None:
        try:
            data = store.get(key)
        except ValueError as exc:  # refused pickle
            data = exc
        if data is None:
            return None
        entry = decode_envelope(self.name, key, data, self._serializer, self._clock(), self._log)
        if entry is False:
            self.corrupt += 1
            store.delete(key)
            return None
        return entry

    def get(self, key: str) -> Entry | None:
        """The entry stored under ``key``, or None (missing, expired or unreadable)."""
        store = self._store()
        return self._call(self._get_one, store, key)  # type: ignore[no-any-return]

    def get_many(self, keys: Iterable[str]) -> dict[str, Entry]:
        """The entries found among ``keys`` (missing ones are left out)."""
        store = self._store()

        def run() -> dict[str, Entry]:
            found = {k: self._get_one(store, k) for k in keys}
            return {k: e for k, e in found.items() if e is not None}
        return self._call(run)  # type: ignore[no-any-return]

    def _put(self, store: Any, key: str, entry: Entry, payload: bytes | None,
             ttl_s: float | None) -> None:
        if payload is None:
            raise TierError("disk: no payload to store")
        store.set(key, pack(entry.fresh_until, entry.expires_at, payload, entry.tags), expire=ttl_s)
        for tag in entry.tags:  # one marker per tag: O(1), however many keys carry the tag
            store.set(f"{_MARK_PREFIX}{tag}\x1f{key}", b"", expire=ttl_s)

    def _legacy_tag_index(self, store: Any, tag: str) -> list[str]:
        try:
            raw = store.get(_TAG_PREFIX + tag)
            if not isinstance(raw, bytes):
                return []
            check_msgpack(raw, 1, _LEGACY_INDEX_MAX)  # a flat list of keys, bounded
            index = msgpack.unpackb(raw, raw=False)
        except Exception:
            index = []
        return [k for k in index if isinstance(k, str)] if isinstance(index, list) else []

    def set(self, key: str, entry: Entry, payload: bytes | None, ttl_s: float | None) -> None:
        """Store ``entry`` under ``key`` for ``ttl_s`` seconds (None: no expiry)."""
        store = self._store()

        def run() -> None:
            if entry.tags:
                with store.transact():
                    self._put(store, key, entry, payload, ttl_s)
            else:
                self._put(store, key, entry, payload, ttl_s)
        self._call(run)

    def set_many(self, entries: Mapping[str, tuple[Entry, bytes | None]], ttl_s: float | None) -> None:
        """Store every ``key: (entry, payload)`` for ``ttl_s`` seconds (None: no expiry)."""
        store = self._store()

        def run() -> None:
            with store.transact():
                for key, (entry, payload) in entries.items():
                    self._put(store, key, entry, payload, ttl_s)
        self._call(run)

    def delete(self, key: str) -> bool:
        """Remove ``key``; True if it was there."""
        return bool(self._call(self._store().delete, key))

    def delete_tagged(self, tags: Iterable[str]) -> int:
        """Remove the entries carrying any of ``tags``; returns how many were removed."""
        store = self._store()
        tags = tuple(tags)

        def run() -> int:
            heads = tuple(f"{_MARK_PREFIX}{tag}\x1f" for tag in tags)
            marks = [k for k in store.iterkeys() if isinstance(k, str) and k.startswith(heads)]
            removed = 0
            with store.transact():
                for mark in marks:  # tags hold no \x1f: the key is all after the first
                    removed += bool(store.delete(mark.split("\x1f", 1)[1]))
                    store.delete(mark)
                for tag in tags:
                    for key in self._legacy_tag_index(store, tag):
                        removed += bool(store.delete(key))
                    store.delete(_TAG_PREFIX + tag)
            return removed
        return self._call(run)  # type: ignore[no-any-return]

    def delete_prefix(self, prefix: str) -> int:
        """Remove the entries whose key starts with ``prefix:``; returns how many were removed."""
        store = self._store()
        head = prefix + ":"

        def run() -> int:
            doomed = [k for k in store.iterkeys() if isinstance(k, str) and k.startswith(head)]
            return sum(bool(store.delete(k)) for k in doomed)
        return self._call(run)  # type: ignore[no-any-return]

    def clear(self) -> None:
        """Remove every entry of this namespace (other namespaces are untouched)."""
        self._call(self._store().clear)

    def close(self) -> None:
        """Release the tier's resources (connections, files); the tier is not used after this."""
        if self._cache is not None:
            self._call(self._cache.close)
