"""The two workloads: the requests the load generator sends, and what they start.

``custom-event``: a custom event -> map three fields -> an HTTP POST to the sink.
``shopify-webhook``: a signed Shopify ``orders/create`` webhook -> a run ->
the run's stream delivery to the sink. Each request carries a marker,
``alloy-bench-<phase>-<n>``, which reappears in the delivery it causes.
"""

import json
from pathlib import Path

from alloy.bench.load import Request
from connectors.shopify import webhooks

CUSTOM_EVENT = "custom-event"
SHOPIFY_WEBHOOK = "shopify-webhook"
WORKLOADS = (CUSTOM_EVENT, SHOPIFY_WEBHOOK)

EVENT_NAME = "bench_order_placed"
END_USER_ID = "bench-merchant"
SHOP_DOMAIN = "alloy-bench.myshopify.com"
SHOPIFY_CLIENT_SECRET = "alloy-bench-shopify-secret"  # noqa: S105
ORDER_SAMPLE = (
    Path(__file__).resolve().parent.parent.parent
    / "connectors/shopify/samples/orders_create.json"
)

EVENT_SCHEMA = {
    "type": "object",
    "required": ["reference", "email", "total"],
    "properties": {
        "reference": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "total": {"type": "string", "pattern": r"^\d+(\.\d{1,2})?$"},
        "note": {"type": "string"},
    },
}
EVENT_SAMPLE = {
    "reference": "alloy-bench-sample-0",
    "email": "jane.doe@example.com",
    "total": "42.50",
    "note": "Leave at the front desk",
}
# The three fields the workflow maps into the POST body, and n8n's Set node sets.
MAPPED_FIELDS = ("reference", "email", "total")


def marker(phase: str, number: int) -> str:
    return f"alloy-bench-{phase}-{number}"


def custom_event_requests(phase: str, count: int, api_key: str) -> list[Request]:
    requests = []
    for number in range(count):
        reference = marker(phase, number)
        body = {
            "event": EVENT_NAME,
            "user": END_USER_ID,
            "data": {**EVENT_SAMPLE, "reference": reference},
        }
        requests.append(
            Request(
                path="/api/v1/events",
                headers={
                    "Authorization": f"Bearer {api_key}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": reference,
                },
                body=json.dumps(body).encode(),
                marker=reference,
            )
        )
    return requests


def shopify_webhook_requests(phase: str, count: int, secret: str) -> list[Request]:
    order = json.loads(ORDER_SAMPLE.read_text())
    requests = []
    for number in range(count):
        reference = marker(phase, number)
        order_id = 900_000_000_000 + number
        body = json.dumps(
            {
                **order,
                "id": order_id,
                "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
                "note": reference,
            }
        ).encode()
        requests.append(
            Request(
                path="/webhooks/shopify",
                headers={
                    "Content-Type": "application/json",
                    webhooks.TOPIC_HEADER: "orders/create",
                    webhooks.SHOP_DOMAIN_HEADER: SHOP_DOMAIN,
                    webhooks.API_VERSION_HEADER: "2026-07",
                    webhooks.WEBHOOK_ID_HEADER: f"{reference}-webhook",
                    webhooks.EVENT_ID_HEADER: f"{reference}-event",
                    webhooks.HMAC_HEADER: webhooks.compute_hmac(secret, body),
                },
                body=body,
                marker=reference,
            )
        )
    return requests


def n8n_requests(phase: str, count: int, path: str) -> list[Request]:
    """Build the custom-event workload's bodies for n8n's webhook trigger."""
    requests = []
    for number in range(count):
        reference = marker(phase, number)
        body = {
            "event": EVENT_NAME,
            "user": END_USER_ID,
            "data": {**EVENT_SAMPLE, "reference": reference},
        }
        requests.append(
            Request(
                path=path,
                headers={"Content-Type": "application/json"},
                body=json.dumps(body).encode(),
                marker=reference,
            )
        )
    return requests
