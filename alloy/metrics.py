"""Prometheus metrics: run counts, queue depth, retries and takeovers, latencies.

Counts come from the database and Redis when Prometheus scrapes, so they are
correct whichever process (web, worker, reconciler) changed them. Intake
latency is measured in the web process that serves /metrics; with several web
processes each reports its own.
"""

import functools
import time
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db.models import Count, F, Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from redis.exceptions import RedisError

P = ParamSpec("P")
R = TypeVar("R")

registry = CollectorRegistry()

INTAKE_SECONDS = Histogram(
    "alloy_intake_seconds",
    "Time to accept an event, from request to stored runs.",
    ["source"],
    registry=registry,
)

# Upper bounds, in seconds, of the run latency buckets.
RUN_LATENCY_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600)
# Runs finished this recently feed the run latency histogram.
RUN_LATENCY_WINDOW_SECONDS = 3600


class DeliveryCollector:
    """Read run, retry and takeover figures at scrape time."""

    def describe(self) -> list:
        # Describing would run collect(), and so query the database, at import.
        return []

    def collect(self) -> Iterator:
        from workflows.models import Run, RunStep, RunTakeover

        # Labelled by status alone: a label per workflow would grow with every
        # workflow of every workspace. The builder's overview breaks runs down
        # by workflow.
        runs = GaugeMetricFamily("alloy_runs", "Runs by status.", labels=["status"])
        for row in Run.objects.values("status").annotate(n=Count("id")):
            runs.add_metric([row["status"]], row["n"])
        yield runs

        retries = RunStep.objects.aggregate(n=Sum(F("attempt") - 1))["n"] or 0
        yield CounterMetricFamily(
            "alloy_step_retries", "Step attempts after the first.", value=retries
        )
        yield CounterMetricFamily(
            "alloy_run_takeovers",
            "Runs taken over after their worker's lease expired.",
            value=RunTakeover.objects.count(),
        )
        yield _run_latency(Run)
        depth = _queue_depth()
        if depth is not None:
            queue = GaugeMetricFamily(
                "alloy_queue_depth",
                "Runs in the ready list, and jobs in RQ.",
                labels=["queue", "state"],
            )
            for state, value in depth.items():
                queue.add_metric(["default", state], value)
            yield queue


def _run_latency(run_model) -> HistogramMetricFamily:
    since = timezone.now() - timezone.timedelta(seconds=RUN_LATENCY_WINDOW_SECONDS)
    durations = [
        (finished - created).total_seconds()
        for created, finished in run_model.objects.filter(
            finished_at__gte=since
        ).values_list("created_at", "finished_at")
    ]
    buckets = []
    for bound in RUN_LATENCY_BUCKETS:
        buckets.append((str(bound), sum(1 for d in durations if d <= bound)))
    buckets.append(("+Inf", len(durations)))
    return HistogramMetricFamily(
        "alloy_run_latency_seconds",
        "Time from event accepted to run finished, for runs finished in the last hour.",
        buckets=buckets,
        sum_value=sum(durations),
    )


def _queue_depth() -> dict[str, int] | None:
    if settings.JOBS_IN_PROCESS:
        return None
    import django_rq
    from rq.registry import ScheduledJobRegistry, StartedJobRegistry

    from workflows.services.dispatch import READY_KEY

    queue = django_rq.get_queue("default")
    try:
        return {
            # New runs waiting in the ready list for a drain job.
            "ready": queue.connection.llen(READY_KEY),
            "queued": queue.count,
            "scheduled": ScheduledJobRegistry(queue=queue).count,
            "started": StartedJobRegistry(queue=queue).count,
        }
    except RedisError:
        return None


registry.register(DeliveryCollector())


def observe_intake(source: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate an intake service to record its duration in the histogram."""

    def decorator(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.monotonic()
            try:
                return func(*args, **kwargs)
            finally:
                INTAKE_SECONDS.labels(source).observe(time.monotonic() - started)

        return wrapper

    return decorator
