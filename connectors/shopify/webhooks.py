"""Verification of Shopify webhook deliveries."""

import base64
import hashlib
import hmac

# The webhook endpoint's path, as alloy/urls.py routes it and as the shops'
# subscriptions name it. Workers build the subscription address from it
# without loading the URLconf, which imports every view.
WEBHOOK_PATH = "/webhooks/shopify"

TOPIC_HEADER = "X-Shopify-Topic"
HMAC_HEADER = "X-Shopify-Hmac-Sha256"
SHOP_DOMAIN_HEADER = "X-Shopify-Shop-Domain"
API_VERSION_HEADER = "X-Shopify-API-Version"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
EVENT_ID_HEADER = "X-Shopify-Event-Id"
TRIGGERED_AT_HEADER = "X-Shopify-Triggered-At"


def compute_hmac(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_hmac(secret: str, body: bytes, header_value: str | None) -> bool:
    """Check ``X-Shopify-Hmac-Sha256`` against the raw body bytes.

    The body must be the bytes exactly as received: Shopify escapes ``/`` and
    ``&`` in its JSON, so a parsed and re-serialized body no longer matches.
    """
    if not header_value or not secret:
        return False
    # Bytes, because compare_digest raises TypeError on non-ASCII strings and
    # the header is whatever the sender chose.
    expected = compute_hmac(secret, body).encode()
    received = header_value.strip().encode("utf-8", "surrogateescape")
    return hmac.compare_digest(expected, received)
