"""Run state: the one table of allowed status changes, leases and enqueueing runs."""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from alloy import jobs
from workflows.exceptions import InvalidRunTransition, VersionStateError
from workflows.models import Run, RunStep

logger = logging.getLogger(__name__)

Status = Run.Status

# Every status change of a run goes through run_transition, against this table.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.QUEUED: frozenset({Status.RUNNING, Status.FAILED}),
    # Back to queued when a step waits for a retry or the reconciler takes
    # the run over from a worker whose lease expired; waiting at a Delay
    # block; filtered when a Filter block's condition is false.
    Status.RUNNING: frozenset(
        {
            Status.SUCCEEDED,
            Status.FAILED,
            Status.QUEUED,
            Status.WAITING,
            Status.FILTERED,
        }
    ),
    # A waiting run holds no lease; its scheduled job claims it when due.
    Status.WAITING: frozenset({Status.RUNNING}),
    Status.SUCCEEDED: frozenset(),
    # Back to queued when an operator retries a failed run.
    Status.FAILED: frozenset({Status.QUEUED}),
    Status.FILTERED: frozenset(),
}

TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.FILTERED})
# Statuses of a run whose job may still have to be enqueued.
PENDING = frozenset({Status.QUEUED, Status.WAITING})


def run_transition(
    *,
    run: Run,
    status: str,
    error: dict | None = None,
    lease_owner: str = "",
    next_attempt_at=None,
) -> Run:
    """Move a run to ``status`` and save it; the caller holds the row lock.

    Entering ``running`` takes a lease for ``lease_owner``; leaving it drops
    the lease. A change to failed enqueues the workspace's error webhook after
    commit. Raises InvalidRunTransition for a change the table does not allow.
    """
    if status not in ALLOWED_TRANSITIONS[run.status]:
        raise InvalidRunTransition(f"run {run.pk}: {run.status} -> {status}")
    now = timezone.now()
    run.status = status
    run.next_attempt_at = next_attempt_at
    fields = ["status", "next_attempt_at", "lease_owner", "lease_expires_at"]
    fields.append("updated_at")
    if status == Status.RUNNING:
        run.attempt += 1
        run.started_at = run.started_at or now
        run.lease_owner = lease_owner
        run.lease_expires_at = now + timedelta(seconds=settings.RUN_LEASE_SECONDS)
        fields += ["attempt", "started_at"]
    else:
        run.lease_owner = ""
        run.lease_expires_at = None
    if status in TERMINAL or run.finished_at is not None:
        # A replayed run leaves its earlier finish and error behind.
        run.finished_at = now if status in TERMINAL else None
        run.error = error
        fields += ["finished_at", "error"]
    run.save(update_fields=fields)
    if status == Status.FAILED:
        from workflows.services.notifications import run_failure_schedule

        run_failure_schedule(run=run)
    return run


def run_finish(
    *,
    run: Run,
    lease_owner: str,
    status: str,
    error: dict | None = None,
    stream: bool = False,
) -> bool:
    """Move a running run to succeeded or failed in one guarded UPDATE.

    The UPDATE matches only while the run is running under ``lease_owner``,
    which does the work of a locked read followed by a save in one statement.
    Returns False, changing nothing, when the lease was lost. With ``stream``
    set, the same write gives the run its stream delivery id, and the first
    delivery attempt is enqueued. A failed run enqueues the error webhook.
    Raises InvalidRunTransition for a status other than succeeded or failed.
    """
    from workflows.services.notifications import run_failure_schedule
    from workflows.services.streams import stream_delivery_enqueue

    if status not in TERMINAL:
        raise InvalidRunTransition(f"run {run.pk}: running -> {status}")
    now = timezone.now()
    changes = {
        "status": status,
        "error": error,
        "finished_at": now,
        "next_attempt_at": None,
        "lease_owner": "",
        "lease_expires_at": None,
        "updated_at": now,
    }
    if stream:
        changes["stream_delivery_id"] = uuid.uuid4()
    updated = Run.objects.filter(
        pk=run.pk, status=Status.RUNNING, lease_owner=lease_owner
    ).update(**changes)
    if updated != 1:
        return False
    for field, value in changes.items():
        setattr(run, field, value)
    if status == Status.FAILED:
        run_failure_schedule(run=run)
    if stream:
        stream_delivery_enqueue(run=run)
    return True


def run_lease_renew(*, run_id: int, lease_owner: str) -> bool:
    """Extend a running run's lease; False when the owner no longer holds it."""
    expires = timezone.now() + timedelta(seconds=settings.RUN_LEASE_SECONDS)
    renewed = Run.objects.filter(
        pk=run_id, status=Status.RUNNING, lease_owner=lease_owner
    ).update(lease_expires_at=expires)
    return renewed == 1


def runs_enqueue(*, run_ids: list[int]) -> list[int]:
    """Hand runs to the job queue; call after the transaction that stored them.

    A run whose job cannot reach Redis keeps an empty ``rq_job_id`` and stays
    queued, and the reconciler enqueues it later; so this never raises for a
    Redis failure. Returns the ids of the runs enqueued.
    """
    from workflows.jobs import run_execute_job

    enqueued = []
    for run_id in run_ids:
        job_id = _job_submit(run_id, jobs.enqueue, run_execute_job, run_id)
        if job_id is None:
            continue
        enqueued.append(run_id)
        logger.info(
            "workflows.run.enqueued", extra={"run_id": run_id, "rq_job_id": job_id}
        )
    return enqueued


def runs_enqueue_recorded(*, run_jobs: list[tuple[int, str]]) -> list[int]:
    """Hand runs to the job queue under the job ids already stored on them.

    Takes ``(run_id, rq_job_id)`` pairs; call after the transaction that
    stored the runs. A run whose job cannot reach Redis stays queued with a
    job id that RQ does not know, which the reconciler treats as missing and
    enqueues again. Returns the ids of the runs enqueued.
    """
    from workflows.jobs import run_execute_job

    enqueued = []
    for run_id, job_id in run_jobs:
        try:
            jobs.enqueue(run_execute_job, run_id, job_id=job_id)
        except RedisError as exc:
            logger.warning(
                "workflows.run.enqueue_failed",
                extra={"run_id": run_id, "error": type(exc).__name__},
            )
            continue
        enqueued.append(run_id)
        logger.info(
            "workflows.run.enqueued", extra={"run_id": run_id, "rq_job_id": job_id}
        )
    return enqueued


def _job_submit(run_id: int, submit, *args) -> str | None:
    """Submit a queued run's job and record its id; None when Redis failed.

    The run stays queued without a job id after a failure, so the reconciler
    enqueues it later.
    """
    try:
        job_id = submit(*args)
    except RedisError as exc:
        logger.warning(
            "workflows.run.enqueue_failed",
            extra={"run_id": run_id, "error": type(exc).__name__},
        )
        return None
    Run.objects.filter(pk=run_id, status__in=PENDING).update(rq_job_id=job_id)
    return job_id


def _resume_schedule(*, run: Run, status: str, delay_seconds: float) -> None:
    """Move a running run to ``status`` and enqueue its job after commit."""
    from workflows.jobs import run_execute_job

    due = timezone.now() + timedelta(seconds=delay_seconds)
    run_transition(run=run, status=status, next_attempt_at=due)
    Run.objects.filter(pk=run.pk).update(rq_job_id="")
    run_id = run.pk

    def schedule() -> None:
        _job_submit(run_id, jobs.enqueue_in, delay_seconds, run_execute_job, run_id)

    transaction.on_commit(schedule)


def run_retry_schedule(*, run: Run, delay_seconds: float, step: str) -> Run:
    """Give a running run back to the queue, to continue after ``delay_seconds``.

    The caller holds the row lock. The scheduled job is enqueued after commit;
    if Redis fails then, the reconciler enqueues the run when it is due.
    """
    _resume_schedule(run=run, status=Status.QUEUED, delay_seconds=delay_seconds)
    logger.info(
        "workflows.run.retry_scheduled",
        extra={
            "run_id": run.pk,
            "step": step,
            "attempt": run.attempt,
            "delay_s": round(delay_seconds, 3),
        },
    )
    return run


def run_delay_schedule(*, run: Run, delay_seconds: float, step: str) -> Run:
    """Pause a running run at a Delay block, to go on after ``delay_seconds``.

    The caller holds the row lock. The run waits without a lease, so the
    reconciler does not take it for a dead one. Its scheduled job is enqueued
    after commit. If Redis fails then, the reconciler enqueues the run once
    it is due.
    """
    _resume_schedule(run=run, status=Status.WAITING, delay_seconds=delay_seconds)
    logger.info(
        "workflows.run.delayed",
        extra={"run_id": run.pk, "step": step, "delay_s": round(delay_seconds, 3)},
    )
    return run


def run_retry(*, run_id: int) -> Run:
    """Queue a failed run again; it resumes after its last succeeded step.

    Each failed step gets its retry policy's attempts anew. Raises
    VersionStateError unless the run failed. Enqueues after commit.
    """
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run_id)
        if locked.status != Status.FAILED:
            raise VersionStateError(
                f"Run {locked.pk} is {locked.status}; only a failed run can be "
                "retried.",
                code="run_not_retryable",
            )
        run_transition(run=locked, status=Status.QUEUED)
        for step in locked.steps.exclude(status=RunStep.Status.SUCCEEDED):
            step.first_attempt = step.attempt + 1
            step.save(update_fields=["first_attempt", "updated_at"])
        Run.objects.filter(pk=locked.pk).update(rq_job_id="")
        run_id = locked.pk
        transaction.on_commit(lambda: runs_enqueue(run_ids=[run_id]))
    logger.info("workflows.run.retried", extra={"run_id": run_id})
    return locked
