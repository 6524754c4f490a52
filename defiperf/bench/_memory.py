"""Resident memory of one structure, measured in a fresh child process.

``python -m defiperf.bench._memory MODULE:FACTORY N`` builds ``N`` int->int entries with the
factory and prints the growth of the process's resident set, in bytes. A fresh process per
contender keeps allocator state from one measurement out of the next.
"""

from __future__ import annotations

import gc
import importlib
import os
import subprocess
import sys


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure_in_child(factory: str, n_items: int) -> float:
    """Bytes per entry for ``factory`` (``module:callable`` taking a capacity)."""
    out = subprocess.run(
        [sys.executable, "-m", "defiperf.bench._memory", factory, str(n_items)],
        check=True, capture_output=True, text=True,
    )
    return int(out.stdout.strip()) / n_items


def _main(factory: str, n_items: int) -> None:
    module, _, name = factory.partition(":")
    make = getattr(importlib.import_module(module), name)
    keys = list(range(1_000_000, 1_000_000 + n_items))  # the same int objects for everyone
    gc.collect()
    before = rss_bytes()
    cache = make(n_items)
    for k in keys:
        cache[k] = k
    gc.collect()
    print(rss_bytes() - before)


if __name__ == "__main__":
    _main(sys.argv[1], int(sys.argv[2]))
