"""Intake's per-process caches: every change they depend on shows on the next request.

Each change is made as another process would make it: this process's caches
keep the entries they had, so only the shared generation token in Redis can
tell intake that they are stale.
"""

import contextlib

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from alloy import generation
from integrations import services as integration_services
from integrations.models import ApiKey
from tests.test_query_counts import post_webhook  # noqa: F401
from workflows.models import Workflow
from workflows.services import installed_versions, versions
from workflows.tutorial import ORDER_REQUESTED_SAMPLE, tutorial_integration_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def post_event(client, api_key):
    def send(user: str = "merchant-1"):
        return client.post(
            "/api/v1/events",
            {"event": "order_requested", "user": user, "data": ORDER_REQUESTED_SAMPLE},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {api_key}",
        )

    return send


@contextlib.contextmanager
def in_another_process():
    """Make changes while this process's caches keep what they hold."""
    saved = [(cache._token, dict(cache._entries)) for cache in generation._caches]
    yield
    for cache, (token, entries) in zip(generation._caches, saved, strict=True):
        cache._token = token
        cache._entries = entries


def order_workflow(integration) -> Workflow:
    return Workflow.objects.get(
        integration=integration, name="Create Shopify order from Acme Co"
    )


def publish_next(workflow: Workflow) -> None:
    draft = versions.version_create_next(workflow=workflow)
    versions.version_release(version=draft, released_by="tests")
    versions.version_publish(version=draft, published_by="tests")


def test_cached_event_reads_nothing_before_insert(installed, post_event):
    post_event()
    with CaptureQueriesContext(db_connection) as context:
        assert post_event().status_code == 202
    assert not [q for q in context.captured_queries if q["sql"].startswith("SELECT")]


def test_revoked_key_refused_next_request(installed, post_event, api_key):
    assert post_event().status_code == 202
    with in_another_process():
        integration_services.api_key_revoke(key=ApiKey.objects.get())
    assert post_event().status_code == 401


def test_key_revoked_in_admin_refused(installed, post_event, admin_client):
    assert post_event().status_code == 202
    key = ApiKey.objects.get()
    with in_another_process():
        admin_client.post(
            f"/admin/integrations/apikey/{key.pk}/change/",
            {
                "workspace": key.workspace_id,
                "name": key.name,
                "revoked_at_0": "2026-01-01",
                "revoked_at_1": "00:00:00",
            },
        )
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert post_event().status_code == 401


def test_published_version_runs_next_event(installed, post_event):
    assert post_event().json()["runs"][0]["version"] == 1
    with in_another_process():
        publish_next(order_workflow(installed))
    assert post_event().json()["runs"][0]["version"] == 2


def test_pinned_installation_keeps_version(installed, post_event, end_user):
    integration_services.integration_version_policy_set(
        integration=installed, version_policy="pinned"
    )
    post_event()
    with in_another_process():
        publish_next(order_workflow(installed))
    assert post_event().json()["runs"][0]["version"] == 1


def test_upgraded_installation_runs_new_version(installed, post_event, end_user):
    integration_services.integration_version_policy_set(
        integration=installed, version_policy="pinned"
    )
    publish_next(order_workflow(installed))
    assert post_event().json()["runs"][0]["version"] == 1
    with in_another_process():
        installed_versions.installation_upgrade(
            installation=end_user.installations.get()
        )
    assert post_event().json()["runs"][0]["version"] == 2


def test_removed_installation_stops_events(installed, post_event, end_user):
    assert post_event().status_code == 202
    with in_another_process():
        integration_services.installation_delete(
            installation=end_user.installations.get()
        )
    response = post_event()
    assert response.json()["error"]["code"] == "integration_not_installed"


def test_installation_deleted_in_admin_stops_events(
    installed, post_event, end_user, admin_client
):
    assert post_event().status_code == 202
    installation = end_user.installations.get()
    with in_another_process():
        admin_client.post(
            f"/admin/integrations/installation/{installation.pk}/delete/",
            {"post": "yes"},
        )
    assert not end_user.installations.exists()
    assert post_event().status_code == 409


def test_new_installation_starts_runs(workspace, end_user, connection, post_event):
    integration = tutorial_integration_create(
        workspace=workspace, stream_base_url="http://127.0.0.1:9"
    )
    assert post_event().status_code == 409
    with in_another_process():
        integration_services.installation_create(
            end_user=end_user, integration=integration, connection=connection
        )
    assert post_event().status_code == 202


def test_deleted_end_user_not_found(installed, post_event, end_user):
    assert post_event().status_code == 202
    with in_another_process():
        integration_services.end_user_delete(end_user=end_user)
    response = post_event()
    assert response.json()["error"]["code"] == "end_user_not_found"


def test_disabled_connection_stops_webhooks(installed, post_webhook, connection):  # noqa: F811
    assert post_webhook().json()["runs"]
    with in_another_process():
        integration_services.connection_disable(connection=connection)
    assert post_webhook().json()["runs"] == []


def test_webhook_runs_published_version(installed, post_webhook):  # noqa: F811
    post_webhook()
    workflow = Workflow.objects.get(
        integration=installed, name="Send new Shopify orders to Acme Co"
    )
    with in_another_process():
        publish_next(workflow)
    run_id = post_webhook().json()["runs"][0]
    assert workflow.runs.get(pk=run_id).version.number == 2


def test_flushed_redis_empties_caches(installed, post_event, redis_flushed):
    post_event()
    with in_another_process():
        integration_services.api_key_revoke(key=ApiKey.objects.get())
    redis_flushed.flushdb()
    assert post_event().status_code == 401


def test_no_cache_without_redis(settings):
    settings.JOBS_IN_PROCESS = True
    assert generation.generation_current() is None


def test_cache_ignores_entries_of_old_token():
    cache = generation.GenerationCache()
    cache.set("old", "key", "value")
    assert cache.get("new", "key") is None
