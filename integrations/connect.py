"""The connect flow: an end user connects a Shopify shop through OAuth and installs.

``oauth_start`` stores a ``state`` nonce bound to the end user, integration and
shop, and returns the app's authorize URL. ``oauth_complete`` checks the
callback (HMAC, shop domain, timestamp, then the nonce), exchanges the code,
stores the connection and installs the integration, all in one transaction.
"""

import datetime
import json
import logging
import secrets

from django.db import transaction
from django.utils import timezone

from connectors.shopify import oauth as shopify_oauth
from connectors.shopify.client import SHOP_DOMAIN_PATTERN
from integrations import services
from integrations.exceptions import InvalidConnectionError, OAuthCallbackError
from integrations.models import (
    Connection,
    EndUser,
    Installation,
    Integration,
    OAuthState,
)

logger = logging.getLogger(__name__)

# How long the end user has to approve the app on Shopify's page.
STATE_LIFETIME = datetime.timedelta(minutes=10)


def oauth_start(
    *, end_user: EndUser, integration: Integration, shop: str, redirect_uri: str
) -> str:
    """Begin connecting ``shop`` for ``integration``; returns the authorize URL.

    Raises InvalidConnectionError for a shop that is not a myshopify.com domain
    or an integration of another app or workspace.
    """
    shop = shop.strip().lower()
    if integration.workspace_id != end_user.workspace_id:
        raise InvalidConnectionError("The integration is in another workspace.")
    if integration.app != "shopify":
        raise InvalidConnectionError(
            f"{integration.name} connects {integration.app}, which has no OAuth flow."
        )
    if not SHOP_DOMAIN_PATTERN.match(shop):
        raise InvalidConnectionError(
            f"{shop[:100]!r} is not a Shopify shop domain; enter it as "
            "'your-store.myshopify.com'.",
            fields=[{"path": "shop", "message": "Not a myshopify.com domain."}],
        )
    state = OAuthState.objects.create(
        state=secrets.token_urlsafe(32),
        end_user=end_user,
        integration=integration,
        app="shopify",
        account_id=shop,
        expires_at=timezone.now() + STATE_LIFETIME,
    )
    logger.info(
        "integrations.oauth.started",
        extra={"end_user_id": end_user.pk, "integration_id": integration.pk},
    )
    return shopify_oauth.authorize_url(
        shop, state=state.state, redirect_uri=redirect_uri
    )


@transaction.atomic
def oauth_complete(*, query: dict[str, str]) -> Installation:
    """Finish the flow from Shopify's redirect; returns the installation.

    Raises OAuthCallbackError (nothing stored) for a wrong HMAC, a stale
    timestamp, a domain that is not ``*.myshopify.com``, or a ``state`` that is
    unknown, used, expired or issued for another shop; ApplicationError (502)
    when Shopify refuses the code or the webhook subscriptions.
    """
    problems = shopify_oauth.callback_problems(query)
    if problems:
        raise OAuthCallbackError(
            "The Shopify callback is invalid: "
            + "; ".join(f"{p['path']}: {p['message']}" for p in problems),
            fields=problems,
        )
    state = (
        OAuthState.objects.select_for_update()
        .select_related("end_user", "integration")
        .filter(state=query["state"], app="shopify")
        .first()
    )
    if state is None or state.used_at is not None:
        raise OAuthCallbackError(
            "The state parameter is unknown or was used already; start the "
            "connection again from the connect page.",
            code="oauth_state_invalid",
            fields=[{"path": "query.state", "message": "Unknown or used."}],
        )
    if state.expires_at < timezone.now():
        raise OAuthCallbackError(
            "The connection attempt expired; start it again from the connect page.",
            code="oauth_state_invalid",
            fields=[{"path": "query.state", "message": "Expired."}],
        )
    if state.account_id != query["shop"]:
        raise OAuthCallbackError(
            f"The callback is for {query['shop']!r}, but the connection was started "
            f"for {state.account_id!r}.",
            code="oauth_state_invalid",
            fields=[{"path": "query.shop", "message": "Differs from the request."}],
        )
    credentials = shopify_oauth.exchange_code(query["shop"], query["code"])
    connection = _connection_store(state.end_user, query["shop"], credentials)
    installation = services.installation_create(
        end_user=state.end_user, integration=state.integration, connection=connection
    )
    state.used_at = timezone.now()
    state.save(update_fields=["used_at", "updated_at"])
    logger.info(
        "integrations.oauth.completed",
        extra={
            "end_user_id": state.end_user_id,
            "integration_id": state.integration_id,
            "connection_id": connection.pk,
            "installation_id": installation.pk,
        },
    )
    return installation


def _connection_store(end_user: EndUser, shop: str, credentials: dict) -> Connection:
    """Create the end user's connection to the shop, or renew its credentials."""
    connection = Connection.objects.filter(
        end_user=end_user, app="shopify", account_id=shop
    ).first()
    if connection is None:
        return services.connection_create(
            end_user=end_user, app="shopify", account_id=shop, credentials=credentials
        )
    connection.credentials = json.dumps(credentials)
    connection.status = Connection.Status.ACTIVE
    connection.save(update_fields=["credentials", "status", "updated_at"])
    return connection
