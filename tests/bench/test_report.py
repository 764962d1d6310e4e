"""The report's targets and the explanation of a missed accept-latency target."""

from types import SimpleNamespace

from alloy.bench.load import Sample
from alloy.bench.measure import PhaseResult, RoleFigures
from alloy.bench.report import accept_latency_note, targets_table


def closed_phase(
    system: str,
    latency_s: float,
    web_cpu_s: float,
    *,
    workers: int | None = 2,
    rss_mb: int = 100,
) -> PhaseResult:
    """Sixteen clients, 160 events accepted over one second, each ``latency_s`` long."""
    samples = []
    for index in range(160):
        sent = index / 160
        samples.append(Sample(f"m{index}", sent, sent + latency_s, 202))
    return PhaseResult(
        system=system,
        workload="custom-event",
        concurrency=16,
        workers=workers if system == "alloy" else None,
        events=160,
        rate=None,
        samples=samples,
        arrivals={sample.marker: sample.answered_at for sample in samples},
        duplicates=0,
        roles=[RoleFigures("web", 2, web_cpu_s, rss_mb * 2**20, 80 * 2**20)],
    )


def test_missed_accept_target_explained():
    run = SimpleNamespace(
        results=[closed_phase("alloy", 0.1, 0.32), closed_phase("n8n", 0.3, 2.0)],
        soak=None,
    )

    note = accept_latency_note(run)

    assert "| 100 ms vs 300 ms | not met |" in targets_table(run)
    # 160 accepted in the 1.094 s up to the last response, and a 30 ms p99
    # needs more than 16 / 0.030 s.
    assert "16 / 146 per second = 109 ms" in note
    assert "more than 533 events accepted per second" in note
    assert "used 2.0 ms of CPU per event" in note
    assert "at most about 500 per second" in note


def test_met_accept_target_no_note():
    run = SimpleNamespace(
        results=[closed_phase("alloy", 0.02, 0.32), closed_phase("n8n", 0.3, 2.0)],
        soak=None,
    )

    assert "| 20 ms vs 300 ms | met |" in targets_table(run)
    assert accept_latency_note(run) == ""


def test_no_peer_no_note():
    run = SimpleNamespace(results=[closed_phase("alloy", 0.1, 0.32)], soak=None)

    assert accept_latency_note(run) == ""


def test_memory_target_counts_compared_workers():
    # The 4-worker phase delivers less, so the 2-worker phase is compared.
    run = SimpleNamespace(
        results=[
            closed_phase("alloy", 0.1, 0.32, workers=4, rss_mb=500),
            closed_phase("alloy", 0.02, 0.32, workers=2, rss_mb=300),
            closed_phase("n8n", 0.3, 2.0, rss_mb=990),
        ],
        soak=None,
    )

    table = targets_table(run)

    assert "(peak RSS, 2 worker(s) as compared above) | 300 MB vs 990 MB | met |" in (
        table
    )
