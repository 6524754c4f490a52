"""The main job as a user runs it: on a busy host (a CPU burner per core), for its stated time,
in every profile, with accounting that adds up, plain argument errors and Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from defiperf.bench.burner import cpu_burners
from defiperf.demo import run_demo

STARTUP_S = 10.0  # interpreter, imports and suite start-up on a loaded 2-core host


def _series_cells(report: str, name: str) -> list[str]:
    table = report[report.index("## Series"):]
    row = next(line for line in table.splitlines() if line.startswith(f"| {name} |"))
    return row.split("|")             # | series | unit | count | rate/s | mean | ...


def _series_mean(report: str, name: str) -> float:
    return float(_series_cells(report, name)[5])


def _series_rate(report: str, name: str) -> float:
    return float(_series_cells(report, name)[4])


def test_memory_pressure_from_the_start_does_not_stall_the_run() -> None:
    # The suite pauses warming under memory pressure; warming must not hold the run hostage.
    import dataclasses

    from defiperf.profiles import PROFILES

    tiny = dataclasses.replace(PROFILES["memory_constrained"], memory_budget_bytes=1 << 20)
    out = asyncio.run(run_demo(2.0, profile=tiny, pairs=5))
    assert out.elapsed_s <= 2.0 * 1.2 and out.portfolio_lookups > 0
    assert out.health["components"]["memory"]["status"] == "degraded"


def test_the_status_line_comes_each_second() -> None:
    lines: list[str] = []
    out = asyncio.run(run_demo(2.5, profile="hft", pairs=5, status=lines.append))
    assert 2 <= len(lines) <= 3 and out.elapsed_s < 2.5 * 1.2
    assert all(re.match(r"\s*[\d.]+/2.5 s \| prices [\d,]+/s \| tx ", line) for line in lines)


def test_a_second_engine_in_the_same_busy_process_keeps_full_batches() -> None:
    from defiperf.batch import BatchProcessingEngine, Processor

    async def noop(items: list[int]) -> list[int]:
        return items

    async def one_engine() -> float:
        async with BatchProcessingEngine() as eng:   # the real load probe
            job = await eng.submit_job(range(50_000), Processor("noop", noop))
            assert (await eng.wait(job)).ok
            return float(eng.get_metrics()["processors"]["noop"]["mean_batch_size"])

    with cpu_burners():
        assert [asyncio.run(one_engine()) for _ in range(2)] == [100.0, 100.0]


@pytest.mark.parametrize("profile", ["hft", "analytics", "memory_constrained"])
def test_every_profile_keeps_its_time_on_a_busy_host_and_accounts_for_every_tx(profile: str) -> None:
    with cpu_burners():
        start = time.monotonic()
        out = asyncio.run(run_demo(3.0, profile=profile, pairs=10))
        wall = time.monotonic() - start
    assert out.elapsed_s <= 3.0 * 1.2 and wall <= 3.0 * 1.2 + STARTUP_S
    fresh = out.transactions - out.duplicates_dropped
    assert out.validated + out.invalid + out.validation_cancelled == fresh > 0
    assert out.health["status"] in ("ok", "degraded") and "## Hot paths" in out.report_markdown
    headline = out.price_updates / out.elapsed_s
    series = _series_mean(out.report_markdown, "metric:price_updates_per_second")
    assert 0.5 * headline <= series <= 1.5 * headline   # the same quantity, not a tick's speed
    lookups = out.portfolio_lookups / out.portfolio_span_s
    rate = _series_rate(out.report_markdown, "request:/api/portfolio")
    assert 0.6 * lookups <= rate <= 1.4 * lookups


# Every child runs outside the source tree, whose uncompiled package would shadow the install.
OUTSIDE = tempfile.gettempdir()


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "defiperf", "demo", *args], capture_output=True,
                          text=True, timeout=120, cwd=OUTSIDE)


def test_fifteen_seconds_on_a_busy_host() -> None:
    with cpu_burners():
        start = time.monotonic()
        done = _demo("--seconds", "15")
        wall = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    assert wall <= 15 * 1.2 + STARTUP_S
    run = float(re.search(r"\(15 s stated, ([\d.]+) s run\)", done.stdout).group(1))  # type: ignore[union-attr]
    assert run <= 15 * 1.2
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--seconds", "0"], "finite number > 0"),
    (["--seconds", "inf"], "finite number > 0"),
    (["--seconds", "nan"], "finite number > 0"),
    (["--seconds", "soon"], "not a number"),
    (["--redis", "http://localhost:6379"], "redis://, rediss:// or unix://"),
    (["--profile", "fast"], "invalid choice"),
])
def test_bad_arguments_are_argparse_errors_not_tracebacks(args: list[str], message: str) -> None:
    done = _demo(*args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_version() -> None:
    from importlib.metadata import version

    from defiperf import __version__

    assert __version__ == version("defiperf") != "0+unknown"   # pyproject is the one source
    done = subprocess.run([sys.executable, "-m", "defiperf", "--version"], capture_output=True,
                          text=True, timeout=60, cwd=OUTSIDE)
    assert done.returncode == 0 and done.stdout.strip() == f"defiperf {__version__}"


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process")
def test_ctrl_c_stops_with_a_short_message_and_the_partial_report() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "defiperf", "demo", "--seconds", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=OUTSIDE)
    try:
        time.sleep(6)                      # past start-up, into the run
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr          # interrupted, with the partial report
    assert "interrupted: stopping" in stderr and "Traceback" not in stderr
    assert "interrupted: partial report" in stdout and "## Hot paths" in stdout
