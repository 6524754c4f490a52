"""The documentation site, API reference included, builds with ``mkdocs build --strict`` from the
installed package's docstrings: a broken link, a missing page or an object the reference cannot
render fails this test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_site_and_api_reference_build_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    # The reference documents the package as it is installed: mkdocs puts the config file's
    # folder on sys.path, so build from a copy of the config and docs/ outside the source tree
    # (there, the uncompiled package would shadow the installed one).
    src = tmp_path / "src"
    shutil.copytree(ROOT / "docs", src / "docs")
    shutil.copy(ROOT / "mkdocs.yml", src / "mkdocs.yml")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                             "--config-file", str(src / "mkdocs.yml"), "--site-dir", str(site)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    for page in ("cache", "batch", "monitor", "benchmarks", "api/structures", "api/monitor"):
        assert (site / page / "index.html").is_file(), page
    structures = (site / "api" / "structures" / "index.html").read_text()
    # a compiled type's method, with the text of its docstring in the .pyx
    assert 'id="defiperf.structures.OptimizedLRU.hot_keys"' in structures
    assert "live keys accessed most often" in structures
    monitor = (site / "api" / "monitor" / "index.html").read_text()
    assert 'id="defiperf.monitor.PerformanceMonitor.add_alert_rule"' in monitor
    assert "checked on each sampler tick" in monitor
    assert "language-pycon" in structures  # doctests are shown as code (docs/_griffe_doctests.py)
