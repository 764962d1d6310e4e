"""The number of database queries per intake request and per run, pinned.

These counts are the cost of the hot path, so a change that adds a query per
event or per run fails here without any timing. Each test runs in a real
transaction, not inside a test savepoint, so BEGIN and COMMIT count as they do
in production. Each also runs after one warm-up event, which puts the
per-process caches and the API key's last-used time in their steady state.
"""

import uuid

import django_rq
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations import services as integration_services
from tests.conftest import SHOP_DOMAIN
from tests.connectors.test_shopify_webhook import shopify_bytes, sign
from workflows import engine
from workflows.models import Run, RunStep
from workflows.services import versions
from workflows.tutorial import ORDER_REQUESTED_SAMPLE

pytestmark = pytest.mark.django_db(transaction=True)

# Custom event intake, warm: the API key and the route (end user, installations,
# workflows and the versions they run) come from the process's cache, so one
# statement stores the event with its runs and commits by itself. Handing the
# runs to the ready list writes nothing to the database.
CUSTOM_EVENT_QUERIES = 1
# Shopify webhook intake, warm: the shop's connections and their routes come
# from the cache, and one statement stores the event with its runs.
SHOPIFY_WEBHOOK_QUERIES = 1
# A run with one action is claimed by one guarded UPDATE that also returns it
# with its event, end user, workspace and installation, and is given its
# trigger's step. The action's step is marked started before the call and
# finished after it. One UPDATE finishes the run, and only while this worker
# holds its lease.
RUN_WITH_ONE_ACTION_QUERIES = 5
# A run without actions whose trigger has a stream URL makes the claim, the
# trigger's step and the finishing UPDATE above, which also stores the
# delivery id. Its first delivery attempt follows in the same job: the
# run with its workflow and event, its steps, and the attempt's record.
RUN_WITH_STREAM_QUERIES = 6


def captured_sql(context: CaptureQueriesContext) -> str:
    return "\n".join(query["sql"][:120] for query in context.captured_queries)


@pytest.fixture
def post_event(client, api_key):
    def send(event_name: str, data: dict):
        return client.post(
            "/api/v1/events",
            {"event": event_name, "user": "merchant-1", "data": data},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {api_key}",
        )

    return send


@pytest.fixture
def post_webhook(client, settings):
    body = shopify_bytes("orders_create.json")

    def send():
        return client.generic(
            "POST",
            "/webhooks/shopify",
            body,
            content_type="application/json",
            HTTP_X_SHOPIFY_TOPIC="orders/create",
            HTTP_X_SHOPIFY_SHOP_DOMAIN=SHOP_DOMAIN,
            HTTP_X_SHOPIFY_API_VERSION="2026-07",
            HTTP_X_SHOPIFY_WEBHOOK_ID=str(uuid.uuid4()),
            HTTP_X_SHOPIFY_EVENT_ID=str(uuid.uuid4()),
            HTTP_X_SHOPIFY_HMAC_SHA256=sign(body, settings.SHOPIFY_CLIENT_SECRET),
        )

    return send


@pytest.fixture
def http_workflow(workspace, end_user, connection, sandbox, receiver, settings):
    """A custom event mapped to one signed POST, the benchmark's workload."""
    integration = integration_services.integration_create(
        workspace=workspace, name="Deliveries", app="shopify"
    )
    workflow = versions.workflow_create(
        integration=integration,
        name="Deliver signups",
        trigger_connector="custom",
        trigger_operation="custom_event",
        trigger_config={
            "event_name": "signup",
            "schema": {
                "type": "object",
                "required": ["email"],
                "properties": {"email": {"type": "string"}, "plan": {"type": "string"}},
            },
        },
    )
    draft = workflow.versions.get()
    block = versions.action_add(
        version=draft, key="deliver", connector="http", operation="post_json"
    )
    versions.mapping_set(
        block=block, target="url", kind="literal", value=f"{receiver.url}/signups"
    )
    versions.mapping_set(
        block=block,
        target="body",
        kind="expression",
        value="{email: event.email, plan: event.plan, user: user.id}",
    )
    versions.version_release(version=draft, released_by="tests")
    versions.version_publish(version=draft, published_by="tests")
    integration_services.installation_create(
        end_user=end_user, integration=integration, connection=connection
    )
    return workflow


def test_custom_event_intake_query_count(installed, post_event):
    assert post_event("order_requested", ORDER_REQUESTED_SAMPLE).status_code == 202
    with CaptureQueriesContext(connection) as context:
        response = post_event("order_requested", ORDER_REQUESTED_SAMPLE)
    assert response.status_code == 202
    assert len(context.captured_queries) == CUSTOM_EVENT_QUERIES, captured_sql(context)


def test_custom_event_answer_names_version(installed, post_event):
    response = post_event("order_requested", ORDER_REQUESTED_SAMPLE)
    run = Run.objects.get(pk=response.json()["runs"][0]["id"])
    assert response.json()["runs"][0]["version"] == run.version.number


def test_custom_event_run_waits_in_ready_list(installed, post_event, redis_flushed):
    from workflows.services.dispatch import READY_KEY

    response = post_event("order_requested", ORDER_REQUESTED_SAMPLE)
    run_id = response.json()["runs"][0]["id"]
    assert redis_flushed.lrange(READY_KEY, 0, -1) == [str(run_id).encode()]
    # A drain job was enqueued for the first free slot.
    jobs = django_rq.get_queue("default").get_jobs()
    drains = [job.args for job in jobs if job.func_name.endswith("runs_drain_job")]
    assert [args[0] for args in drains] == [0]


def test_shopify_webhook_intake_query_count(installed, post_webhook):
    assert post_webhook().status_code == 200
    with CaptureQueriesContext(connection) as context:
        response = post_webhook()
    assert response.status_code == 200
    assert len(context.captured_queries) == SHOPIFY_WEBHOOK_QUERIES, captured_sql(
        context
    )


def run_of(response) -> Run:
    return Run.objects.get(pk=response.json()["runs"][0]["id"])


def test_run_with_one_action_query_count(http_workflow, post_event, receiver):
    engine.run_execute(run_id=run_of(post_event("signup", {"email": "a@b.co"})).pk)
    run = run_of(post_event("signup", {"email": "jane@example.com", "plan": "pro"}))
    with CaptureQueriesContext(connection) as context:
        engine.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert len(context.captured_queries) == RUN_WITH_ONE_ACTION_QUERIES, captured_sql(
        context
    )


def test_run_steps_complete_after_fast_path(http_workflow, post_event, receiver):
    run = run_of(post_event("signup", {"email": "jane@example.com", "plan": "pro"}))
    engine.run_execute(run_id=run.pk)
    trigger, deliver = RunStep.objects.filter(run=run).order_by("position")
    assert trigger.status == RunStep.Status.SUCCEEDED
    assert trigger.output == {"email": "jane@example.com", "plan": "pro"}
    assert trigger.finished_at is not None
    assert deliver.status == RunStep.Status.SUCCEEDED
    assert deliver.input["body"] == {
        "email": "jane@example.com",
        "plan": "pro",
        "user": "merchant-1",
    }
    assert deliver.output["status_code"] == 200
    assert deliver.finished_at is not None
    assert receiver.deliveries[-1].json()["email"] == "jane@example.com"


def test_run_with_stream_query_count(installed, post_webhook):
    post_webhook()
    engine.run_execute(run_id=Run.objects.latest("pk").pk)
    post_webhook()
    run = Run.objects.latest("pk")
    with CaptureQueriesContext(connection) as context:
        engine.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert run.stream_delivery_id is not None
    assert len(context.captured_queries) == RUN_WITH_STREAM_QUERIES, captured_sql(
        context
    )
