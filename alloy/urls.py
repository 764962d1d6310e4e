"""Root URLs: the admin, the JSON API under /api/v1/, webhooks and the builder."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from connectors.shopify.views import shopify_webhook

urlpatterns = [
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("workflows.api.urls")),
    path("webhooks/shopify", shopify_webhook, name="shopify-webhook"),
    path("builder/sign-in", auth_views.LoginView.as_view(), name="login"),
    path("builder/sign-out", auth_views.LogoutView.as_view(), name="logout"),
    path("builder/", include("integrations.urls")),
    path("builder/", include("workflows.urls")),
    path("", RedirectView.as_view(pattern_name="integrations:integration-list")),
]

handler404 = "alloy.errors.json_not_found"
handler500 = "alloy.errors.json_server_error"
