"""Root URLs: the admin, the JSON API under /api/v1/ with its schema and docs,
the connect page, app webhooks and the builder."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularSwaggerView,
)

from alloy.health import health, metrics
from connectors.shopify.views import shopify_webhook
from connectors.shopify.webhooks import WEBHOOK_PATH

# The admin app config leaves discovery to the URLconf (alloy/admin_apps.py).
admin.autodiscover()

urlpatterns = [
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("workflows.api.urls")),
    path("api/v1/", include("integrations.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
    path("connect/", include("integrations.connect_urls")),
    path(WEBHOOK_PATH.lstrip("/"), shopify_webhook, name="shopify-webhook"),
    path("builder/sign-in", auth_views.LoginView.as_view(), name="login"),
    path("builder/sign-out", auth_views.LogoutView.as_view(), name="logout"),
    path("builder/", include("integrations.urls")),
    path("builder/", include("workflows.urls")),
    path("", RedirectView.as_view(pattern_name="integrations:integration-list")),
    path("health", health, name="health"),
    path("metrics", metrics, name="metrics"),
]

handler400 = "alloy.errors.bad_request"
handler404 = "alloy.errors.json_not_found"
handler500 = "alloy.errors.json_server_error"
