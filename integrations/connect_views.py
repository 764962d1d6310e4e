"""The connect page: server-rendered, embeddable, opened with an end-user token.

The page's forms carry the token instead of a CSRF cookie. The page runs in
an iframe of the author's app, where browsers may withhold third-party
cookies, and the token is a secret that only the end user's browser holds.
"""

import logging
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from alloy.errors import ApplicationError
from integrations import connect, selectors, services, tokens
from integrations.models import EndUser

logger = logging.getLogger(__name__)


def _page(
    request: HttpRequest, end_user: EndUser, token: str, error: str = "", status=200
) -> HttpResponse:
    installations = {
        installation.integration_id: installation
        for installation in selectors.installation_filter(
            workspace=end_user.workspace, external_id=end_user.external_id
        )
    }
    integrations = [
        {
            "integration": integration,
            "installation": installations.get(integration.pk),
            "workflows": [
                w for w in integration.workflows.all() if w.published_version_id
            ],
        }
        for integration in selectors.integration_list(workspace=end_user.workspace)
    ]
    # An integration with nothing published would install nothing that runs;
    # an installed one stays listed so that it can be uninstalled.
    integrations = [
        item for item in integrations if item["workflows"] or item["installation"]
    ]
    context = {
        "end_user": end_user,
        "token": token,
        "integrations": integrations,
        "error": error,
    }
    return render(request, "connect/page.html", context, status=status)


def _error(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "connect/error.html", {"message": message}, status=status)


def _end_user(request: HttpRequest, token: str) -> EndUser | HttpResponse:
    """Return the token's end user, or a 401 page that explains why it is invalid."""
    try:
        return tokens.end_user_token_check(token)
    except ApplicationError as exc:
        return _error(request, exc.message, 401)


@require_GET
@xframe_options_exempt
def connect_page(request: HttpRequest) -> HttpResponse:
    token = request.GET.get("token", "")
    end_user = _end_user(request, token)
    if isinstance(end_user, HttpResponse):
        return end_user
    return _page(request, end_user, token)


@csrf_exempt
@require_POST
@xframe_options_exempt
def connect_install(request: HttpRequest) -> HttpResponse:
    """Start installing an integration: send the browser to Shopify's authorize page."""
    token = request.POST.get("token", "")
    end_user = _end_user(request, token)
    if isinstance(end_user, HttpResponse):
        return end_user
    integration_id = request.POST.get("integration", "")
    integration = (
        selectors.integration_get(
            workspace=end_user.workspace, integration_id=int(integration_id)
        )
        if integration_id.isdigit() and len(integration_id) < 18
        else None
    )
    if integration is None:
        return _page(request, end_user, token, "Choose an integration to install.", 400)
    redirect_uri = request.build_absolute_uri(reverse("connect:shopify-callback"))
    try:
        url = connect.oauth_start(
            end_user=end_user,
            integration=integration,
            shop=request.POST.get("shop", ""),
            redirect_uri=redirect_uri,
        )
    except ApplicationError as exc:
        return _page(request, end_user, token, exc.message, 400)
    return redirect(url)


@csrf_exempt
@require_POST
@xframe_options_exempt
def connect_uninstall(request: HttpRequest) -> HttpResponse:
    """Uninstall one of the end user's integrations and show the page again."""
    token = request.POST.get("token", "")
    end_user = _end_user(request, token)
    if isinstance(end_user, HttpResponse):
        return end_user
    installation_id = request.POST.get("installation", "")
    installation = (
        selectors.installation_filter(
            workspace=end_user.workspace, external_id=end_user.external_id
        )
        .filter(pk=int(installation_id))
        .first()
        if installation_id.isdigit() and len(installation_id) < 18
        else None
    )
    if installation is None:
        return _page(request, end_user, token, "That installation does not exist.", 404)
    services.installation_delete(installation=installation)
    return redirect(f"{reverse('connect:page')}?{urlencode({'token': token})}")


@require_GET
@xframe_options_exempt
def shopify_callback(request: HttpRequest) -> HttpResponse:
    """Finish the OAuth flow: check the callback, store the connection, install."""
    query = {key: request.GET.get(key, "") for key in request.GET}
    try:
        installation = connect.oauth_complete(query=query)
    except ApplicationError as exc:
        logger.warning(
            "integrations.oauth.rejected",
            extra={"code": exc.code, "shop_domain": query.get("shop", "")[:100]},
        )
        return _error(request, exc.message, exc.status_code)
    token, _ = tokens.end_user_token_create(end_user=installation.end_user)
    return render(
        request,
        "connect/installed.html",
        {"installation": installation, "token": token},
    )
