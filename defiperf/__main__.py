"""``python -m defiperf`` (or the ``defiperf`` script): ``demo`` runs the main job,
``bench`` the benchmarks (same arguments as ``python -m defiperf.bench``)."""

from __future__ import annotations

import argparse
import asyncio
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "bench":
        from defiperf.bench.__main__ import main as bench_main
        return bench_main(argv[1:])
    parser = argparse.ArgumentParser(prog="defiperf", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the DeFi pipeline demo and print the report")
    demo.add_argument("--seconds", type=float, default=5.0)
    demo.add_argument("--profile", default="analytics",
                      choices=["hft", "analytics", "memory_constrained"])
    demo.add_argument("--redis", metavar="URL", default=None, help="use Redis as L2")
    sub.add_parser("bench", help="run the benchmarks (see python -m defiperf.bench --help)")
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be > 0")
    from defiperf.demo import run_demo, summary

    result = asyncio.run(run_demo(args.seconds, profile=args.profile, redis_url=args.redis))
    print(summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
