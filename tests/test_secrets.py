"""A planted secret never shows in logs, run records, the admin or the API."""

import json

import pytest

from integrations import services as integration_services
from workflows.models import Run, RunStep, StreamDelivery
from workflows.tutorial import ORDER_REQUESTED_SAMPLE, tutorial_integration_create

pytestmark = pytest.mark.django_db(transaction=True)

PLANTED_TOKEN = "shpat_planted0secret0value0for0grep"


@pytest.fixture
def planted(settings, live_server, sandbox, workspace, receiver, end_user):
    settings.PUBLIC_BASE_URL = live_server.url
    sandbox.add_shop("planted.myshopify.com", access_token=PLANTED_TOKEN)
    connection = integration_services.connection_create(
        end_user=end_user,
        app="shopify",
        account_id="planted.myshopify.com",
        credentials={"access_token": PLANTED_TOKEN},
    )
    integration = tutorial_integration_create(
        workspace=workspace, stream_base_url=receiver.url
    )
    integration_services.installation_create(
        end_user=end_user, integration=integration, connection=connection
    )
    return connection


def test_planted_secrets_never_exposed(
    planted,
    client,
    admin_client,
    api_key,
    workspace_and_secret,
    sandbox,
    rq_worker,
    capsys,
    caplog,
):
    signing_secret = workspace_and_secret[1]
    # One run succeeds, one fails on Shopify's 401, which names the shop.
    for fault in (None, {"kind": "error", "status": 401}):
        if fault:
            sandbox.inject_fault(**fault)
        client.post(
            "/api/v1/events",
            {
                "event": "order_requested",
                "user": "merchant-1",
                "data": ORDER_REQUESTED_SAMPLE,
            },
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {api_key}",
        )
        rq_worker(with_scheduler=True)
    sandbox.wait_for_deliveries(1, timeout=10)
    rq_worker()

    exposed = [capsys.readouterr().err, caplog.text]
    exposed += [
        json.dumps(row, default=str)
        for model in (Run, RunStep, StreamDelivery)
        for row in model.objects.values()
    ]
    run = Run.objects.first()
    for path in (
        "/admin/workflows/run/",
        f"/admin/workflows/run/{run.pk}/change/",
        "/admin/integrations/connection/",
        f"/admin/integrations/connection/{planted.pk}/change/",
        "/admin/integrations/workspace/",
    ):
        exposed.append(admin_client.get(path).content.decode())
    for path in ("/api/v1/runs", f"/api/v1/runs/{run.pk}"):
        exposed.append(
            client.get(path, HTTP_AUTHORIZATION=f"Bearer {api_key}").content.decode()
        )
    text = "\n".join(exposed)
    assert Run.objects.filter(status=Run.Status.FAILED).exists()
    assert PLANTED_TOKEN not in text
    assert signing_secret not in text
    assert api_key not in text
