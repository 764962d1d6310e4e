"""The Shopify webhook endpoint: HMAC over raw bytes, headers, duplicates."""

import base64
import hashlib
import hmac
import json
import uuid
from pathlib import Path

import pytest

import connectors.shopify
from tests.conftest import SHOP_DOMAIN
from workflows.models import Event, Run

pytestmark = pytest.mark.django_db

FIXTURES = Path(connectors.shopify.__file__).resolve().parent / "samples"


def shopify_bytes(name: str) -> bytes:
    """A sample body serialized as Shopify does, with / and & escaped."""
    payload = json.loads((FIXTURES / name).read_text())
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return text.replace("/", "\\/").replace("&", "\\u0026").encode()


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(
        hmac.new(secret.encode(), body, hashlib.sha256).digest()
    ).decode()


@pytest.fixture
def deliver(client, settings):
    def send(
        body: bytes, *, signature=None, webhook_id=None, topic="orders/create", **extra
    ):
        headers = {
            "HTTP_X_SHOPIFY_TOPIC": topic,
            "HTTP_X_SHOPIFY_SHOP_DOMAIN": SHOP_DOMAIN,
            "HTTP_X_SHOPIFY_API_VERSION": "2026-07",
            "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id or str(uuid.uuid4()),
            "HTTP_X_SHOPIFY_EVENT_ID": str(uuid.uuid4()),
            "HTTP_X_SHOPIFY_TRIGGERED_AT": "2026-04-02T16:31:24.123Z",
            **extra,
        }
        if signature is None:
            signature = sign(body, settings.SHOPIFY_CLIENT_SECRET)
        if signature:
            headers["HTTP_X_SHOPIFY_HMAC_SHA256"] = signature
        return client.generic(
            "POST",
            "/webhooks/shopify",
            body,
            content_type="application/json",
            **headers,
        )

    return send


def test_signed_raw_bytes_accepted(
    installed, deliver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(shopify_bytes("orders_create.json"))
    assert response.status_code == 200
    assert Run.objects.filter(event__name="orders/create").count() == 1


def test_event_keeps_exact_large_ids(installed, deliver):
    deliver(shopify_bytes("orders_create.json"))
    event = Event.objects.get(name="orders/create")
    assert event.data["id"] == 820982911946154508
    assert event.data["shipping_lines"][0]["id"] == 271878346596884015


def test_reserialized_body_rejected(installed, deliver, settings):
    original = shopify_bytes("orders_create.json")
    signature = sign(original, settings.SHOPIFY_CLIENT_SECRET)
    reserialized = json.dumps(json.loads(original)).encode()
    assert reserialized != original
    response = deliver(reserialized, signature=signature)
    assert response.status_code == 401
    assert Event.objects.count() == 0


def test_missing_signature_rejected(installed, deliver):
    response = deliver(shopify_bytes("orders_create.json"), signature="")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert Event.objects.count() == 0


def test_wrong_secret_rejected(installed, deliver):
    body = shopify_bytes("orders_create.json")
    response = deliver(body, signature=sign(body, "some-other-app-secret"))
    assert response.status_code == 401
    assert Event.objects.count() == 0


def test_repeated_webhook_id_makes_one_run(installed, deliver):
    body = shopify_bytes("customers_create.json")
    webhook_id = str(uuid.uuid4())
    first = deliver(body, webhook_id=webhook_id, topic="customers/create")
    second = deliver(body, webhook_id=webhook_id, topic="customers/create")
    assert first.status_code == 200
    assert second.status_code == 200
    assert Event.objects.count() == 1
    assert Run.objects.count() == 1


def test_missing_topic_header_is_400(installed, deliver):
    response = deliver(shopify_bytes("orders_create.json"), topic="")
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["path"] == "headers.X-Shopify-Topic"


def test_signed_malformed_json_is_400(installed, deliver):
    response = deliver(b'{"id": 1,')
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_unknown_shop_accepted_without_runs(installed, deliver):
    response = deliver(
        shopify_bytes("orders_create.json"),
        HTTP_X_SHOPIFY_SHOP_DOMAIN="other-shop.myshopify.com",
    )
    assert response.status_code == 200
    assert Event.objects.count() == 0


def test_get_not_allowed(client):
    response = client.get("/webhooks/shopify")
    assert response.status_code == 405


@pytest.mark.parametrize(
    "body", [b"[1, 2, 3]", b"null", b'"an order"'], ids=["array", "null", "string"]
)
def test_signed_non_object_is_400(installed, deliver, body):
    response = deliver(body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_payload"
    assert Event.objects.count() == 0


@pytest.mark.parametrize("body", [b'{"id": NaN}', b"[" * 10_000], ids=["nan", "deep"])
def test_signed_unstorable_body_is_400(installed, deliver, body):
    response = deliver(body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert Event.objects.count() == 0


def test_long_webhook_id_is_400(installed, deliver):
    response = deliver(shopify_bytes("orders_create.json"), webhook_id="w" * 300)
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields[0]["path"] == "headers.X-Shopify-Webhook-Id"


def test_get_answers_json_405(client):
    response = client.get("/webhooks/shopify")
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_non_ascii_signature_rejected(installed, deliver):
    response = deliver(shopify_bytes("orders_create.json"), signature="é" * 44)
    assert response.status_code == 401
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    "note", ["a\\u0000b", "a\\ud800b"], ids=["nul", "lone-surrogate"]
)
def test_unstorable_text_is_replaced_not_refused(installed, deliver, note):
    order = json.loads(shopify_bytes("orders_create.json"))
    body = json.dumps(order).replace('"note": null', f'"note": "{note}"', 1)
    assert note in body
    response = deliver(body.encode())
    assert response.status_code == 200
    event = Event.objects.get()
    assert event.data["note"] == "a\ufffdb"
