"""The workspace error webhook: a signed POST when a run fails."""

import logging
import random
import uuid

from django.conf import settings
from django.db import transaction

from alloy import jobs
from connectors.http.client import post_signed_json
from workflows.models import Run
from workflows.services.streams import execution_data

logger = logging.getLogger(__name__)

RUN_FAILED = "run.failed"


def run_failure_schedule(*, run: Run) -> None:
    """Enqueue the error webhook after commit when the workspace has one set."""
    from workflows.jobs import run_failure_notify_job

    if not run.workspace.error_webhook_url:
        return
    run_id, delivery_id = run.pk, str(uuid.uuid4())
    transaction.on_commit(
        lambda: jobs.enqueue(run_failure_notify_job, run_id, delivery_id, 1)
    )


def run_failure_notify(*, run_id: int, delivery_id: str, attempt: int) -> bool:
    """POST the failed run to the workspace's error webhook, signed.

    The body is the run's execution data with ``"type": "run.failed"``, signed
    as stream deliveries are. A failed attempt is retried after each of
    ``STREAM_RETRY_DELAYS`` with the same delivery id, so a receiver can drop
    repeats. Returns whether the receiver accepted this attempt.
    """
    run = Run.objects.select_related(
        "workflow__integration", "version", "event", "end_user", "workspace"
    ).get(pk=run_id)
    url = run.workspace.error_webhook_url
    if not url:
        return False
    body = {"type": RUN_FAILED, **execution_data(run, delivery_id)}
    result = post_signed_json(
        url,
        body,
        secret=run.workspace.signing_secret,
        delivery_id=delivery_id,
        timeout=settings.STREAM_REQUEST_TIMEOUT,
    )
    ids = {
        "run_id": run_id,
        "workspace_id": run.workspace_id,
        "delivery_id": delivery_id,
        "attempt": attempt,
    }
    if result.succeeded:
        logger.info("workflows.error_webhook.delivered", extra=ids)
        return True
    delays = settings.STREAM_RETRY_DELAYS
    if attempt > len(delays):
        logger.error(
            "workflows.error_webhook.gave_up", extra={**ids, "error": result.error}
        )
        return False
    from workflows.jobs import run_failure_notify_job

    delay = delays[attempt - 1] * random.uniform(0.8, 1.2)  # noqa: S311
    jobs.enqueue_in(delay, run_failure_notify_job, run_id, delivery_id, attempt + 1)
    logger.warning(
        "workflows.error_webhook.retry_scheduled",
        extra={**ids, "error": result.error, "delay_s": round(delay, 2)},
    )
    return False
