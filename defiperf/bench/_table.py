"""Result rows and the side-by-side table every suite prints."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Row:
    """One measured operation: our figure and each peer's, in the same unit.

    ``lower_is_better`` is True for times and memory, False for rates. ``ratio(peer)`` is how
    many times better we are than that peer (above 1: we win).
    """

    suite: str
    operation: str
    unit: str
    ours: float
    peers: dict[str, float] = field(default_factory=dict)
    lower_is_better: bool = True
    note: str = ""

    def ratio(self, peer: str) -> float:
        """``peer`` against ours, so that above 1 means defiperf is better (NaN: no such peer)."""
        theirs = self.peers.get(peer, math.nan)
        if self.lower_is_better:
            return theirs / self.ours if self.ours else math.nan
        return self.ours / theirs if theirs else math.nan


def _fmt(value: float, unit: str = "") -> str:
    if math.isnan(value):
        return "-"
    if unit in ("ratio", "rate"):
        return f"{value:.4g}"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.1f}"
    return f"{value:.3g}"


def format_table(rows: list[Row], ours_label: str = "defiperf") -> str:
    """A plain-text table: one line per operation, each peer's figure with its ratio to ours."""
    if not rows:
        return "(no results)"
    peers: list[str] = []
    for row in rows:
        peers += [p for p in row.peers if p not in peers]
    header = ["operation", "unit", ours_label] + [f"{p} (x)" for p in peers]
    lines = [header]
    for row in rows:
        cells = [row.operation, row.unit, _fmt(row.ours, row.unit)]
        for p in peers:
            if p in row.peers and not math.isnan(row.peers[p]):
                cells.append(f"{_fmt(row.peers[p], row.unit)} ({row.ratio(p):.2f})")
            else:
                cells.append("-")
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(line, widths))).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
