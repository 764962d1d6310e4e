"""A client for Shopify's GraphQL Admin API, with its failures mapped to ActionError."""

import logging
import re
from typing import Any

import requests
from django.conf import settings

from connectors.registry import ActionError

logger = logging.getLogger(__name__)

SHOP_DOMAIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com\Z")


class ShopifyClient:
    """Send GraphQL documents to one shop with its access token.

    With ``SHOPIFY_API_URL`` set (the sandbox), requests go to that address
    with the shop's domain in the ``Host`` header, as Shopify routes by host.
    """

    def __init__(self, shop_domain: str, access_token: str) -> None:
        self.shop_domain = shop_domain
        self.access_token = access_token
        self.session = requests.Session()

    @property
    def endpoint(self) -> str:
        path = f"/admin/api/{settings.SHOPIFY_API_VERSION}/graphql.json"
        if settings.SHOPIFY_API_URL:
            return settings.SHOPIFY_API_URL.rstrip("/") + path
        return f"https://{self.shop_domain}{path}"

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict:
        """Run a query or mutation and return its ``data``.

        Raises ActionError for HTTP failures, GraphQL errors and throttling;
        ``userErrors`` are left to the caller, which maps them to its input's names.
        """
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Shopify-Access-Token": self.access_token,
        }
        if settings.SHOPIFY_API_URL:
            headers["Host"] = self.shop_domain
        try:
            response = self.session.post(
                self.endpoint,
                json={"query": query, "variables": variables or {}},
                headers=headers,
                timeout=settings.SHOPIFY_REQUEST_TIMEOUT,
            )
        except requests.Timeout as exc:
            raise ActionError(
                f"Shopify timed out after {settings.SHOPIFY_REQUEST_TIMEOUT:g}s.",
                code="shopify_timeout",
                retryable=True,
            ) from exc
        except requests.RequestException as exc:
            raise ActionError(
                f"Could not reach Shopify at {self.shop_domain}: {exc}",
                code="shopify_unreachable",
                retryable=True,
            ) from exc
        return self._parse(response)

    def _parse(self, response: requests.Response) -> dict:
        status = response.status_code
        if status in (401, 403):
            raise ActionError(
                f"Shopify rejected the access token for {self.shop_domain} "
                f"(HTTP {status}); reconnect the shop.",
                code="shopify_unauthorized",
            )
        if status == 402:
            raise ActionError(
                f"The shop {self.shop_domain} is frozen for unpaid bills (HTTP 402).",
                code="shopify_shop_frozen",
            )
        if status == 404:
            raise ActionError(
                f"Shopify has no shop at {self.shop_domain} (HTTP 404).",
                code="shopify_shop_not_found",
            )
        if status == 429:
            retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            raise ActionError(
                "Shopify rate limit reached (HTTP 429).",
                code="shopify_throttled",
                retryable=True,
                retry_after=retry_after,
            )
        if status >= 500:
            raise ActionError(
                f"Shopify failed with HTTP {status}.",
                code="shopify_server_error",
                retryable=True,
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise ActionError(
                f"Shopify returned HTTP {status} with a body that is not JSON.",
                code="shopify_bad_response",
                retryable=True,
            ) from exc
        if not isinstance(body, dict):
            raise ActionError(
                "Shopify returned JSON that is not an object.",
                code="shopify_bad_response",
            )
        errors = body.get("errors")
        if errors:
            raise _graphql_error(errors, body.get("extensions") or {})
        if status >= 400:
            raise ActionError(
                f"Shopify rejected the request with HTTP {status}.",
                code="shopify_request_rejected",
            )
        return body.get("data") or {}


def _graphql_error(errors: Any, extensions: dict) -> ActionError:
    if isinstance(errors, str):
        return ActionError(f"Shopify: {errors}", code="shopify_request_rejected")
    if not isinstance(errors, list):
        return ActionError(f"Shopify: {errors}", code="shopify_request_rejected")
    codes = [
        (error.get("extensions") or {}).get("code")
        for error in errors
        if isinstance(error, dict)
    ]
    if "THROTTLED" in codes:
        return ActionError(
            "Shopify throttled the request; its query cost bucket is empty.",
            code="shopify_throttled",
            retryable=True,
            retry_after=_throttle_wait_seconds(extensions),
        )
    messages = "; ".join(
        str(error.get("message", error)) if isinstance(error, dict) else str(error)
        for error in errors
    )
    return ActionError(
        f"Shopify GraphQL error: {messages}", code="shopify_graphql_error"
    )


def _throttle_wait_seconds(extensions: dict) -> float | None:
    """Seconds until the bucket contains the requested cost, from ``throttleStatus``."""
    cost = extensions.get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        requested = float(cost["requestedQueryCost"])
        available = float(status["currentlyAvailable"])
        restore_rate = float(status["restoreRate"])
    except (KeyError, TypeError, ValueError):
        return None
    if restore_rate <= 0:
        return None
    return max(0.0, (requested - available) / restore_rate)


def _retry_after_seconds(value: str | None) -> float | None:
    # Shopify's REST API sends fractional seconds, such as "2.0".
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def user_errors_to_fields(
    user_errors: list[dict], *, root: str, argument: str
) -> list[dict[str, str]]:
    """Turn ``userErrors`` into step error fields with JSON paths.

    Shopify names a field as a list such as ``["order", "lineItems", "0",
    "quantity"]``. Some mutations start the list with their argument name and
    others do not, so a leading ``argument`` is replaced by ``root``.
    """
    fields = []
    for error in user_errors:
        parts = [str(part) for part in error.get("field") or []]
        if parts and parts[0] == argument:
            parts = parts[1:]
        path = root
        for part in parts:
            path += f"[{part}]" if part.isdigit() else f".{part}"
        fields.append({"path": path, "message": str(error.get("message", ""))})
    return fields
