"""The hand-written stubs match the compiled modules (stubtest) and give useful types (mypy)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import defiperf

HERE = Path(__file__).parent
PACKAGE_ROOT = Path(defiperf.__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    # Run outside the source tree so that mypy sees the imported package, as users do. An
    # editable install is found through an import hook mypy cannot follow: point it there.
    env = dict(os.environ)
    if "-packages" not in PACKAGE_ROOT.name:
        env["MYPYPATH"] = str(PACKAGE_ROOT)
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          cwd=HERE, env=env, check=False)


def test_stubtest_finds_no_difference_between_stubs_and_runtime() -> None:
    out = run("mypy.stubtest", "defiperf", "--allowlist", str(HERE / "stubtest_allowlist.txt"))
    assert out.returncode == 0, out.stdout + out.stderr


def test_revealed_types_match_the_examples() -> None:
    example = HERE / "lru_usage.py"
    out = run("mypy", "--no-incremental", "--strict", str(example))
    # mypy versions differ in whether they print "builtins.int" or "int"; compare short names.
    revealed = [(n, t.replace("builtins.", "")) for n, t in
                re.findall(r':(\d+): note: Revealed type is "([^"]+)"', out.stdout)]
    expected = [(str(n), m.group(1)) for n, line in enumerate(example.read_text().splitlines(), 1)
                if (m := re.search(r"# R: (.+)$", line))]
    assert expected, "the example file lost its expectations"
    assert revealed == expected, out.stdout
    assert "error" not in out.stdout.replace("Revealed", ""), out.stdout


def test_the_example_file_runs() -> None:
    # The stubs promise OptimizedLRU[str, int] and friends: the runtime must accept them too.
    out = subprocess.run([sys.executable, str(HERE / "lru_usage.py")], capture_output=True,
                         text=True, cwd=HERE, check=False)
    assert out.returncode == 0, out.stderr
