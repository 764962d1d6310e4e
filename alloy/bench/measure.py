"""One measured phase: send the requests, wait for the deliveries, read the figures."""

import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from alloy.bench.load import Request, Sample, load_run
from alloy.bench.processes import (
    machine_cpu_seconds,
    process_figures,
    process_tree,
    tree_figures,
)

# Seconds without a new delivery after which the bench stops waiting for more.
DELIVERY_IDLE_TIMEOUT = 30.0
# Seconds left after the last delivery for the processes' bookkeeping and
# statement counts to settle before the figures are read.
SETTLE_SECONDS = 1.0
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Target:
    """A system under test: where to send requests and which processes are its own."""

    system: str
    host: str
    port: int
    # Role (``web``, ``worker-1``, ``n8n``) -> the pid that leads its process tree.
    roles: Callable[[], dict[str, int]]
    statements: Callable[[], int] | None = None
    transactions: Callable[[], int] | None = None
    records: Callable[[], dict[str, int]] | None = None


@dataclass(frozen=True)
class RoleFigures:
    role: str
    processes: int
    cpu_seconds: float
    peak_rss_bytes: int
    pss_bytes: int


@dataclass
class PhaseResult:
    system: str
    workload: str
    concurrency: int
    workers: int | None
    events: int
    # Offered load in events per second; None for a closed loop.
    rate: float | None
    samples: list[Sample]
    # Marker -> unix time of its first arrival at the sink.
    arrivals: dict[str, float]
    duplicates: int
    roles: list[RoleFigures]
    statements: int | None = None
    transactions: int | None = None
    records: dict[str, int] = field(default_factory=dict)
    # Share of all cores' time the whole machine was busy during the phase,
    # including PostgreSQL, Redis, the load generator and anything else.
    machine_busy: float = 0.0
    # The part of machine_busy spent outside the roles, the load generator and
    # the sink: PostgreSQL, Redis, and whatever else ran on the machine.
    outside_busy: float = 0.0
    # CPU seconds of the load generator and the sink during the phase.
    helpers_cpu_seconds: float = 0.0

    @property
    def accepted(self) -> list[Sample]:
        return [s for s in self.samples if 200 <= s.status < 300]

    @property
    def statuses(self) -> Counter:
        return Counter(s.status or s.error for s in self.samples)

    @property
    def delivered(self) -> int:
        return len(self.arrivals)

    @property
    def accepted_per_second(self) -> float:
        accepted = self.accepted
        if not accepted:
            return 0.0
        start = min(s.sent_at for s in self.samples)
        return len(accepted) / max(1e-9, max(s.answered_at for s in accepted) - start)

    @property
    def delivered_per_second(self) -> float:
        if not self.arrivals:
            return 0.0
        start = min(s.sent_at for s in self.samples)
        return self.delivered / max(1e-9, max(self.arrivals.values()) - start)

    @property
    def accept_latencies_ms(self) -> list[float]:
        return [(s.answered_at - s.sent_at) * 1000 for s in self.accepted]

    @property
    def end_to_end_ms(self) -> list[float]:
        sent = {s.marker: s.sent_at for s in self.accepted}
        return [
            (arrived - sent[marker]) * 1000
            for marker, arrived in self.arrivals.items()
            if marker in sent
        ]

    def cpu_ms_per_event(self, role: RoleFigures) -> float:
        return role.cpu_seconds * 1000 / max(1, len(self.accepted))

    @property
    def label(self) -> str:
        mode = f"{self.rate:.0f}/s offered" if self.rate else f"c={self.concurrency}"
        workers = f", {self.workers} worker(s)" if self.workers else ""
        return f"{self.system} {self.workload} {mode}{workers}"


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of ``values`` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def sink_clear(sink_url: str) -> None:
    requests.delete(f"{sink_url}/arrivals", timeout=10).raise_for_status()


def sink_arrivals(sink_url: str) -> list[tuple[str, float]]:
    answer = requests.get(f"{sink_url}/arrivals", timeout=30)
    answer.raise_for_status()
    return [tuple(item) for item in answer.json()]


def _cpu_by_pid(roles: dict[str, int]) -> dict[int, float]:
    cpu = {}
    for root in roles.values():
        for figure in tree_figures(root):
            cpu[figure.pid] = figure.cpu_seconds
    return cpu


def phase_run(
    target: Target,
    *,
    workload: str,
    requests: list[Request],
    concurrency: int,
    sink_url: str,
    workers: int | None = None,
    rate: float | None = None,
    helper_pids: tuple[int, ...] = (),
    on_progress: Callable[[str], None] = lambda message: None,
) -> PhaseResult:
    """Send ``requests`` to ``target`` and measure until their deliveries arrive.

    ``helper_pids`` are the load generator's and the sink's processes, whose
    CPU time is subtracted from the machine's to give ``outside_busy``.
    """
    sink_clear(sink_url)
    roles = target.roles()
    cpu_before = _cpu_by_pid(roles)
    helpers_before = _cpu_of(helper_pids)
    busy_before, total_before = machine_cpu_seconds()
    statements_before = target.statements() if target.statements else None
    transactions_before = target.transactions() if target.transactions else None

    samples = load_run(
        host=target.host,
        port=target.port,
        requests=requests,
        concurrency=concurrency,
        rate=rate,
    )
    expected = {s.marker for s in samples if 200 <= s.status < 300}
    on_progress(f"{len(expected)} of {len(requests)} accepted; waiting for deliveries")
    arrivals, duplicates = _deliveries_wait(sink_url, expected)
    busy_after, total_after = machine_cpu_seconds()
    helpers_cpu = _cpu_of(helper_pids) - helpers_before

    role_figures = []
    for role, root in roles.items():
        figures = tree_figures(root)
        cpu = sum(f.cpu_seconds - cpu_before.get(f.pid, 0.0) for f in figures)
        role_figures.append(
            RoleFigures(
                role=role,
                processes=len(figures),
                cpu_seconds=cpu,
                peak_rss_bytes=sum(f.peak_rss_bytes for f in figures),
                pss_bytes=sum(f.pss_bytes for f in figures),
            )
        )
    result = PhaseResult(
        system=target.system,
        workload=workload,
        concurrency=concurrency,
        workers=workers,
        events=len(requests),
        rate=rate,
        samples=samples,
        arrivals=arrivals,
        duplicates=duplicates,
        roles=role_figures,
    )
    machine_seconds = max(1e-9, total_after - total_before)
    result.machine_busy = (busy_after - busy_before) / machine_seconds
    roles_cpu = sum(role.cpu_seconds for role in role_figures)
    outside = busy_after - busy_before - roles_cpu - helpers_cpu
    result.outside_busy = max(0.0, outside) / machine_seconds
    result.helpers_cpu_seconds = helpers_cpu
    time.sleep(SETTLE_SECONDS)
    if target.statements and statements_before is not None:
        result.statements = target.statements() - statements_before
    if target.transactions and transactions_before is not None:
        result.transactions = target.transactions() - transactions_before
    if target.records:
        result.records = target.records()
    return result


def _cpu_of(pids: tuple[int, ...]) -> float:
    figures = (process_figures(pid) for pid in pids)
    return sum(figure.cpu_seconds for figure in figures if figure is not None)


def _deliveries_wait(sink_url: str, expected: set[str]) -> tuple[dict[str, float], int]:
    """Poll the sink until every expected marker arrived or arrivals stop."""
    last_count, last_change = -1, time.monotonic()
    while True:
        arrivals: dict[str, float] = {}
        duplicates = 0
        for marker, arrived in sink_arrivals(sink_url):
            if marker not in expected:
                continue
            if marker in arrivals:
                duplicates += 1
                continue
            arrivals[marker] = arrived
        if len(arrivals) >= len(expected):
            return arrivals, duplicates
        if len(arrivals) != last_count:
            last_count, last_change = len(arrivals), time.monotonic()
        elif time.monotonic() - last_change > DELIVERY_IDLE_TIMEOUT:
            return arrivals, duplicates
        time.sleep(0.5)


@dataclass
class MemorySeries:
    """Resident memory of the worker processes sampled during a soak."""

    # (seconds since the start, RSS of every worker process added up, in bytes)
    points: list[tuple[float, int]] = field(default_factory=list)
    runs: int = 0
    seconds: float = 0.0

    def slope_bytes_per_1000_runs(self, start_fraction: float = 0.5) -> float:
        """Least-squares slope of RSS over time from ``start_fraction`` of the
        samples on, scaled to 1,000 runs at the soak's average rate."""
        points = self.points[int(len(self.points) * start_fraction) :]
        if len(points) < 2 or not self.runs:
            return 0.0
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        spread = sum((x - mean_x) ** 2 for x in xs)
        if spread == 0:
            return 0.0
        covariance = sum(
            (x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)
        )
        seconds_per_run = self.seconds / self.runs
        return covariance / spread * seconds_per_run * 1000


def rss_sample_forever(
    roles: Callable[[], dict[str, int]],
    series: MemorySeries,
    stop: threading.Event,
    interval: float = 1.0,
) -> None:
    """Append the workers' current RSS to ``series`` every ``interval`` seconds."""
    started = time.monotonic()
    while not stop.wait(interval):
        total = 0
        for root in roles().values():
            for pid in process_tree(root):
                total += _rss_bytes(pid)
        series.points.append((time.monotonic() - started, total))


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_SIZE
    except (FileNotFoundError, ProcessLookupError):
        return 0
