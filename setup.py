"""Builds the compiled extensions; all metadata lives in pyproject.toml.

Release builds carry no debug info (-g0); DEFIPERF_DEBUG=1 builds with -O0 -g -UNDEBUG;
DEFIPERF_SANITIZE=1 adds ASan and UBSan (with debug info). The extensions are cythonized and
compiled in parallel, one job per CPU, and an extension whose sources did not change is not
rebuilt.
"""

from __future__ import annotations

import glob
import os

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


def extension(name: str, c_sources: list[str], package: str = "structures") -> Extension:
    """One Cython shell `defiperf/<package>/<name>.pyx` over the C files in csrc/."""
    return Extension(
        f"defiperf.{package}.{name}",
        [f"defiperf/{package}/{name}.pyx", *(f"csrc/{src}" for src in c_sources)],
        include_dirs=["csrc"],
        depends=sorted(glob.glob("csrc/*.h")),  # a header change rebuilds what includes it
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )


JOBS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class ParallelBuildExt(build_ext):
    """build_ext compiling the extensions in parallel unless ``--parallel`` says otherwise."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:
            self.parallel = JOBS


setup(
    cmdclass={"build_ext": ParallelBuildExt},
    ext_modules=cythonize(
        [
            extension("lru", ["lru.c", "sketch.c"]),
            extension("bloom", ["bloom.c", "hash.c"]),
            extension("ring", ["ring.c"]),
            extension("sketch", ["sketch.c"]),
            extension("histogram", ["hist.c"]),
            extension("_store", ["hist.c"], package="monitor"),
        ],
        compiler_directives={"language_level": 3, "embedsignature": True, "binding": True},
        nthreads=JOBS,
    )
)
