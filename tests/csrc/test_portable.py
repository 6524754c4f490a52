"""The portable helpers of csrc/dp_common.h and dp_clock.h, built with the compiler's builtins
and with the generic fallbacks other platforms (MSVC, old macOS) take."""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"


def _compilers() -> list[str]:
    found = [c for c in ("gcc", "clang") if shutil.which(c)]
    cc = (sysconfig.get_config_var("CC") or "").split()
    if not found and cc and shutil.which(cc[0]):
        found.append(cc[0])
    return found


@pytest.mark.skipif(not (CSRC / "dp_common.h").exists(), reason="csrc/ is not beside the tests")
@pytest.mark.parametrize("generic", [False, True], ids=["builtins", "generic"])
def test_portable_helpers(tmp_path: Path, generic: bool) -> None:
    compilers = _compilers()
    if not compilers:
        pytest.skip("no C compiler on PATH")
    for cc in compilers:
        exe = tmp_path / f"check-{cc}"
        cmd = [cc, "-O2", "-Wall", "-Wextra", "-Werror", f"-I{CSRC}",
               str(Path(__file__).with_name("portable_check.c")), "-o", str(exe)]
        if generic:
            cmd.insert(1, "-DDP_GENERIC_C")
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
        out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, (cc, out.stdout)
        assert "total failures: 0" in out.stdout
