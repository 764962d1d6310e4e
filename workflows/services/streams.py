"""Stream execution data: each finished run POSTed, signed, to its trigger's stream URL.

Deliveries are at least once: a failed attempt is retried on a backoff
schedule with the same delivery id, and every attempt is recorded.
"""

import logging
import random
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max
from django.utils import timezone
from redis.exceptions import RedisError

from alloy import jobs
from connectors.http.client import post_signed_json
from workflows import selectors
from workflows.models import Run, StreamDelivery

logger = logging.getLogger(__name__)


def _attempt_job_id(delivery_id: str, attempt: int) -> str:
    return f"stream-{delivery_id}-{attempt}"


def _enqueue_attempt(run_id: int, delivery_id: str, attempt: int, delay: float) -> bool:
    """Enqueue one attempt under a job id of its own; False when Redis failed."""
    from workflows.jobs import stream_delivery_send_job

    job_id = _attempt_job_id(delivery_id, attempt)
    args = (stream_delivery_send_job, run_id, delivery_id, attempt)
    try:
        if delay > 0:
            jobs.enqueue_in(delay, *args, job_id=job_id)
        else:
            jobs.enqueue(*args, job_id=job_id)
    except RedisError as exc:
        logger.warning(
            "workflows.stream.enqueue_failed",
            extra={"run_id": run_id, "delivery_id": delivery_id, "error": str(exc)},
        )
        return False
    return True


def streams_reconcile(*, job_alive, batch_size: int = 500) -> list[int]:
    """Enqueue stream attempts that are due but have no job; return their run ids.

    A run counts when its delivery has no attempt recorded yet, or when its
    last attempt failed with retries left and its next attempt's job is gone
    (both happen when Redis was down or lost its data).
    """
    cutoff = timezone.now() - timedelta(seconds=settings.RUN_ENQUEUE_GRACE_SECONDS)
    runs = (
        Run.objects.filter(stream_delivery_id__isnull=False, finished_at__lt=cutoff)
        .exclude(stream_deliveries__succeeded=True)
        .annotate(last_attempt=Max("stream_deliveries__attempt"))
        .values_list("pk", "stream_delivery_id", "last_attempt")[:batch_size]
    )
    delays = settings.STREAM_RETRY_DELAYS
    enqueued = []
    for run_id, delivery_id, last_attempt in runs:
        attempt = (last_attempt or 0) + 1
        if attempt > len(delays) + 1:
            continue
        if last_attempt is not None:
            last = StreamDelivery.objects.get(
                delivery_id=delivery_id, attempt=last_attempt
            )
            if last.created_at > cutoff - timedelta(seconds=delays[attempt - 2]):
                continue
            if not last.retryable:
                continue
        if job_alive(_attempt_job_id(str(delivery_id), attempt)):
            continue
        if _enqueue_attempt(run_id, str(delivery_id), attempt, 0.0):
            enqueued.append(run_id)
    return enqueued


def execution_data(run: Run, delivery_id: str) -> dict[str, Any]:
    """Build the body of a stream delivery: the run, its event and every step."""
    return {
        "delivery_id": delivery_id,
        "run": {
            "id": run.pk,
            "status": run.status,
            "attempt": run.attempt,
            "error": run.error,
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        },
        "workflow": {
            "id": run.workflow_id,
            "name": run.workflow.name,
            "version": run.version.number,
        },
        "integration": {
            "id": run.workflow.integration_id,
            "name": run.workflow.integration.name,
        },
        "end_user": {"id": run.end_user.external_id},
        "event": {
            "id": run.event_id,
            "name": run.event.name,
            "source": run.event.source,
            "data": run.event.data,
        },
        "steps": [
            {
                "key": step.key,
                "item_index": step.item_index,
                "status": step.status,
                "input": step.input,
                "output": step.output,
                "error": step.error,
                "duration_ms": step.duration_ms,
            }
            # Insertion order, which is execution order across loop items.
            for step in run.steps.order_by("pk")
        ],
    }


def stream_delivery_send(
    *, run_id: int, delivery_id: str, attempt: int
) -> StreamDelivery:
    """Make one delivery attempt and record it; schedules the next on failure."""
    run = Run.objects.select_related(
        "workflow__integration", "version", "event", "end_user", "workspace"
    ).get(pk=run_id)
    url = selectors.version_plan(run.version_id).trigger_config.get("stream_url")
    result = post_signed_json(
        url,
        execution_data(run, delivery_id),
        secret=run.workspace.signing_secret,
        delivery_id=delivery_id,
        timeout=settings.STREAM_REQUEST_TIMEOUT,
    )
    delivery = StreamDelivery.objects.create(
        run=run,
        delivery_id=delivery_id,
        attempt=attempt,
        url=url,
        status_code=result.status_code,
        succeeded=result.succeeded,
        retryable=result.retryable,
        error=result.error,
        response_body=result.response_body,
        duration_ms=result.duration_ms,
    )
    ids = {"run_id": run_id, "delivery_id": delivery_id, "attempt": attempt}
    if result.succeeded:
        logger.info("workflows.stream.delivered", extra=ids)
        return delivery
    delays = settings.STREAM_RETRY_DELAYS
    if attempt <= len(delays) and result.retryable:
        delay = delays[attempt - 1] * random.uniform(0.8, 1.2)  # noqa: S311
        _enqueue_attempt(run_id, delivery_id, attempt + 1, delay)
        logger.warning(
            "workflows.stream.retry_scheduled",
            extra={**ids, "error": result.error, "delay_s": round(delay, 2)},
        )
    else:
        logger.error("workflows.stream.gave_up", extra={**ids, "error": result.error})
    return delivery
