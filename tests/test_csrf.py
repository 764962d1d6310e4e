"""Every browser-facing view keeps Django's CSRF check.

Only endpoints that authenticate each request by other means may be exempt:
the JSON API (API keys, no cookies) and app webhooks (HMAC signatures). A
builder form view that turns up csrf_exempt fails this test.
"""

from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

# Views allowed to skip the CSRF check, with the reason.
EXEMPT_VIEWS = {
    # Shopify signs the raw body with X-Shopify-Hmac-Sha256.
    "connectors.shopify.views.shopify_webhook",
    # Read-only operator endpoints that return a 405 for anything but GET.
    "alloy.health.health",
    "alloy.health.metrics",
    # The connect page runs in the author's iframe, where browsers may withhold
    # third-party cookies; its forms carry the signed end-user token instead.
    "integrations.connect_views.connect_install",
    "integrations.connect_views.connect_uninstall",
}


def _patterns(resolver: URLResolver, prefix: str = ""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def _is_api_view(callback) -> bool:
    view_class = getattr(callback, "cls", None)
    return view_class is not None and issubclass(view_class, APIView)


def test_views_keep_csrf_check():
    exempt = []
    for route, callback in _patterns(get_resolver()):
        if not getattr(callback, "csrf_exempt", False) or _is_api_view(callback):
            continue
        name = f"{callback.__module__}.{callback.__qualname__}"
        if name not in EXEMPT_VIEWS:
            exempt.append(f"{route} ({name})")
    assert exempt == []


def test_api_views_use_no_session_auth():
    from django.conf import settings

    classes = settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]
    assert "rest_framework.authentication.SessionAuthentication" not in classes
