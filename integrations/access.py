"""Access to the builder: a signed-in author works inside their own workspace."""

import functools
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from integrations.selectors import workspace_for_user


def workspace_required(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """Require a signed-in member of a workspace; sets ``request.workspace``."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        workspace = workspace_for_user(request.user)
        if workspace is None:
            return render(request, "builder/no_workspace.html", status=403)
        request.workspace = workspace
        return view(request, *args, **kwargs)

    return wrapper


def not_found(request: HttpRequest, what: str) -> HttpResponse:
    """The builder's 404: the same page for a missing object and another's."""
    return render(request, "builder/not_found.html", {"what": what}, status=404)
