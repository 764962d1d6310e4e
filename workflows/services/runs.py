"""Run state: the one table of allowed status changes, leases and enqueueing runs."""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from redis.exceptions import RedisError

from alloy import jobs
from alloy.rows import instance_from_row, row_update, select_columns
from integrations.models import Connection, EndUser, Installation, Workspace
from workflows.exceptions import InvalidRunTransition, VersionStateError
from workflows.models import Event, Run, RunStep

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
    set, the same write gives the run its stream delivery id; the caller makes
    the first delivery attempt. A failed run enqueues the error webhook.
    Raises InvalidRunTransition for a status other than succeeded or failed.
    """
    from workflows.services.notifications import run_failure_schedule

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
    for field, value in changes.items():
        setattr(run, field, value)
    if not row_update(
        run,
        list(changes),
        only_if={"status": Status.RUNNING, "lease_owner": lease_owner},
    ):
        run.refresh_from_db()
        return False
    if status == Status.FAILED:
        run_failure_schedule(run=run)
    return True


def runs_claim(*, run_ids: list[int], lease_owner: str) -> list[Run]:
    """Move the runs that are ready to running under ``lease_owner``, and load them.

    A run is ready when it is queued, or waiting at a Delay block whose time
    has come. The UPDATE's WHERE clause does the work of a locked read: two
    workers claiming one run at once are serialised by its row lock, and the
    second finds it running and skips it. Give each batch its own
    ``lease_owner``. This is the queued/waiting -> running change of
    ALLOWED_TRANSITIONS, made in one statement because it runs once per batch
    on the hot path. A retried run's finish and error were already cleared
    when it went back to queued.

    Returns the claimed runs in the order of ``run_ids``, each with its event,
    end user, workspace, and installation and its connection loaded. On
    PostgreSQL the claim and the load are one statement.
    """
    if not run_ids:
        return []
    now = timezone.now()
    expires = now + timedelta(seconds=settings.RUN_LEASE_SECONDS)
    if connection.vendor == "postgresql":
        claimed = _claim_returning(run_ids, lease_owner, now, expires)
    else:
        claimed = _claim_then_select(run_ids, lease_owner, now, expires)
    if len(claimed) < len(run_ids):
        # Finished, claimed by another worker, or a Delay whose time has not
        # come: a job that arrives early must not cut the wait short.
        logger.info(
            "workflows.run.skipped",
            extra={"run_ids": run_ids, "claimed": len(claimed)},
        )
    by_id = {run.pk: run for run in claimed}
    return [by_id[run_id] for run_id in dict.fromkeys(run_ids) if run_id in by_id]


def _claim_then_select(run_ids: list[int], lease_owner: str, now, expires) -> list[Run]:
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    claimed = (
        Run.objects.filter(pk__in=run_ids)
        .filter(Q(status=Status.QUEUED) | (Q(status=Status.WAITING) & due))
        .update(
            status=Status.RUNNING,
            attempt=F("attempt") + 1,
            started_at=Coalesce("started_at", Value(now)),
            lease_owner=lease_owner,
            lease_expires_at=expires,
            next_attempt_at=None,
            updated_at=now,
        )
    )
    if not claimed:
        return []
    return list(
        Run.objects.select_related(
            "event", "end_user", "workspace", "installation__connection"
        ).filter(pk__in=run_ids, status=Status.RUNNING, lease_owner=lease_owner)
    )


# The models loaded with a claimed run, in the order of the statement's columns.
_CLAIM_LOADED = (Run, Event, EndUser, Workspace, Installation, Connection)
_claim_sql: str | None = None


def _claim_returning(run_ids: list[int], lease_owner: str, now, expires) -> list[Run]:
    """Claim with an UPDATE ... RETURNING and join the related rows to its result.

    Building the ORM's UPDATE and its select_related query took more of a
    worker's CPU than the database spent on both, so this statement's text
    is built once per process from the models' tables and columns.
    """
    global _claim_sql
    if _claim_sql is None:
        _claim_sql = _claim_statement()
    params = [
        Status.RUNNING,
        now,
        lease_owner,
        expires,
        now,
        list(run_ids),
        Status.QUEUED,
        Status.WAITING,
        now,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql, params)
        rows = cursor.fetchall()
    claimed = []
    for row in rows:
        loaded = []
        start = 0
        for model in _CLAIM_LOADED:
            instance, start = instance_from_row(model, row, start)
            loaded.append(instance)
        run, event, end_user, workspace, installation, installed = loaded
        run.event, run.end_user, run.workspace = event, end_user, workspace
        run.installation = installation
        if installation is not None:
            installation.connection = installed
        claimed.append(run)
    return claimed


def _claim_statement() -> str:
    quote = connection.ops.quote_name

    def table(model) -> str:
        return quote(model._meta.db_table)

    # Only the models' table and column names go into the text; every value
    # is a parameter.
    return (
        "WITH claimed AS ("  # noqa: S608
        f"UPDATE {table(Run)} SET status = %s, attempt = attempt + 1, "
        "started_at = COALESCE(started_at, %s), lease_owner = %s, "
        "lease_expires_at = %s, next_attempt_at = NULL, updated_at = %s "
        "WHERE id = ANY(%s) AND (status = %s OR (status = %s AND "
        "(next_attempt_at IS NULL OR next_attempt_at <= %s))) RETURNING *) "
        f"SELECT {select_columns(Run, 'claimed')}, {select_columns(Event, 'e')}, "
        f"{select_columns(EndUser, 'u')}, {select_columns(Workspace, 'w')}, "
        f"{select_columns(Installation, 'i')}, {select_columns(Connection, 'c')} "
        f"FROM claimed JOIN {table(Event)} e ON e.id = claimed.event_id "
        f"JOIN {table(EndUser)} u ON u.id = claimed.end_user_id "
        f"JOIN {table(Workspace)} w ON w.id = claimed.workspace_id "
        f"LEFT JOIN {table(Installation)} i ON i.id = claimed.installation_id "
        f"LEFT JOIN {table(Connection)} c ON c.id = i.connection_id"
    )


def runs_lease_renew(*, run_ids: list[int], lease_owner: str) -> set[int]:
    """Extend the leases of running runs; return the ids ``lease_owner`` still holds."""
    expires = timezone.now() + timedelta(seconds=settings.RUN_LEASE_SECONDS)
    held = Run.objects.filter(
        pk__in=run_ids, status=Status.RUNNING, lease_owner=lease_owner
    )
    if held.update(lease_expires_at=expires) == len(run_ids):
        return set(run_ids)
    return set(held.values_list("pk", flat=True))


def runs_enqueue(*, run_ids: list[int]) -> list[int]:
    """Hand queued runs to the workers; call after the transaction that stored them.

    With Redis, the runs go to the ready list that drain jobs execute (see
    workflows.services.dispatch); without it, each is a job of the in-process
    thread. A run that cannot reach Redis stays queued, and the reconciler
    hands it over again later; so this never raises for a Redis failure.
    Returns the ids of the runs handed over.
    """
    if not run_ids:
        return []
    if not jobs.in_process():
        from workflows.services.dispatch import runs_dispatch

        if not runs_dispatch(run_ids=run_ids):
            return []
        logger.debug("workflows.run.dispatched", extra={"run_ids": run_ids})
        return list(run_ids)
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
    """Hand new runs to the workers, in-process under the job ids stored on them.

    Takes ``(run_id, rq_job_id)`` pairs; call after the transaction that
    stored the runs. With Redis, the runs go to the ready list and the job
    ids stay unused. Returns the ids of the runs handed over.
    """
    if not jobs.in_process():
        return runs_enqueue(run_ids=[run_id for run_id, _ in run_jobs])
    from workflows.jobs import run_execute_job

    enqueued = []
    for run_id, job_id in run_jobs:
        jobs.enqueue(run_execute_job, run_id, job_id=job_id)
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
