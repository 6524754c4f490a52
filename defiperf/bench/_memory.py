"""Resident memory of one structure, measured in a fresh child process.

``python -m defiperf.bench._memory MODULE:FACTORY N [CAPACITY]`` builds ``N`` int->int entries
in a structure made by the factory for ``CAPACITY`` entries (default ``N``) and prints the
growth of the process's resident set, in bytes. A fresh process per contender keeps allocator
state from one measurement out of the next.
"""

from __future__ import annotations

import gc
import importlib
import os
import subprocess
import sys
from pathlib import Path

import defiperf


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure_in_child(factory: str, n_items: int, capacity: int | None = None) -> float:
    """Bytes per entry for ``factory`` (``module:callable`` taking a capacity), holding
    ``n_items`` entries in a structure made for ``capacity`` (default ``n_items``)."""
    # Run where this process found defiperf, so that the child imports the same build (from a
    # source checkout, `python -m` would otherwise find the uncompiled tree in the cwd first).
    out = subprocess.run(
        [sys.executable, "-m", "defiperf.bench._memory", factory, str(n_items),
         str(capacity or n_items)],
        capture_output=True, text=True, cwd=Path(defiperf.__file__).resolve().parent.parent,
    )
    if out.returncode != 0:
        raise RuntimeError(f"memory probe for {factory} failed:\n{out.stderr}")
    return int(out.stdout.strip()) / n_items


def _main(factory: str, n_items: int, capacity: int) -> None:
    module, _, name = factory.partition(":")
    make = getattr(importlib.import_module(module), name)
    keys = list(range(1_000_000, 1_000_000 + n_items))  # the same int objects for everyone
    gc.collect()
    before = rss_bytes()
    cache = make(capacity)
    for k in keys:
        cache[k] = k
    gc.collect()
    print(rss_bytes() - before)


if __name__ == "__main__":
    _main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else int(sys.argv[2]))
