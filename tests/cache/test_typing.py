"""@cached keeps the decorated function's parameters and result type (ParamSpec): mypy --strict
on an example file, compared with its ``# R:`` expectations."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import defiperf

HERE = Path(__file__).parent / "typing"
PACKAGE_ROOT = Path(defiperf.__file__).resolve().parent.parent


def test_cached_functions_keep_their_signature() -> None:
    env = dict(os.environ)
    if "-packages" not in PACKAGE_ROOT.name:  # an editable install: show mypy the source
        env["MYPYPATH"] = str(PACKAGE_ROOT)
    example = HERE / "cached_usage.py"
    out = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--strict",
                          str(example)], capture_output=True, text=True, cwd=HERE, env=env,
                         check=False)
    revealed = [(n, t.replace("builtins.", "")) for n, t in
                re.findall(r':(\d+): note: Revealed type is "([^"]+)"', out.stdout)]
    expected = [(str(n), m.group(1)) for n, line in enumerate(example.read_text().splitlines(), 1)
                if (m := re.search(r"# R: (.+)$", line))]
    assert expected and revealed == expected, out.stdout
    assert "error" not in out.stdout.replace("Revealed", ""), out.stdout
