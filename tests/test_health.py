"""The health endpoint and the Prometheus metrics."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_health_reports_database_and_redis(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_health_fails_without_redis(client, settings):
    from tests.faults.processes import free_port

    # A port nothing listens on: the check must report Redis, not raise.
    settings.RQ_QUEUES = {
        "default": {
            **settings.RQ_QUEUES["default"],
            "URL": f"redis://127.0.0.1:{free_port()}/0",
        }
    }
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("failing")


def test_metrics_lists_delivery_figures(client):
    response = client.get("/metrics")
    text = response.content.decode()
    assert response.status_code == 200
    assert "alloy_run_takeovers_total 0.0" in text
    assert "alloy_step_retries_total 0.0" in text
    assert 'alloy_queue_depth{queue="default",state="queued"} 0.0' in text
    assert 'alloy_queue_depth{queue="default",state="ready"} 0.0' in text
    assert "alloy_run_latency_seconds_count 0.0" in text


def test_metrics_count_runs_by_status(client, tutorial_installed, api_key):
    from workflows.tutorial import ORDER_REQUESTED_SAMPLE

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
    text = client.get("/metrics").content.decode()
    assert 'alloy_runs{status="queued"} 1.0' in text
    assert 'alloy_intake_seconds_count{source="custom"}' in text


def test_metrics_token_required_when_set(client, settings):
    settings.METRICS_TOKEN = "metrics-secret"
    assert client.get("/metrics").status_code == 401
    authorized = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret")
    assert authorized.status_code == 200


def test_health_post_gets_json_405():
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/health")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
