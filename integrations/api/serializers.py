"""Serializers of the integrations API: input checks and output shapes."""

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.models import (
    ApiKey,
    Connection,
    EndUser,
    Installation,
    Integration,
)
from integrations.selectors import installation_workflow_versions
from integrations.validators import EXTERNAL_ID_RULE, is_external_id
from workflows.api.serializers import MAX_ID, StrictCharField


class ApiKeyInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200, help_text="What the key is for.")

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Name the key, such as 'production'.")
        return value.strip()


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(
        help_text="The key itself, shown only in this response; it is stored hashed."
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class EndUserInputSerializer(serializers.Serializer):
    id = StrictCharField(max_length=255, help_text="Your own id of the end user.")
    name = StrictCharField(max_length=200, required=False, default="")
    email = serializers.EmailField(required=False, default="")

    def validate_id(self, value: str) -> str:
        if not is_external_id(value):
            raise serializers.ValidationError(EXTERNAL_ID_RULE)
        return value


class EndUserSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id")

    class Meta:
        model = EndUser
        fields = ["id", "name", "email", "created_at"]


class EndUserTokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()
    connect_url = serializers.URLField()


class ConnectionInputSerializer(serializers.Serializer):
    app = StrictCharField(max_length=64)
    account_id = StrictCharField(
        max_length=255,
        required=False,
        default="",
        help_text="The account's identity in the app, such as the shop's "
        "myshopify domain. A warehouse may leave it out: it becomes the URL "
        "with the password shown as ***.",
    )
    credentials = serializers.DictField(
        help_text='The app\'s credentials, such as {"access_token": ...} for '
        'Shopify, or {"url": "postgresql://..."} for a warehouse.'
    )


class ConnectionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Connection
        fields = ["id", "app", "account_id", "status", "created_at"]


class WorkflowSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    published_version = serializers.IntegerField(
        source="published_version.number", allow_null=True, default=None
    )


class InstalledWorkflowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    installed_version = serializers.IntegerField(allow_null=True)
    published_version = serializers.IntegerField(allow_null=True)
    upgrade_available = serializers.BooleanField()


class InstallationSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="end_user.external_id")
    integration = serializers.IntegerField(source="integration_id")
    connection = serializers.IntegerField(source="connection_id")
    upgrade_available = serializers.SerializerMethodField()
    workflows = serializers.SerializerMethodField()

    class Meta:
        model = Installation
        fields = [
            "id",
            "user",
            "integration",
            "connection",
            "upgrade_available",
            "workflows",
            "created_at",
        ]

    @extend_schema_field(serializers.BooleanField())
    def get_upgrade_available(self, installation: Installation) -> bool:
        return any(
            row["upgrade_available"]
            for row in installation_workflow_versions(installation)
        )

    @extend_schema_field(InstalledWorkflowSerializer(many=True))
    def get_workflows(self, installation: Installation) -> list[dict]:
        return installation_workflow_versions(installation)


class IntegrationSerializer(serializers.ModelSerializer):
    workflows = WorkflowSummarySerializer(many=True)
    installation = serializers.SerializerMethodField(
        help_text="The end user's installation when ?user= is given, else null."
    )

    class Meta:
        model = Integration
        fields = [
            "id",
            "name",
            "app",
            "description",
            "version_policy",
            "workflows",
            "installation",
        ]

    @extend_schema_field(InstallationSerializer(allow_null=True))
    def get_installation(self, integration: Integration) -> dict | None:
        installations = self.context.get("installations") or {}
        installation = installations.get(integration.pk)
        if installation is None:
            return None
        return InstallationSerializer(installation).data


class IntegrationUpdateSerializer(serializers.Serializer):
    version_policy = serializers.ChoiceField(
        choices=Integration.VersionPolicy.choices,
        help_text="follow: installations move to each published version; "
        "pinned: they keep theirs until upgraded. Switching to follow moves "
        "them to the published versions at once.",
    )


class IntegrationUpgradeSerializer(serializers.Serializer):
    installations = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=1000,
        help_text="Installation ids to upgrade; leave out to upgrade all.",
    )


class UpgradeOutcomeSerializer(serializers.Serializer):
    installation = serializers.IntegerField()
    upgraded = serializers.BooleanField()
    error = serializers.DictField(allow_null=True)


class IntegrationUpgradeResultSerializer(serializers.Serializer):
    results = UpgradeOutcomeSerializer(many=True)


class InstallationInputSerializer(serializers.Serializer):
    user = StrictCharField(max_length=255)
    integration = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    connection = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class InstallationUpgradeSerializer(serializers.Serializer):
    workflows = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=1000,
        help_text="Workflow ids to upgrade; leave out to upgrade all.",
    )


class WorkspaceSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    error_webhook_url = serializers.CharField(
        max_length=2000,
        allow_blank=True,
        help_text="Receives a signed POST when a run fails; blank sends nothing.",
    )

    def validate_error_webhook_url(self, value: str) -> str:
        if value and not re.match(r"^https?://[^\s/?#]+[^\s]*$", value):
            raise serializers.ValidationError(
                f"{value[:100]!r} is not an http or https URL."
            )
        return value
