"""python -m defiperf.bench: the harness runs, prints peers side by side, and reports honestly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from defiperf.bench import Row, format_table
from defiperf.bench import __main__ as cli
from defiperf.bench import batch, lru, monitor
from defiperf.bench._peers import available


def test_lru_suite_measures_every_operation_for_both_key_kinds() -> None:
    rows = lru.run(quick=True, capacity=500, memory_items=300_000)  # quick: 30,000 entries
    ops = [r.operation for r in rows]
    for kind in ("int", "str"):
        for op in ("get-hit", "get-miss", "set-evict", "overwrite"):
            assert f"{op} {kind}" in ops
    assert ops[-2] == "memory 30,000 int->int"
    assert ops[-1] == "memory 10,000 int->int, capacity 30,000"  # storage follows the entries
    for row in rows:
        assert row.ours > 0 and math.isfinite(row.ours)
        assert "defiperf" not in row.peers  # ours is not listed as its own peer
        assert all(v > 0 for v in row.peers.values())
    hit = next(r for r in rows if r.operation == "get-hit int")
    assert "functools.lru_cache" in hit.peers and "dict" in hit.peers
    evict = next(r for r in rows if r.operation == "set-evict int")
    assert "dict" not in evict.peers  # a dict never evicts: no fake figure


@pytest.mark.parametrize("order", ["", "seq", "zipf"])
def test_every_set_evict_pass_evicts_for_every_contender(order: str) -> None:
    """Each timed set-evict pass must evict in every contender: two fixed Zipf draws fitted
    the cache together after two passes (overwrites only), W-TinyLFU kept the first keys and
    overwrote them every other pass, and a rotation shared by the contenders gave some of them
    only the keys they held."""
    capacity = 2_000
    present, _, fresh = lru.key_sets("int", capacity, 1)
    order_keys, writes = lru.orders("int", capacity, 1)[order]
    for make in (lru.make_ours, lru.make_ours_tinylfu):
        caches = [make(capacity) for _ in range(2)]  # two contenders sharing `writes`
        passes = []
        for cache in caches:
            for k in present:
                cache[k] = k
            passes.append(lru._pass("set-evict", cache, order_keys, present, fresh, writes))
        for _ in range(2 * lru.WRITE_ROUNDS):
            for cache, run in zip(caches, passes):
                before = cache.stats().evictions
                run()
                assert cache.stats().evictions - before > capacity // 20, (order, make)


def test_table_shows_ratio_peer_over_ours() -> None:
    rows = [Row("s", "op", "ns/op", 10.0, {"peer": 25.0}),
            Row("s", "rate", "ops/s", 50.0, {"peer": 100.0}, lower_is_better=False)]
    assert rows[0].ratio("peer") == 2.5
    assert rows[1].ratio("peer") == 0.5
    text = format_table(rows)
    assert "25.0 (2.50)" in text and "100 (0.50)" in text


def test_cli_runs_a_suite_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rows.json"
    assert cli.main(["lru", "--quick", "--capacity", "300", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "get-hit int" in printed and "defiperf" in printed
    data = json.loads(out.read_text())
    assert {d["operation"] for d in data} >= {"get-hit int", "overwrite str"}


def test_cli_rejects_unknown_suites_and_bad_capacity() -> None:
    with pytest.raises(SystemExit):
        cli.main(["nope"])
    with pytest.raises(SystemExit):
        cli.main(["lru", "--capacity", "0"])


def test_bloom_and_ring_suites_run_quick() -> None:
    from defiperf.bench import bloom, ring

    rows = bloom.run(quick=True, capacity=20_000, n_keys=2_000)
    ops = {r.operation: r for r in rows}
    assert {"add str64", "contains int", "bits / optimum"} <= set(ops)
    assert ops["bits / optimum"].ours <= 1.05
    fpr = next(r for r in rows if r.operation.startswith("FPR"))
    assert fpr.ours <= 0.011 * 1.5  # a 2,000-key sample: loose, the real check is in test_bloom
    rows = ring.run(quick=True, capacity=1_000, n_ops=2_000)
    assert [r.operation for r in rows][:2] == ["push 3-field row", "get_latest(100)"]
    assert all(r.ours > 0 for r in rows)


def test_monitor_suite_compares_recording_and_accuracy() -> None:
    rows = monitor.run(quick=True, n_ops=20_000)
    assert [r.operation for r in rows] == [
        "record_request", "record_request worst call, OTel bridge", "record_metric",
        "p99 relative error"]
    request = rows[0]
    assert 0 < request.ours < 100_000 and "prometheus child.observe" in request.peers
    installed = set(available(monitor.PEERS)) - {"prometheus_client"}
    assert installed <= set(request.peers)  # every installed peer is measured
    assert {"defiperf + OTel bridge, between collections", "OTel SDK Histogram.record",
            "defiperf + OTel bridge, overload (backpressure: the caller records)",
            "defiperf + OTel bridge, buffer full 4x a burst (drain thread keeps up)"} <= \
        set(request.peers)
    assert 0 < rows[1].ours and "defiperf without bridge" in rows[1].peers
    assert rows[3].ours < 0.01  # the histogram's stated bound holds on real data


def test_batch_suite_compares_engine_and_bare_asyncio_idle_and_busy() -> None:
    rows = batch.run(quick=True, n_items=20_000)
    names = [r.operation for r in rows]
    for suffix in ("", ", busy host"):
        for n_jobs, per_job in ((1, "2,000"), (10, "200"), (1000, "2")):
            label = f"{n_jobs:,} job{'s' if n_jobs > 1 else ''} x {per_job}"
            assert f"no-op throughput, {label}{suffix}" in names
        for op in ("queue latency p50 at 50% of max", "queue latency p99 at 50% of max",
                   "2,000-item job with 1% poison items", "fixed 0.3 s per batch, 1,000 items"):
            assert op + suffix in names
    assert names[-1] == "bytes per queued item, 100,000 queued"
    by_name = {r.operation: r for r in rows}
    throughput = by_name["no-op throughput, 10 jobs x 200, busy host"]
    assert not throughput.lower_is_better and throughput.ours > 0
    assert throughput.peers["asyncio baseline"] > 0
    for suffix in ("", ", busy host"):
        assert 0 < by_name["queue latency p50 at 50% of max" + suffix].ours <= by_name[
            "queue latency p99 at 50% of max" + suffix].ours
        assert by_name["2,000-item job with 1% poison items" + suffix].peers["same job, no poison"] > 0
    assert 0 < rows[-1].ours < 64  # a result slot per item, not an object per item


# aiocache and cashews (bench extra) close redis-py clients in deprecated ways: their warnings.
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning",
                            "ignore::pytest.PytestUnraisableExceptionWarning")
def test_cache_suite_compares_tiers_and_warming() -> None:
    from defiperf.bench import cache

    rows = cache.run(quick=True, n_ops=2_000)
    ops = [r.operation for r in rows]
    assert ops[0] == "L1 hit, await get" and "L2 hit (Redis), await get" in ops  # redis-server is there
    assert "L3 hit (disk), await get" in ops and "miss with loader (L1 only)" in ops
    l2 = rows[ops.index("L2 hit (Redis), await get")]
    assert "redis-py GET" in l2.peers
    zipf = rows[-1]
    assert zipf.peers["no warming"] < zipf.ours <= 1.0


def test_claims_table_passes_fails_and_says_not_run() -> None:
    from defiperf.bench.claims import check_claims, format_claims

    rows = [Row("cache", "Zipf hit rate, TTL 10 s", "rate", 0.97, lower_is_better=False),
            Row("batch", "queue latency p99 at 50% of max", "ms", 12.0),
            Row("lru", "memory 300,000 int->int", "B/entry", 80.0),
            Row("cache", "L3 hit (disk), await get", "ns/op", 90_000.0),
            Row("cache", "L2 hit (Redis), await get", "ns/op", 120_000.0)]
    result = {claim: (ours, verdict) for claim, _, ours, verdict in check_claims(rows)}
    assert result["cache hit rate > 95%"] == ("97.0%", "pass")
    assert result["queue latency < 10 ms"][1] == "FAIL"
    assert result["L1 memory < 100 MB"][1] == "pass"
    assert result["cached response < 50 ms"] == ("0.120 ms", "pass")  # the slower tier counts
    assert result["batch > 1000 ops/s"] == ("-", "not run")
    assert "original's claim" in format_claims(rows)
    busy = [Row("batch", "no-op throughput, 10 jobs x 100", "items/s", 5000.0, lower_is_better=False),
            Row("batch", "no-op throughput, 10 jobs x 100, busy host", "items/s", 900.0,
                lower_is_better=False)]
    result = {claim: (ours, verdict) for claim, _, ours, verdict in check_claims(busy)}
    assert result["batch > 1000 ops/s"] == ("900 items/s", "FAIL")   # the busy host counts too


def test_run_benchmarks_returns_rows_and_prints_claims(capsys: pytest.CaptureFixture[str]) -> None:
    import defiperf

    rows = defiperf.run_benchmarks(["monitor"], quick=True)
    out = capsys.readouterr().out
    assert rows and rows[0].suite == "monitor"
    assert "[monitor]" in out and "[claims of the original, this run]" in out and "not run" in out
    with pytest.raises(ValueError, match="unknown suite"):
        defiperf.run_benchmarks(["nope"])
