"""Builder pages for integrations: the list, New Integration and one integration."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from alloy.errors import ApplicationError
from integrations import selectors
from integrations.access import not_found, workspace_required
from integrations.forms import AppSearchForm, IntegrationCreateForm
from integrations.services import integration_create
from workflows.forms import WorkflowCreateForm


@workspace_required
def integration_list(request: HttpRequest) -> HttpResponse:
    integrations = selectors.integration_list(workspace=request.workspace)
    return render(
        request, "builder/integration_list.html", {"integrations": integrations}
    )


@workspace_required
@require_http_methods(["GET", "POST"])
def integration_new(request: HttpRequest) -> HttpResponse:
    search = AppSearchForm(request.GET)
    search.is_valid()
    apps = search.matches()
    form = IntegrationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            integration = integration_create(
                workspace=request.workspace,
                name=form.cleaned_data["name"],
                app=form.cleaned_data["app"],
                description=form.cleaned_data["description"],
            )
        except ApplicationError as exc:
            form.add_error("name", exc.message)
        else:
            return redirect("integrations:integration-detail", integration.pk)
    return render(
        request,
        "builder/integration_new.html",
        {"search": search, "apps": apps, "form": form},
        status=422 if form.errors else 200,
    )


@workspace_required
def integration_detail(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = selectors.integration_get(
        workspace=request.workspace, integration_id=integration_id
    )
    if integration is None:
        return not_found(request, "integration")
    workflows = integration.workflows.select_related("published_version").order_by(
        "name"
    )
    return render(
        request,
        "builder/integration_detail.html",
        {
            "integration": integration,
            "workflows": workflows,
            "form": WorkflowCreateForm(),
        },
    )
