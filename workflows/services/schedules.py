"""Schedule triggers: arm each running schedule's next firing, and fire it.

A released version with a Schedule trigger runs while it is published or
installed by at least one installation. Such a version keeps one armed
ScheduleFiring: a row with the next instant of its cron expression, and a job
waiting in RQ's scheduler (in-process, a timer thread) to fire it. Firing
creates one event and one run for each installation that runs the version,
then arms the next instant.

Missed firings: a firing that starts late, because workers or the scheduler
were down, still fires once with its planned ``scheduled_at``. The instants
missed after it are skipped, because the next firing is armed after the
current time. So a stop never causes a burst, and at most one firing is
caught up.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from redis.exceptions import RedisError

from alloy import jobs
from connectors.schedule import SCHEDULE, firing_data
from connectors.schedule.cron import CronError, CronExpression, timezone_parse
from integrations.models import Installation
from workflows.models import (
    Block,
    Event,
    InstalledVersion,
    Run,
    ScheduleFiring,
    WorkflowVersion,
)
from workflows.services.runs import runs_enqueue

logger = logging.getLogger(__name__)

# A job that starts this much before its instant waits again instead of firing;
# RQ's scheduler starts jobs late, never early, but a clock may drift.
EARLY_TOLERANCE = timedelta(seconds=1)


@dataclass
class ScheduleReconcileResult:
    armed: list[int] = field(default_factory=list)
    canceled: list[int] = field(default_factory=list)
    # Armed firings whose job was missing and was enqueued again.
    enqueued: list[int] = field(default_factory=list)


def firing_job_id(firing_id: int) -> str:
    """Return the RQ job id of a firing; one id per firing, so repeats overwrite."""
    return f"schedule-firing-{firing_id}"


def next_firings(
    *, cron: str, zone_name: str, after: datetime, count: int = 5
) -> list[datetime]:
    """Return the next ``count`` instants of a schedule, each in its zone.

    Raises CronError naming the field that does not parse.
    """
    expression = CronExpression.parse(cron)
    zone = timezone_parse(zone_name)
    instants = expression.iter_after(after, zone)
    return [next(instants) for _ in range(count)]


def schedules_sync(
    *, integration_id: int | None = None, now: datetime | None = None
) -> ScheduleReconcileResult:
    """Arm every running schedule without an armed firing; cancel the others.

    Limited to one integration's workflows when ``integration_id`` is given.
    Call it after a publish, rollback, install, upgrade or uninstall; inside a
    transaction the jobs are enqueued when it commits.
    """
    now = now or timezone.now()
    result = ScheduleReconcileResult()
    with transaction.atomic():
        running = _running_schedules(integration_id)
        armed = ScheduleFiring.objects.select_for_update().filter(
            status=ScheduleFiring.Status.ARMED
        )
        if integration_id is not None:
            armed = armed.filter(version__workflow__integration_id=integration_id)
        armed_versions = set()
        for firing in armed:
            if firing.version_id in running:
                armed_versions.add(firing.version_id)
                continue
            firing.status = ScheduleFiring.Status.CANCELED
            firing.save(update_fields=["status", "updated_at"])
            result.canceled.append(firing.pk)
            if jobs.in_process():
                # A canceled firing's tick does nothing; an in-process timer
                # would still keep the process's job list busy until then.
                job_id = firing_job_id(firing.pk)
                transaction.on_commit(lambda job_id=job_id: jobs.timer_cancel(job_id))
            logger.info(
                "workflows.schedule.canceled",
                extra={"version_id": firing.version_id, "firing_id": firing.pk},
            )
        for version_id, config in running.items():
            if version_id in armed_versions:
                continue
            firing = _arm(version_id=version_id, config=config, after=now)
            if firing is not None:
                result.armed.append(firing.pk)
    return result


def schedule_fire(*, firing_id: int, now: datetime | None = None) -> list[int]:
    """Fire an armed firing: one event and run per installation, then arm the next.

    Locks the firing's row, so a repeated tick waits and then finds it fired
    and does nothing. A tick for a version that no longer runs anywhere
    cancels the firing. Returns the ids of the runs created; they are
    enqueued after commit.
    """
    now = now or timezone.now()
    with transaction.atomic():
        firing = (
            ScheduleFiring.objects.select_for_update()
            .select_related("version__workflow")
            .filter(pk=firing_id)
            .first()
        )
        ids = {"firing_id": firing_id}
        if firing is None or firing.status != ScheduleFiring.Status.ARMED:
            logger.info("workflows.schedule.repeated_tick", extra=ids)
            return []
        ids["version_id"] = firing.version_id
        if firing.scheduled_at - now > EARLY_TOLERANCE:
            transaction.on_commit(lambda: _enqueue(firing.pk, firing.scheduled_at))
            logger.info("workflows.schedule.early_tick", extra=ids)
            return []
        config = _trigger_config(firing.version_id)
        installations = _installations_running(firing.version)
        if config is None or not (installations or _is_published(firing.version)):
            firing.status = ScheduleFiring.Status.CANCELED
            firing.save(update_fields=["status", "updated_at"])
            logger.info("workflows.schedule.canceled", extra=ids)
            return []
        data = firing_data(
            cron=config["cron"],
            zone_name=config["timezone"],
            scheduled_at=firing.scheduled_at,
            fired_at=now,
        )
        run_ids = [
            _event_and_run(firing, installation, data).pk
            for installation in installations
        ]
        firing.status = ScheduleFiring.Status.FIRED
        firing.fired_at = now
        firing.event_count = len(run_ids)
        firing.save(update_fields=["status", "fired_at", "event_count", "updated_at"])
        _arm(
            version_id=firing.version_id,
            config=config,
            after=max(firing.scheduled_at, now),
        )
        transaction.on_commit(lambda: runs_enqueue(run_ids=run_ids))
    logger.info(
        "workflows.schedule.fired",
        extra={
            **ids,
            "workflow_id": firing.version.workflow_id,
            "run_count": len(run_ids),
            "late_ms": int((now - firing.scheduled_at).total_seconds() * 1000),
        },
    )
    return run_ids


def schedules_reconcile(
    *, job_alive: Callable[[str], bool], now: datetime | None = None
) -> ScheduleReconcileResult:
    """Arm schedules left without a firing and enqueue armed firings without a job.

    A firing whose job was lost (Redis flushed, the process restarted) is
    enqueued again: for its instant if that is ahead, at once if it passed,
    which is the one catch-up the module docstring describes.
    """
    now = now or timezone.now()
    result = schedules_sync(now=now)
    armed = ScheduleFiring.objects.filter(status=ScheduleFiring.Status.ARMED).exclude(
        pk__in=result.armed
    )
    for firing_id, scheduled_at in armed.values_list("pk", "scheduled_at"):
        job_id = firing_job_id(firing_id)
        if not _firing_job_alive(job_id, job_alive):
            _enqueue(firing_id, scheduled_at)
            result.enqueued.append(firing_id)
    if result.armed or result.canceled or result.enqueued:
        logger.info(
            "workflows.schedule.reconciled",
            extra={
                "armed": len(result.armed),
                "canceled": len(result.canceled),
                "enqueued": len(result.enqueued),
            },
        )
    return result


def _running_schedules(integration_id: int | None) -> dict[int, dict]:
    """Map each running version with a Schedule trigger to the trigger's config."""
    triggers = Block.objects.filter(
        kind=Block.Kind.TRIGGER,
        connector=SCHEDULE,
        version__status=WorkflowVersion.Status.RELEASED,
    ).filter(
        Q(version__workflow__published_version=F("version"))
        | Q(version__installed_by__isnull=False)
    )
    if integration_id is not None:
        triggers = triggers.filter(version__workflow__integration_id=integration_id)
    return dict(triggers.values_list("version_id", "config").distinct())


def _arm(*, version_id: int, config: dict, after: datetime) -> ScheduleFiring | None:
    """Create the firing for the schedule's first instant after ``after``.

    Returns None when the config does not parse, which release validation
    rules out, or when another transaction armed the version first.
    """
    try:
        instant = next_firings(
            cron=config.get("cron", ""),
            zone_name=config.get("timezone", ""),
            after=after,
            count=1,
        )[0]
    except CronError as exc:
        logger.error(
            "workflows.schedule.invalid",
            extra={"version_id": version_id, "error": exc.message},
        )
        return None
    try:
        with transaction.atomic():
            firing, created = ScheduleFiring.objects.get_or_create(
                version_id=version_id,
                scheduled_at=instant,
                defaults={"status": ScheduleFiring.Status.ARMED},
            )
            if not created:
                if firing.status != ScheduleFiring.Status.CANCELED:
                    return None
                # Armed again after a cancel, for the same instant.
                firing.status = ScheduleFiring.Status.ARMED
                firing.save(update_fields=["status", "updated_at"])
    except IntegrityError:
        # The one armed firing per version exists already.
        return None
    transaction.on_commit(lambda: _enqueue(firing.pk, firing.scheduled_at))
    logger.info(
        "workflows.schedule.armed",
        extra={
            "version_id": version_id,
            "firing_id": firing.pk,
            "scheduled_at": instant.isoformat(),
        },
    )
    return firing


def _enqueue(firing_id: int, scheduled_at: datetime) -> None:
    from workflows.jobs import schedule_fire_job

    delay = max(0.0, (scheduled_at - timezone.now()).total_seconds())
    try:
        jobs.enqueue_in(
            delay, schedule_fire_job, firing_id, job_id=firing_job_id(firing_id)
        )
    except RedisError as exc:
        # The firing stays armed without a job; the reconciler enqueues it.
        logger.warning(
            "workflows.schedule.enqueue_failed",
            extra={"firing_id": firing_id, "error": str(exc)},
        )


def _firing_job_alive(job_id: str, job_alive: Callable[[str], bool]) -> bool:
    if jobs.in_process():
        return jobs.timer_pending(job_id)
    return job_alive(job_id)


def _trigger_config(version_id: int) -> dict | None:
    return (
        Block.objects.filter(
            version_id=version_id, kind=Block.Kind.TRIGGER, connector=SCHEDULE
        )
        .values_list("config", flat=True)
        .first()
    )


def _is_published(version: WorkflowVersion) -> bool:
    return version.workflow.published_version_id == version.pk


def _installations_running(version: WorkflowVersion) -> list[Installation]:
    """Return the installations that run this version of its workflow.

    An installation runs the version it has installed; one without a version
    of the workflow runs the published version, as intake does.
    """
    installed = dict(
        InstalledVersion.objects.filter(workflow_id=version.workflow_id).values_list(
            "installation_id", "version_id"
        )
    )
    published = _is_published(version)
    installations = Installation.objects.select_related("end_user", "connection")
    return [
        installation
        for installation in installations.filter(
            integration_id=version.workflow.integration_id
        ).order_by("pk")
        if installed.get(installation.pk, version.pk if published else None)
        == version.pk
    ]


def _event_and_run(
    firing: ScheduleFiring, installation: Installation, data: dict
) -> Run:
    end_user = installation.end_user
    event = Event.objects.create(
        workspace_id=end_user.workspace_id,
        end_user=end_user,
        connection=installation.connection,
        source=Event.Source.SCHEDULE,
        name=SCHEDULE,
        data=data,
        # Unique per workspace: a second event for this instant cannot exist.
        idempotency_key=(
            f"schedule:{firing.version_id}:"
            f"{int(firing.scheduled_at.timestamp())}:{installation.pk}"
        ),
    )
    return Run.objects.create(
        workspace_id=end_user.workspace_id,
        workflow_id=firing.version.workflow_id,
        version=firing.version,
        event=event,
        end_user=end_user,
        installation=installation,
    )
