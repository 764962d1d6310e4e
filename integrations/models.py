"""Workspaces, API keys, integrations, end users, connections and installations."""

import json

from django.conf import settings
from django.db import models

from alloy.crypto import EncryptedTextField
from alloy.models import BaseModel


class Workspace(BaseModel):
    """An author: the SaaS company that builds integrations for its customers."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    # Signs stream execution data and HTTP action deliveries.
    signing_secret = EncryptedTextField()
    # Receives a signed POST whenever a run fails; blank sends nothing.
    error_webhook_url = models.URLField(max_length=2000, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="workspaces", blank=True
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiKey(BaseModel):
    """A workspace's key for the JSON API, stored as a SHA-256 hash only."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=200)
    # The first characters of the key, shown so a key can be recognised.
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Integration(BaseModel):
    """A set of workflows around one app, such as Shopify."""

    class VersionPolicy(models.TextChoices):
        # Installations run whatever version is published, rollbacks included.
        FOLLOW = "follow", "Follow the published version"
        # Installations keep the versions they installed until upgraded.
        PINNED = "pinned", "Pinned until upgraded"

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="integrations"
    )
    name = models.CharField(max_length=200)
    # The connector key of the app the integration is centred on.
    app = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    version_policy = models.CharField(
        max_length=16,
        choices=VersionPolicy.choices,
        default=VersionPolicy.FOLLOW,
        help_text="How a newly published version reaches existing installations.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "name"], name="integration_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name


class EndUser(BaseModel):
    """A customer of the author, identified by the author's own id."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="end_users"
    )
    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)

    class Meta:
        verbose_name = "end user"
        ordering = ["external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "external_id"], name="end_user_unique_external_id"
            )
        ]

    def __str__(self) -> str:
        return self.name or self.external_id


class Connection(BaseModel):
    """An account in an app, with its credentials encrypted at rest.

    It belongs to an end user, or, with no end user, to the workspace: the
    author's own account (such as its warehouse) that serves every end user
    who has no connection to that app.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISABLED = "disabled", "Disabled"

    end_user = models.ForeignKey(
        EndUser,
        on_delete=models.CASCADE,
        related_name="connections",
        null=True,
        blank=True,
    )
    # Set only for a workspace's own connection, which has no end user.
    workspace = models.ForeignKey(
        Workspace,
        on_delete=models.CASCADE,
        related_name="connections",
        null=True,
        blank=True,
    )
    app = models.CharField(max_length=64)
    # The account's identity in the app: for Shopify, the shop's myshopify
    # domain, and for a warehouse, its URL without the password.
    account_id = models.CharField(max_length=255)
    credentials = EncryptedTextField(help_text="JSON, encrypted with ENCRYPTION_KEY.")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.ACTIVE
    )

    class Meta:
        ordering = ["app", "account_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["end_user", "app", "account_id"],
                name="connection_unique_account",
            ),
            models.UniqueConstraint(
                fields=["workspace", "app"],
                condition=models.Q(end_user__isnull=True),
                name="connection_one_per_workspace_app",
            ),
            models.CheckConstraint(
                condition=models.Q(end_user__isnull=False, workspace__isnull=True)
                | models.Q(end_user__isnull=True, workspace__isnull=False),
                name="connection_one_owner",
            ),
        ]
        indexes = [models.Index(fields=["app", "account_id"])]

    def __str__(self) -> str:
        return f"{self.app}: {self.account_id}"

    @property
    def credential_data(self) -> dict:
        return json.loads(self.credentials) if self.credentials else {}


class WorkspaceWarehouseManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(app="warehouse", end_user__isnull=True)


class WorkspaceWarehouse(Connection):
    """A workspace's own warehouse connection, as the admin edits it."""

    objects = WorkspaceWarehouseManager()

    class Meta:
        proxy = True
        verbose_name = "workspace warehouse"

    def __str__(self) -> str:
        return f"{self.workspace}: {self.account_id}"


class Installation(BaseModel):
    """An end user's installation of an integration: its workflows run for them."""

    end_user = models.ForeignKey(
        EndUser, on_delete=models.CASCADE, related_name="installations"
    )
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="installations"
    )
    connection = models.ForeignKey(
        Connection,
        on_delete=models.RESTRICT,
        related_name="installations",
        help_text="The connection the integration's app actions use.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["end_user", "integration"], name="installation_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.integration} for {self.end_user}"


class OAuthState(BaseModel):
    """A pending app authorization started from the connect page.

    The ``state`` nonce travels through the app's authorize page and back to
    the callback, which accepts it once and only before ``expires_at``.
    """

    state = models.CharField(max_length=64, unique=True)
    end_user = models.ForeignKey(
        EndUser, on_delete=models.CASCADE, related_name="oauth_states"
    )
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="oauth_states"
    )
    app = models.CharField(max_length=64)
    # The shop domain the end user typed; the callback must name the same one.
    account_id = models.CharField(max_length=255)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OAuth state"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.app} authorization for {self.end_user} ({self.account_id})"
