"""python -m defiperf (or the defiperf command): demo runs the main job, bench the benchmarks."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import sys
from typing import TextIO

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _redis_url(text: str) -> str:
    if not text.startswith(REDIS_SCHEMES) or len(text) <= text.index("://") + 3:
        raise argparse.ArgumentTypeError(
            f"must be a redis://, rediss:// or unix:// URL (e.g. redis://localhost:6379/0), got {text!r}")
    return text


def _version() -> str:
    from defiperf import __version__

    return __version__


def _prog() -> str:
    """How the user called us: the ``defiperf`` command or ``python -m defiperf``."""
    return "python -m defiperf" if os.path.basename(sys.argv[0]) == "__main__.py" else "defiperf"


def _parser() -> argparse.ArgumentParser:
    prog = _prog()
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--version", action="version", version=f"defiperf {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the DeFi pipeline demo and print the report",
                          description="Run the DeFi pipeline (price feed, dedup, portfolio API "
                          "through the cache, batch validation) for --seconds, then print the "
                          "monitor's report. Ctrl-C stops early with the partial report.")
    demo.add_argument("--seconds", type=_seconds, default=5.0, help="how long to run (default 5)")
    demo.add_argument("--profile", default="analytics",
                      choices=["hft", "analytics", "memory_constrained"])
    demo.add_argument("--redis", metavar="URL", type=_redis_url, default=None,
                      help="use Redis as L2 (redis://, rediss:// or unix:// URL)")
    demo.add_argument("--no-status", action="store_true",
                      help="no live status line (it is shown only on a terminal anyway)")
    sub.add_parser("bench", help=f"run the benchmarks (see {prog} bench --help)")
    return parser


class _StatusLine:
    """One line rewritten in place on a terminal; nothing when not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False

    def __call__(self, line: str) -> None:
        self.stream.write("\r\x1b[2K" + line)
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


async def _demo(args: argparse.Namespace, status: _StatusLine | None) -> object:
    from defiperf.demo import RunClock, run_demo

    clock = RunClock()
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        if clock.interrupted:  # a second Ctrl-C: stop now, no report
            raise KeyboardInterrupt
        print("\ninterrupted: stopping, then the partial report (Ctrl-C again to quit now)",
              file=sys.stderr)
        clock.stop()

    try:
        loop.add_signal_handler(signal.SIGINT, interrupt)
    except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
        pass
    try:
        return await run_demo(args.seconds, profile=args.profile, redis_url=args.redis,
                              status=status, clock=clock)
    finally:
        try:
            loop.remove_signal_handler(signal.SIGINT)
        except (NotImplementedError, RuntimeError):
            pass


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:  # Ctrl-C before the run's own handler is installed (start-up)
        print("interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str]) -> int:
    if argv and argv[0] == "bench":
        from defiperf.bench.__main__ import main as bench_main
        return bench_main(argv[1:], prog=f"{_prog()} bench")
    args = _parser().parse_args(argv)
    from defiperf.demo import summary

    status = None if args.no_status or not sys.stderr.isatty() else _StatusLine(sys.stderr)
    try:
        result = asyncio.run(_demo(args, status))
    except KeyboardInterrupt:
        if status is not None:
            status.clear()
        print("interrupted", file=sys.stderr)
        return 130
    if status is not None:
        status.clear()
    print(summary(result))  # type: ignore[arg-type]
    return 130 if getattr(result, "interrupted", False) else 0  # 128 + SIGINT, as shells expect


if __name__ == "__main__":
    sys.exit(main())
