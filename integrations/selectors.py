"""Reads for workspaces, API keys, end users, connections and installations."""

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from alloy.crypto import hash_token
from alloy.generation import GenerationCache, generation_current
from integrations.models import (
    ApiKey,
    Connection,
    EndUser,
    Installation,
    Integration,
    Workspace,
)
from workflows.models import InstalledVersion, Workflow

# An API key's last use is written at most this often, so that every request
# does not cost a write.
LAST_USED_RESOLUTION_SECONDS = 60

# Active API keys by hash, with their workspaces. Every service that revokes
# a key or changes a workspace bumps the generation.
_api_keys = GenerationCache()


def api_key_authenticate(token: str) -> ApiKey | None:
    """Return the active key for a presented token, or None.

    The key and its workspace come from this process's cache while the
    generation holds; the returned rows are shared, so callers must not
    change them.
    """
    key_hash = hash_token(token)
    generation = generation_current()
    key = _api_keys.get(generation, key_hash)
    if key is None:
        key = (
            ApiKey.objects.select_related("workspace")
            .filter(key_hash=key_hash, revoked_at__isnull=True)
            .first()
        )
        if key is None:
            return None
        _api_keys.set(generation, key_hash, key)
    now = timezone.now()
    stale = key.last_used_at is None or (
        (now - key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS
    )
    if stale:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def end_user_get(*, workspace: Workspace, external_id: str) -> EndUser | None:
    return EndUser.objects.filter(workspace=workspace, external_id=external_id).first()


def connections_for_account(*, app: str, account_id: str) -> list[Connection]:
    return list(
        Connection.objects.select_related("end_user__workspace").filter(
            app=app, account_id=account_id, status=Connection.Status.ACTIVE
        )
    )


def installation_list(*, end_user: EndUser) -> list[Installation]:
    return list(
        Installation.objects.select_related("integration", "connection").filter(
            end_user=end_user
        )
    )


def workspace_for_user(user) -> Workspace | None:
    """Return the workspace a signed-in author works in: the first they belong to."""
    if not user.is_authenticated:
        return None
    return Workspace.objects.filter(members=user).order_by("name", "pk").first()


def api_key_list(*, workspace: Workspace) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(workspace=workspace)


def api_key_get(*, workspace: Workspace, api_key_id: int) -> ApiKey | None:
    return ApiKey.objects.filter(workspace=workspace, pk=api_key_id).first()


def end_user_list(*, workspace: Workspace) -> QuerySet[EndUser]:
    return EndUser.objects.filter(workspace=workspace)


def connection_list(*, end_user: EndUser) -> QuerySet[Connection]:
    return Connection.objects.filter(end_user=end_user)


def workspace_connection_get(*, workspace: Workspace, app: str) -> Connection | None:
    """Return the workspace's own connection to ``app``, for end users with none."""
    return Connection.objects.filter(
        workspace=workspace, end_user__isnull=True, app=app
    ).first()


def connection_get(*, end_user: EndUser, connection_id: int) -> Connection | None:
    return Connection.objects.filter(end_user=end_user, pk=connection_id).first()


def integration_list(*, workspace: Workspace) -> QuerySet[Integration]:
    return Integration.objects.filter(workspace=workspace).prefetch_related(
        Prefetch(
            "workflows",
            queryset=Workflow.objects.select_related("published_version").order_by(
                "name"
            ),
        )
    )


def integration_get(*, workspace: Workspace, integration_id: int) -> Integration | None:
    return integration_list(workspace=workspace).filter(pk=integration_id).first()


def installation_queryset(*, workspace: Workspace) -> QuerySet[Installation]:
    """Installations of a workspace with what their serialization reads."""
    return (
        Installation.objects.filter(end_user__workspace=workspace)
        .select_related("end_user", "integration", "connection")
        .prefetch_related(
            Prefetch(
                "integration__workflows",
                queryset=Workflow.objects.select_related("published_version").order_by(
                    "name"
                ),
            ),
            Prefetch(
                "installed_versions",
                queryset=InstalledVersion.objects.select_related("version"),
            ),
        )
    )


def installation_filter(
    *,
    workspace: Workspace,
    external_id: str | None = None,
    integration_id: int | None = None,
) -> QuerySet[Installation]:
    installations = installation_queryset(workspace=workspace)
    if external_id is not None:
        installations = installations.filter(end_user__external_id=external_id)
    if integration_id is not None:
        installations = installations.filter(integration_id=integration_id)
    return installations


def installation_get(
    *, workspace: Workspace, installation_id: int
) -> Installation | None:
    return installation_queryset(workspace=workspace).filter(pk=installation_id).first()


def installation_workflow_versions(installation: Installation) -> list[dict]:
    """List each workflow of the installation with its installed and published numbers.

    Reads prefetched rows when the installation came from ``installation_queryset``.
    """
    installed = {
        row.workflow_id: row.version for row in installation.installed_versions.all()
    }
    rows = []
    for workflow in installation.integration.workflows.all():
        version = installed.get(workflow.pk)
        published = workflow.published_version
        rows.append(
            {
                "id": workflow.pk,
                "name": workflow.name,
                "installed_version": version.number if version else None,
                "published_version": published.number if published else None,
                "upgrade_available": published is not None
                and (version is None or version.pk != published.pk),
            }
        )
    return rows


def test_connection_list(*, workspace: Workspace) -> list[Connection]:
    """Active connections of the workspace's end users, for live test runs."""
    return list(
        Connection.objects.select_related("end_user").filter(
            end_user__workspace=workspace, status=Connection.Status.ACTIVE
        )
    )
