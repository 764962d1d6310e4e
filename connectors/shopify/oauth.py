"""Shopify's OAuth authorization code grant, from the app's side.

The install URL sends the merchant to ``https://{shop}/admin/oauth/authorize``
with the app's client id, scopes, redirect URI and a ``state`` nonce. Shopify
redirects back with ``code``, ``shop``, ``state``, ``timestamp`` and ``hmac``,
the hex HMAC-SHA256 of the other parameters sorted and joined as a query
string, keyed with the client secret. The code is exchanged at
``/admin/oauth/access_token`` for an offline access token.
"""

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings

from alloy.errors import ApplicationError
from connectors.shopify.client import SHOP_DOMAIN_PATTERN

# How far a callback's timestamp may be from this server's clock, in seconds.
CALLBACK_MAX_AGE_SECONDS = 300


def admin_base_url(shop: str) -> str:
    if settings.SHOPIFY_API_URL:
        return settings.SHOPIFY_API_URL.rstrip("/")
    return f"https://{shop}"


def authorize_url(shop: str, *, state: str, redirect_uri: str) -> str:
    params = {
        "client_id": settings.SHOPIFY_CLIENT_ID,
        "scope": ",".join(settings.SHOPIFY_SCOPES),
        "redirect_uri": redirect_uri,
        "state": state,
    }
    if settings.SHOPIFY_API_URL:
        # The sandbox serves every shop at one address; a browser cannot set
        # the Host header, so the shop travels as a parameter.
        params["shop"] = shop
    return f"{admin_base_url(shop)}/admin/oauth/authorize?{urlencode(params)}"


def callback_problems(query: dict[str, str], *, now: float | None = None) -> list[dict]:
    """Check a callback's HMAC, shop domain, timestamp and required parameters.

    Returns one ``{path, message}`` per problem; an empty list means valid.
    """
    problems = []
    for name in ("code", "shop", "state", "timestamp", "hmac"):
        if not query.get(name):
            problems.append({"path": f"query.{name}", "message": "Required."})
    if problems:
        return problems
    message = "&".join(
        f"{key}={value}" for key, value in sorted(query.items()) if key != "hmac"
    )
    expected = hmac.new(
        settings.SHOPIFY_CLIENT_SECRET.encode(), message.encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, query["hmac"]):
        return [
            {
                "path": "query.hmac",
                "message": "Does not match the parameters; the request was altered "
                "or not sent by Shopify.",
            }
        ]
    if not SHOP_DOMAIN_PATTERN.match(query["shop"]):
        problems.append(
            {
                "path": "query.shop",
                "message": f"{query['shop'][:100]!r} is not a shop domain such as "
                "'example.myshopify.com'.",
            }
        )
    now = time.time() if now is None else now
    try:
        age = abs(now - int(query["timestamp"]))
    except ValueError:
        age = None
    if age is None or age > CALLBACK_MAX_AGE_SECONDS:
        problems.append(
            {
                "path": "query.timestamp",
                "message": f"Not within {CALLBACK_MAX_AGE_SECONDS} seconds of now; "
                "start the connection again.",
            }
        )
    return problems


def exchange_code(shop: str, code: str) -> dict[str, Any]:
    """Exchange an authorization code for ``{"access_token", "scope"}``.

    Raises ApplicationError (HTTP 502) naming Shopify's error when the
    exchange fails, or when the granted scopes lack a requested one.
    """
    headers = {"Accept": "application/json"}
    if settings.SHOPIFY_API_URL:
        headers["Host"] = shop
    try:
        response = requests.post(
            f"{admin_base_url(shop)}/admin/oauth/access_token",
            json={
                "client_id": settings.SHOPIFY_CLIENT_ID,
                "client_secret": settings.SHOPIFY_CLIENT_SECRET,
                "code": code,
            },
            headers=headers,
            timeout=settings.SHOPIFY_REQUEST_TIMEOUT,
        )
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise _exchange_failed(shop, f"{type(exc).__name__}") from exc
    if not isinstance(body, dict):
        raise _exchange_failed(shop, "the response is not a JSON object")
    if response.status_code != 200 or not body.get("access_token"):
        reason = (
            body.get("error_description")
            or body.get("error")
            or (f"HTTP {response.status_code}")
        )
        raise _exchange_failed(shop, str(reason))
    granted = {scope.strip() for scope in str(body.get("scope", "")).split(",")}
    # Shopify leaves out a read scope that a granted write scope implies.
    granted |= {
        s.replace("write_", "read_", 1) for s in granted if s.startswith("write_")
    }
    missing = sorted(set(settings.SHOPIFY_SCOPES) - granted)
    if missing:
        raise _exchange_failed(
            shop, f"the scopes {', '.join(missing)} were not granted"
        )
    return {"access_token": body["access_token"], "scope": body.get("scope", "")}


def _exchange_failed(shop: str, reason: str) -> ApplicationError:
    return ApplicationError(
        f"Shopify did not grant access to {shop}: {reason}. Start the connection "
        "again.",
        code="oauth_exchange_failed",
        status_code=502,
    )
