"""``python -m defiperf.bench [SUITE ...] [--quick] [--json FILE]``: run benchmark suites."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict

from defiperf.bench import batch, bloom, cache, lru, monitor, ring
from defiperf.bench._table import Row, format_table

SUITES: dict[str, Callable[..., list[Row]]] = {
    "lru": lru.run, "bloom": bloom.run, "ring": ring.run, "monitor": monitor.run,
    "batch": batch.run,
    "cache": cache.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m defiperf.bench", description=__doc__)
    parser.add_argument("suites", nargs="*", default=["all"],
                        help=f"which suites to run: {', '.join(SUITES)} or all (default)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller memory run")
    parser.add_argument("--capacity", type=int, default=None,
                        help="entries per structure (default: each suite's own)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON to FILE")
    args = parser.parse_args(argv)
    if args.capacity is not None and args.capacity < 1:
        parser.error("--capacity must be at least 1")
    names = list(SUITES) if "all" in args.suites else args.suites
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}, all")
    rows: list[Row] = []
    for name in names:
        start = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        kwargs = {} if args.capacity is None or name in ("monitor", "batch", "cache") else {"capacity": args.capacity}
        suite_rows = SUITES[name](quick=args.quick, **kwargs)
        rows += suite_rows
        print(f"\n[{name}] (x) = peer / defiperf: above 1 means defiperf is better "
              f"({time.perf_counter() - start:.0f} s)")
        print(format_table(suite_rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) for r in rows], f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
