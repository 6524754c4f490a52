"""Allocations made to fail for real: a script run in a fresh interpreter that caps its own
address space (RLIMIT_AS) at what it has mapped so far plus a margin, so that the next large
block cannot be mapped. Linux only (the mapped size comes from /proc), and never under ASan,
which reserves terabytes of address space up front."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

needs_address_limit = pytest.mark.skipif(
    not sys.platform.startswith("linux") or "asan" in os.environ.get("LD_PRELOAD", ""),
    reason="needs Linux's /proc and RLIMIT_AS; ASan reserves terabytes of address space")

# Prepend to a script: limit_address_space(extra) caps it at its mapped size + extra bytes.
PRELUDE = """
import resource

def limit_address_space(extra):
    with open("/proc/self/status") as f:
        vm_kib = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (vm_kib * 1024 + extra, resource.RLIM_INFINITY))
"""


def run_limited(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run PRELUDE + `script` in a fresh interpreter from `cwd` (not the source tree, whose
    uncompiled package would shadow the installed one)."""
    return subprocess.run([sys.executable, "-c", PRELUDE + script], capture_output=True,
                          text=True, timeout=300, check=False, cwd=cwd)
