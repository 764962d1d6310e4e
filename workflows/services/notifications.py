"""The workspace error webhook: a signed POST when a run fails."""

import logging
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
    run_id = run.pk
    transaction.on_commit(lambda: jobs.enqueue(run_failure_notify_job, run_id))


def run_failure_notify(*, run_id: int) -> bool:
    """POST the failed run to the workspace's error webhook, signed.

    The body is the run's execution data with ``"type": "run.failed"``, signed
    as stream deliveries are. Returns whether the receiver accepted it.
    """
    run = Run.objects.select_related(
        "workflow__integration", "version", "event", "end_user", "workspace"
    ).get(pk=run_id)
    url = run.workspace.error_webhook_url
    if not url:
        return False
    delivery_id = str(uuid.uuid4())
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
    }
    if result.succeeded:
        logger.info("workflows.error_webhook.delivered", extra=ids)
        return True
    # NOTE: a failed notification is logged, not retried; the run itself stays
    # readable at GET /api/v1/runs/<id>.
    logger.warning(
        "workflows.error_webhook.failed", extra={**ids, "error": result.error}
    )
    return False
