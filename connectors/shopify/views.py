"""The endpoint Shopify delivers webhooks to."""

import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from alloy.errors import error_body
from connectors.shopify import webhooks
from connectors.shopify.client import SHOP_DOMAIN_PATTERN
from workflows.services.intake import app_event_ingest

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def shopify_webhook(request: HttpRequest) -> JsonResponse:
    """Verify a delivery's HMAC over the raw bytes, then store it and queue its runs.

    Returns 401 before parsing anything when the signature is missing or
    wrong, and 200 for a repeated ``X-Shopify-Webhook-Id`` without a new run.
    """
    try:
        body = request.body
    except RequestDataTooBig:
        return JsonResponse(
            error_body(
                "payload_too_large",
                f"The body exceeds {settings.EVENT_MAX_BODY_BYTES} bytes.",
            ),
            status=413,
        )
    signature = request.headers.get(webhooks.HMAC_HEADER)
    if not webhooks.verify_hmac(settings.SHOPIFY_CLIENT_SECRET, body, signature):
        logger.warning(
            "shopify.webhook.bad_signature",
            extra={
                "shop_domain": request.headers.get(webhooks.SHOP_DOMAIN_HEADER, ""),
                "signature_present": bool(signature),
            },
        )
        return JsonResponse(
            error_body(
                "invalid_signature",
                f"{webhooks.HMAC_HEADER} is missing or does not match the body; "
                "sign the raw body with the app's client secret.",
            ),
            status=401,
        )

    topic = request.headers.get(webhooks.TOPIC_HEADER, "")
    shop = request.headers.get(webhooks.SHOP_DOMAIN_HEADER, "")
    webhook_id = request.headers.get(webhooks.WEBHOOK_ID_HEADER, "")
    missing = [
        {"path": f"headers.{name}", "message": "Required."}
        for name, value in (
            (webhooks.TOPIC_HEADER, topic),
            (webhooks.SHOP_DOMAIN_HEADER, shop),
            (webhooks.WEBHOOK_ID_HEADER, webhook_id),
        )
        if not value
    ]
    if missing:
        return JsonResponse(
            error_body(
                "missing_headers", "Shopify webhook headers are missing.", missing
            ),
            status=400,
        )
    if not SHOP_DOMAIN_PATTERN.match(shop):
        return JsonResponse(
            error_body(
                "invalid_shop_domain", f"{shop!r} is not a myshopify.com domain."
            ),
            status=400,
        )
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        return JsonResponse(
            error_body("malformed_json", f"The body is not valid JSON: {exc}"),
            status=400,
        )

    results = app_event_ingest(
        connector="shopify",
        account_id=shop,
        topic=topic,
        delivery_id=webhook_id,
        data=data,
    )
    return JsonResponse(
        {
            "events": [result.event.pk for result in results],
            "runs": [run.pk for result in results for run in result.runs],
        }
    )
