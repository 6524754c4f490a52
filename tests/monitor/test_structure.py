"""The monitor package's shape: its store lives under defiperf/monitor, and its modules import
each other without a circle (TYPE_CHECKING imports included)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import defiperf.monitor as monitor_pkg

PKG = Path(monitor_pkg.__file__).parent


def _imports(path: Path) -> set[str]:
    if path.suffix == ".pyx":  # Cython: read the import lines
        return set(re.findall(r"^(?:from|import) ([\w.]+)", path.read_text(), re.M))
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_no_import_circle_inside_the_monitor() -> None:
    modules = {f"defiperf.monitor.{p.stem}": p for p in PKG.glob("*.py") if p.stem != "__init__"}
    modules.update({f"defiperf.monitor.{p.stem}": p for p in PKG.glob("*.pyx")})
    graph = {name: {m for m in _imports(path) if m in modules and m != name}
             for name, path in modules.items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start]:
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    circles = [name for name in graph if reaches(name, name, {name})]
    assert circles == [], f"import circles through {circles}"


def test_the_store_and_its_vocabulary_live_under_monitor() -> None:
    from defiperf.monitor import Counter, Gauge, MetricStore, Series

    for cls in (MetricStore, Series, Counter, Gauge):
        assert cls.__module__ == "defiperf.monitor._store"
    assert hasattr(MetricStore, "record_request") and hasattr(MetricStore, "record")
    from defiperf.structures.metrics import LogHistogram
    assert LogHistogram.__module__ == "defiperf.structures.histogram"


def test_optional_integrations_are_imported_lazily(tmp_path: Any) -> None:
    import subprocess
    import sys

    code = ("import sys, defiperf.monitor; "
            "print([m for m in ('opentelemetry', 'starlette', 'fastapi', 'flask', 'werkzeug', "
            "'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=True, cwd=tmp_path)  # not the source tree: it would shadow the install
    assert out.stdout.strip() == "[]"
