"""The simulator's table: traces x cache sizes x policies, sizes given as counts or as a percentage
of each trace's distinct keys."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from defiperf.simulate.policies import hit_rate

DEFAULT_SIZES = "1%,2%,5%,10%,20%,30%,40%,50%"


@dataclass(frozen=True)
class SizeSpec:
    """A cache size: `value` entries, or `value` percent of the trace's distinct keys."""

    value: float
    percent: bool

    def entries(self, n_keys: int) -> int:
        """The size in entries for a trace of `n_keys` distinct keys (at least 1)."""
        if not self.percent:
            return int(self.value)
        return max(1, int(n_keys * self.value // 100))

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.percent else f"{int(self.value)}"


def parse_sizes(text: str) -> list[SizeSpec]:
    """``"1%,5%,1000"`` -> sizes; percentages in (0, 100], counts positive ints.

    >>> [str(s) for s in parse_sizes("1%, 2.5% ,1000")]
    ['1%', '2.5%', '1000']
    """
    specs = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            if part.endswith("%"):
                spec = SizeSpec(float(part[:-1]), True)
                ok = 0 < spec.value <= 100
            else:
                spec = SizeSpec(int(part), False)
                ok = spec.value > 0
        except ValueError:
            raise ValueError(f"{part!r} is neither a count nor a percentage like 5%") from None
        if not ok:
            raise ValueError(f"{part!r}: a size is a positive count or a percentage in (0, 100]")
        specs.append(spec)
    if not specs:
        raise ValueError("no sizes given")
    return specs


@dataclass(frozen=True)
class Row:
    """One trace at one size: the hit rate (0..1) of each policy."""

    trace: str
    n_reads: int
    n_keys: int
    spec: SizeSpec
    size: int
    rates: dict[str, float]


def simulate(name: str, trace: np.ndarray, specs: list[SizeSpec],
             policies: list[str]) -> list[Row]:
    """Replay `trace` through every policy at every size; sizes that coincide are run once."""
    n_keys = len(np.unique(trace))
    rows, seen = [], set()
    for spec in specs:
        size = spec.entries(n_keys)
        if size in seen:
            continue
        seen.add(size)
        rates = {p: hit_rate(p, trace, size) for p in policies}
        rows.append(Row(name, len(trace), n_keys, spec, size, rates))
    return rows


def format_table(rows: list[Row], policies: list[str]) -> str:
    """A fixed-width table, one line per row, hit rates in percent."""
    header = ["trace", "reads", "keys", "size", "% keys"] + policies
    lines = [header]
    for r in rows:
        lines.append([r.trace, f"{r.n_reads:,}", f"{r.n_keys:,}", f"{r.size:,}",
                      f"{100 * r.size / r.n_keys:.1f}%"] +
                     [f"{100 * r.rates[p]:.2f}" for p in policies])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(line, widths))))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def format_csv(rows: list[Row], policies: list[str]) -> str:
    """The same rows as CSV, hit rates as fractions."""
    out = [",".join(["trace", "reads", "keys", "size"] + policies)]
    for r in rows:
        out.append(",".join([r.trace, str(r.n_reads), str(r.n_keys), str(r.size)] +
                            [f"{r.rates[p]:.6f}" for p in policies]))
    return "\n".join(out)
