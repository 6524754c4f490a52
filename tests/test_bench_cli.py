"""The benchmark command says what it could not measure, and its help reads as plain text."""

from __future__ import annotations

import io
import sys

import pytest

from defiperf import __main__ as top
from defiperf.bench import _peers, bloom
from defiperf.bench import __main__ as cli
from defiperf.bench.runner import run_benchmarks


def test_a_missing_peer_is_listed_with_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    contenders = {**bloom.CONTENDERS,
                  "fakebloom": (bloom.make_rbloom, "defiperf_no_such_module")}
    monkeypatch.setattr(bloom, "CONTENDERS", contenders)
    out = io.StringIO()
    rows = run_benchmarks(["bloom"], quick=True, capacity=20_000, out=out)
    text = out.getvalue()
    assert "skipped: fakebloom (not installed; pip install defiperf[bench])" in text
    assert text.index("skipped: fakebloom") > text.index("add str64")  # under its suite's table
    assert all("fakebloom" not in row.peers for row in rows)
    assert _peers.take_skipped() == []  # reported once, then forgotten


def test_installed_notes_only_what_is_missing() -> None:
    _peers.take_skipped()
    assert _peers.installed("numpy")
    assert not _peers.installed("defiperf_no_such_module", "a peer")
    assert not _peers.installed("defiperf_no_such_module", "a peer")
    _peers.skip("Redis (the L2 hit row)", "redis-server not found; apt-get install redis-server")
    assert _peers.take_skipped() == [
        "skipped: a peer (not installed; pip install defiperf[bench])",
        "skipped: Redis (the L2 hit row) (redis-server not found; apt-get install redis-server)"]


def _help(call: object, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        call()  # type: ignore[operator]
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(("argv0", "prog"), [("/usr/bin/defiperf", "defiperf"),
                                             ("/x/defiperf/__main__.py", "python -m defiperf")])
def test_help_names_the_command_that_was_typed(argv0: str, prog: str,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [argv0])
    text = _help(lambda: top.main(["bench", "--help"]), capsys)
    assert text.startswith(f"usage: {prog} bench ") and "``" not in text
    text = _help(lambda: top.main(["--help"]), capsys)
    assert text.startswith(f"usage: {prog} ") and "``" not in text
    assert f"see {prog} bench --help" in text


def test_bench_module_help_is_plain(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(lambda: cli.main(["--help"]), capsys)
    assert text.startswith("usage: python -m defiperf.bench ")
    assert "``" not in text and "skipped" in text
