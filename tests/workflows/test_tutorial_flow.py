"""Both tutorial flows end to end: HTTP intake, RQ worker, sandbox, receiver."""

import pytest
import requests

from integrations import services as integration_services
from tests.conftest import SHOP_DOMAIN
from workflows.models import Run, RunStep, WorkflowVersion
from workflows.services import versions
from workflows.tutorial import (
    BUTTON_CLICKED_SAMPLE,
    ORDER_REQUESTED_SAMPLE,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def installed(tutorial_installed):
    return tutorial_installed


def send(live_server, api_key, name, data, **extra):
    return requests.post(
        f"{live_server.url}/api/v1/events",
        json={"event": name, "user": "merchant-1", "data": data, **extra},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    )


def test_install_subscribes_shop_to_topics(installed, sandbox):
    topics = sorted(s["topic"] for s in sandbox.shop(SHOP_DOMAIN).webhook_subscriptions)
    assert topics == ["CUSTOMERS_CREATE", "ORDERS_CREATE"]


def test_install_twice_keeps_one_subscription_per_topic(
    installed, sandbox, end_user, connection
):
    integration_services.installation_create(
        end_user=end_user, integration=installed, connection=connection
    )
    assert len(sandbox.shop(SHOP_DOMAIN).webhook_subscriptions) == 2


def test_order_requested_creates_shopify_order(
    installed, live_server, api_key, sandbox, rq_worker
):
    response = send(live_server, api_key, "order_requested", ORDER_REQUESTED_SAMPLE)
    assert response.status_code == 202
    rq_worker()
    orders = sandbox.shop(SHOP_DOMAIN).orders
    assert len(orders) == 1
    order = orders[0]
    assert order["email"] == "jane.doe@example.com"
    assert order["phone"] == "+15555550100"
    assert [(i["title"], i["quantity"], i["price"]) for i in order["line_items"]] == [
        ("Widget", 2, "19.99"),
        ("Gadget & case", 1, "5.00"),
    ]
    assert (
        order["note"] == "Requested in Acme Co by merchant-1: Leave at the front desk"
    )
    run = Run.objects.get(pk=response.json()["runs"][0]["id"])
    assert run.status == Run.Status.SUCCEEDED
    step = run.steps.get(key="create_order")
    assert step.output["name"] == order["name"]


def test_shopify_order_streams_to_author(
    installed, live_server, api_key, sandbox, receiver, rq_worker
):
    send(live_server, api_key, "order_requested", ORDER_REQUESTED_SAMPLE)
    rq_worker()
    assert sandbox.wait_for_deliveries(2, timeout=10)
    rq_worker()
    assert receiver.wait_for(2, timeout=10)
    by_path = {d.path: d for d in receiver.accepted}
    assert sorted(by_path) == ["/alloy/customers", "/alloy/orders"]
    order_delivery = by_path["/alloy/orders"].json()
    shop_order = sandbox.shop(SHOP_DOMAIN).orders[0]
    assert order_delivery["event"]["name"] == "orders/create"
    assert order_delivery["event"]["data"]["id"] == shop_order["id"]
    assert order_delivery["run"]["status"] == "succeeded"
    assert by_path["/alloy/orders"].signature_valid


def test_app_event_runs_record_trigger_step(
    installed, live_server, api_key, sandbox, rq_worker
):
    send(live_server, api_key, "order_requested", ORDER_REQUESTED_SAMPLE)
    rq_worker()
    sandbox.wait_for_deliveries(2, timeout=10)
    rq_worker()
    run = Run.objects.get(event__name="orders/create")
    steps = list(run.steps.all())
    assert [s.key for s in steps] == ["trigger"]
    assert steps[0].status == RunStep.Status.SUCCEEDED
    assert run.stream_deliveries.filter(succeeded=True).count() == 1


def test_button_click_tags_customer(
    installed, live_server, api_key, sandbox, rq_worker
):
    send(live_server, api_key, "order_requested", ORDER_REQUESTED_SAMPLE)
    rq_worker()
    response = send(
        live_server, api_key, "customer_button_clicked", BUTTON_CLICKED_SAMPLE
    )
    assert response.status_code == 202
    rq_worker()
    customers = sandbox.shop(SHOP_DOMAIN).customers
    assert len(customers) == 1
    tags = customers[0]["tags"]
    tags = tags if isinstance(tags, list) else [t.strip() for t in tags.split(",")]
    assert "acme-upgrade-clicked" in tags


def test_button_click_unknown_customer_fails_step(
    installed, live_server, api_key, rq_worker
):
    data = {**BUTTON_CLICKED_SAMPLE, "email": "nobody@example.com"}
    response = send(live_server, api_key, "customer_button_clicked", data)
    rq_worker()
    run = Run.objects.get(pk=response.json()["runs"][0]["id"])
    assert run.status == Run.Status.FAILED
    assert run.error["code"] == "shopify_customer_not_found"
    assert run.steps.get(key="tag_customer").status == RunStep.Status.FAILED


def test_shopify_user_errors_become_step_fields(
    installed, live_server, api_key, rq_worker, settings
):
    # Shopify rejects the order because ZZZ is not an ISO 4217 currency code.
    workflow = installed.workflows.get(name="Create Shopify order from Acme Co")
    draft = versions.version_create_next(workflow=workflow)
    block = draft.blocks.get(key="create_order")
    versions.mapping_set(block=block, target="currency", kind="literal", value="ZZZ")
    versions.version_release(version=draft)
    versions.version_publish(version=draft)
    response = send(live_server, api_key, "order_requested", ORDER_REQUESTED_SAMPLE)
    rq_worker()
    run = Run.objects.get(pk=response.json()["runs"][0]["id"])
    assert run.status == Run.Status.FAILED
    assert run.error["code"] in {"shopify_user_errors", "shopify_graphql_error"}
    assert run.error["message"]


def test_run_keeps_version_it_started_on(installed, live_server, api_key, rq_worker):
    workflow = installed.workflows.get(name="Create Shopify order from Acme Co")
    first = workflow.published_version
    response = send(live_server, api_key, "order_requested", ORDER_REQUESTED_SAMPLE)
    queued_run = Run.objects.get(pk=response.json()["runs"][0]["id"])

    draft = versions.version_create_next(workflow=workflow)
    block = draft.blocks.get(key="create_order")
    versions.mapping_set(block=block, target="tags", kind="literal", value=["v2"])
    versions.version_release(version=draft)
    versions.version_publish(version=draft)
    second = send(live_server, api_key, "order_requested", ORDER_REQUESTED_SAMPLE)
    rq_worker()

    queued_run.refresh_from_db()
    newer_run = Run.objects.get(pk=second.json()["runs"][0]["id"])
    assert queued_run.version_id == first.pk
    assert newer_run.version.number == 2
    assert queued_run.steps.get(key="create_order").input["tags"] == ["acme-co"]
    assert newer_run.steps.get(key="create_order").input["tags"] == ["v2"]


def test_rollback_routes_new_events_to_older_release(
    installed, live_server, api_key, rq_worker
):
    workflow = installed.workflows.get(name="Create Shopify order from Acme Co")
    first = workflow.published_version
    draft = versions.version_create_next(workflow=workflow)
    versions.version_release(version=draft)
    versions.version_publish(version=draft)
    versions.version_rollback(workflow=workflow, version=first)
    response = send(live_server, api_key, "order_requested", ORDER_REQUESTED_SAMPLE)
    run = Run.objects.get(pk=response.json()["runs"][0]["id"])
    assert run.version_id == first.pk
    assert WorkflowVersion.objects.filter(workflow=workflow).count() == 2


def test_rqworker_command_executes_run(installed, live_server, api_key, sandbox):
    """``manage.py rqworker`` in its own process executes a queued run."""
    import os
    import subprocess
    import sys

    from django.conf import settings
    from django.db import connection as db

    response = send(live_server, api_key, "order_requested", ORDER_REQUESTED_SAMPLE)
    run_id = response.json()["runs"][0]["id"]
    database = db.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
            f"/{database['NAME']}"
        ),
        "SHOPIFY_API_URL": settings.SHOPIFY_API_URL,
        "PUBLIC_BASE_URL": live_server.url,
    }
    subprocess.run(
        [sys.executable, "manage.py", "rqworker", "default", "--burst"],
        env=env,
        check=True,
        timeout=120,
        cwd=settings.BASE_DIR,
        capture_output=True,
    )
    assert Run.objects.get(pk=run_id).status == Run.Status.SUCCEEDED
    assert len(sandbox.shop(SHOP_DOMAIN).orders) == 1


def _publish_order_note(workflow, expression):
    draft = versions.version_create_next(workflow=workflow)
    block = draft.blocks.get(key="create_order")
    versions.mapping_set(
        block=block, target="note", kind="expression", value=expression
    )
    versions.version_release(version=draft)
    versions.version_publish(version=draft)


def test_unstorable_step_input_fails_before_call(
    installed, live_server, api_key, sandbox, rq_worker
):
    workflow = installed.workflows.get(name="Create Shopify order from Acme Co")
    _publish_order_note(workflow, '`"a\\u0000b"`')
    response = send(live_server, api_key, "order_requested", ORDER_REQUESTED_SAMPLE)
    rq_worker()
    run = Run.objects.get(pk=response.json()["runs"][0]["id"])
    step = run.steps.get(key="create_order")
    assert run.status == Run.Status.FAILED
    assert step.error["fields"][0]["path"] == "$.note"
    assert sandbox.shop(SHOP_DOMAIN).orders == []


def test_mapping_type_error_fails_run(installed, live_server, api_key, rq_worker):
    workflow = installed.workflows.get(name="Create Shopify order from Acme Co")
    _publish_order_note(workflow, "join(', ', event.line_items[*].quantity)")
    response = send(live_server, api_key, "order_requested", ORDER_REQUESTED_SAMPLE)
    rq_worker()
    run = Run.objects.get(pk=response.json()["runs"][0]["id"])
    assert run.status == Run.Status.FAILED
    assert run.steps.get(key="create_order").error["code"] == "mapping_failed"
