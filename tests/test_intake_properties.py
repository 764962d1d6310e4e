"""Property tests: random and hostile bodies against the events and webhook endpoints.

Whatever the body, the answer is never a 5xx, and a rejected request leaves
no row behind while an accepted one stores its event with all its runs.
"""

import base64
import hashlib
import hmac
import json
import uuid

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import event as label_example
from hypothesis import strategies as st

from tests.conftest import SHOP_DOMAIN
from workflows.models import Event, Run, RunStep
from workflows.tutorial import ORDER_REQUESTED_SAMPLE

pytestmark = pytest.mark.django_db(transaction=True)

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


raw_bodies = (
    json_values.map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=200)
    | st.integers(min_value=1, max_value=3000).map(nested)
    | st.integers(min_value=1, max_value=3000).map(lambda d: b"[" * d + b"]" * d)
    | st.sampled_from(
        [
            b"",
            b"\xff\xfe\xfa",
            b'{"event": "\xc3\x28"}',
            b"NaN",
            b'{"a": Infinity}',
            b'{"a": 1e999999}',
            b'{"a": "\\ud800"}',
            b'{"a": 1, "a": 2}',
            b"9" * 5000,
        ]
    )
)

event_bodies = st.fixed_dictionaries(
    {},
    optional={
        "event": st.sampled_from(["order_requested", "nope"]) | json_values,
        "user": st.sampled_from(["merchant-1", "nobody"]) | json_values,
        "data": st.just(ORDER_REQUESTED_SAMPLE) | json_values,
        "idempotency_key": st.text(max_size=300) | json_values,
    },
).map(lambda body: json.dumps(body).encode())


# Valid envelopes with random data, so that accepted (202) and schema-rejected
# (422) answers are reached as well as malformed bodies.
envelopes = st.fixed_dictionaries(
    {
        "event": st.just("order_requested"),
        "user": st.just("merchant-1"),
        "data": st.just(ORDER_REQUESTED_SAMPLE)
        | st.dictionaries(
            st.sampled_from(sorted(ORDER_REQUESTED_SAMPLE)), json_values, max_size=4
        ).map(lambda changes: {**ORDER_REQUESTED_SAMPLE, **changes})
        | json_values,
    },
    optional={"idempotency_key": st.text(min_size=1, max_size=40)},
).map(lambda body: json.dumps(body).encode())


def row_counts() -> tuple[int, int, int]:
    return Event.objects.count(), Run.objects.count(), RunStep.objects.count()


@pytest.fixture
def api_client(tutorial_installed, api_key):
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_key}")


def check_event_answer(response, before: tuple[int, int, int]) -> None:
    after = row_counts()
    # Shown by --hypothesis-show-statistics, to see both branches are reached.
    label_example(f"HTTP {response.status_code}")
    assert response.status_code < 500
    assert response["Content-Type"].startswith("application/json")
    if response.status_code >= 400:
        assert after == before
        assert "error" in response.json()
        return
    runs = response.json()["runs"]
    event = Event.objects.get(pk=response.json()["event"]["id"])
    assert event.runs.count() == len(runs)


@PROPERTY_SETTINGS
@given(body=raw_bodies | event_bodies | envelopes)
def test_events_endpoint_never_fails(api_client, body):
    before = row_counts()
    response = api_client.post("/api/v1/events", body, content_type="application/json")
    check_event_answer(response, before)


@PROPERTY_SETTINGS
@given(size=st.integers(min_value=1, max_value=3))
def test_oversized_event_body_is_413(api_client, settings, size):
    body = b'{"data": "' + b"x" * (settings.EVENT_MAX_BODY_BYTES * size) + b'"}'
    before = row_counts()
    response = api_client.post("/api/v1/events", body, content_type="application/json")
    assert response.status_code == 413
    assert row_counts() == before


@PROPERTY_SETTINGS
@given(
    body=raw_bodies,
    topic=st.sampled_from(["orders/create", "customers/create", "x"])
    | st.text(max_size=300),
    webhook_id=st.text(max_size=300),
    event_id=st.text(max_size=300),
)
def test_webhook_endpoint_never_fails(
    tutorial_installed, settings, body, topic, webhook_id, event_id
):
    signature = hmac.new(
        settings.SHOPIFY_CLIENT_SECRET.encode(), body, hashlib.sha256
    ).digest()
    headers = {
        "HTTP_X_SHOPIFY_TOPIC": topic,
        "HTTP_X_SHOPIFY_SHOP_DOMAIN": SHOP_DOMAIN,
        "HTTP_X_SHOPIFY_HMAC_SHA256": base64.b64encode(signature).decode(),
        "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id or str(uuid.uuid4()),
        "HTTP_X_SHOPIFY_EVENT_ID": event_id,
    }
    before = row_counts()
    response = Client().generic(
        "POST", "/webhooks/shopify", body, content_type="application/json", **headers
    )
    after = row_counts()
    assert response.status_code < 500
    if response.status_code >= 400:
        assert after == before
    for event in Event.objects.filter(source=Event.Source.APP):
        assert event.runs.exists()
