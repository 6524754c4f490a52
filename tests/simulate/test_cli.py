"""`python -m defiperf.simulate`: sizes as percentages, directories, synthetic traces, CSV, and a
clear message (exit status 2, no traceback) for every kind of bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from defiperf.simulate.__main__ import main
from defiperf.simulate.traces import default_trace_dir, read_trace


def write_lirs(path: Path, keys: list[int]) -> Path:
    data = ("*\n" + "\n".join(map(str, keys)) + "\n").encode()
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def table(out: str) -> list[list[str]]:
    """The table's data lines, split into cells (header and rule skipped)."""
    return [line.split() for line in out.splitlines()[2:]]


LOOP = [k for _ in range(20) for k in range(10)]  # 10 keys read round-robin, 200 reads


def test_percent_and_count_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_lirs(tmp_path / "loop.trace", LOOP)
    assert main([str(path), "--sizes", "50%,10%,3", "--policies", "lru,opt"]) == 0
    rows = table(capsys.readouterr().out)
    # trace, reads, keys, size, % keys, lru, opt
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [("loop", "200", "10", "5"),
                                                        ("loop", "200", "10", "1"),
                                                        ("loop", "200", "10", "3")]
    lru, opt = ([float(row[i]) for row in rows] for i in (5, 6))
    assert lru == [0.0, 0.0, 0.0]  # a loop longer than the cache: LRU never hits
    assert opt[1] == 0.0 and 0 < opt[2] < opt[0] <= 100  # OPT keeps what it can


def test_directory_synthetic_csv_and_max_reads(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    write_lirs(tmp_path / "a.trace", LOOP)
    write_lirs(tmp_path / "b.trace.gz", [1, 2, 1, 2, 3])
    (tmp_path / "notes.txt").write_text("not a trace")
    assert main([str(tmp_path), "--sizes", "2", "--policies", "lru,tinylfu", "--csv",
                 "--synthetic", "reuse_twice", "--max-reads", "1000"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "trace,reads,keys,size,lru,tinylfu"
    rows = [line.split(",") for line in lines[1:]]
    assert [(r[0], r[1]) for r in rows] == [("a", "200"), ("b", "5"), ("reuse_twice", "1000")]
    assert rows[1][4] == f"{2 / 5:.6f}"  # 1 2 [1 2 hit] 3: LRU of 2 hits twice in five reads


@pytest.mark.parametrize("content, message", [
    (b"", "no keys"),
    (b"*\n*\n", "no keys"),
    (b"1\n2\nthree\n", "line 3"),
])
def test_bad_trace_files_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          content: bytes, message: str) -> None:
    path = tmp_path / "bad.trace"
    path.write_bytes(content)
    with pytest.raises(SystemExit) as exc:
        main([str(path), "--policies", "lru"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "bad.trace" in err and "Traceback" not in err


def test_damaged_compressed_trace_is_a_clear_error(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cut.trace.gz"
    path.write_bytes(gzip.compress(b"1\n2\n" * 1000)[:30])
    with pytest.raises(SystemExit):
        main([str(path), "--policies", "lru"])
    assert "cut.trace.gz" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--sizes", "0%"], "percentage"),
    (["--sizes", "101%"], "percentage"),
    (["--sizes", "0"], "positive"),
    (["--sizes", "ten"], "neither a count"),
    (["--policies", "fifo"], "unknown policy"),
    (["--synthetic", "nope"], "unknown synthetic"),
    (["--max-reads", "0"], "positive int"),
])
def test_bad_arguments_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        args: list[str], message: str) -> None:
    path = write_lirs(tmp_path / "t.trace", LOOP)
    with pytest.raises(SystemExit) as exc:
        main([str(path), *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_paths_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing.trace")])
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path)])  # a directory without traces
    assert "no trace files" in capsys.readouterr().err
    monkeypatch.setenv("DEFIPERF_TRACES", str(tmp_path / "nowhere"))
    assert default_trace_dir() == tmp_path / "nowhere"
    with pytest.raises(SystemExit):
        main(["--synthetic", "none"])
    assert "DEFIPERF_TRACES" in capsys.readouterr().err


def test_auto_format_reads_lirs_text_and_cache2k_binary(tmp_path: Path) -> None:
    text = write_lirs(tmp_path / "t.trace", [3, -1, 7])
    binary = tmp_path / "b.trace"
    binary.write_bytes(np.array([5, 70_000, 5], dtype=">i4").tobytes())
    assert read_trace(text, "auto").tolist() == [3, -1, 7]
    assert read_trace(binary, "auto").tolist() == [5, 70_000, 5]
