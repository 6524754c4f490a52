"""The C compilers the csrc/ tests build with: gcc and clang when present, else Python's CC."""

from __future__ import annotations

import shutil
import sysconfig


def compilers() -> list[str]:
    found = [c for c in ("gcc", "clang") if shutil.which(c)]
    cc = (sysconfig.get_config_var("CC") or "").split()
    if not found and cc and shutil.which(cc[0]):
        found.append(cc[0])
    return found
