"""A small real bench run: every event delivered, the figures sane."""

import pytest
import redis
from django.conf import settings

from alloy.bench import report
from alloy.bench.measure import percentile
from alloy.bench.options import arguments_add, options_parse
from alloy.bench.processes import free_port
from alloy.bench.run import BenchRun

EVENTS = 50
SOAK_RUNS = 200


def bench_options(**overrides):
    import argparse

    parser = argparse.ArgumentParser()
    arguments_add(parser)
    raw = vars(parser.parse_args([]))
    raw.update(overrides)
    return options_parse(raw)


@pytest.fixture(scope="module")
def finished_run(bench_database, tmp_path_factory):
    # Module-scoped, so it runs before the per-test flush: empty the test Redis
    # database of earlier tests' keys, which the bench would refuse to flush.
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    options = bench_options(
        events=EVENTS,
        concurrency="4",
        rate="20",
        soak=SOAK_RUNS,
        port=free_port(),
        sink_port=free_port(),
        database=bench_database,
        redis_url=settings.REDIS_URL,
    )
    run = BenchRun(
        options, log_dir=tmp_path_factory.mktemp("bench"), write=lambda message: None
    )
    try:
        text = run.execute()
    finally:
        run.stop()
    return run, text


def test_bench_small_run_figures(finished_run):
    run, text = finished_run
    phases = {(r.workload, r.rate): r for r in run.results}
    assert set(phases) == {
        ("custom-event", None),
        ("custom-event", 20.0),
        ("shopify-webhook", None),
        ("shopify-webhook", 20.0),
    }
    for result in run.results:
        assert len(result.accepted) == EVENTS, result.label
        assert result.delivered == EVENTS, result.label
        assert result.duplicates == 0, result.label
        assert percentile(result.accept_latencies_ms, 0.5) > 0, result.label
        assert percentile(result.end_to_end_ms, 0.5) > 0, result.label
        assert result.delivered_per_second > 0, result.label
        assert result.statements / result.delivered >= 1, result.label
        assert result.transactions > 0, result.label
        cpu = {role.role: role.cpu_seconds for role in result.roles}
        assert cpu["web"] > 0, result.label
        assert cpu["worker-1"] + cpu["worker-2"] > 0, result.label
    assert report.problems(run.results) == []
    assert "| alloy custom-event c=4, 2 worker(s) | 50 | 50 |" in text


def test_bench_small_run_keeps_records(finished_run):
    run, _ = finished_run
    records = run.soak_result.records
    # A warm-up and four phases of 50 events, and the soak, one run each.
    assert records["runs succeeded"] == 5 * EVENTS + SOAK_RUNS
    assert records.get("runs failed", 0) == 0
    # A custom-event run records the trigger and the POST, a webhook run the trigger.
    assert records["steps"] == 2 * (3 * EVENTS + SOAK_RUNS) + 2 * EVENTS
    assert records["stream deliveries succeeded"] == 2 * EVENTS


def test_bench_small_run_stops_processes(finished_run):
    run, _ = finished_run
    assert run.groups.processes == {}


def test_bench_small_run_soak_sampled(finished_run):
    run, text = finished_run
    assert run.soak.runs == SOAK_RUNS
    assert len(run.soak.points) >= 2
    assert min(rss for _, rss in run.soak.points) > 10 * 1024 * 1024
    assert f"Worker memory over {SOAK_RUNS} runs" in text


def test_bench_docs_written(finished_run, tmp_path):
    from alloy.bench.docs import docs_write

    run, _ = finished_run
    page = docs_write(run, tmp_path / "benchmarks.md").read_text()
    assert "--events 50 --concurrency 4 --workload custom-event,shopify-webhook" in page
    assert "| Python | " in page
    assert "| CPU | " in page
    assert "| alloy custom-event c=4, 2 worker(s) | 50 | 50 |" in page
    assert "## Scaling with RQ worker processes" in page
    assert "| 2 | 4 | " in page
    assert "## More workers on more machines" in page
    assert "Worker memory over 200 runs" in page
