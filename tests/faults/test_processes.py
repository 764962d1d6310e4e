"""Fault tests with real processes: a killed worker, a stopped Redis, twin webhooks."""

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import uuid

import pytest
import requests

from tests.conftest import SHOP_DOMAIN
from tests.faults.processes import (
    BASE_DIR,
    PrivateRedis,
    free_port,
    manage,
    project_env,
    stop,
    wait_until,
)
from workflows.models import Event, Run
from workflows.services.reconcile import runs_reconcile
from workflows.tutorial import ORDER_REQUESTED_SAMPLE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def installed(tutorial_installed):
    return tutorial_installed


def send_order(base_url: str, api_key: str, key: str | None = None):
    body = {"event": "order_requested", "user": "merchant-1"}
    body["data"] = ORDER_REQUESTED_SAMPLE
    if key:
        body["idempotency_key"] = key
    return requests.post(
        f"{base_url}/api/v1/events",
        json=body,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    )


def test_killed_worker_run_taken_over_once(
    installed, live_server, api_key, sandbox, settings, tmp_path
):
    env = project_env(SHOPIFY_API_URL=sandbox.url, RUN_LEASE_SECONDS="1.5")
    # Shopify creates the order, then the answer never comes before the kill.
    sandbox.inject_fault("slow", delay=30, operation="orderCreate")
    worker = manage("rqworker", "default", env=env, log=tmp_path / "worker1.log")
    try:
        run_id = send_order(live_server.url, api_key).json()["runs"][0]["id"]
        assert wait_until(lambda: sandbox.shop(SHOP_DOMAIN).orders, timeout=30)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        stop(worker)
    assert Run.objects.get(pk=run_id).status == Run.Status.RUNNING

    assert wait_until(lambda: runs_reconcile().taken_over, timeout=10, step=0.2)
    second = manage("rqworker", "default", env=env, log=tmp_path / "worker2.log")
    try:
        finished = wait_until(
            lambda: Run.objects.get(pk=run_id).status == Run.Status.SUCCEEDED,
            timeout=30,
        )
    finally:
        stop(second)
    run = Run.objects.get(pk=run_id)
    assert finished
    assert len(sandbox.shop(SHOP_DOMAIN).orders) == 1
    assert run.takeover_count == 1
    assert run.takeovers.get().step_key == "create_order"


def test_redis_down_intake_accepts_then_runs(installed, api_key, sandbox, tmp_path):
    own_redis = PrivateRedis().start()
    env = project_env(
        SHOPIFY_API_URL=sandbox.url,
        REDIS_URL=own_redis.url,
        RUN_ENQUEUE_GRACE_SECONDS="0.1",
    )
    port = free_port()
    web = manage(
        "runserver",
        f"127.0.0.1:{port}",
        "--noreload",
        env=env,
        log=tmp_path / "web.log",
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: _answers(base_url), timeout=30, step=0.2)
        own_redis.stop()
        responses = [send_order(base_url, api_key, key=f"order-{n}") for n in range(5)]
    finally:
        stop(web)
        own_redis.stop()
    assert [r.status_code for r in responses] == [202] * 5
    # Each run keeps the id of a job that never reached Redis, which the
    # reconciler below finds missing.
    assert set(Run.objects.values_list("status", flat=True)) == {Run.Status.QUEUED}

    own_redis.start()
    try:
        reconciled = subprocess.run(
            [sys.executable, "manage.py", "runs_reconcile"],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        worker = manage(
            "rqworker", "default", "--burst", env=env, log=tmp_path / "worker.log"
        )
        worker.wait(timeout=120)
    finally:
        own_redis.stop()
    assert "enqueued 5" in reconciled.stdout
    # The shop's orders/create webhooks reach the test's live server, whose
    # runs go to the shared Redis; only the custom event's runs count here.
    runs = Run.objects.filter(event__name="order_requested")
    assert set(runs.values_list("status", flat=True)) == {Run.Status.SUCCEEDED}
    assert runs.count() == 5
    assert len(sandbox.shop(SHOP_DOMAIN).orders) == 5


def _answers(base_url: str) -> bool:
    try:
        requests.get(f"{base_url}/api/v1/runs", timeout=1)
    except requests.RequestException:
        return False
    return True


def webhook_headers(body: bytes, secret: str, *, event_id: str) -> dict[str, str]:
    """Headers of an orders/create delivery signed as Shopify signs it."""
    signature = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": SHOP_DOMAIN,
        "X-Shopify-Hmac-Sha256": base64.b64encode(signature).decode(),
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id,
    }


def test_twin_webhooks_at_once_make_one_run(installed, live_server, settings):
    body = json.dumps({"id": 820982911946154508, "email": "jon@example.com"}).encode()
    headers = webhook_headers(
        body, settings.SHOPIFY_CLIENT_SECRET, event_id=str(uuid.uuid4())
    )
    start = threading.Barrier(4)
    statuses = []

    def deliver() -> None:
        start.wait()
        response = requests.post(
            f"{live_server.url}/webhooks/shopify",
            data=body,
            headers=headers,
            timeout=10,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 4
    assert Event.objects.filter(name="orders/create").count() == 1
    assert Run.objects.filter(event__name="orders/create").count() == 1


def test_same_event_id_new_webhook_id_dropped(installed, live_server, settings):
    body = json.dumps({"id": 820982911946154509, "email": "amy@example.com"}).encode()
    event_id = str(uuid.uuid4())
    for _ in range(2):
        # Each call signs a new X-Shopify-Webhook-Id, as a resent change has.
        headers = webhook_headers(
            body, settings.SHOPIFY_CLIENT_SECRET, event_id=event_id
        )
        response = requests.post(
            f"{live_server.url}/webhooks/shopify",
            data=body,
            headers=headers,
            timeout=10,
        )
        assert response.status_code == 200
    assert Event.objects.filter(name="orders/create").count() == 1
