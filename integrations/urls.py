"""Builder URLs for integrations, mounted under /builder/."""

from django.urls import path

from integrations import views

app_name = "integrations"

urlpatterns = [
    path("", views.integration_list, name="integration-list"),
    path("integrations/new", views.integration_new, name="integration-new"),
    path(
        "integrations/<int:integration_id>",
        views.integration_detail,
        name="integration-detail",
    ),
    path("warehouse", views.warehouse_settings, name="warehouse"),
    path("warehouse/remove", views.warehouse_remove, name="warehouse-remove"),
]
