"""CPU burners: one busy process per core beside a measurement, to see it on a busy host.

A service rarely has the machine to itself; a benchmark or a demo that is only right on an
idle host is not right. ``with cpu_burners(): ...`` runs the body while ``n`` processes spin
(default: one per CPU this process may use), and kills them afterwards, whatever happens.
They are plain child interpreters (no multiprocessing), so any caller can use this.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

# Spins until its parent goes away (stdin closes), so a killed caller leaves no burner behind.
_SPIN = """
import sys, threading, os
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
x = 0
while True:
    x = (x * 1103515245 + 12345) & 0x7FFFFFFF
"""


def cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@contextlib.contextmanager
def cpu_burners(n: int | None = None) -> Iterator[int]:
    """Run the body beside ``n`` CPU-burning processes (default one per CPU); yields ``n``."""
    n = cpus() if n is None else n
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", _SPIN], stdin=subprocess.PIPE,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield n
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait(10)
            if p.stdin is not None:
                p.stdin.close()
