"""Unit tests of the L1 core's C parts (csrc/slots.c and its cold array, expiry.c, policy.c +
the policies), each a
C program in this directory built with every compiler present (gcc, clang) at -Werror, with
ASan and UBSan where the compiler has them, and run; it prints its failures and exits non-zero
on any. The Python-level tests of OptimizedLRU cover the parts together."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import c_compilers

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"
POLICIES = CSRC / "policies"  # every policy's file; policy.c's table names them
CORE = ["slots.c", "expiry.c", "policy.c", "lru.c", "sketch.c",
        *sorted(str(p.relative_to(CSRC)) for p in POLICIES.glob("*.c"))]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]

def _build(cc: str, program: str, exe: Path) -> None:
    # Strict C11 + POSIX: without a sanitizer runtime this plain build must pass too.
    base = [cc, "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-DDP_SLOTS_COUNT_WALKS",
            "-DDP_SLOTS_FAIL_ALLOCS", "-O1", "-g",
            "-Wall", "-Wextra",
            "-Werror", f"-I{CSRC}", f"-I{POLICIES}",
            str(Path(__file__).with_name(program)), *(str(CSRC / c) for c in CORE), "-o", str(exe)]
    try:
        subprocess.run(base[:1] + SANITIZE + base[1:], check=True, capture_output=True, text=True,
                       timeout=180)
    except subprocess.CalledProcessError:
        # No sanitizer runtime for this compiler: the plain build must still pass.
        done = subprocess.run(base, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr

@pytest.mark.skipif(not (CSRC / "slots.h").exists(), reason="csrc/ is not beside the tests")
@pytest.mark.parametrize("program", ["slots_check.c", "cold_check.c", "expiry_check.c",
                                     "policy_check.c", "sieve_check.c", "recap_check.c",
                                     "recap_fuzz_check.c"])
def test_l1_core_part(tmp_path: Path, program: str) -> None:
    compilers = c_compilers.compilers()
    if not compilers:
        pytest.skip("no C compiler on PATH")
    for cc in compilers:
        exe = tmp_path / f"{program[:-2]}-{cc}"
        _build(cc, program, exe)
        # The program carries its own sanitizer runtime: not one preloaded for Python (the
        # sanitizer job's LD_PRELOAD is gcc's, which clang's runtime refuses to share).
        env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}
        out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120,
                             env={**env, "ASAN_OPTIONS": "detect_leaks=1"})
        assert out.returncode == 0, (cc, out.stdout[-4000:], out.stderr[-4000:])
        assert "total failures: 0" in out.stdout, (cc, out.stdout[-4000:])
