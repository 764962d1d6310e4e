"""Connection checks and webhook subscriptions for Shopify shops."""

from typing import Any

from django.conf import settings
from django.urls import reverse

from alloy.errors import ApplicationError
from connectors.registry import ActionError
from connectors.shopify.client import SHOP_DOMAIN_PATTERN, ShopifyClient

SUBSCRIPTIONS = """
query webhookSubscriptions($topics: [WebhookSubscriptionTopic!]) {
  webhookSubscriptions(first: 100, topics: $topics) { nodes { id topic uri } }
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
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("shopify-webhook")


def sync_subscriptions(
    account_id: str, credentials: dict[str, Any], topics: list[str]
) -> None:
    """Create the subscriptions the shop lacks for ``topics``, to this deployment.

    Raises ApplicationError (HTTP 502) when Shopify rejects or fails a call.
    """
    client = ShopifyClient(account_id, credentials["access_token"])
    uri = webhook_uri()
    wanted = {topic_enum(topic) for topic in topics}
    try:
        data = client.execute(SUBSCRIPTIONS, {"topics": sorted(wanted)})
        nodes = (data.get("webhookSubscriptions") or {}).get("nodes") or []
        existing = {node["topic"] for node in nodes if node.get("uri") == uri}
        for topic in sorted(wanted - existing):
            result = client.execute(
                SUBSCRIPTION_CREATE,
                {"topic": topic, "webhookSubscription": {"uri": uri, "format": "JSON"}},
            )
            errors = (result.get("webhookSubscriptionCreate") or {}).get("userErrors")
            if errors:
                messages = "; ".join(e.get("message", "") for e in errors)
                raise ApplicationError(
                    f"Shopify rejected the {topic} webhook subscription: {messages}",
                    code="webhook_subscription_failed",
                    status_code=502,
                )
    except ActionError as exc:
        raise ApplicationError(
            f"Could not subscribe {account_id} to webhooks: {exc.message}",
            code="webhook_subscription_failed",
            status_code=502,
        ) from exc
