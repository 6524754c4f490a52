"""``python -m defiperf.simulate TRACE [TRACE ...] --sizes 500,1000 --policies lru,opt``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from defiperf.simulate.policies import POLICIES, hit_rate
from defiperf.simulate.traces import FORMATS, read_trace


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of ints") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError("sizes must be positive ints")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m defiperf.simulate", description=__doc__)
    parser.add_argument("traces", nargs="+", type=Path, help="trace files (.gz/.xz/.bz2 ok)")
    parser.add_argument("--sizes", type=_ints, default=[500, 1000, 2000],
                        help="cache sizes, comma-separated (default 500,1000,2000)")
    parser.add_argument("--policies", default=",".join(POLICIES),
                        help=f"comma-separated, from: {', '.join(POLICIES)} (default: all)")
    parser.add_argument("--format", default="lirs", choices=list(FORMATS),
                        help="trace format (default lirs)")
    args = parser.parse_args(argv)
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        parser.error(f"unknown or unavailable policies: {', '.join(unknown)}; "
                     f"available: {', '.join(POLICIES)}")
    header = ["trace", "size"] + policies
    rows = [header]
    for path in args.traces:
        try:
            trace = read_trace(path, args.format)
        except (OSError, ValueError) as exc:
            parser.error(f"{path}: {exc}")
        for size in args.sizes:
            rows.append([path.name, str(size)] +
                        [f"{100 * hit_rate(p, trace, size):.2f}%" for p in policies])
            print(f"  {path.name} size {size} done", file=sys.stderr, flush=True)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for n, row in enumerate(rows):
        print("  ".join(c.rjust(w) if i > 1 else c.ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
