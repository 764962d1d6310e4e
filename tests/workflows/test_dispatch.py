"""The ready list: drain jobs, their slots, batch claims and batch leases."""

import time
from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone

from tests.test_query_counts import http_workflow, post_event  # noqa: F401
from workflows.models import Run
from workflows.services import runs
from workflows.services.dispatch import READY_KEY, SLOT_KEY
from workflows.services.runs import runs_claim, runs_lease_renew

pytestmark = pytest.mark.django_db(transaction=True)


def drain_jobs_finished(caplog) -> int:
    return sum(
        1
        for record in caplog.records
        if record.getMessage() == "alloy.job.finished"
        and record.job.endswith("runs_drain_job")
    )


def drain_jobs() -> list:
    queue = django_rq.get_queue("default")
    return [job for job in queue.get_jobs() if job.func_name.endswith("drain_job")]


@pytest.fixture
def send_signups(http_workflow, post_event):  # noqa: F811
    def send(count: int) -> list[int]:
        return [
            post_event("signup", {"email": f"user{n}@example.com"}).json()["runs"][0][
                "id"
            ]
            for n in range(count)
        ]

    return send


def test_one_drain_job_executes_a_batch(
    send_signups, receiver, rq_worker, settings, caplog
):
    settings.RUN_DRAIN_SLOTS = 1
    run_ids = send_signups(5)
    # The first run took the only slot; the others only joined the list.
    assert len(drain_jobs()) == 1
    rq_worker()
    assert drain_jobs_finished(caplog) == 1
    statuses = set(Run.objects.filter(pk__in=run_ids).values_list("status", flat=True))
    assert statuses == {Run.Status.SUCCEEDED}
    assert len(receiver.deliveries) == 5


def test_free_slots_each_start_a_drain_job(send_signups, settings):
    settings.RUN_DRAIN_SLOTS = 3
    send_signups(5)
    assert sorted(job.args[0] for job in drain_jobs()) == [0, 1, 2]


def test_drain_job_hands_over_after_deadline(
    send_signups, receiver, rq_worker, settings, caplog
):
    settings.RUN_DRAIN_SLOTS = 1
    settings.RUN_DRAIN_BATCH = 1
    settings.RUN_DRAIN_SECONDS = 0.000001
    run_ids = send_signups(3)
    # Each job executes one batch of one run, then enqueues the next job,
    # which finds the list empty.
    rq_worker()
    assert drain_jobs_finished(caplog) == 4
    statuses = set(Run.objects.filter(pk__in=run_ids).values_list("status", flat=True))
    assert statuses == {Run.Status.SUCCEEDED}


def test_dead_drain_slot_expires(
    send_signups, receiver, rq_worker, redis_flushed, settings
):
    settings.RUN_DRAIN_SLOTS = 1
    # A drain job died holding the only slot, which expires shortly.
    redis_flushed.set(SLOT_KEY.format(0), "dead-job", px=100)
    first = send_signups(1)
    assert drain_jobs() == []
    assert redis_flushed.llen(READY_KEY) == 1
    time.sleep(0.2)
    second = send_signups(1)
    assert len(drain_jobs()) == 1
    rq_worker()
    statuses = Run.objects.filter(pk__in=first + second).values_list(
        "status", flat=True
    )
    assert set(statuses) == {Run.Status.SUCCEEDED}


def test_empty_list_gives_the_slot_back(send_signups, rq_worker, redis_flushed):
    send_signups(1)
    assert redis_flushed.exists(SLOT_KEY.format(0)) == 1
    rq_worker()
    assert redis_flushed.exists(SLOT_KEY.format(0)) == 0
    assert redis_flushed.llen(READY_KEY) == 0


def test_claim_takes_each_run_once(send_signups):
    run_ids = send_signups(3)
    claimed = runs_claim(run_ids=run_ids, lease_owner="worker-a")
    assert [run.pk for run in claimed] == run_ids
    assert runs_claim(run_ids=run_ids, lease_owner="worker-b") == []
    owners = set(Run.objects.filter(pk__in=run_ids).values_list("lease_owner"))
    assert owners == {("worker-a",)}


def test_claim_leaves_a_delay_that_is_not_due(send_signups):
    due_later, due_now = send_signups(2)
    later = timezone.now() + timedelta(minutes=5)
    Run.objects.filter(pk=due_later).update(
        status=Run.Status.WAITING, next_attempt_at=later
    )
    Run.objects.filter(pk=due_now).update(
        status=Run.Status.WAITING, next_attempt_at=timezone.now()
    )
    claimed = runs_claim(run_ids=[due_later, due_now], lease_owner="worker-a")
    assert [run.pk for run in claimed] == [due_now]
    assert Run.objects.get(pk=due_now).status == Run.Status.RUNNING
    assert Run.objects.get(pk=due_later).status == Run.Status.WAITING


@pytest.mark.parametrize("vendor", ["postgresql", "other"])
def test_claim_loads_related_rows(
    send_signups, vendor, monkeypatch, django_assert_num_queries
):
    run_ids = send_signups(2)
    if vendor == "other":
        # The ORM's UPDATE and select_related, as on SQLite.
        monkeypatch.setattr(runs.connection, "vendor", "sqlite")
    claimed = runs_claim(run_ids=list(reversed(run_ids)), lease_owner="worker-a")
    expected = Run.objects.select_related(
        "event", "end_user", "workspace", "installation__connection"
    ).get(pk=run_ids[0])

    run = claimed[1]
    with django_assert_num_queries(0):
        loaded = (
            run.event.data,
            run.end_user.external_id,
            run.workspace.signing_secret,
            run.installation.connection.credential_data,
            run.installation.connection.status,
        )
    assert [run.pk for run in claimed] == list(reversed(run_ids))
    assert run.pk == expected.pk
    assert run.status == Run.Status.RUNNING
    assert run.lease_owner == "worker-a"
    assert run.attempt == 1
    assert run.started_at is not None
    assert loaded == (
        expected.event.data,
        expected.end_user.external_id,
        expected.workspace.signing_secret,
        expected.installation.connection.credential_data,
        expected.installation.connection.status,
    )
    assert loaded[0] == {"email": "user0@example.com"}


def test_lease_renewal_reports_runs_taken_over(send_signups):
    still_held, taken_over = send_signups(2)
    runs_claim(run_ids=[still_held, taken_over], lease_owner="worker-a")
    # The reconciler gave one run to another worker.
    Run.objects.filter(pk=taken_over).update(lease_owner="worker-b")
    before = Run.objects.get(pk=still_held).lease_expires_at
    assert runs_lease_renew(
        run_ids=[still_held, taken_over], lease_owner="worker-a"
    ) == {still_held}
    assert Run.objects.get(pk=still_held).lease_expires_at > before
