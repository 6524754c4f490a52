"""A griffe extension for the API reference: a docstring's doctest (``>>>`` lines and their
output, up to a blank line) is shown as a code block, as Sphinx shows it, instead of being read
as Markdown (where ``buf[0]["price"]`` would be a broken link)."""

from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """``text`` with each run of doctest lines wrapped in a ```` ```pycon ```` fence."""
    out: list[str] = []
    in_example = False
    indent = ""
    for line in text.splitlines():
        if not in_example and line.lstrip().startswith(">>>"):
            in_example = True
            indent = line[: len(line) - len(line.lstrip())]
            out += ([""] if out and out[-1].strip() else []) + [indent + "```pycon"]
        elif in_example and not line.strip():
            out.append(indent + "```")
            in_example = False
        out.append(line)
    if in_example:
        out.append(indent + "```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fence the doctests of every object's docstring, static or inspected."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
