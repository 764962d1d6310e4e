"""Mutation resolvers of the Shopify sandbox for webhook subscriptions."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from graphql import GraphQLSchema

from connectors.shopify.sandbox.mutations import user_error
from connectors.shopify.sandbox.state import RequestContext, gid, parse_gid

logger = logging.getLogger(__name__)


def is_valid_webhook_uri(uri: str) -> bool:
    """Return whether ``uri`` is an absolute http or https URL.

    Shopify requires https and a public host. The sandbox also accepts http and
    loopback hosts, because its receivers run on the same machine.
    """
    if any(character.isspace() for character in uri):
        return False
    try:
        parts = urlsplit(uri)
        # Reading the port raises ValueError when it is not a number from 0 to 65535.
        has_valid_port = parts.port is None or parts.port > 0
    except ValueError:
        return False
    return has_valid_port and parts.scheme in ("http", "https") and bool(parts.hostname)


def webhook_subscription_create(_root: Any, info: Any, **args: Any) -> dict[str, Any]:
    context: RequestContext = info.context
    shop = context.shop
    topic = args["topic"]
    subscription_input = args["webhookSubscription"]
    uri = (
        subscription_input.get("uri") or subscription_input.get("callbackUrl") or ""
    ).strip()
    field = ["webhookSubscription", "callbackUrl"]
    message = None
    if not uri:
        message = "Address can't be blank"
    elif not is_valid_webhook_uri(uri):
        message = "Address is invalid"
    elif any(
        item["topic"] == topic and item["uri"] == uri
        for item in shop.webhook_subscriptions
    ):
        message = "Address for this topic has already been taken"
    if message is not None:
        return {"webhookSubscription": None, "userErrors": [user_error(field, message)]}

    subscription_id = context.ids.next_id()
    now = shop.now()
    subscription = {
        "id": subscription_id,
        "admin_graphql_api_id": gid("WebhookSubscription", subscription_id),
        "topic": topic,
        "uri": uri,
        "format": subscription_input.get("format") or "JSON",
        "include_fields": list(subscription_input.get("includeFields") or []),
        "created_at": now,
        "updated_at": now,
    }
    shop.webhook_subscriptions.append(subscription)
    logger.info(
        "shopify_sandbox.webhook_subscription.created",
        extra={
            "shop_domain": shop.domain,
            "subscription_id": subscription_id,
            "topic": topic,
        },
    )
    return {"webhookSubscription": subscription, "userErrors": []}


def webhook_subscription_delete(_root: Any, info: Any, **args: Any) -> dict[str, Any]:
    context: RequestContext = info.context
    shop = context.shop
    parsed = parse_gid(args["id"])
    subscription = None
    if parsed is not None and parsed[0] == "WebhookSubscription":
        subscription = shop.find_subscription(parsed[1])
    if subscription is None:
        return {
            "deletedWebhookSubscriptionId": None,
            "userErrors": [user_error(["id"], "Webhook subscription does not exist")],
        }
    shop.webhook_subscriptions.remove(subscription)
    logger.info(
        "shopify_sandbox.webhook_subscription.deleted",
        extra={"shop_domain": shop.domain, "subscription_id": subscription["id"]},
    )
    return {
        "deletedWebhookSubscriptionId": subscription["admin_graphql_api_id"],
        "userErrors": [],
    }


def bind_webhook_subscription_mutations(schema: GraphQLSchema) -> None:
    """Attach the webhook subscription resolvers to the schema's Mutation type."""
    mutation_type: Any = schema.mutation_type
    mutation_type.fields[
        "webhookSubscriptionCreate"
    ].resolve = webhook_subscription_create
    mutation_type.fields[
        "webhookSubscriptionDelete"
    ].resolve = webhook_subscription_delete
