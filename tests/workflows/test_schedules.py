"""Schedule triggers: arming, firing across DST, repeats, reconcile, a real worker."""

import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import django_rq
import pytest
from django.db import connections as db_connections
from django.utils import timezone
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from alloy import jobs
from alloy.errors import ValidationError
from integrations import services as integration_services
from integrations.models import Integration
from workflows.exceptions import ReleaseValidationError, UnknownEventError
from workflows.jobs import schedule_fire_job
from workflows.models import Block, Event, Run, ScheduleFiring
from workflows.services import intake, versions
from workflows.services.installed_versions import installation_upgrade
from workflows.services.reconcile import runs_reconcile
from workflows.services.schedules import (
    firing_job_id,
    schedule_fire,
    schedules_sync,
)

LONDON_DAILY = {"cron": "30 1 * * *", "timezone": "Europe/London"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def integration(workspace):
    return integration_services.integration_create(
        workspace=workspace, name="Nightly export", app="shopify"
    )


def schedule_workflow(integration, config, *, name="Nightly", url="http://x.test/"):
    workflow = versions.workflow_create(
        integration=integration,
        name=name,
        trigger_connector="schedule",
        trigger_operation="schedule",
        trigger_config=config,
    )
    draft = workflow.versions.get()
    block = versions.action_add(
        version=draft, key="notify", connector="http", operation="post_json"
    )
    versions.mapping_set(block=block, target="url", kind="literal", value=url)
    versions.mapping_set(block=block, target="body", kind="expression", value="event")
    return workflow


def release_and_publish(workflow):
    draft = workflow.versions.get(status="draft")
    versions.version_release(version=draft)
    versions.version_publish(version=draft)
    workflow.refresh_from_db()
    return workflow.published_version


def next_version(workflow, config):
    draft = versions.version_create_next(workflow=workflow)
    versions.trigger_set(
        version=draft, connector="schedule", operation="schedule", config=config
    )
    return release_and_publish(workflow)


@pytest.fixture
def installed(integration, end_user, connection):
    workflow = schedule_workflow(integration, LONDON_DAILY)
    version = release_and_publish(workflow)
    integration_services.installation_create(
        end_user=end_user, integration=integration, connection=connection
    )
    return version


def armed(version):
    return ScheduleFiring.objects.get(
        version=version, status=ScheduleFiring.Status.ARMED
    )


def rearm_at(version, now):
    """Replace the firing armed at the real time with one armed at ``now``."""
    ScheduleFiring.objects.filter(version=version).delete()
    schedules_sync(integration_id=version.workflow.integration_id, now=now)
    return armed(version)


def fire_armed(version, *, late=timedelta(0)):
    firing = armed(version)
    run_ids = schedule_fire(firing_id=firing.pk, now=firing.scheduled_at + late)
    return firing, run_ids


@pytest.mark.django_db
def test_publish_arms_next_firing(installed):
    firing = armed(installed)
    assert firing.scheduled_at > timezone.now()
    local = firing.scheduled_at.astimezone(ZoneInfo("Europe/London"))
    # 02:00 on the day clocks go forward, 01:30 on every other day.
    assert (local.hour, local.minute) in {(1, 30), (2, 0)}


@pytest.mark.django_db
def test_publish_without_installations_arms(integration):
    version = release_and_publish(schedule_workflow(integration, LONDON_DAILY))
    assert armed(version).status == ScheduleFiring.Status.ARMED


@pytest.mark.django_db
def test_firing_creates_event_and_run(installed, end_user):
    rearm_at(installed, utc(2026, 5, 1, 12))
    _, run_ids = fire_armed(installed)
    event = Event.objects.get(source=Event.Source.SCHEDULE)
    run = Run.objects.get()
    assert run_ids == [run.pk]
    assert run.version_id == installed.pk
    assert run.end_user_id == end_user.pk
    assert run.event_id == event.pk
    assert event.data["scheduled_at"] == "2026-05-02T01:30:00+01:00"
    assert event.data["fired_at"] == "2026-05-02T01:30:00+01:00"
    assert event.data["timezone"] == "Europe/London"
    assert event.data["local_time"] == "01:30"


@pytest.mark.django_db
def test_firing_arms_next_instant(installed):
    rearm_at(installed, utc(2026, 5, 1, 12))
    firing, _ = fire_armed(installed)
    firing.refresh_from_db()
    assert firing.status == ScheduleFiring.Status.FIRED
    assert firing.event_count == 1
    assert armed(installed).scheduled_at == utc(2026, 5, 3, 0, 30)


@pytest.mark.django_db
def test_fixed_hour_across_dst_changes(installed):
    # "30 1 * * *" in London, from the week before spring forward through the
    # week after fall back, firing each instant as the clock reaches it.
    rearm_at(installed, utc(2026, 3, 27, 12))
    planned = []
    for _ in range(3):
        planned.append(armed(installed).scheduled_at)
        fire_armed(installed)
    rearm_at(installed, utc(2026, 10, 24, 12))
    for _ in range(2):
        planned.append(armed(installed).scheduled_at)
        fire_armed(installed)
    data = [
        e.data["scheduled_at"]
        for e in Event.objects.filter(source="schedule").order_by("pk")
    ]
    assert data == [
        "2026-03-28T01:30:00+00:00",
        # 01:30 does not exist on 29 March: the first instant after the gap.
        "2026-03-29T02:00:00+01:00",
        "2026-03-30T01:30:00+01:00",
        # 01:30 occurs twice on 25 October: only the first fires.
        "2026-10-25T01:30:00+01:00",
        "2026-10-26T01:30:00+00:00",
    ]
    assert planned[3] == utc(2026, 10, 25, 0, 30)


@pytest.mark.django_db
def test_wildcard_hour_across_fall_back(integration, end_user, connection):
    workflow = schedule_workflow(
        integration, {"cron": "0 * * * *", "timezone": "Europe/London"}
    )
    version = release_and_publish(workflow)
    integration_services.installation_create(
        end_user=end_user, integration=integration, connection=connection
    )
    rearm_at(version, utc(2026, 10, 24, 23, 30))
    for _ in range(4):
        fire_armed(version)
    fired = list(
        ScheduleFiring.objects.filter(status="fired")
        .order_by("scheduled_at")
        .values_list("scheduled_at", flat=True)
    )
    # Every real hour, so 01:00 fires in BST and again in GMT.
    assert fired == [utc(2026, 10, 25, hour) for hour in range(4)]


@pytest.mark.django_db
def test_repeated_tick_fires_once(installed):
    rearm_at(installed, utc(2026, 5, 1, 12))
    firing, first = fire_armed(installed)
    second = schedule_fire(firing_id=firing.pk, now=firing.scheduled_at)
    assert len(first) == 1
    assert second == []
    assert Event.objects.filter(source="schedule").count() == 1


@pytest.mark.django_db
def test_late_firing_catches_up_once(installed):
    rearm_at(installed, utc(2026, 5, 1, 12))
    _, run_ids = fire_armed(installed, late=timedelta(days=3, hours=2))
    assert len(run_ids) == 1
    event = Event.objects.get(source="schedule")
    assert event.data["scheduled_at"] == "2026-05-02T01:30:00+01:00"
    assert event.data["fired_at"] == "2026-05-05T03:30:00+01:00"
    # The instants missed on 3, 4 and 5 May are skipped.
    assert armed(installed).scheduled_at == utc(2026, 5, 6, 0, 30)


@pytest.mark.django_db
def test_early_tick_waits(installed):
    firing = rearm_at(installed, utc(2026, 5, 1, 12))
    run_ids = schedule_fire(firing_id=firing.pk, now=utc(2026, 5, 1, 12))
    firing.refresh_from_db()
    assert run_ids == []
    assert firing.status == ScheduleFiring.Status.ARMED


@pytest.mark.django_db
def test_tick_for_unpublished_version_does_nothing(installed):
    old = rearm_at(installed, utc(2026, 5, 1, 12))
    new_version = next_version(installed.workflow, LONDON_DAILY)
    run_ids = schedule_fire(firing_id=old.pk, now=old.scheduled_at)
    old.refresh_from_db()
    assert run_ids == []
    assert old.status == ScheduleFiring.Status.CANCELED
    assert Event.objects.count() == 0
    assert armed(new_version).version_id == new_version.pk


@pytest.mark.django_db
def test_stale_armed_firing_canceled_at_tick(installed):
    # The version stops running without a sync, as after an end user's deletion.
    firing = rearm_at(installed, utc(2026, 5, 1, 12))
    next_version(installed.workflow, LONDON_DAILY)
    ScheduleFiring.objects.filter(pk=firing.pk).update(status="armed")
    ScheduleFiring.objects.exclude(pk=firing.pk).delete()
    assert schedule_fire(firing_id=firing.pk, now=firing.scheduled_at) == []
    firing.refresh_from_db()
    assert firing.status == ScheduleFiring.Status.CANCELED


@pytest.mark.django_db
def test_pinned_installation_keeps_old_schedule(installed, integration):
    integration_services.integration_version_policy_set(
        integration=integration, version_policy=Integration.VersionPolicy.PINNED
    )
    new_version = next_version(
        installed.workflow, {"cron": "0 6 * * *", "timezone": "Europe/London"}
    )
    old_firing, run_ids = fire_armed(installed)
    assert len(run_ids) == 1
    assert Run.objects.get().version_id == installed.pk
    assert armed(new_version).version_id == new_version.pk
    assert old_firing.version_id == installed.pk


@pytest.mark.django_db
def test_uninstall_cancels_pinned_schedule(installed, integration):
    integration_services.integration_version_policy_set(
        integration=integration, version_policy=Integration.VersionPolicy.PINNED
    )
    next_version(installed.workflow, LONDON_DAILY)
    old_firing = armed(installed)
    integration_services.installation_delete(
        installation=integration.installations.get()
    )
    old_firing.refresh_from_db()
    assert old_firing.status == ScheduleFiring.Status.CANCELED


@pytest.mark.django_db
def test_upgrade_moves_schedule_to_new_version(installed, integration):
    integration_services.integration_version_policy_set(
        integration=integration, version_policy=Integration.VersionPolicy.PINNED
    )
    new_version = next_version(installed.workflow, LONDON_DAILY)
    old_firing = armed(installed)
    installation_upgrade(installation=integration.installations.get())
    old_firing.refresh_from_db()
    assert old_firing.status == ScheduleFiring.Status.CANCELED
    assert armed(new_version).version_id == new_version.pk


@pytest.mark.django_db
def test_rollback_rearms_old_version(installed):
    new_version = next_version(installed.workflow, LONDON_DAILY)
    versions.version_rollback(workflow=installed.workflow, version=installed)
    assert armed(installed).version_id == installed.pk
    assert not new_version.schedule_firings.filter(status="armed").exists()


@pytest.mark.django_db
def test_sync_twice_arms_once(installed):
    schedules_sync()
    schedules_sync()
    assert ScheduleFiring.objects.filter(version=installed).count() == 1


@pytest.mark.django_db
def test_custom_event_never_starts_schedule(installed, workspace):
    with pytest.raises(UnknownEventError):
        intake.custom_event_ingest(
            workspace=workspace, event_name="schedule", user_id="merchant-1", data={}
        )


@pytest.mark.django_db
def test_webhook_never_starts_schedule(installed, connection):
    results = intake.app_event_ingest(
        connector="schedule",
        account_id=connection.account_id,
        topic="schedule",
        delivery_id="d-1",
        data={},
    )
    assert results == []
    assert Event.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("config", "path", "message"),
    [
        (
            {"cron": "61 * * * *", "timezone": "UTC"},
            "$.config.cron",
            "minute field '61' is out of range 0-59.",
        ),
        (
            {"cron": "0 9 * * *", "timezone": "Europe/Londn"},
            "$.config.timezone",
            "timezone 'Europe/Londn' is not a known time zone",
        ),
        ({"timezone": "UTC"}, "$.config.cron", "The cron expression is empty"),
        (
            {"cron": "@daily", "timezone": "UTC", "every": 5},
            "$.config.every",
            "Unknown setting.",
        ),
    ],
)
def test_trigger_set_rejects_bad_schedule(integration, config, path, message):
    workflow = schedule_workflow(integration, LONDON_DAILY)
    with pytest.raises(ValidationError) as excinfo:
        versions.trigger_set(
            version=workflow.versions.get(),
            connector="schedule",
            operation="schedule",
            config=config,
        )
    problems = {p["path"]: p["message"] for p in excinfo.value.fields}
    assert message in problems[path]


@pytest.mark.django_db
def test_release_rejects_bad_cron(integration):
    workflow = schedule_workflow(integration, LONDON_DAILY)
    draft = workflow.versions.get()
    Block.objects.filter(version=draft, kind="trigger").update(
        config={"cron": "0 25 * * *", "timezone": "Mars/Olympus"}
    )
    with pytest.raises(ReleaseValidationError) as excinfo:
        versions.version_release(version=draft)
    problems = {p["path"]: p["message"] for p in excinfo.value.fields}
    assert problems["blocks.trigger.config.cron"] == (
        "hour field '25' is out of range 0-23."
    )
    assert (
        "'Mars/Olympus' is not a known time zone"
        in (problems["blocks.trigger.config.timezone"])
    )


@pytest.mark.django_db
def test_trigger_output_in_release_check(integration):
    workflow = schedule_workflow(integration, LONDON_DAILY)
    block = workflow.versions.get().blocks.get(key="notify")
    versions.mapping_set(
        block=block, target="body", kind="expression", value="event.no_such_field"
    )
    with pytest.raises(ReleaseValidationError, match="no_such_field"):
        versions.version_release(version=workflow.versions.get())


@pytest.mark.django_db(transaction=True)
def test_publish_enqueues_firing_job(installed):
    firing = armed(installed)
    registry = ScheduledJobRegistry(queue=django_rq.get_queue("default"))
    assert firing_job_id(firing.pk) in registry.get_job_ids()


@pytest.mark.django_db(transaction=True)
def test_reconcile_rearms_after_redis_flush(installed, redis_flushed):
    firing = armed(installed)
    redis_flushed.flushdb()
    result = runs_reconcile()
    registry = ScheduledJobRegistry(queue=django_rq.get_queue("default"))
    assert result.schedules_enqueued == [firing.pk]
    assert firing_job_id(firing.pk) in registry.get_job_ids()


@pytest.mark.django_db(transaction=True)
def test_reconcile_arms_missing_firing(installed):
    ScheduleFiring.objects.all().delete()
    result = runs_reconcile()
    assert result.schedules_armed == [armed(installed).pk]


@pytest.mark.django_db(transaction=True)
def test_reconcile_leaves_live_firing(installed):
    assert runs_reconcile().schedules_enqueued == []


@pytest.mark.django_db(transaction=True)
def test_firing_runs_through_worker(
    integration, end_user, connection, receiver, rq_worker
):
    workflow = schedule_workflow(
        integration, {"cron": "* * * * *", "timezone": "Asia/Kolkata"}, url=receiver.url
    )
    version = release_and_publish(workflow)
    integration_services.installation_create(
        end_user=end_user, integration=integration, connection=connection
    )
    # Replace the minute's firing with one due in about a second.
    ScheduleFiring.objects.all().delete()
    due = timezone.now() + timedelta(seconds=1)
    firing = ScheduleFiring.objects.create(version=version, scheduled_at=due)
    jobs.enqueue_in(1, schedule_fire_job, firing.pk, job_id=firing_job_id(firing.pk))
    assert rq_worker(with_scheduler=True) == 0
    deadline = time.monotonic() + 10
    while not Run.objects.filter(status="succeeded").exists():
        assert time.monotonic() < deadline, "the scheduled run did not succeed"
        time.sleep(0.2)
        rq_worker(with_scheduler=True)
    run = Run.objects.get()
    firing.refresh_from_db()
    assert firing.status == ScheduleFiring.Status.FIRED
    assert run.event.data["timezone"] == "Asia/Kolkata"
    assert run.event.data["scheduled_at"].endswith("+05:30")
    assert receiver.wait_for(1)
    assert receiver.accepted[0].json()["scheduled_at"] == run.event.data["scheduled_at"]
    assert Job.fetch(
        firing_job_id(armed(version).pk), connection=django_rq.get_connection()
    )


@pytest.mark.django_db(transaction=True)
def test_firing_runs_in_process(settings, integration, end_user, connection, receiver):
    workflow = schedule_workflow(
        integration, {"cron": "0 0 1 1 *", "timezone": "UTC"}, url=receiver.url
    )
    version = release_and_publish(workflow)
    integration_services.installation_create(
        end_user=end_user, integration=integration, connection=connection
    )
    ScheduleFiring.objects.all().delete()
    # From here jobs run in this process's threads, as without REDIS_URL.
    settings.JOBS_IN_PROCESS = True
    due = timezone.now() + timedelta(seconds=1)
    firing = ScheduleFiring.objects.create(version=version, scheduled_at=due)
    jobs.enqueue_in(1, schedule_fire_job, firing.pk, job_id=firing_job_id(firing.pk))
    assert jobs.timer_pending(firing_job_id(firing.pk))
    deadline = time.monotonic() + 10
    while not Run.objects.filter(status="succeeded").exists():
        assert time.monotonic() < deadline, "the scheduled run did not succeed"
        time.sleep(0.2)
    assert receiver.wait_for(1)
    assert ScheduleFiring.objects.get(pk=firing.pk).status == "fired"
    # The next firing, on 1 January, waits in a timer of this process.
    assert jobs.timer_cancel(firing_job_id(armed(version).pk))


@pytest.mark.django_db
def test_admin_lists_firings(admin_client, installed):
    firing = armed(installed)
    page = admin_client.get("/admin/workflows/schedulefiring/").content.decode()
    assert f"/admin/workflows/schedulefiring/{firing.pk}/change/" in page
    assert admin_client.get("/admin/workflows/schedulefiring/add/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_concurrent_ticks_fire_once(installed):
    firing = rearm_at(installed, utc(2026, 5, 1, 12))
    barrier = threading.Barrier(4)
    outcomes = []

    def tick() -> None:
        barrier.wait()
        try:
            outcomes.append(schedule_fire(firing_id=firing.pk, now=firing.scheduled_at))
        finally:
            db_connections.close_all()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(len(run_ids) for run_ids in outcomes) == [0, 0, 0, 1]
    assert Event.objects.filter(source="schedule").count() == 1
    assert ScheduleFiring.objects.filter(status="armed").count() == 1
