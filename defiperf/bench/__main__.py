"""python -m defiperf.bench (or defiperf bench): run the benchmark suites."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from defiperf.bench.runner import SUITES, run_benchmarks


DESCRIPTION = ("Time defiperf beside every installed peer, in the same run, and print one table "
               "per suite (peer / defiperf: above 1 means defiperf is better) and the original "
               "API's claims with pass/fail. A peer or Redis that is missing is listed as "
               "skipped, with how to get it.")


def main(argv: list[str] | None = None, prog: str = "python -m defiperf.bench") -> int:
    """Parse ``argv`` (default: the command line), run the suites, return the exit status."""
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    parser.add_argument("suites", nargs="*", default=["all"],
                        help=f"which suites to run: {', '.join(SUITES)} or all (default)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller runs")
    parser.add_argument("--capacity", type=int, default=None,
                        help="entries per structure for lru, bloom, ring (default: their own)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON to FILE")
    args = parser.parse_args(argv)
    if args.capacity is not None and args.capacity < 1:
        parser.error("--capacity must be at least 1")
    unknown = [n for n in args.suites if n not in SUITES and n != "all"]
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}, all")
    rows = run_benchmarks(args.suites, quick=args.quick, capacity=args.capacity)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) for r in rows], f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
