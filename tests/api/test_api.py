"""The JSON API: tenant isolation, batches, replay, versions, rate limits, docs."""

import json
import re

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from integrations import services as integration_services
from integrations.models import ApiKey
from workflows.models import Event, Run
from workflows.tutorial import ORDER_REQUESTED_SAMPLE, tutorial_integration_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def installed(workspace, end_user, connection, sandbox, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"
    integration = tutorial_integration_create(
        workspace=workspace, stream_base_url="http://127.0.0.1:9"
    )
    installation = integration_services.installation_create(
        end_user=end_user, integration=integration, connection=connection
    )
    return installation


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def api(api_key):
    return client_for(api_key)


@pytest.fixture
def stranger(db):
    other, _ = integration_services.workspace_create(name="Other", slug="other")
    _, key = integration_services.api_key_create(workspace=other, name="other")
    return client_for(key)


def send_order(api) -> dict:
    return api.post(
        "/api/v1/events",
        {
            "event": "order_requested",
            "user": "merchant-1",
            "data": ORDER_REQUESTED_SAMPLE,
        },
        format="json",
    ).json()


def test_other_workspace_gets_404_everywhere(installed, api, stranger):
    run = send_order(api)["runs"][0]["id"]
    ids = {
        "user": "merchant-1",
        "integration": installed.integration_id,
        "installation": installed.pk,
        "connection": installed.connection_id,
        "run": run,
        "api_key": ApiKey.objects.get(workspace=installed.end_user.workspace).pk,
    }
    calls = [
        ("get", "/api/v1/end-users/{user}", None),
        ("delete", "/api/v1/end-users/{user}", None),
        ("post", "/api/v1/end-users/{user}/token", None),
        ("get", "/api/v1/end-users/{user}/connections", None),
        (
            "post",
            "/api/v1/end-users/{user}/connections",
            {
                "app": "shopify",
                "account_id": "x.myshopify.com",
                "credentials": {"access_token": "t"},
            },
        ),
        ("delete", "/api/v1/end-users/{user}/connections/{connection}", None),
        ("get", "/api/v1/integrations/{integration}", None),
        ("patch", "/api/v1/integrations/{integration}", {"version_policy": "pinned"}),
        ("post", "/api/v1/integrations/{integration}/upgrade", {}),
        ("get", "/api/v1/installations/{installation}", None),
        ("delete", "/api/v1/installations/{installation}", None),
        ("post", "/api/v1/installations/{installation}/upgrade", {}),
        ("get", "/api/v1/runs/{run}", None),
        ("delete", "/api/v1/api-keys/{api_key}", None),
        ("post", "/api/v1/runs/{run}/replay", None),
        ("get", "/api/v1/integrations?user={user}", None),
        (
            "post",
            "/api/v1/installations",
            {
                "user": "merchant-1",
                "integration": installed.integration_id,
                "connection": installed.connection_id,
            },
        ),
    ]
    for method, path, body in calls:
        response = getattr(stranger, method)(path.format(**ids), body, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
    assert stranger.get("/api/v1/runs").json()["results"] == []
    assert stranger.get("/api/v1/end-users").json()["results"] == []
    assert stranger.get("/api/v1/installations").json()["results"] == []
    assert api.get("/api/v1/end-users/merchant-1").status_code == 200
    assert Run.objects.filter(pk=run).exists()


def test_batch_stores_valid_names_invalid(installed, api):
    good = {
        "event": "order_requested",
        "user": "merchant-1",
        "data": ORDER_REQUESTED_SAMPLE,
    }
    bad_schema = {**good, "data": {"email": "nope"}}
    response = api.post(
        "/api/v1/events/batch",
        {"events": [good, bad_schema, "text", {"event": "order_requested"}, good]},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert [r["status"] for r in body["results"]] == [202, 422, 400, 400, 202]
    paths = [f["path"] for f in body["results"][1]["error"]["fields"]]
    assert "$.events[1].data.email" in paths
    assert body["results"][2]["error"]["fields"][0]["path"] == "$.events[2]"
    missing = [f["path"] for f in body["results"][3]["error"]["fields"]]
    assert "$.events[3].user" in missing
    assert Event.objects.count() == 2


def test_batch_over_500_rejected(installed, api):
    event = {"event": "order_requested", "user": "merchant-1", "data": {}}
    response = api.post(
        "/api/v1/events/batch", {"events": [event] * 501}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["path"] == "$.events"


def test_replay_runs_same_version(installed, api):
    first = send_order(api)["runs"][0]["id"]
    replay = api.post(f"/api/v1/runs/{first}/replay")
    assert replay.status_code == 202
    original, again = Run.objects.get(pk=first), Run.objects.get(pk=replay.json()["id"])
    assert again.version_id == original.version_id
    assert again.event_id == original.event_id
    assert again.replay_of_id == original.pk


def test_pinned_installation_waits_for_upgrade(installed, api, settings):
    from workflows.services import versions

    integration = installed.integration
    api.patch(
        f"/api/v1/integrations/{integration.pk}",
        {"version_policy": "pinned"},
        format="json",
    )
    workflow = integration.workflows.get(name="Create Shopify order from Acme Co")
    first = workflow.published_version
    draft = versions.version_create_next(workflow=workflow)
    versions.version_release(version=draft)
    versions.version_publish(version=draft)
    listed = api.get("/api/v1/integrations", {"user": "merchant-1"}).json()["results"][
        0
    ]
    assert listed["installation"]["upgrade_available"] is True
    event = {
        "event": "order_requested",
        "user": "merchant-1",
        "data": ORDER_REQUESTED_SAMPLE,
    }
    pinned_run = api.post("/api/v1/events", event, format="json").json()["runs"][0]
    assert pinned_run["version"] == first.number
    api.post(f"/api/v1/integrations/{integration.pk}/upgrade", {}, format="json")
    upgraded_run = api.post("/api/v1/events", event, format="json").json()["runs"][0]
    assert upgraded_run["version"] == draft.number


def test_follower_moves_on_rollback(installed, api):
    from workflows.services import versions

    workflow = installed.integration.workflows.get(
        name="Create Shopify order from Acme Co"
    )
    first = workflow.published_version
    draft = versions.version_create_next(workflow=workflow)
    versions.version_release(version=draft)
    versions.version_publish(version=draft)
    versions.version_rollback(workflow=workflow, version=first)
    event = {
        "event": "order_requested",
        "user": "merchant-1",
        "data": ORDER_REQUESTED_SAMPLE,
    }
    run = api.post("/api/v1/events", event, format="json").json()["runs"][0]
    assert run["version"] == first.number


def test_end_user_delete_removes_installations(installed, api, sandbox):
    from tests.conftest import SHOP_DOMAIN

    assert api.delete("/api/v1/end-users/merchant-1").status_code == 204
    assert api.get("/api/v1/installations").json()["results"] == []
    assert sandbox.shop(SHOP_DOMAIN).webhook_subscriptions == []


class FrozenClock:
    """The throttle's clock, set by the test so no window boundary falls inside."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def throttle_clock(monkeypatch):
    from alloy.api import ApiKeyRateThrottle

    clock = FrozenClock(1_800_000_015.0)
    monkeypatch.setattr(ApiKeyRateThrottle, "timer", staticmethod(clock))
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    cache.clear()
    return clock


def test_rate_limit_returns_429(api, throttle_clock):
    codes = [api.get("/api/v1/end-users").status_code for _ in range(3)]
    response = api.get("/api/v1/end-users")
    assert codes == [200, 200, 429]
    assert response["Retry-After"] == "45"
    assert response.json()["error"]["code"] == "throttled"


def test_rate_limit_resets_next_window(api, throttle_clock):
    for _ in range(3):
        api.get("/api/v1/end-users")
    throttle_clock.now += 60
    assert api.get("/api/v1/end-users").status_code == 200


def test_docs_served_without_cdn(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    # Every asset comes from this server: no address names another host. A
    # bare "cdn" substring could appear by chance in the page's random nonce.
    text = page.content.decode()
    assert re.findall(r"(?:src|href)=[\"'](?:https?:)?//", text) == []
    assert re.findall(r"https?://(?!127\.0\.0\.1|localhost|testserver)", text) == []
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in text


def test_end_user_list_pages_by_cursor(api, workspace):
    for number in range(3):
        api.post("/api/v1/end-users", {"id": f"user-{number}"}, format="json")
    first = api.get("/api/v1/end-users", {"limit": 2}).json()
    second = api.get(first["next"]).json()
    assert [u["id"] for u in first["results"]] == ["user-2", "user-1"]
    assert [u["id"] for u in second["results"]] == ["user-0"]
    assert second["next"] is None


def test_end_user_duplicate_id_conflicts(api, workspace):
    api.post("/api/v1/end-users", {"id": "same"}, format="json")
    response = api.post("/api/v1/end-users", {"id": "same"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_exists"


def test_run_list_filters(installed, api):
    event = {
        "event": "order_requested",
        "user": "merchant-1",
        "data": ORDER_REQUESTED_SAMPLE,
    }
    api.post("/api/v1/events", event, format="json")
    queued = api.get("/api/v1/runs", {"status": "queued", "user": "merchant-1"})
    failed = api.get("/api/v1/runs", {"status": "failed"})
    invalid = api.get("/api/v1/runs", {"status": "sleeping"})
    assert len(queued.json()["results"]) == 1
    assert failed.json()["results"] == []
    assert invalid.status_code == 400
    assert invalid.json()["error"]["fields"][0]["path"] == "$.status"


def test_batch_repeat_returns_first_results(installed, api):
    event = {
        "event": "order_requested",
        "user": "merchant-1",
        "data": ORDER_REQUESTED_SAMPLE,
        "idempotency_key": "batch-1",
    }
    first = api.post("/api/v1/events/batch", {"events": [event]}, format="json")
    again = api.post("/api/v1/events/batch", {"events": [event]}, format="json")
    assert first.json()["results"][0]["status"] == 202
    assert again.json()["results"][0]["status"] == 200
    assert again.json()["results"][0]["event"] == first.json()["results"][0]["event"]
    assert Event.objects.count() == 1


def test_publish_subscribes_installed_shops(
    workspace,
    end_user,
    connection,
    sandbox,
    settings,
    rq_worker,
    django_capture_on_commit_callbacks,
):
    from tests.conftest import SHOP_DOMAIN
    from workflows.services import versions

    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"
    integration = integration_services.integration_create(
        workspace=workspace, name="Orders", app="shopify"
    )
    integration_services.installation_create(
        end_user=end_user, integration=integration, connection=connection
    )
    assert sandbox.shop(SHOP_DOMAIN).webhook_subscriptions == []
    workflow = versions.workflow_create(
        integration=integration,
        name="New orders",
        trigger_connector="shopify",
        trigger_operation="order_created",
    )
    version = workflow.versions.get()
    versions.version_release(version=version)
    with django_capture_on_commit_callbacks(execute=True):
        versions.version_publish(version=version)
    rq_worker()
    topics = [s["topic"] for s in sandbox.shop(SHOP_DOMAIN).webhook_subscriptions]
    assert topics == ["ORDERS_CREATE"]


def test_api_key_created_then_revoked(api):
    created = api.post("/api/v1/api-keys", {"name": "backend"}, format="json")
    assert created.status_code == 201
    key = created.json()
    assert key["key"].startswith(key["prefix"])
    new_client = client_for(key["key"])
    assert new_client.get("/api/v1/end-users").status_code == 200
    assert api.delete(f"/api/v1/api-keys/{key['id']}").status_code == 204
    assert new_client.get("/api/v1/end-users").status_code == 401
    listed = api.get("/api/v1/api-keys").json()["results"]
    assert "key" not in listed[0]


def test_switch_to_follow_upgrades_installations(installed, api):
    from workflows.services import versions

    integration = installed.integration
    api.patch(
        f"/api/v1/integrations/{integration.pk}",
        {"version_policy": "pinned"},
        format="json",
    )
    workflow = integration.workflows.get(name="Create Shopify order from Acme Co")
    draft = versions.version_create_next(workflow=workflow)
    versions.version_release(version=draft)
    versions.version_publish(version=draft)
    api.patch(
        f"/api/v1/integrations/{integration.pk}",
        {"version_policy": "follow"},
        format="json",
    )
    run = send_order(api)["runs"][0]
    assert run["version"] == draft.number


def test_batch_unstorable_event_named_alone(installed, api):
    good = {"event": "order_requested", "user": "merchant-1"}
    body = (
        '{"events": ['
        + json.dumps({**good, "data": ORDER_REQUESTED_SAMPLE})
        + ', {"event": "order_requested", "user": "merchant-1", '
        '"data": {"note": "a\\u0000b"}}]}'
    )
    response = api.post("/api/v1/events/batch", body, content_type="application/json")
    results = response.json()["results"]
    assert response.status_code == 200
    assert [r["status"] for r in results] == [202, 400]
    assert results[1]["error"]["fields"][0]["path"] == "$.events[1].data.note"
    assert Event.objects.count() == 1


def test_upgrade_rejects_oversized_id(installed, api):
    response = api.post(
        f"/api/v1/integrations/{installed.integration_id}/upgrade",
        {"installations": [99999999999999999999]},
        format="json",
    )
    assert response.status_code == 400


@pytest.mark.parametrize("limit", ["abc", "0", "-1", "201", "1.5"])
def test_bad_page_size_is_refused(api, workspace, limit):
    response = api.get("/api/v1/end-users", {"limit": limit})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"][0]["path"] == "$.limit"
    assert "1 to 200" in error["fields"][0]["message"]


def test_garbage_cursor_is_refused(api, workspace):
    response = api.get("/api/v1/runs", {"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["path"] == "$.cursor"


def test_workspace_patch_is_partial(api, workspace):
    api.patch(
        "/api/v1/workspace",
        {"error_webhook_url": "http://127.0.0.1:9/errors"},
        format="json",
    )
    response = api.patch("/api/v1/workspace", {}, format="json")
    assert response.status_code == 200
    assert response.json()["error_webhook_url"] == "http://127.0.0.1:9/errors"


def test_installing_again_answers_200(installed, api):
    body = {
        "user": "merchant-1",
        "integration": installed.integration_id,
        "connection": installed.connection_id,
    }
    response = api.post("/api/v1/installations", body, format="json")
    assert response.status_code == 200
    assert response.json()["id"] == installed.pk
