"""Custom event intake over HTTP: acceptance, idempotency and bad input."""

import pytest

from integrations import services as integration_services
from workflows.models import Event, Run
from workflows.tutorial import ORDER_REQUESTED_SAMPLE

pytestmark = pytest.mark.django_db


@pytest.fixture
def post(client, api_key):
    def send(body, **headers):
        return client.post(
            "/api/v1/events",
            body,
            content_type=headers.pop("content_type", "application/json"),
            HTTP_AUTHORIZATION=headers.pop("authorization", f"Bearer {api_key}"),
            **headers,
        )

    return send


def event_body(data=None, **extra):
    return {
        "event": "order_requested",
        "user": "merchant-1",
        "data": data or ORDER_REQUESTED_SAMPLE,
        **extra,
    }


def test_event_accepted_with_run(installed, post, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(event_body())
    assert response.status_code == 202
    body = response.json()
    assert body["event"]["name"] == "order_requested"
    assert [run["status"] for run in body["runs"]] == ["queued"]
    assert Run.objects.count() == 1


def test_schema_violation_lists_every_field(installed, post):
    data = {
        "email": "not-an-email",
        "line_items": [{"title": "", "quantity": 0, "price": "abc"}],
        "extra": 1,
    }
    response = post(event_body(data))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_event_payload"
    paths = [field["path"] for field in error["fields"]]
    assert "$.data.email" in paths
    assert "$.data.line_items[0].quantity" in paths
    assert "$.data.line_items[0].price" in paths
    assert "$.data.line_items[0].title" in paths
    assert "$.data" in paths


def test_schema_violation_stores_nothing(installed, post):
    post(event_body({"email": "a@example.com"}))
    assert Event.objects.count() == 0
    assert Run.objects.count() == 0


def test_unknown_event_is_404(installed, post):
    response = post(event_body(event="order_requestd"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_event"


def test_unknown_end_user_is_404(installed, post):
    response = post(event_body(user="nobody"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "end_user_not_found"


def test_end_user_without_installation_is_409(installed, post, workspace):
    integration_services.end_user_create(workspace=workspace, external_id="merchant-2")
    response = post(event_body(user="merchant-2"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "integration_not_installed"


def test_malformed_json_is_400(installed, post):
    response = post('{"event": "order_requested",')
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_wrong_content_type_is_400(installed, post):
    response = post(
        "event=order_requested", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_missing_fields_named(installed, post):
    response = post({"data": {}})
    assert response.status_code == 400
    paths = sorted(field["path"] for field in response.json()["error"]["fields"])
    assert paths == ["$.event", "$.user"]


def test_data_must_be_object(installed, post):
    response = post(event_body(data=None) | {"data": [1, 2]})
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["path"] == "$.data"


def test_missing_api_key_is_401(installed, post):
    response = post(event_body(), authorization="")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_wrong_api_key_is_401(installed, post):
    response = post(event_body(), authorization="Bearer ak_live_wrong")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_revoked_api_key_is_401(installed, client, workspace):
    key, token = integration_services.api_key_create(workspace=workspace, name="old")
    integration_services.api_key_revoke(key=key)
    response = client.post(
        "/api/v1/events",
        event_body(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 401


def test_idempotency_key_repeat_starts_nothing(installed, post):
    first = post(event_body(), HTTP_IDEMPOTENCY_KEY="order-77")
    second = post(event_body(), HTTP_IDEMPOTENCY_KEY="order-77")
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json()["event"] == first.json()["event"]
    assert second.json()["runs"] == first.json()["runs"]
    assert Run.objects.count() == 1


def test_idempotency_key_reused_for_other_data(installed, post):
    post(event_body(), HTTP_IDEMPOTENCY_KEY="order-78")
    other = {**ORDER_REQUESTED_SAMPLE, "note": "different"}
    response = post(event_body(other), HTTP_IDEMPOTENCY_KEY="order-78")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"


def test_api_key_stored_hashed(workspace, api_key):
    from integrations.models import ApiKey

    stored = ApiKey.objects.get(workspace=workspace)
    assert api_key not in (stored.key_hash, stored.prefix)
    assert api_key.startswith(stored.prefix)


def test_credentials_encrypted_at_rest(connection, shop_token):
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute(
            "SELECT credentials FROM integrations_connection WHERE id = %s",
            [connection.pk],
        )
        (stored,) = cursor.fetchone()
    assert shop_token not in stored
    assert connection.credential_data == {"access_token": shop_token}


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (
            b'{"event": "order_requested", "user": "merchant-1", "data": '
            b'{"note": "a\\u0000b"}}',
            "$.data.note",
        ),
        (
            b'{"event": "order_requested", "user": "merchant-1", "data": '
            b'{"note": "\\ud800"}}',
            "$.data.note",
        ),
        (
            b'{"event": "order_requested", "user": "merchant-1", "data": '
            b'{"total": 1e400}}',
            "$.data.total",
        ),
    ],
    ids=["nul", "lone-surrogate", "infinite-number"],
)
def test_unstorable_value_named_by_path(installed, post, body, path):
    response = post(body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "malformed_json"
    assert error["fields"][0]["path"] == path
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"data": ' + b"[" * 100 + b"]" * 100 + b"}", b'{"n": NaN}'],
    ids=["recursion", "over-max-depth", "nan"],
)
def test_unparsable_body_is_400(installed, post, body):
    response = post(body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_invalid_utf8_is_400(installed, post):
    response = post(b'{"event": "\xff"}')
    assert response.status_code == 400
    assert "UTF-8" in response.json()["error"]["message"]


def test_oversized_body_is_413(installed, post, settings):
    settings.EVENT_MAX_BODY_BYTES = 1024
    response = post(event_body({"note": "x" * 2048}))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_event_name_must_be_string(installed, post):
    response = post(event_body(event=123))
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["path"] == "$.event"


@pytest.mark.parametrize(
    "key",
    ["", "k" * 256, "has space", "tab\there"],
    ids=["empty", "long", "space", "tab"],
)
def test_invalid_idempotency_header_is_400(installed, post, key):
    response = post(event_body(), HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["path"] == "$.headers.Idempotency-Key"
    assert Event.objects.count() == 0


def test_idempotency_header_and_body_differ(installed, post):
    response = post(event_body(idempotency_key="a-1"), HTTP_IDEMPOTENCY_KEY="b-2")
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["path"] == "$.idempotency_key"


def test_schema_errors_sorted_by_index(installed, post):
    items = [{"title": "Widget", "quantity": 1, "price": "1.00"}] * 12
    items = [*items[:2], {"title": "Widget", "quantity": 0, "price": "1.00"}, *items]
    items[10] = {"title": "Widget", "quantity": 0, "price": "1.00"}
    response = post(event_body({**ORDER_REQUESTED_SAMPLE, "line_items": items}))
    paths = [field["path"] for field in response.json()["error"]["fields"]]
    assert paths == [
        "$.data.line_items[2].quantity",
        "$.data.line_items[10].quantity",
    ]


def test_accepted_runs_match_serializer(installed, post):
    from workflows.api.serializers import RunSummarySerializer

    response = post(event_body())
    run = Run.objects.get()
    assert response.json()["runs"] == [dict(RunSummarySerializer(run).data)]
