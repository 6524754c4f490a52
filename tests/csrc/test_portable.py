"""The portable helpers of csrc/dp_common.h and dp_clock.h, built with the compiler's builtins
and with the generic fallbacks other platforms (MSVC, old macOS) take."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import c_compilers

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"

@pytest.mark.skipif(not (CSRC / "dp_common.h").exists(), reason="csrc/ is not beside the tests")
@pytest.mark.parametrize("flags", [[], ["-DDP_GENERIC_C"],
                                   ["-std=c11", "-D_POSIX_C_SOURCE=200809L"]],
                         ids=["builtins", "generic", "strict-iso-c11"])
def test_portable_helpers(tmp_path: Path, flags: list[str]) -> None:
    """Strict C11 + POSIX hides MAP_ANONYMOUS (not POSIX): big arrays then come from malloc."""
    compilers = c_compilers.compilers()
    if not compilers:
        pytest.skip("no C compiler on PATH")
    for cc in compilers:
        exe = tmp_path / f"check-{cc}"
        cmd = [cc, *flags, "-O2", "-Wall", "-Wextra", "-Werror", f"-I{CSRC}",
               str(Path(__file__).with_name("portable_check.c")), "-o", str(exe)]
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
        out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, (cc, out.stdout)
        assert "total failures: 0" in out.stdout
