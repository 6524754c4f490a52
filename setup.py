"""Builds the compiled extensions; all metadata lives in pyproject.toml.

Release builds carry no debug info (-g0); DEFIPERF_DEBUG=1 builds with -O0 -g -UNDEBUG;
DEFIPERF_SANITIZE=1 adds ASan and UBSan (with debug info). The extensions are cythonized and
compiled in parallel, one job per CPU, and an extension whose sources did not change is not
rebuilt.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import sys
import sysconfig
import threading

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("DEFIPERF_DEBUG") == "1"
SANITIZE = os.environ.get("DEFIPERF_SANITIZE") == "1"

compile_args = ["-O0", "-g", "-UNDEBUG"] if DEBUG else ["-O3", "-g" if SANITIZE else "-g0"]
compile_args += ["-Wall", "-Wextra", "-Wno-unused-function"]
link_args: list[str] = []
if SANITIZE:
    # Any UB report aborts, like an ASan one (UBSan otherwise prints and carries on). An
    # out-of-range float-to-int cast is UB that -fsanitize=undefined leaves out.
    sanitizers = "-fsanitize=address,undefined,float-cast-overflow"
    compile_args += [sanitizers, "-fno-sanitize-recover=undefined,float-cast-overflow",
                     "-fno-omit-frame-pointer"]
    link_args += [sanitizers]


def extension(name: str, c_sources: list[str], package: str | None = "structures") -> Extension:
    """One Cython shell `defiperf/<package>/<name>.pyx` (package None: `defiperf/<name>.pyx`)
    over the C files in csrc/."""
    dotted, path = (f"{package}.{name}", f"{package}/{name}") if package else (name, name)
    return Extension(
        f"defiperf.{dotted}",
        [f"defiperf/{path}.pyx", *(f"csrc/{src}" for src in c_sources)],
        include_dirs=["csrc", "csrc/policies"],
        # a header change rebuilds what includes it
        depends=sorted(glob.glob("csrc/*.h") + glob.glob("csrc/policies/*.h")),
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )


JOBS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
CACHE_DIR = os.path.join("build", "defiperf-ext-cache")
DIRECTIVES = {"language_level": 3, "embedsignature": True, "binding": True}


def _fingerprint(ext: Extension) -> str:
    """Everything that decides an extension's binary: its sources and headers, every .pxd,
    this file, the flags, the compiler settings, Python's ABI and the Cython version."""
    import Cython

    digest = hashlib.sha256()
    files = set(ext.sources) | set(ext.depends) | set(glob.glob("defiperf/**/*.pxd", recursive=True))
    for path in sorted(files | {"setup.py"}):
        digest.update(path.encode())
        with open(path, "rb") as f:
            digest.update(f.read())
    digest.update(repr((ext.extra_compile_args, ext.extra_link_args, sys.version,
                        sysconfig.get_platform(), sysconfig.get_config_var("EXT_SUFFIX"),
                        Cython.__version__, os.environ.get("CC"), os.environ.get("CFLAGS"),
                        os.environ.get("LDFLAGS"))).encode())
    return digest.hexdigest()[:32]


class CachedParallelBuildExt(build_ext):
    """build_ext that reuses a binary built from identical inputs (``build/defiperf-ext-cache``:
    a second ``pip install -e .`` with nothing changed compiles nothing), cythonizes the rest in
    parallel and compiles them in parallel, one job per CPU, unless ``--parallel`` says otherwise."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:
            self.parallel = JOBS

    def build_extensions(self) -> None:
        self._keys = {ext.name: _fingerprint(ext) for ext in self.extensions}
        todo = [ext for ext in self.extensions if not os.path.exists(self._cached(ext))]
        if todo:  # cythonize only what must be built, in parallel processes
            for ext, cext in zip(todo, cythonize(todo, compiler_directives=DIRECTIVES,
                                                 nthreads=JOBS)):
                ext.sources = cext.sources
        super().build_extensions()

    def _cached(self, ext: Extension) -> str:
        return os.path.join(CACHE_DIR, f"{ext.name}-{self._keys[ext.name]}.so")

    def build_extension(self, ext: Extension) -> None:
        target, cached = self.get_ext_fullpath(ext.name), self._cached(ext)
        if os.path.exists(cached):
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            # A fresh mtime (shutil.copy, not copy2): setuptools copies a built extension into
            # the tree only if it is newer than the one there, which may be a later build.
            shutil.copy(cached, target)
            print(f"defiperf: {ext.name} unchanged, reusing its build")
            return
        super().build_extension(ext)
        os.makedirs(CACHE_DIR, exist_ok=True)
        tmp = f"{cached}.{os.getpid()}.{threading.get_ident()}.tmp"
        shutil.copy2(target, tmp)
        os.replace(tmp, cached)  # atomic: a concurrent build never sees half a file

# The L1 core, and every eviction policy in csrc/policies/ (a policy is its file there and its
# entry in policy.c's table: nothing here names it).
L1_SOURCES = ["lru.c", "slots.c", "expiry.c", "policy.c", "sketch.c",
              *sorted(os.path.relpath(p, "csrc") for p in glob.glob("csrc/policies/*.c"))]

setup(
    cmdclass={"build_ext": CachedParallelBuildExt},
    ext_modules=[
        extension("lru", L1_SOURCES),
        extension("bloom", ["bloom.c", "hash.c"]),
        extension("ring", ["ring.c"]),
        extension("sketch", ["sketch.c"]),
        extension("histogram", ["hist.c"]),
        extension("_store", ["hist.c"], package="monitor"),
        extension("_msgcheck", ["msgcheck.c"], package=None),  # shared by the cache and streams
    ],
)
