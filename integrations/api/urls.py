"""URLs of the integrations API, mounted under /api/v1/."""

from django.urls import path

from integrations.api import views

app_name = "integrations-api"

urlpatterns = [
    path("api-keys", views.ApiKeyListApi.as_view(), name="api-key-list"),
    path(
        "api-keys/<int:api_key_id>",
        views.ApiKeyDetailApi.as_view(),
        name="api-key-detail",
    ),
    path("end-users", views.EndUserListApi.as_view(), name="end-user-list"),
    path(
        "end-users/<str:external_id>",
        views.EndUserDetailApi.as_view(),
        name="end-user-detail",
    ),
    path(
        "end-users/<str:external_id>/token",
        views.EndUserTokenApi.as_view(),
        name="end-user-token",
    ),
    path(
        "end-users/<str:external_id>/connections",
        views.ConnectionListApi.as_view(),
        name="connection-list",
    ),
    path(
        "end-users/<str:external_id>/connections/<int:connection_id>",
        views.ConnectionDetailApi.as_view(),
        name="connection-detail",
    ),
    path("integrations", views.IntegrationListApi.as_view(), name="integration-list"),
    path(
        "integrations/<int:integration_id>",
        views.IntegrationDetailApi.as_view(),
        name="integration-detail",
    ),
    path(
        "integrations/<int:integration_id>/upgrade",
        views.IntegrationUpgradeApi.as_view(),
        name="integration-upgrade",
    ),
    path(
        "installations", views.InstallationListApi.as_view(), name="installation-list"
    ),
    path(
        "installations/<int:installation_id>",
        views.InstallationDetailApi.as_view(),
        name="installation-detail",
    ),
    path(
        "installations/<int:installation_id>/upgrade",
        views.InstallationUpgradeApi.as_view(),
        name="installation-upgrade",
    ),
    path("workspace", views.WorkspaceApi.as_view(), name="workspace"),
]
