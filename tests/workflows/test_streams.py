"""Stream deliveries: signed execution data, retried with the same delivery id."""

import time

import pytest

from connectors.http import signing
from connectors.http.receiver import StreamReceiver
from integrations import services as integration_services
from workflows.models import Run, StreamDelivery
from workflows.services import intake
from workflows.services.streams import execution_data

pytestmark = pytest.mark.django_db(transaction=True)

ORDER = {"id": 820982911946154508, "email": "jane@example.com", "line_items": []}


@pytest.fixture
def stream_receiver(workspace_and_secret):
    server = StreamReceiver(workspace_and_secret[1], fail_first=1).start()
    yield server
    server.stop()


@pytest.fixture
def order_workflow(workspace, end_user, connection, stream_receiver, settings):
    from workflows.services import versions

    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"
    integration = integration_services.integration_create(
        workspace=workspace, name="Shopify", app="shopify"
    )
    workflow = versions.workflow_create(
        integration=integration,
        name="Orders out",
        trigger_connector="shopify",
        trigger_operation="order_created",
        trigger_config={"stream_url": f"{stream_receiver.url}/hook"},
    )
    version = workflow.versions.get()
    versions.version_release(version=version)
    versions.version_publish(version=version)
    integration_services.installation_create(
        end_user=end_user, integration=integration, connection=connection
    )
    return workflow


def ingest_order(delivery_id="wh-1"):
    return intake.app_event_ingest(
        connector="shopify",
        account_id="test-store.myshopify.com",
        topic="orders/create",
        delivery_id=delivery_id,
        data=ORDER,
    )


def test_failed_delivery_retried_with_same_id(
    order_workflow, stream_receiver, rq_worker
):
    ingest_order()
    rq_worker()
    first = StreamDelivery.objects.get()
    assert first.status_code == 503
    # The retry is due after 1 s, jittered by up to 20%, and the scheduler
    # starts it on a whole second.
    deadline = time.monotonic() + 5
    while StreamDelivery.objects.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        rq_worker(with_scheduler=True)
    attempts = list(StreamDelivery.objects.order_by("attempt"))
    assert [a.attempt for a in attempts] == [1, 2]
    assert attempts[1].succeeded
    assert attempts[1].delivery_id == first.delivery_id
    assert stream_receiver.accepted[0].delivery_id == str(first.delivery_id)


def test_delivery_signature_verifies(order_workflow, stream_receiver, rq_worker):
    stream_receiver.fail_first = 0
    ingest_order()
    rq_worker()
    delivery = stream_receiver.deliveries[0]
    assert delivery.signature_valid
    body = delivery.json()
    assert body["event"]["data"]["id"] == 820982911946154508
    assert body["workflow"]["name"] == "Orders out"


def test_signature_rejects_changed_body(workspace_and_secret):
    secret = workspace_and_secret[1]
    body = b'{"a": 1}'
    headers = signing.signed_headers(secret, delivery_id="d-1", body=body)
    assert signing.verify(secret, headers=headers, body=body)
    assert not signing.verify(secret, headers=headers, body=b'{"a": 2}')


def test_signature_rejects_old_timestamp(workspace_and_secret):
    secret = workspace_and_secret[1]
    body = b"{}"
    headers = signing.signed_headers(secret, delivery_id="d-1", body=body)
    later = time.time() + signing.DEFAULT_TOLERANCE_SECONDS + 5
    assert not signing.verify(secret, headers=headers, body=body, now=later)


def test_signature_rejects_other_delivery_id(workspace_and_secret):
    secret = workspace_and_secret[1]
    body = b"{}"
    headers = signing.signed_headers(secret, delivery_id="d-1", body=body)
    headers[signing.DELIVERY_ID_HEADER] = "d-2"
    assert not signing.verify(secret, headers=headers, body=body)


def test_execution_data_lists_steps(order_workflow, rq_worker, stream_receiver):
    stream_receiver.fail_first = 0
    ingest_order()
    rq_worker()
    run = Run.objects.get()
    data = execution_data(run, "d-1")
    assert data["run"]["status"] == "succeeded"
    assert [step["key"] for step in data["steps"]] == ["trigger"]
    assert data["end_user"] == {"id": "merchant-1"}


def test_reconcile_resends_lost_first_attempt(
    order_workflow, stream_receiver, rq_worker, redis_flushed, settings
):
    from workflows import engine
    from workflows.services.reconcile import runs_reconcile

    stream_receiver.fail_first = 0
    settings.RUN_ENQUEUE_GRACE_SECONDS = 0.01
    ingest_order()
    run = Run.objects.get()
    engine.run_execute(run_id=run.pk)
    assert stream_receiver.wait_for(1, timeout=5)
    # As if the worker had died after the POST but before recording the
    # attempt: the delivery has no attempt on record.
    StreamDelivery.objects.filter(run=run).delete()
    time.sleep(0.05)
    result = runs_reconcile()
    rq_worker()
    run.refresh_from_db()
    assert result.streams_enqueued == [run.pk]
    # The receiver gets the same delivery id again and counts it a duplicate.
    repeats = [d for d in stream_receiver.deliveries if d.duplicate]
    assert [d.delivery_id for d in repeats] == [str(run.stream_delivery_id)]
    assert StreamDelivery.objects.get(run=run).succeeded


def test_reconcile_skips_delivered_stream(
    order_workflow, stream_receiver, rq_worker, settings
):
    from workflows.services.reconcile import runs_reconcile

    stream_receiver.fail_first = 0
    settings.RUN_ENQUEUE_GRACE_SECONDS = 0.01
    ingest_order()
    rq_worker()
    time.sleep(0.05)
    assert runs_reconcile().streams_enqueued == []
