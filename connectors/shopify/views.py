"""The endpoint Shopify delivers webhooks to."""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from alloy.errors import error_body
from alloy.jsonbody import (
    InvalidJsonError,
    PayloadTooLargeError,
    first_unstorable,
    json_body_parse,
    json_storable,
    json_type,
)
from connectors.shopify import webhooks
from connectors.shopify.client import SHOP_DOMAIN_PATTERN
from workflows.services.intake import app_event_ingest

logger = logging.getLogger(__name__)


# The longest header value stored; Shopify's webhook ids are UUIDs.
MAX_HEADER_LENGTH = 255


@csrf_exempt
def shopify_webhook(request: HttpRequest) -> JsonResponse:
    """Verify a delivery's HMAC over the raw bytes, then store it and queue its runs.

    Returns 401 before parsing anything when the signature is missing or
    wrong, and 200 for a repeated ``X-Shopify-Webhook-Id`` without a new run.
    """
    shop = request.headers.get(webhooks.SHOP_DOMAIN_HEADER, "")
    if request.method != "POST":
        response = _rejection(
            shop,
            "method_not_allowed",
            f"{request.method} is not allowed; Shopify delivers webhooks with POST.",
            status=405,
        )
        response["Allow"] = "POST"
        return response
    try:
        body = request.body
    except RequestDataTooBig:
        return _rejection(
            shop,
            "payload_too_large",
            f"The body is larger than the limit of {settings.EVENT_MAX_BODY_BYTES} "
            "bytes (EVENT_MAX_BODY_BYTES).",
            status=413,
        )
    signature = request.headers.get(webhooks.HMAC_HEADER)
    if not webhooks.verify_hmac(settings.SHOPIFY_CLIENT_SECRET, body, signature):
        return _rejection(
            shop,
            "invalid_signature",
            f"{webhooks.HMAC_HEADER} is missing or does not match the body; "
            "sign the raw body with the app's client secret.",
            status=401,
        )

    topic = request.headers.get(webhooks.TOPIC_HEADER, "")
    webhook_id = request.headers.get(webhooks.WEBHOOK_ID_HEADER, "")
    event_id = request.headers.get(webhooks.EVENT_ID_HEADER, "")
    problems = _header_problems(
        topic=topic, shop=shop, webhook_id=webhook_id, event_id=event_id
    )
    if problems:
        return _rejection(
            shop,
            "invalid_headers",
            "Shopify webhook headers are missing or invalid; see fields.",
            problems,
        )
    try:
        data = _payload_parse(body, shop=shop, webhook_id=webhook_id)
    except (InvalidJsonError, PayloadTooLargeError) as exc:
        return _rejection(shop, exc.code, exc.message, exc.fields, exc.status_code)
    if not isinstance(data, dict):
        return _rejection(
            shop,
            "invalid_payload",
            f"The body is a JSON {json_type(data)}; Shopify webhooks carry one "
            "JSON object.",
            [{"path": "$", "message": "Expected an object."}],
        )

    results = app_event_ingest(
        connector="shopify",
        account_id=shop,
        topic=topic,
        delivery_id=webhook_id,
        data=data,
        app_event_id=event_id or None,
    )
    return JsonResponse(
        {
            "events": [result.event.pk for result in results],
            "runs": [run.pk for result in results for run in result.runs],
        }
    )


def _payload_parse(body: bytes, *, shop: str, webhook_id: str) -> Any:
    """Parse a verified webhook body, replacing text the database cannot store.

    Shopify retries a refused webhook 8 times over 4 hours and then drops it,
    so a NUL character or an unpaired surrogate in, say, an order note
    becomes U+FFFD rather than losing the order. Raises
    InvalidJsonError for a body that is not JSON or nests too deep.
    """
    data = json_body_parse(body, check_values=False)
    problem = first_unstorable(data)
    if problem is None:
        return data
    try:
        repaired = json_storable(data)
    except RecursionError:
        # Nesting far past JSON_MAX_DEPTH; the check below names the limit.
        repaired = data
    remaining = first_unstorable(repaired)
    if remaining is not None:
        path, message = remaining
        raise InvalidJsonError(
            f"The body cannot be stored: {message}",
            fields=[{"path": path, "message": message}],
        )
    logger.warning(
        "shopify.webhook.text_replaced",
        extra={"shop": shop, "webhook_id": webhook_id, "path": problem[0]},
    )
    return repaired


def _header_problems(
    *, topic: str, shop: str, webhook_id: str, event_id: str
) -> list[dict]:
    problems = [
        {"path": f"headers.{name}", "message": "Required."}
        for name, value in (
            (webhooks.TOPIC_HEADER, topic),
            (webhooks.SHOP_DOMAIN_HEADER, shop),
            (webhooks.WEBHOOK_ID_HEADER, webhook_id),
        )
        if not value
    ]
    problems += [
        {
            "path": f"headers.{name}",
            "message": f"Longer than {MAX_HEADER_LENGTH} characters.",
        }
        for name, value in (
            (webhooks.TOPIC_HEADER, topic),
            (webhooks.WEBHOOK_ID_HEADER, webhook_id),
            (webhooks.EVENT_ID_HEADER, event_id),
        )
        if len(value) > MAX_HEADER_LENGTH
    ]
    if shop and not SHOP_DOMAIN_PATTERN.match(shop):
        problems.append(
            {
                "path": f"headers.{webhooks.SHOP_DOMAIN_HEADER}",
                "message": f"{shop[:100]!r} is not a myshopify.com domain.",
            }
        )
    return problems


def _rejection(
    shop: str,
    code: str,
    message: str,
    fields: list[dict] | None = None,
    status: int = 400,
) -> JsonResponse:
    logger.warning(
        "shopify.webhook.rejected",
        extra={"shop_domain": shop[:100], "code": code, "status_code": status},
    )
    return JsonResponse(error_body(code, message, fields), status=status)
