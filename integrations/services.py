"""Writes for workspaces, API keys, integrations, end users and connections."""

import json
import logging
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from alloy.crypto import generate_token, hash_token
from connectors import registry
from integrations.exceptions import DuplicateError, InvalidConnectionError
from integrations.models import (
    ApiKey,
    Connection,
    EndUser,
    Installation,
    Integration,
    Workspace,
)

logger = logging.getLogger(__name__)

API_KEY_PREFIX = "ak_live"
SIGNING_SECRET_PREFIX = "whsec"  # noqa: S105 - a prefix, not a secret


def signing_secret_generate() -> str:
    """Return a new random secret for signing a workspace's outgoing deliveries."""
    return f"{SIGNING_SECRET_PREFIX}_{secrets.token_urlsafe(32)}"


def workspace_create(*, name: str, slug: str = "") -> tuple[Workspace, str]:
    """Create a workspace; returns it and its signing secret, shown only now."""
    signing_secret = signing_secret_generate()
    slug = slug or slugify(name) or "workspace"
    try:
        with transaction.atomic():
            workspace = Workspace.objects.create(
                name=name, slug=slug, signing_secret=signing_secret
            )
    except IntegrityError as exc:
        raise DuplicateError(
            f"A workspace with the slug {slug!r} exists; choose another slug."
        ) from exc
    logger.info("integrations.workspace.created", extra={"workspace_id": workspace.pk})
    return workspace, signing_secret


def api_key_create(*, workspace: Workspace, name: str) -> tuple[ApiKey, str]:
    """Create an API key; returns the row and the key, which is stored only hashed."""
    token = generate_token(API_KEY_PREFIX)
    key = ApiKey.objects.create(
        workspace=workspace,
        name=name,
        prefix=token[: len(API_KEY_PREFIX) + 5],
        key_hash=hash_token(token),
    )
    logger.info(
        "integrations.api_key.created",
        extra={"workspace_id": workspace.pk, "api_key_id": key.pk},
    )
    return key, token


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at", "updated_at"])
    return key


def integration_create(
    *, workspace: Workspace, name: str, app: str, description: str = ""
) -> Integration:
    if registry.connector_get(app) is None:
        raise InvalidConnectionError(
            f"Unknown app {app!r}; choose one of "
            f"{', '.join(c.key for c in registry.connector_list())}.",
            fields=[{"path": "$.app", "message": f"Unknown app {app!r}."}],
        )
    try:
        with transaction.atomic():
            return Integration.objects.create(
                workspace=workspace, name=name, app=app, description=description
            )
    except IntegrityError as exc:
        raise DuplicateError(
            f"The workspace already has an integration named {name!r}."
        ) from exc


def end_user_create(
    *, workspace: Workspace, external_id: str, name: str = "", email: str = ""
) -> EndUser:
    try:
        with transaction.atomic():
            return EndUser.objects.create(
                workspace=workspace, external_id=external_id, name=name, email=email
            )
    except IntegrityError as exc:
        raise DuplicateError(
            f"An end user with the id {external_id!r} exists in this workspace."
        ) from exc


def connection_create(
    *, end_user: EndUser, app: str, account_id: str, credentials: dict
) -> Connection:
    """Store an end user's account in an app, its credentials encrypted.

    Raises InvalidConnectionError for an unknown app or account id, or
    credentials the connector does not accept.
    """
    connector = registry.connector_get(app)
    if connector is None:
        raise InvalidConnectionError(
            f"Unknown app {app!r}.",
            fields=[{"path": "$.app", "message": f"Unknown app {app!r}."}],
        )
    if connector.validate_connection is not None:
        fields = connector.validate_connection(account_id, credentials)
        if fields:
            raise InvalidConnectionError(
                "The connection is invalid: "
                + "; ".join(f"{f['path']}: {f['message']}" for f in fields),
                fields=fields,
            )
    try:
        with transaction.atomic():
            connection = Connection.objects.create(
                end_user=end_user,
                app=app,
                account_id=account_id,
                credentials=json.dumps(credentials),
            )
    except IntegrityError as exc:
        raise DuplicateError(
            f"The end user already has a {app} connection to {account_id!r}."
        ) from exc
    logger.info(
        "integrations.connection.created",
        extra={"end_user_id": end_user.pk, "connection_id": connection.pk, "app": app},
    )
    return connection


def connection_disable(*, connection: Connection) -> Connection:
    connection.status = Connection.Status.DISABLED
    connection.save(update_fields=["status", "updated_at"])
    return connection


@transaction.atomic
def installation_create(
    *, end_user: EndUser, integration: Integration, connection: Connection
) -> Installation:
    """Install an integration for an end user, registering the webhooks it needs.

    Runs in one transaction: if the app rejects a webhook subscription, the
    installation is not stored. Raises InvalidConnectionError when the
    connection belongs to another end user or app.
    """
    if connection.end_user_id != end_user.pk or connection.app != integration.app:
        raise InvalidConnectionError(
            f"Connection {connection.pk} is not a {integration.app} connection of "
            f"end user {end_user.external_id!r}.",
            fields=[{"path": "$.connection", "message": "Wrong end user or app."}],
        )
    if end_user.workspace_id != integration.workspace_id:
        raise InvalidConnectionError(
            "The end user and the integration are in different workspaces."
        )
    installation, created = Installation.objects.get_or_create(
        end_user=end_user,
        integration=integration,
        defaults={"connection": connection},
    )
    if not created and installation.connection_id != connection.pk:
        installation.connection = connection
        installation.save(update_fields=["connection", "updated_at"])
    installation_sync_subscriptions(installation=installation)
    logger.info(
        "integrations.installation.created",
        extra={
            "workspace_id": end_user.workspace_id,
            "integration_id": integration.pk,
            "end_user_id": end_user.pk,
            "installation_id": installation.pk,
        },
    )
    return installation


def installation_sync_subscriptions(*, installation: Installation) -> list[str]:
    """Make sure the shop sends every webhook topic the published workflows need.

    Returns the topics. Subscriptions that already exist are kept, so calling
    this again never creates a second subscription for a topic.
    """
    # Imported here because the workflows app depends on this one.
    from workflows.selectors import trigger_topics_for_integration

    connection = installation.connection
    connector = registry.connector_get(connection.app)
    topics = trigger_topics_for_integration(integration=installation.integration)
    if connector is None or connector.sync_subscriptions is None or not topics:
        return topics
    connector.sync_subscriptions(
        connection.account_id, connection.credential_data, topics
    )
    return topics
