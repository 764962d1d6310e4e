"""Builder pages: the integrations, New Integration, one integration, the warehouse."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from alloy.errors import ApplicationError
from integrations import selectors
from integrations.access import not_found, workspace_required
from integrations.forms import (
    AppSearchForm,
    IntegrationCreateForm,
    WarehouseConnectForm,
)
from integrations.services import (
    WAREHOUSE_APP,
    integration_create,
    warehouse_connection_remove,
    warehouse_connection_set,
)
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


@workspace_required
@require_http_methods(["GET", "POST"])
def warehouse_settings(request: HttpRequest) -> HttpResponse:
    """Show the workspace's warehouse and connect one by URL."""
    form = WarehouseConnectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            warehouse_connection_set(
                workspace=request.workspace, url=form.cleaned_data["url"]
            )
        except ApplicationError as exc:
            for problem in exc.fields or [{"message": exc.message}]:
                form.add_error("url", problem["message"])
        else:
            messages.success(request, "Warehouse connected.")
            return redirect("integrations:warehouse")
    connection = selectors.workspace_connection_get(
        workspace=request.workspace, app=WAREHOUSE_APP
    )
    return render(
        request,
        "builder/warehouse.html",
        {"form": form, "connection": connection},
        status=422 if form.errors else 200,
    )


@workspace_required
@require_POST
def warehouse_remove(request: HttpRequest) -> HttpResponse:
    warehouse_connection_remove(workspace=request.workspace)
    messages.success(request, "Warehouse removed.")
    return redirect("integrations:warehouse")
