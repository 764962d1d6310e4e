"""Reads for workspaces, API keys, end users and connections."""

from django.utils import timezone

from alloy.crypto import hash_token
from integrations.models import (
    ApiKey,
    Connection,
    EndUser,
    Installation,
    Integration,
    Workspace,
)

# An API key's last use is written at most this often, so that every request
# does not cost a write.
LAST_USED_RESOLUTION_SECONDS = 60


def api_key_authenticate(token: str) -> ApiKey | None:
    """Return the active key for a presented token, or None."""
    key = (
        ApiKey.objects.select_related("workspace")
        .filter(key_hash=hash_token(token), revoked_at__isnull=True)
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    stale = key.last_used_at is None or (
        (now - key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS
    )
    if stale:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
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


def integration_list(*, workspace: Workspace) -> list[Integration]:
    return list(
        Integration.objects.filter(workspace=workspace).prefetch_related("workflows")
    )


def integration_get(*, workspace: Workspace, integration_id: int) -> Integration | None:
    return Integration.objects.filter(workspace=workspace, pk=integration_id).first()


def test_connection_list(*, workspace: Workspace) -> list[Connection]:
    """Active connections of the workspace's end users, for live test runs."""
    return list(
        Connection.objects.select_related("end_user").filter(
            end_user__workspace=workspace, status=Connection.Status.ACTIVE
        )
    )
