"""OAuth authorization code grant of the Shopify sandbox, as Shopify serves it.

``GET /admin/oauth/authorize`` shows the merchant an install page for the
requested scopes; approving it (a form POST to the same path) redirects to
``redirect_uri`` with ``code``, ``hmac``, ``host``, ``shop``, ``state`` and
``timestamp``, where ``hmac`` is the hex HMAC-SHA256 of the other parameters,
sorted and joined as a query string, keyed with the app's client secret.
``POST /admin/oauth/access_token`` exchanges a code, once, for the shop's
offline access token. A code expires after ``CODE_LIFETIME_SECONDS``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

# Scopes the sandbox knows; Shopify has many more, the platform asks for these.
KNOWN_SCOPES = frozenset(
    {
        "read_orders",
        "write_orders",
        "read_customers",
        "write_customers",
        "read_products",
        "write_products",
    }
)
CODE_LIFETIME_SECONDS = 60.0


@dataclass
class AuthorizationCode:
    shop_domain: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float


class OAuthError(Exception):
    """A rejected OAuth request, with Shopify's error name and description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def sign_query(params: dict[str, str], client_secret: str) -> str:
    """Return the hex HMAC-SHA256 of the sorted parameters other than ``hmac``."""
    message = "&".join(
        f"{key}={value}" for key, value in sorted(params.items()) if key != "hmac"
    )
    return hmac.new(
        client_secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def check_authorize(params: dict[str, str], client_id: str) -> tuple[str, ...]:
    """Check an authorize request; returns the scopes or raises OAuthError."""
    if params.get("client_id") != client_id:
        raise OAuthError(
            "invalid_request", "Oauth error invalid_request: The client_id is invalid."
        )
    scopes = tuple(
        scope.strip() for scope in params.get("scope", "").split(",") if scope.strip()
    )
    unknown = [scope for scope in scopes if scope not in KNOWN_SCOPES]
    if unknown:
        raise OAuthError(
            "invalid_scope",
            f"Oauth error invalid_scope: The access scope is invalid: {unknown[0]}",
        )
    redirect = urlsplit(params.get("redirect_uri", ""))
    if redirect.scheme not in ("http", "https") or not redirect.hostname:
        raise OAuthError(
            "invalid_request",
            "Oauth error invalid_request: The redirect_uri is missing or not an "
            "absolute URL.",
        )
    return scopes


def install_page(shop_domain: str, params: dict[str, str], scopes: tuple) -> bytes:
    """Return the HTML page where the merchant approves the app's install."""
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in sorted(params.items())
    )
    items = "".join(f"<li>{html.escape(scope)}</li>" for scope in scopes)
    return (
        "<!doctype html><html><head><title>Install app</title></head><body>"
        f"<h1>Install app on {html.escape(shop_domain)}</h1>"
        f"<p>The app asks for these access scopes:</p><ul>{items}</ul>"
        f'<form method="post" action="/admin/oauth/authorize">{hidden}'
        f'<input type="hidden" name="shop" value="{html.escape(shop_domain)}">'
        '<button type="submit" name="approve" value="1">Install app</button>'
        "</form></body></html>"
    ).encode()


def approve(
    shop_domain: str,
    params: dict[str, str],
    scopes: tuple[str, ...],
    codes: dict[str, AuthorizationCode],
    client_secret: str,
) -> str:
    """Issue a code and return the redirect URL back to the app."""
    code = secrets.token_hex(16)
    codes[code] = AuthorizationCode(
        shop_domain=shop_domain,
        client_id=params["client_id"],
        scopes=scopes,
        expires_at=time.time() + CODE_LIFETIME_SECONDS,
    )
    query = {
        "code": code,
        "host": base64.b64encode(f"{shop_domain}/admin".encode()).decode(),
        "shop": shop_domain,
        "timestamp": str(int(time.time())),
    }
    if params.get("state"):
        query["state"] = params["state"]
    query["hmac"] = sign_query(query, client_secret)
    return f"{params['redirect_uri']}?{urlencode(query)}"


def exchange(
    shop_domain: str,
    body: dict,
    codes: dict[str, AuthorizationCode],
    client_id: str,
    client_secret: str,
) -> AuthorizationCode:
    """Redeem a code once; raises OAuthError with Shopify's error otherwise."""
    if body.get("client_id") != client_id or not hmac.compare_digest(
        str(body.get("client_secret", "")).encode(), client_secret.encode()
    ):
        raise OAuthError(
            "invalid_client", "Client authentication failed: unknown client or secret."
        )
    grant = codes.pop(str(body.get("code", "")), None)
    if (
        grant is None
        or grant.shop_domain != shop_domain
        or grant.expires_at < time.time()
    ):
        raise OAuthError(
            "invalid_request",
            "The authorization code was not found or was already used",
        )
    return grant
