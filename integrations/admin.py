"""Admin for workspaces, API keys, integrations, end users, connections, installations.

Credentials, signing secrets and key hashes are never shown.
"""

from django import forms
from django.contrib import admin, messages
from django.db import models

from alloy.generation import GenerationBumpingAdmin
from integrations import services as integration_services
from integrations.models import (
    ApiKey,
    Connection,
    EndUser,
    Installation,
    Integration,
    OAuthState,
    Workspace,
    WorkspaceWarehouse,
)


@admin.register(Workspace)
class WorkspaceAdmin(GenerationBumpingAdmin, admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    exclude = ["signing_secret"]
    filter_horizontal = ["members"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # The secret signs every stream delivery, so a workspace never
        # exists without one; the operator sees it once, here.
        secret = integration_services.signing_secret_generate()
        obj.signing_secret = secret
        super().save_model(request, obj, form, change)
        messages.warning(
            request,
            f"The signing secret of {obj.name} is {secret}. Copy it to the "
            "author now; it is not shown again.",
        )


@admin.register(ApiKey)
class ApiKeyAdmin(GenerationBumpingAdmin, admin.ModelAdmin):
    list_display = ["name", "prefix", "workspace", "last_used_at", "revoked_at"]
    list_filter = ["workspace"]
    search_fields = ["name", "prefix"]
    exclude = ["key_hash"]
    readonly_fields = ["prefix", "last_used_at"]

    def has_add_permission(self, request) -> bool:
        # A key is shown once at creation, which the builder and API do.
        return False


@admin.register(Integration)
class IntegrationAdmin(GenerationBumpingAdmin, admin.ModelAdmin):
    list_display = ["name", "app", "workspace", "created_at"]
    list_filter = ["app", "workspace"]
    search_fields = ["name"]


@admin.register(EndUser)
class EndUserAdmin(GenerationBumpingAdmin, admin.ModelAdmin):
    list_display = ["external_id", "name", "email", "workspace"]
    list_filter = ["workspace"]
    search_fields = ["external_id", "name", "email"]


@admin.action(description="Disable selected connections")
def disable_connections(modeladmin, request, queryset) -> None:
    for connection in queryset:
        integration_services.connection_disable(connection=connection)


@admin.register(Connection)
class ConnectionAdmin(GenerationBumpingAdmin, admin.ModelAdmin):
    list_display = [
        "account_id",
        "app",
        "end_user",
        "workspace",
        "status",
        "created_at",
    ]
    list_filter = ["app", "status"]
    search_fields = ["account_id", "end_user__external_id"]
    exclude = ["credentials"]
    readonly_fields = ["end_user", "workspace", "app", "account_id"]
    actions = [disable_connections]

    def has_add_permission(self, request) -> bool:
        # Credentials come from the end user's own connect flow, never a form.
        return False


@admin.register(Installation)
class InstallationAdmin(GenerationBumpingAdmin, admin.ModelAdmin):
    list_display = ["integration", "end_user", "connection", "created_at"]
    list_filter = ["integration"]
    search_fields = ["end_user__external_id"]


@admin.register(OAuthState)
class OAuthStateAdmin(admin.ModelAdmin):
    list_display = ["account_id", "end_user", "integration", "expires_at", "used_at"]
    list_filter = ["app"]
    search_fields = ["account_id", "end_user__external_id"]
    # The nonce is a one-time secret of a browser's flow.
    exclude = ["state"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class WorkspaceWarehouseForm(forms.ModelForm):
    url = forms.CharField(
        label="Warehouse URL",
        widget=forms.PasswordInput(render_value=False),
        help_text="postgresql://user:password@host:5432/database. It is checked by "
        "connecting, stored encrypted and never shown again; enter it again to "
        "change it.",
    )

    class Meta:
        model = WorkspaceWarehouse
        fields = ["workspace"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        problems = integration_services.warehouse_url_problems(url=url)
        if problems:
            raise forms.ValidationError([problem["message"] for problem in problems])
        return url


@admin.register(WorkspaceWarehouse)
class WorkspaceWarehouseAdmin(GenerationBumpingAdmin, admin.ModelAdmin):
    """The warehouse each workspace writes to when an end user has none."""

    form = WorkspaceWarehouseForm
    list_display = ["workspace", "account_id", "status", "updated_at"]
    list_filter = ["status"]
    search_fields = ["workspace__name", "account_id"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return ["workspace", "account_id"] if obj else []

    def save_model(self, request, obj, form, change) -> None:
        connection = integration_services.warehouse_connection_set(
            workspace=obj.workspace, url=form.cleaned_data["url"]
        )
        obj.pk = connection.pk
        obj.refresh_from_db()
