"""Stream execution data: each finished run POSTed, signed, to its trigger's stream URL.

Deliveries are at least once: a failed attempt is retried on a backoff
schedule with the same delivery id, and every attempt is recorded.
"""

import logging
import random
from typing import Any

from django.conf import settings
from django.db import transaction

from alloy import jobs
from connectors.http.client import post_signed_json
from workflows import selectors
from workflows.models import Run, StreamDelivery

logger = logging.getLogger(__name__)


def stream_delivery_schedule(*, run_id: int, delivery_id: str) -> None:
    """Enqueue the first attempt after the current transaction commits."""
    from workflows.jobs import stream_delivery_send_job

    transaction.on_commit(
        lambda: jobs.enqueue(stream_delivery_send_job, run_id, delivery_id, 1)
    )


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
                "status": step.status,
                "input": step.input,
                "output": step.output,
                "error": step.error,
                "duration_ms": step.duration_ms,
            }
            for step in run.steps.order_by("position")
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
        error=result.error,
        response_body=result.response_body,
        duration_ms=result.duration_ms,
    )
    ids = {"run_id": run_id, "delivery_id": delivery_id, "attempt": attempt}
    if result.succeeded:
        logger.info("workflows.stream.delivered", extra=ids)
        return delivery
    delays = settings.STREAM_RETRY_DELAYS
    if attempt <= len(delays):
        delay = delays[attempt - 1] * random.uniform(0.8, 1.2)  # noqa: S311
        from workflows.jobs import stream_delivery_send_job

        jobs.enqueue_in(
            delay, stream_delivery_send_job, run_id, delivery_id, attempt + 1
        )
        logger.warning(
            "workflows.stream.retry_scheduled",
            extra={**ids, "error": result.error, "delay_s": round(delay, 2)},
        )
    else:
        logger.error("workflows.stream.gave_up", extra={**ids, "error": result.error})
    return delivery
