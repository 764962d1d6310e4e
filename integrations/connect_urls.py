"""URLs of the connect page, mounted under /connect/."""

from django.urls import path

from integrations import views

app_name = "connect"

urlpatterns = [
    path("", views.connect_page, name="page"),
    path("install", views.connect_install, name="install"),
    path("uninstall", views.connect_uninstall, name="uninstall"),
    path("shopify/callback", views.shopify_callback, name="shopify-callback"),
]
