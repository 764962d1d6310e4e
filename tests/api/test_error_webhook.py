"""The workspace error webhook: a signed POST for every failed run."""

import time

import pytest
from rest_framework.test import APIClient

from connectors.http.receiver import StreamReceiver
from integrations import services as integration_services
from workflows.tutorial import BUTTON_CLICKED_SAMPLE, tutorial_integration_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


@pytest.fixture
def installed(workspace, end_user, connection, settings, receiver):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"
    integration = tutorial_integration_create(
        workspace=workspace, stream_base_url=receiver.url
    )
    return integration_services.installation_create(
        end_user=end_user, integration=integration, connection=connection
    )


def fail_a_run(api) -> int:
    data = {**BUTTON_CLICKED_SAMPLE, "email": "nobody@example.com"}
    response = api.post(
        "/api/v1/events",
        {"event": "customer_button_clicked", "user": "merchant-1", "data": data},
        format="json",
    )
    return response.json()["runs"][0]["id"]


def test_failed_run_notifies_error_webhook(installed, api, receiver, rq_worker):
    url = f"{receiver.url}/errors"
    set_response = api.patch(
        "/api/v1/workspace", {"error_webhook_url": url}, format="json"
    )
    assert set_response.status_code == 200
    run_id = fail_a_run(api)
    rq_worker()
    assert receiver.wait_for(1, timeout=10)
    delivery = next(d for d in receiver.accepted if d.path == "/errors")
    body = delivery.json()
    assert delivery.signature_valid
    assert body["type"] == "run.failed"
    assert body["run"]["id"] == run_id
    assert body["run"]["error"]["code"] == "shopify_customer_not_found"


def test_no_error_webhook_sends_nothing(installed, api, receiver, rq_worker):
    fail_a_run(api)
    rq_worker()
    assert [d.path for d in receiver.deliveries if d.path == "/errors"] == []


def test_error_webhook_rejects_non_http_url(api):
    response = api.patch(
        "/api/v1/workspace", {"error_webhook_url": "ftp://example.com"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["path"] == "$.error_webhook_url"


def test_failed_notification_retried_same_id(
    installed, api, workspace_and_secret, rq_worker
):
    errors = StreamReceiver(workspace_and_secret[1], fail_first=1).start()
    try:
        api.patch("/api/v1/workspace", {"error_webhook_url": errors.url}, format="json")
        fail_a_run(api)
        rq_worker()
        # The retry is due after 1 s (STREAM_RETRY_DELAYS), jittered by up to
        # 20%, and the scheduler starts it on a whole second.
        deadline = time.monotonic() + 5
        while not errors.accepted and time.monotonic() < deadline:
            time.sleep(0.1)
            rq_worker(with_scheduler=True)
        assert errors.wait_for(1, timeout=10)
    finally:
        errors.stop()
    assert len(errors.accepted) == 1
    assert errors.accepted[0].json()["type"] == "run.failed"


def test_error_webhook_rejects_internal_address(api, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    response = api.patch(
        "/api/v1/workspace",
        {"error_webhook_url": "http://169.254.169.254/latest/meta-data"},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["path"] == "$.error_webhook_url"


def test_error_webhook_rejects_malformed_url(api):
    response = api.patch(
        "/api/v1/workspace", {"error_webhook_url": "http://[::1"}, format="json"
    )
    assert response.status_code in (400, 422)
    assert response.json()["error"]["fields"][0]["path"] == "$.error_webhook_url"
