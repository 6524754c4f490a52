"""Every ```python block of README.md and docs/*.md runs as a standalone script, as a reader
would paste it: in a fresh interpreter, with a temporary working directory (not the source
tree, whose uncompiled package would shadow the installed one), and it writes nothing there.
Blocks that can use Redis read REDIS_URL, which points at the tests' real redis-server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```", flags=re.S | re.M)
EXAMPLES = {f"{page.relative_to(ROOT)}:{n}": code
            for page in PAGES for n, code in enumerate(FENCE.findall(page.read_text()), 1)}


def test_the_pages_have_examples() -> None:
    readme = [name for name in EXAMPLES if name.startswith("README.md:")]
    assert len(readme) >= 4 and len(EXAMPLES) >= 12, sorted(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs_as_a_script(name: str, tmp_path: Path, redis_server: str) -> None:
    script = tmp_path / "example.py"
    script.write_text(EXAMPLES[name])
    cwd, tmp, cache = tmp_path / "cwd", tmp_path / "tmp", tmp_path / "xdg-cache"
    cwd.mkdir()
    tmp.mkdir()
    env = {**os.environ, "REDIS_URL": redis_server, "TMPDIR": str(tmp),
           "XDG_CACHE_HOME": str(cache), "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    assert not list(cwd.iterdir()), f"{name} wrote to the working directory"
    assert not cache.exists(), f"{name} wrote to the user's cache directory"
    assert not list(tmp.iterdir()), f"{name} left files in the temporary directory"


def test_ci_runs_the_readme_test_command() -> None:
    """README's second command ends in the test command; .ci/run runs exactly that line."""
    shell = re.findall(r"^```bash\n(.*?)^```", (ROOT / "README.md").read_text(), flags=re.S | re.M)
    commands = [line for block in shell[:2] for line in block.splitlines()
                if line.strip() and not line.startswith("#")]
    assert commands[0] == "python -m pip install -e . && python -m defiperf demo"
    install, test = commands[1].split(" && ")
    assert install == 'python -m pip install -e ".[test]"'
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci, f"CI does not run README's test command {test!r}"
