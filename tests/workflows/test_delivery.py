"""Retries, effect look-ups, replay and reconciliation of runs against the sandbox."""

import time

import pytest
import requests

from tests.conftest import SHOP_DOMAIN
from workflows.models import Run, RunStep
from workflows.services.reconcile import runs_reconcile
from workflows.services.runs import run_retry
from workflows.tutorial import ORDER_REQUESTED_SAMPLE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def installed(tutorial_installed):
    return tutorial_installed


@pytest.fixture
def order_run(installed, live_server, api_key):
    """Send one order_requested event and return a function giving its run."""

    def send() -> Run:
        response = requests.post(
            f"{live_server.url}/api/v1/events",
            json={
                "event": "order_requested",
                "user": "merchant-1",
                "data": ORDER_REQUESTED_SAMPLE,
            },
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=10,
        )
        assert response.status_code == 202
        return Run.objects.get(pk=response.json()["runs"][0]["id"])

    return send


def finish(rq_worker, run: Run, timeout: float = 30.0) -> Run:
    """Work the queue, with scheduled retries, until the run is finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rq_worker(with_scheduler=True)
        run.refresh_from_db()
        if run.status in (Run.Status.SUCCEEDED, Run.Status.FAILED):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run.pk} still {run.status} after {timeout}s")


def order_creates(sandbox) -> list:
    return [r for r in sandbox.faults.requests if r.operation == "orderCreate"]


def test_server_errors_retried_until_success(order_run, sandbox, rq_worker):
    sandbox.inject_fault("error", status=500, count=2, operation="orderCreate")
    run = finish(rq_worker, order_run())
    assert run.status == Run.Status.SUCCEEDED
    assert len(sandbox.shop(SHOP_DOMAIN).orders) == 1
    assert [r.status for r in order_creates(sandbox)] == [500, 500, 200]
    assert run.steps.get(key="create_order").attempt == 3


def test_rate_limit_honours_retry_after(order_run, sandbox, rq_worker):
    sandbox.inject_fault("rate_limit", retry_after="1.5", operation="orderCreate")
    run = finish(rq_worker, order_run())
    limited, created = order_creates(sandbox)
    assert run.status == Run.Status.SUCCEEDED
    assert limited.status == 429
    assert created.at - limited.at >= 1.5


def test_throttled_waits_for_bucket(order_run, sandbox, rq_worker):
    sandbox.inject_fault("throttled", wait=1.2, operation="orderCreate")
    run = finish(rq_worker, order_run())
    throttled, created = order_creates(sandbox)
    assert run.status == Run.Status.SUCCEEDED
    assert throttled.fault == "throttled"
    assert created.at - throttled.at >= 1.2


def test_timed_out_order_found_not_repeated(order_run, sandbox, rq_worker, settings):
    settings.SHOPIFY_REQUEST_TIMEOUT = 0.5
    sandbox.inject_fault("slow", delay=1.5, operation="orderCreate")
    run = finish(rq_worker, order_run())
    assert run.status == Run.Status.SUCCEEDED
    assert len(sandbox.shop(SHOP_DOMAIN).orders) == 1
    assert len(order_creates(sandbox)) == 1
    lookups = [
        r for r in sandbox.faults.requests if r.operation == "orderBySourceIdentifier"
    ]
    assert len(lookups) == 1
    step = run.steps.get(key="create_order")
    order_id = sandbox.shop(SHOP_DOMAIN).orders[0]["id"]
    assert step.output["id"] == f"gid://shopify/Order/{order_id}"


def test_user_errors_not_retried(order_run, sandbox, rq_worker):
    data_with_bad_phone = {**ORDER_REQUESTED_SAMPLE, "phone": "not a phone"}
    run = order_run()
    run.event.data = data_with_bad_phone
    run.event.save(update_fields=["data"])
    run = finish(rq_worker, run)
    assert run.status == Run.Status.FAILED
    assert run.error["code"] == "shopify_user_errors"
    assert run.error["attempts"] == 1


def test_unauthorized_not_retried(order_run, sandbox, rq_worker):
    sandbox.inject_fault("error", status=401, operation="orderCreate")
    run = finish(rq_worker, order_run())
    assert run.status == Run.Status.FAILED
    assert run.error["code"] == "shopify_unauthorized"
    assert len(order_creates(sandbox)) == 1


def test_retries_exhausted_fail_then_retry(order_run, sandbox, rq_worker, settings):
    settings.STEP_RETRY_MAX_ATTEMPTS = 3
    sandbox.inject_fault("error", status=503, count=3, operation="orderCreate")
    run = finish(rq_worker, order_run())
    assert run.status == Run.Status.FAILED
    assert run.error["code"] == "shopify_server_error"
    assert run.error["attempts"] == 3
    assert run.error["step"] == "create_order"

    run_retry(run_id=run.pk)
    run = finish(rq_worker, run)
    assert run.status == Run.Status.SUCCEEDED
    assert run.error is None
    assert len(sandbox.shop(SHOP_DOMAIN).orders) == 1


def test_block_retry_policy_overrides_default(installed, order_run, sandbox, rq_worker):
    from workflows.services import versions

    workflow = installed.workflows.get(name="Create Shopify order from Acme Co")
    draft = versions.version_create_next(workflow=workflow)
    block = draft.blocks.get(key="create_order")
    block.config = {"retry": {"max_attempts": 1}}
    block.save()
    versions.version_release(version=draft)
    versions.version_publish(version=draft)
    sandbox.inject_fault("error", status=500, operation="orderCreate")
    run = finish(rq_worker, order_run())
    assert run.status == Run.Status.FAILED
    assert run.error["attempts"] == 1


def test_retry_job_keeps_explicit_timeout(order_run, sandbox, redis_flushed):
    import django_rq
    from rq.registry import ScheduledJobRegistry

    from workflows import engine

    sandbox.inject_fault("error", status=500, operation="orderCreate")
    run = order_run()
    engine.run_execute(run_id=run.pk)
    run.refresh_from_db()
    queue = django_rq.get_queue("default")
    job_ids = ScheduledJobRegistry(queue=queue).get_job_ids()
    assert run.status == Run.Status.QUEUED
    assert job_ids == [run.rq_job_id]
    assert queue.fetch_job(run.rq_job_id).timeout == 600


def test_reconcile_enqueues_run_lost_from_redis(
    order_run, sandbox, rq_worker, redis_flushed, settings
):
    settings.RUN_ENQUEUE_GRACE_SECONDS = 0.01
    run = order_run()
    redis_flushed.flushdb()
    time.sleep(0.05)
    result = runs_reconcile()
    assert result.enqueued == [run.pk]
    run = finish(rq_worker, run)
    assert run.status == Run.Status.SUCCEEDED


def test_reconcile_leaves_live_job_alone(order_run, settings):
    settings.RUN_ENQUEUE_GRACE_SECONDS = 0.01
    order_run()
    time.sleep(0.05)
    assert runs_reconcile().enqueued == []


def test_reconcile_survives_job_deleted_midway(redis_flushed):
    # A finished job is deleted at once (result_ttl=0), so its hash can lose
    # the status field between the reconciler's fetch and its status read.
    from alloy import jobs
    from workflows.jobs import runs_reconcile_job
    from workflows.services.reconcile import _job_alive

    job_id = jobs.enqueue(runs_reconcile_job)
    assert _job_alive(job_id)
    redis_flushed.hdel(f"rq:job:{job_id}", "status")
    assert not _job_alive(job_id)


def test_reconcile_dispatches_lost_drain_run(
    order_run, sandbox, rq_worker, redis_flushed, settings
):
    from workflows.services.dispatch import READY_KEY

    settings.RUN_ENQUEUE_GRACE_SECONDS = 0.01
    run = order_run()
    # A drain job popped the run and died before claiming it.
    assert redis_flushed.lpop(READY_KEY) == str(run.pk).encode()
    time.sleep(0.05)
    result = runs_reconcile()
    assert result.enqueued == [run.pk]
    run = finish(rq_worker, run)
    assert run.status == Run.Status.SUCCEEDED


def test_expired_lease_taken_over(order_run, sandbox, rq_worker, settings):
    from django.utils import timezone

    run = order_run()
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING,
        lease_owner="dead-host:1:abc",
        lease_expires_at=timezone.now(),
    )
    result = runs_reconcile()
    run.refresh_from_db()
    takeover = run.takeovers.get()
    assert result.taken_over == [run.pk]
    assert run.status == Run.Status.QUEUED
    assert run.takeover_count == 1
    assert takeover.previous_owner == "dead-host:1:abc"
    run = finish(rq_worker, run)
    assert run.status == Run.Status.SUCCEEDED


def test_started_step_looks_for_its_order(order_run, sandbox, rq_worker):
    """A step left started by a dead worker finds the order it had created."""
    from django.utils import timezone

    run = order_run()
    rq_worker(with_scheduler=True)
    run.refresh_from_db()
    step = run.steps.get(key="create_order")
    # The state a worker killed after Shopify's answer leaves behind.
    RunStep.objects.filter(pk=step.pk).update(
        status=RunStep.Status.STARTED, output=None
    )
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING,
        lease_owner="dead-host:1:abc",
        lease_expires_at=timezone.now(),
        finished_at=None,
    )
    runs_reconcile()
    run = finish(rq_worker, run)
    step.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert len(sandbox.shop(SHOP_DOMAIN).orders) == 1
    order_id = sandbox.shop(SHOP_DOMAIN).orders[0]["id"]
    assert step.output["id"] == f"gid://shopify/Order/{order_id}"
    assert run.takeovers.get().step_key == "create_order"


def test_large_step_output_truncated(settings):
    from workflows.engine import stored_output

    settings.STEP_OUTPUT_MAX_BYTES = 100
    stored, truncated = stored_output({"text": "x" * 500})
    assert truncated is True
    assert stored["truncated"] is True
    assert stored["size_bytes"] == len('{"text":""}') + 500
    assert len(stored["preview"]) <= 50


def test_admin_retries_failed_run(admin_client, order_run, sandbox, rq_worker):
    sandbox.inject_fault("error", status=401, operation="orderCreate")
    run = finish(rq_worker, order_run())
    response = admin_client.post(
        "/admin/workflows/run/",
        {"action": "retry_runs", "_selected_action": [run.pk]},
    )
    run.refresh_from_db()
    assert response.status_code == 302
    assert run.status == Run.Status.QUEUED
    run = finish(rq_worker, run)
    assert run.status == Run.Status.SUCCEEDED


def test_admin_run_page_shows_takeover(admin_client, order_run):
    from django.utils import timezone

    run = order_run()
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING,
        lease_owner="dead-host:1:abc",
        lease_expires_at=timezone.now(),
    )
    runs_reconcile()
    page = admin_client.get(f"/admin/workflows/run/{run.pk}/change/")
    assert page.status_code == 200
    assert "dead-host:1:abc" in page.content.decode()
