"""The reconciler: enqueue runs whose job never reached Redis, take over dead ones.

Runs are the outbox. Intake commits them before it responds and enqueues them
after commit. When Redis is down then, or a scheduled retry is lost, the run
stays queued without a live job, and this enqueues it. A running run whose
worker stopped renewing its lease is put back in the queue, with a
RunTakeover record. Schedules whose next firing was lost are armed again.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import RedisError

from workflows.models import Run, RunStep, RunTakeover
from workflows.services.runs import PENDING, run_transition, runs_enqueue
from workflows.services.schedules import schedules_reconcile
from workflows.services.streams import streams_reconcile

logger = logging.getLogger(__name__)

# RQ job statuses of a job that will still execute.
_LIVE_JOB_STATUSES = frozenset({"queued", "started", "scheduled", "deferred"})


@dataclass
class ReconcileResult:
    taken_over: list[int] = field(default_factory=list)
    enqueued: list[int] = field(default_factory=list)
    # Runs found without a live job whose enqueue failed again.
    waiting: list[int] = field(default_factory=list)
    # Runs whose due stream delivery attempt had no job and was enqueued.
    streams_enqueued: list[int] = field(default_factory=list)
    # Schedule firings armed, or enqueued again because their job was lost.
    schedules_armed: list[int] = field(default_factory=list)
    schedules_enqueued: list[int] = field(default_factory=list)


def runs_reconcile(*, batch_size: int = 500) -> ReconcileResult:
    """Take over runs with an expired lease, then enqueue queued runs left behind.

    Locks rows with SKIP LOCKED, so two reconcilers at once do not take over
    the same run. Never raises for a Redis failure: the runs stay queued for
    the next pass.
    """
    result = ReconcileResult()
    result.taken_over = _take_over_expired(batch_size)
    result.enqueued = runs_enqueue(run_ids=result.taken_over)
    result.waiting = sorted(set(result.taken_over) - set(result.enqueued))
    for run_id in _orphaned_queued_runs(batch_size):
        if runs_enqueue(run_ids=[run_id]):
            result.enqueued.append(run_id)
        else:
            result.waiting.append(run_id)
    result.streams_enqueued = streams_reconcile(
        job_alive=_job_alive, batch_size=batch_size
    )
    schedules = schedules_reconcile(job_alive=_job_alive)
    result.schedules_armed = schedules.armed
    result.schedules_enqueued = schedules.enqueued
    if any(vars(result).values()):
        logger.info(
            "workflows.reconcile.finished",
            extra={
                "taken_over": len(result.taken_over),
                "enqueued": len(result.enqueued),
                "waiting": len(result.waiting),
                "streams_enqueued": len(result.streams_enqueued),
                "schedules_armed": len(result.schedules_armed),
                "schedules_enqueued": len(result.schedules_enqueued),
            },
        )
    return result


def _take_over_expired(batch_size: int) -> list[int]:
    now = timezone.now()
    taken_over = []
    with transaction.atomic():
        expired = list(
            Run.objects.select_for_update(skip_locked=True)
            .filter(status=Run.Status.RUNNING, lease_expires_at__lt=now)
            .order_by("lease_expires_at")[:batch_size]
        )
        for run in expired:
            started_step = (
                RunStep.objects.filter(run=run, status=RunStep.Status.STARTED)
                .values_list("key", flat=True)
                .first()
            )
            RunTakeover.objects.create(
                run=run,
                previous_owner=run.lease_owner,
                lease_expired_at=run.lease_expires_at,
                step_key=started_step or "",
            )
            logger.warning(
                "workflows.run.taken_over",
                extra={
                    "run_id": run.pk,
                    "previous_owner": run.lease_owner,
                    "step": started_step or "",
                },
            )
            run_transition(run=run, status=Run.Status.QUEUED)
            run.takeover_count += 1
            run.rq_job_id = ""
            run.save(update_fields=["takeover_count", "rq_job_id", "updated_at"])
            taken_over.append(run.pk)
    return taken_over


def _orphaned_queued_runs(batch_size: int) -> list[int]:
    """Queued runs past their grace time, with no live job and not in the ready list.

    A run waiting at a Delay block counts once its delay and the grace time
    have passed.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.RUN_ENQUEUE_GRACE_SECONDS)
    candidates = list(
        Run.objects.filter(status__in=PENDING, updated_at__lt=cutoff)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=cutoff))
        .order_by("created_at")
        .values_list("pk", "rq_job_id")[:batch_size]
    )
    orphans = [run_id for run_id, job_id in candidates if not _job_alive(job_id)]
    if orphans and not settings.JOBS_IN_PROCESS:
        from workflows.services.dispatch import runs_waiting_in_list

        # A run in the ready list has not lost its way: a drain job pops it.
        waiting = runs_waiting_in_list(run_ids=orphans)
        orphans = [run_id for run_id in orphans if run_id not in waiting]
    return orphans


def _job_alive(job_id: str) -> bool:
    if not job_id:
        return False
    if settings.JOBS_IN_PROCESS:
        # The in-process thread loses its jobs only with the process.
        return True
    import django_rq
    from rq.exceptions import InvalidJobOperation, NoSuchJobError
    from rq.job import Job

    try:
        job = Job.fetch(job_id, connection=django_rq.get_connection("default"))
        return job.get_status() in _LIVE_JOB_STATUSES
    except (NoSuchJobError, InvalidJobOperation):
        # InvalidJobOperation: the job finished and was deleted (result_ttl=0)
        # between the fetch and the status read.
        return False
    except RedisError:
        # Redis is down: enqueueing fails too, so report it as waiting.
        return False
