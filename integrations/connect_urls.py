"""URLs of the connect page, mounted under /connect/."""

from django.urls import path

from integrations import connect_views

app_name = "connect"

urlpatterns = [
    path("", connect_views.connect_page, name="page"),
    path("install", connect_views.connect_install, name="install"),
    path("uninstall", connect_views.connect_uninstall, name="uninstall"),
    path("shopify/callback", connect_views.shopify_callback, name="shopify-callback"),
]
