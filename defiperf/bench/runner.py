"""run_benchmarks(): every suite, one table per suite (with a ``skipped: ...`` line for each peer
or service it could not measure), and the original's claims checked."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from defiperf.bench import _peers, batch, bloom, cache, lru, monitor, ring
from defiperf.bench._table import Row, format_table
from defiperf.bench.claims import format_claims

SUITES: dict[str, Callable[..., list[Row]]] = {
    "lru": lru.run, "bloom": bloom.run, "ring": ring.run, "monitor": monitor.run,
    "batch": batch.run, "cache": cache.run,
}
SIZED = ("lru", "bloom", "ring")  # the suites --capacity applies to


def _progress(names: Sequence[str], out: TextIO) -> Any:
    """A tqdm bar on a terminal; the plain list elsewhere (CI logs, pipes)."""
    if out.isatty():
        from tqdm import tqdm  # type: ignore[import-untyped, import-not-found, unused-ignore]

        return tqdm(names, desc="benchmarks", unit="suite", file=out)
    return names


def run_benchmarks(suites: Sequence[str] | None = None, *, quick: bool = False,
                   capacity: int | None = None, out: TextIO | None = None, quiet: bool = False,
                   progress: TextIO | None = None) -> list[Row]:
    """Run the named suites (default: all), print each table and the claims table to ``out``
    (default stdout; ``quiet=True``: print nothing), and return every row. On a terminal a
    progress bar goes to ``progress`` (default stderr)."""
    out = None if quiet else (out or sys.stdout)
    progress = progress or sys.stderr
    names = list(SUITES) if not suites or "all" in suites else list(suites)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        raise ValueError(f"unknown suite(s) {unknown}; choose from {', '.join(SUITES)}, all")
    rows: list[Row] = []
    bar = _progress(names, progress)
    for name in bar:
        if hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(name)
        else:
            print(f"running {name} ...", file=progress, flush=True)
        start = time.perf_counter()
        kwargs = {"capacity": capacity} if capacity is not None and name in SIZED else {}
        _peers.take_skipped()  # notes of an earlier, interrupted run are not this suite's
        suite_rows = SUITES[name](quick=quick, **kwargs)
        skipped = _peers.take_skipped()
        rows += suite_rows
        if out is not None:
            print(f"\n[{name}] (x) = peer / defiperf: above 1 means defiperf is better "
                  f"({time.perf_counter() - start:.0f} s)", file=out)
            print(format_table(suite_rows), file=out)
            for line in skipped:
                print(line, file=out)
            out.flush()
    if out is not None:
        print("\n[claims of the original, this run]", file=out)
        print(format_claims(rows), file=out)
    return rows
