"""``python -m defiperf.simulate [PATH ...] [--sizes 1%,10%,500] [--policies lru,tinylfu,opt]``

Replays traces through each policy at each cache size and prints the hit rates (percent), with
Belady's OPT as the limit. PATH is a trace file or a directory of them (``*.trace``, optionally
``.gz``/``.xz``/``.bz2``). Without a PATH: every trace in ``$DEFIPERF_TRACES`` (else
``../shared/data/traces`` beside the source checkout) and every synthetic trace.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from defiperf.simulate.policies import POLICIES
from defiperf.simulate.synthetic import SYNTHETIC
from defiperf.simulate.table import (DEFAULT_SIZES, Row, SizeSpec, format_csv, format_table,
                                     parse_sizes, simulate)
from defiperf.simulate.traces import (FORMATS, default_trace_dir, find_traces, read_trace,
                                      trace_name)


def _sizes(text: str) -> list[SizeSpec]:
    try:
        return parse_sizes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive int")
    return value


def _names(text: str, known: Mapping[str, object], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(known)
    if names == ["none"]:
        return []
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown {what}: {', '.join(unknown) or text!r}; "
                                         f"choose from {', '.join(known)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m defiperf.simulate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                        help="trace files or directories of traces (default: see above)")
    parser.add_argument("--sizes", type=_sizes, default=parse_sizes(DEFAULT_SIZES),
                        help="cache sizes, comma-separated: entries (500) or percent of each "
                             f"trace's distinct keys (5%%); default {DEFAULT_SIZES.replace('%', '%%')}")
    parser.add_argument("--policies", type=lambda t: _names(t, POLICIES, "policy"),
                        default=list(POLICIES),
                        help=f"comma-separated, from {', '.join(POLICIES)} (default: all)")
    parser.add_argument("--synthetic", type=lambda t: _names(t, SYNTHETIC, "synthetic trace"),
                        default=None,
                        help=f"synthetic traces to add: all, none, or from {', '.join(SYNTHETIC)} "
                             "(default: all without PATH, none with)")
    parser.add_argument("--format", default="auto", choices=list(FORMATS),
                        help="trace file format (default auto: LIRS text, else cache2k i32be)")
    parser.add_argument("--max-reads", type=_positive, default=None,
                        help="replay only the first N reads of each trace")
    parser.add_argument("--csv", action="store_true", help="print CSV (rates as fractions)")
    return parser


def _trace_files(parser: argparse.ArgumentParser, paths: list[Path]) -> list[Path]:
    if not paths:
        default = default_trace_dir()
        if not default.is_dir():
            return []
        paths = [default]
    files = []
    for path in paths:
        if path.is_dir():
            found = find_traces(path)
            if not found:
                parser.error(f"{path}: no trace files (*.trace, *.trace.gz/.xz/.bz2) in it")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            parser.error(f"{path}: no such file or directory")
    return files


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    synthetic = args.synthetic if args.synthetic is not None else ([] if args.paths
                                                                   else list(SYNTHETIC))
    traces: list[tuple[str, np.ndarray]] = []
    for path in _trace_files(parser, args.paths):
        try:
            traces.append((trace_name(path), read_trace(path, args.format)))
        except (OSError, ValueError) as exc:
            parser.error(f"{path}: {exc}")
    traces += [(name, SYNTHETIC[name]()) for name in synthetic]
    if not traces:
        parser.error(f"no traces: pass files or directories (none at {default_trace_dir()}; "
                     "set DEFIPERF_TRACES) or --synthetic all")
    if not args.policies:
        parser.error("no policies to run")
    rows: list[Row] = []
    for name, trace in traces:
        if args.max_reads is not None:
            trace = trace[:args.max_reads]
        rows += simulate(name, trace, args.sizes, args.policies)
        print(f"  {name}: done", file=sys.stderr, flush=True)
    print(format_csv(rows, args.policies) if args.csv else format_table(rows, args.policies))
    return 0


if __name__ == "__main__":
    sys.exit(main())
