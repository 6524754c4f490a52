"""``python -m defiperf.batch.worker URL module:function [...]``: a Redis Streams worker process.

Each ``module:function`` (optionally ``name=module:function``) becomes a Processor; the worker
processes that processor's chunks until SIGTERM or SIGINT, finishing the chunks in hand.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys

from defiperf.batch.jobs import Processor
from defiperf.batch.streams import StreamWorker


def load_processor(spec: str, batch_size: int, timeout: float | None) -> Processor:
    """``[name=]module:function`` -> Processor (name defaults to the function's name)."""
    name, _, target = spec.rpartition("=")
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"processor spec must be [name=]module:function, got {spec!r}")
    fn = getattr(importlib.import_module(module_name), attr)
    return Processor(name or attr, fn, max_batch_size=batch_size, timeout=timeout)


async def serve(args: argparse.Namespace) -> None:
    processors = [load_processor(s, args.batch_size, args.timeout) for s in args.processors]
    worker = StreamWorker(args.url, processors, namespace=args.namespace, consumer=args.consumer,
                          claim_idle_s=args.claim_idle_s, concurrency=args.concurrency)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await worker.run(stop)
    finally:
        await worker.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m defiperf.batch.worker", description=__doc__)
    parser.add_argument("url", help="redis:// or rediss:// URL (AUTH in the URL)")
    parser.add_argument("processors", nargs="+", metavar="[name=]module:function")
    parser.add_argument("--namespace", default="defiperf")
    parser.add_argument("--consumer", default=None, help="this worker's name (default host-pid)")
    parser.add_argument("--claim-idle-s", type=float, default=30.0,
                        help="take over chunks unacknowledged this long (a dead worker's)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per batch")
    args = parser.parse_args(argv)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
