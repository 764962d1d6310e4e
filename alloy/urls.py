"""Root URLs: the admin, the JSON API under /api/v1/, and app webhooks."""

from django.contrib import admin
from django.urls import include, path

from alloy.health import health, metrics
from connectors.shopify.views import shopify_webhook

urlpatterns = [
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("workflows.api.urls")),
    path("webhooks/shopify", shopify_webhook, name="shopify-webhook"),
    path("health", health, name="health"),
    path("metrics", metrics, name="metrics"),
]

handler404 = "alloy.errors.json_not_found"
handler500 = "alloy.errors.json_server_error"
