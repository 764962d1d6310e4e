"""Connection checks and webhook subscriptions for Shopify shops."""

from typing import Any

from django.conf import settings

from alloy.errors import ApplicationError
from connectors.registry import ActionError
from connectors.shopify.client import SHOP_DOMAIN_PATTERN, ShopifyClient
from connectors.shopify.webhooks import WEBHOOK_PATH

SUBSCRIPTIONS = """
query webhookSubscriptions($after: String) {
  webhookSubscriptions(first: 250, after: $after) {
    nodes { id topic uri }
    pageInfo { hasNextPage endCursor }
  }
}
"""

SUBSCRIPTION_CREATE = """
mutation webhookSubscriptionCreate(
  $topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!
) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""

SUBSCRIPTION_DELETE = """
mutation webhookSubscriptionDelete($id: ID!) {
  webhookSubscriptionDelete(id: $id) {
    deletedWebhookSubscriptionId
    userErrors { field message }
  }
}
"""


def validate_connection(account_id: str, credentials: dict[str, Any]) -> list[dict]:
    fields = []
    if not isinstance(account_id, str) or not SHOP_DOMAIN_PATTERN.match(account_id):
        fields.append(
            {
                "path": "$.account_id",
                "message": f"{account_id!r} is not a shop domain such as "
                "'example.myshopify.com'.",
            }
        )
    token = credentials.get("access_token") if isinstance(credentials, dict) else None
    if not isinstance(token, str) or not token.strip():
        fields.append(
            {
                "path": "$.credentials.access_token",
                "message": "The shop's Admin API access token is required.",
            }
        )
    return fields


def topic_enum(topic: str) -> str:
    """Convert a REST topic such as ``orders/create`` to ``ORDERS_CREATE``."""
    return topic.replace("/", "_").upper()


def webhook_uri() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + WEBHOOK_PATH


def sync_subscriptions(
    account_id: str, credentials: dict[str, Any], topics: list[str]
) -> None:
    """Make the shop's subscriptions to this deployment exactly ``topics``.

    Reads what the shop has, creates each missing topic once, and deletes
    subscriptions to this deployment's address whose topic is not wanted or
    that repeat a topic. Subscriptions to other addresses are left alone.
    Raises ApplicationError (HTTP 502) when Shopify rejects or fails a call.
    """
    client = ShopifyClient(account_id, credentials["access_token"])
    uri = webhook_uri()
    wanted = {topic_enum(topic) for topic in topics}
    try:
        kept: set[str] = set()
        for node in _subscriptions(client):
            if node.get("uri") != uri:
                continue
            if node["topic"] in wanted and node["topic"] not in kept:
                kept.add(node["topic"])
                continue
            _run_mutation(
                client, SUBSCRIPTION_DELETE, {"id": node["id"]}, node["topic"]
            )
        for topic in sorted(wanted - kept):
            _run_mutation(
                client,
                SUBSCRIPTION_CREATE,
                {"topic": topic, "webhookSubscription": {"uri": uri, "format": "JSON"}},
                topic,
            )
    except ActionError as exc:
        raise ApplicationError(
            f"Could not update the webhook subscriptions of {account_id}: "
            f"{exc.message}",
            code="webhook_subscription_failed",
            status_code=502,
        ) from exc


def _subscriptions(client: ShopifyClient) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        data = client.execute(SUBSCRIPTIONS, {"after": after})
        page = data.get("webhookSubscriptions") or {}
        nodes.extend(page.get("nodes") or [])
        info = page.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            return nodes
        after = info.get("endCursor")


def _run_mutation(
    client: ShopifyClient, document: str, variables: dict[str, Any], topic: str
) -> None:
    result = client.execute(document, variables)
    payload = next(iter(result.values()), None) or {}
    errors = payload.get("userErrors")
    if errors:
        messages = "; ".join(e.get("message", "") for e in errors)
        raise ApplicationError(
            f"Shopify rejected a change to the {topic} webhook subscription: "
            f"{messages}",
            code="webhook_subscription_failed",
            status_code=502,
        )
