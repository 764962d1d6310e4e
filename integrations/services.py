"""Writes for workspaces, API keys, integrations, end users and connections."""

import json
import logging
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from alloy import jobs
from alloy.crypto import generate_token, hash_token
from alloy.errors import ApplicationError, ConflictError, ValidationError
from alloy.generation import generation_bump
from alloy.outbound import OutboundURLError, outbound_url_check
from connectors import registry
from connectors.warehouse.connection_url import warehouse_url_parse
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
    """Revoke a key for good; revoking it again changes nothing."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at", "updated_at"])
        generation_bump()
        logger.info(
            "integrations.api_key.revoked",
            extra={"workspace_id": key.workspace_id, "api_key_id": key.pk},
        )
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


WAREHOUSE_APP = "warehouse"


def connection_create(
    *, end_user: EndUser, app: str, credentials: dict, account_id: str = ""
) -> Connection:
    """Store an end user's account in an app, its credentials encrypted.

    An end user has at most one warehouse connection: a new one replaces the
    one they had in place, keeping its id, so installations that use it keep
    working. A warehouse's account id defaults to its URL with the password
    shown as ``***``. Raises InvalidConnectionError for an unknown app, a
    missing account id, or credentials the connector does not accept.
    """
    connector = registry.connector_get(app)
    if connector is None:
        raise InvalidConnectionError(
            f"Unknown app {app!r}.",
            fields=[{"path": "$.app", "message": f"Unknown app {app!r}."}],
        )
    if not account_id and app != WAREHOUSE_APP:
        raise InvalidConnectionError(
            f"The connection is invalid: $.account_id: Missing: give the {app} "
            "account's id, such as the shop's myshopify domain.",
            fields=[{"path": "$.account_id", "message": "This field is required."}],
        )
    if connector.validate_connection is not None:
        fields = connector.validate_connection(account_id, credentials)
        if fields:
            raise InvalidConnectionError(
                "The connection is invalid: "
                + "; ".join(f"{f['path']}: {f['message']}" for f in fields),
                fields=fields,
            )
    if app == WAREHOUSE_APP:
        return _end_user_warehouse_set(
            end_user=end_user,
            account_id=account_id or warehouse_url_parse(credentials["url"]).redacted,
            credentials=credentials,
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


def _end_user_warehouse_set(
    *, end_user: EndUser, account_id: str, credentials: dict
) -> Connection:
    """Store the end user's one warehouse connection, replacing the one they had."""
    with transaction.atomic():
        # Locking the end user serializes two connects, so neither adds a second row.
        EndUser.objects.select_for_update().filter(pk=end_user.pk).first()
        existing = list(
            Connection.objects.filter(end_user=end_user, app=WAREHOUSE_APP).order_by(
                "-created_at", "-pk"
            )
        )
        values = {
            "account_id": account_id,
            "credentials": json.dumps(credentials),
            "status": Connection.Status.ACTIVE,
        }
        if existing:
            connection = existing[0]
            # Older warehouse rows of the end user are unused, because
            # steps read only the newest; drop those no installation uses.
            Connection.objects.filter(
                pk__in=[older.pk for older in existing[1:]], installations__isnull=True
            ).delete()
            for name, value in values.items():
                setattr(connection, name, value)
            try:
                with transaction.atomic():
                    connection.save(update_fields=[*values, "updated_at"])
            except IntegrityError as exc:
                raise DuplicateError(
                    f"Another warehouse connection of this end user is named "
                    f"{account_id!r} and is used by an installation; choose another "
                    "account id."
                ) from exc
        else:
            connection = Connection.objects.create(
                end_user=end_user, app=WAREHOUSE_APP, **values
            )
        generation_bump()
    logger.info(
        "integrations.connection.created",
        extra={
            "end_user_id": end_user.pk,
            "connection_id": connection.pk,
            "app": WAREHOUSE_APP,
            "replaced": bool(existing),
        },
    )
    return connection


def warehouse_url_problems(*, url: str) -> list[dict[str, str]]:
    """Check a warehouse URL by parsing it and connecting, and return the problems.

    Each problem names the URL with its password redacted. Writes nothing.
    """
    connector = registry.connector_get(WAREHOUSE_APP)
    return connector.validate_connection("", {"url": url})


def warehouse_connection_set(*, workspace: Workspace, url: str) -> Connection:
    """Connect the workspace's own warehouse by URL, replacing the one it had.

    Every end user without a warehouse connection of their own writes to it.
    The URL must parse, name a supported warehouse, resolve to an address
    OUTBOUND_ALLOWED_NETWORKS allows, and accept a connection within
    WAREHOUSE_CONNECT_TIMEOUT; it is stored encrypted. Raises
    InvalidConnectionError naming the URL with its password redacted.
    """
    fields = warehouse_url_problems(url=url)
    if fields:
        raise InvalidConnectionError(
            "; ".join(f["message"] for f in fields), fields=fields
        )
    account_id = warehouse_url_parse(url).redacted
    with transaction.atomic():
        connection, created = Connection.objects.update_or_create(
            workspace=workspace,
            end_user=None,
            app=WAREHOUSE_APP,
            defaults={
                "account_id": account_id,
                "credentials": json.dumps({"url": url}),
                "status": Connection.Status.ACTIVE,
            },
        )
    logger.info(
        "integrations.warehouse.connected",
        extra={
            "workspace_id": workspace.pk,
            "connection_id": connection.pk,
            "replaced": not created,
        },
    )
    return connection


def warehouse_connection_remove(*, workspace: Workspace) -> None:
    """Delete the workspace's own warehouse connection, if it has one."""
    deleted, _ = Connection.objects.filter(
        workspace=workspace, end_user=None, app=WAREHOUSE_APP
    ).delete()
    if deleted:
        logger.info(
            "integrations.warehouse.removed", extra={"workspace_id": workspace.pk}
        )


def connection_disable(*, connection: Connection) -> Connection:
    connection.status = Connection.Status.DISABLED
    connection.save(update_fields=["status", "updated_at"])
    generation_bump()
    return connection


@transaction.atomic
def installation_create(
    *, end_user: EndUser, integration: Integration, connection: Connection
) -> Installation:
    """Install an integration for an end user, registering the webhooks it needs.

    A new installation gets the published version of every workflow; installing
    again keeps the versions it has and adds any workflow it lacks. Runs in one
    transaction: if the app rejects a webhook subscription, nothing is stored.
    Raises InvalidConnectionError when the connection belongs to another end
    user or app.
    """
    from workflows.services.installed_versions import installed_versions_pin
    from workflows.services.schedules import schedules_sync

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
    installed_versions_pin(installation=installation, only_missing=not created)
    generation_bump()
    installation_sync_subscriptions(installation=installation)
    schedules_sync(integration_id=integration.pk)
    logger.info(
        "integrations.installation.created",
        extra={
            "workspace_id": end_user.workspace_id,
            "integration_id": integration.pk,
            "end_user_id": end_user.pk,
            "installation_id": installation.pk,
            "installation_created": created,
        },
    )
    return installation


def installation_sync_subscriptions(*, installation: Installation) -> list[str]:
    """Reconcile the webhook subscriptions of the installation's account.

    Returns the topics the account is now subscribed to. Raises
    ApplicationError (HTTP 502) when the app rejects or fails a call.
    """
    connection = installation.connection
    return account_subscriptions_reconcile(
        app=connection.app,
        account_id=connection.account_id,
        credentials=connection.credential_data,
    )


def account_subscriptions_reconcile(
    *, app: str, account_id: str, credentials: dict
) -> list[str]:
    """Subscribe an app account to exactly the topics its installations need.

    The topics are those of the installed versions' triggers, over every
    active connection to the account, since one shop may be connected by
    several end users. Existing subscriptions are kept, so this never creates
    a second subscription for a topic; unneeded ones are deleted.
    """
    # Imported here because the workflows app depends on this one.
    from workflows.selectors import installed_topics_for_account

    connector = registry.connector_get(app)
    topics = installed_topics_for_account(app=app, account_id=account_id)
    if connector is None or connector.sync_subscriptions is None:
        return topics
    connector.sync_subscriptions(account_id, credentials, topics)
    logger.info(
        "integrations.subscriptions.reconciled",
        extra={"app": app, "account_id": account_id, "topics": topics},
    )
    return topics


def integration_subscriptions_reconcile(*, integration_id: int) -> int:
    """Reconcile the subscriptions of every account the integration is installed on.

    A failing account is logged and skipped, so the others still get their
    subscriptions. Returns the number of accounts that failed.
    """
    connections = Connection.objects.filter(
        installations__integration_id=integration_id,
        status=Connection.Status.ACTIVE,
    ).distinct()
    failed = 0
    seen: set[tuple[str, str]] = set()
    for connection in connections:
        account = (connection.app, connection.account_id)
        if account in seen:
            continue
        seen.add(account)
        if not _reconcile_quietly(connection, {"integration_id": integration_id}):
            failed += 1
    return failed


def installation_delete(*, installation: Installation) -> None:
    """Uninstall: delete the installation, then drop the webhooks no longer needed.

    The installation is deleted even when the app cannot be reached to delete
    the subscriptions. That failure is logged, and deliveries for a topic that
    no installation needs start no run.
    """
    from workflows.services.schedules import schedules_sync

    connection = installation.connection
    ids = {
        "installation_id": installation.pk,
        "integration_id": installation.integration_id,
        "end_user_id": installation.end_user_id,
    }
    installation.delete()
    generation_bump()
    logger.info("integrations.installation.deleted", extra=ids)
    schedules_sync(integration_id=ids["integration_id"])
    _reconcile_quietly(connection, ids)


def end_user_delete(*, end_user: EndUser) -> None:
    """Delete an end user with their installations, connections, events and runs.

    Webhook subscriptions their shops no longer need are deleted afterwards;
    a failure there is logged, not raised.
    """
    connections = list(end_user.connections.all())
    ids = {"workspace_id": end_user.workspace_id, "end_user_id": end_user.pk}
    with transaction.atomic():
        Installation.objects.filter(end_user=end_user).delete()
        Connection.objects.filter(end_user=end_user).delete()
        end_user.delete()
        generation_bump()
    logger.info("integrations.end_user.deleted", extra=ids)
    for connection in connections:
        _reconcile_quietly(connection, ids)


def _reconcile_quietly(connection: Connection, ids: dict) -> bool:
    """Reconcile the connection's account; log a failure and return False."""
    if connection.status != Connection.Status.ACTIVE:
        return True
    try:
        account_subscriptions_reconcile(
            app=connection.app,
            account_id=connection.account_id,
            credentials=connection.credential_data,
        )
    except ApplicationError as exc:
        logger.warning(
            "integrations.subscriptions.reconcile_failed",
            extra={**ids, "connection_id": connection.pk, "error": exc.message},
        )
        return False
    return True


def connection_delete(*, connection: Connection) -> None:
    """Delete a connection; raises ConflictError while an installation uses it."""
    if connection.installations.exists():
        raise ConflictError(
            f"Connection {connection.pk} is used by an installation; delete the "
            "installation first.",
            code="connection_in_use",
        )
    connection.delete()
    generation_bump()


@transaction.atomic
def integration_version_policy_set(
    *, integration: Integration, version_policy: str
) -> Integration:
    """Set how new publications reach installations: ``follow`` or ``pinned``.

    Switching to ``follow`` moves every installation to the published versions
    now, and a job reconciles the shops' webhook subscriptions after commit.
    """
    from workflows.services.installed_versions import installed_versions_pin
    from workflows.services.schedules import schedules_sync

    if version_policy not in Integration.VersionPolicy.values:
        raise ValidationError(
            f"{version_policy!r} is not a version policy; use one of "
            f"{', '.join(Integration.VersionPolicy.values)}.",
            fields=[{"path": "$.version_policy", "message": "Unknown policy."}],
        )
    integration.version_policy = version_policy
    integration.save(update_fields=["version_policy", "updated_at"])
    generation_bump()
    if version_policy == Integration.VersionPolicy.FOLLOW:
        for installation in integration.installations.all():
            installed_versions_pin(installation=installation)
        schedules_sync(integration_id=integration.pk)
        from integrations.jobs import integration_subscriptions_reconcile_job

        transaction.on_commit(
            lambda: jobs.enqueue(
                integration_subscriptions_reconcile_job, integration.pk
            )
        )
    return integration


def workspace_error_webhook_set(*, workspace: Workspace, url: str) -> Workspace:
    """Set the URL notified, signed, when a run fails; blank turns it off.

    Raises ValidationError for a URL that resolves to an internal address
    that OUTBOUND_ALLOWED_NETWORKS does not allow.
    """
    if url:
        try:
            outbound_url_check(url)
        except OutboundURLError as exc:
            raise ValidationError(
                str(exc), fields=[{"path": "$.error_webhook_url", "message": str(exc)}]
            ) from exc
    workspace.error_webhook_url = url
    workspace.save(update_fields=["error_webhook_url", "updated_at"])
    generation_bump()
    return workspace
