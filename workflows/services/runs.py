"""Run state: the one table of allowed status changes, and enqueueing runs."""

import logging

from django.db import transaction
from django.utils import timezone

from alloy import jobs
from workflows.exceptions import InvalidRunTransition, VersionStateError
from workflows.models import Run

logger = logging.getLogger(__name__)

Status = Run.Status

# Every status change of a run goes through run_transition, against this table.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.QUEUED: frozenset({Status.RUNNING, Status.FAILED}),
    # Back to queued when a worker gives a run up to be retried.
    Status.RUNNING: frozenset({Status.SUCCEEDED, Status.FAILED, Status.QUEUED}),
    Status.SUCCEEDED: frozenset(),
    # Back to queued when replayed; the run resumes after its succeeded steps.
    Status.FAILED: frozenset({Status.QUEUED}),
}

TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED})


def run_transition(*, run: Run, status: str, error: dict | None = None) -> Run:
    """Move a run to ``status`` and save it; the caller holds the row lock.

    A change to failed enqueues the workspace's error webhook after commit.
    Raises InvalidRunTransition for a change the table does not allow.
    """
    if status not in ALLOWED_TRANSITIONS[run.status]:
        raise InvalidRunTransition(f"run {run.pk}: {run.status} -> {status}")
    now = timezone.now()
    fields = ["status", "updated_at"]
    run.status = status
    if status == Status.RUNNING:
        run.attempt += 1
        run.started_at = run.started_at or now
        fields += ["attempt", "started_at"]
    if status == Status.QUEUED:
        run.finished_at, run.error = None, None
        fields += ["finished_at", "error"]
    if status in TERMINAL:
        run.finished_at = now
        run.error = error
        fields += ["finished_at", "error"]
    run.save(update_fields=fields)
    if status == Status.FAILED:
        from workflows.services.notifications import run_failure_schedule

        run_failure_schedule(run=run)
    return run


def runs_enqueue(*, run_ids: list[int]) -> None:
    """Hand runs to the job queue; call after the transaction that stored them."""
    from workflows.jobs import run_execute_job

    for run_id in run_ids:
        job_id = jobs.enqueue(run_execute_job, run_id)
        Run.objects.filter(pk=run_id, rq_job_id="").update(rq_job_id=job_id)
        logger.info(
            "workflows.run.enqueued", extra={"run_id": run_id, "rq_job_id": job_id}
        )


def run_retry(*, run_id: int) -> Run:
    """Queue a failed run again; it resumes after its last succeeded step.

    Locks the run row and enqueues it after commit. Raises VersionStateError
    for a run that has not failed, since only a failed run has steps left.
    """
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.status != Status.FAILED:
            raise VersionStateError(
                f"Run {run.pk} is {run.status}; only a failed run can be retried.",
                code="run_not_retryable",
            )
        run_transition(run=run, status=Status.QUEUED)
        run.rq_job_id = ""
        run.save(update_fields=["rq_job_id", "updated_at"])
        transaction.on_commit(lambda: runs_enqueue(run_ids=[run.pk]))
    logger.info("workflows.run.retried", extra={"run_id": run.pk})
    return run
