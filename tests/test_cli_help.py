"""Every command's --help prints its usage and exits 0 (argparse formats help lazily: a stray
``%`` in a help string only fails when someone asks for help)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from defiperf import __main__ as top
from defiperf.batch import worker
from defiperf.bench import __main__ as bench
from defiperf.simulate import __main__ as simulate

COMMANDS: dict[str, tuple[Callable[[list[str]], int], list[str]]] = {
    "python -m defiperf": (top.main, []),
    "python -m defiperf demo": (top.main, ["demo"]),
    "python -m defiperf.bench": (bench.main, []),
    "python -m defiperf.simulate": (simulate.main, []),
    "python -m defiperf.batch.worker": (worker.main, []),
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_prints_usage_and_exits_0(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    main, args = COMMANDS[name]
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: "), out[:200]
    assert "--help" in out
