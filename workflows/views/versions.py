"""Builder pages for a workflow's life: create, release, publish, history, test run."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from alloy.errors import ApplicationError
from connectors import schedule
from integrations import selectors as integration_selectors
from integrations.access import not_found, workspace_required
from workflows import selectors
from workflows.forms import DiffForm, TestRunForm, WorkflowCreateForm
from workflows.services import versions
from workflows.services.test_runs import version_sample, version_test_run
from workflows.views.editor import editor_url, pretty_json, version_for_request


def _user_label(request: HttpRequest) -> str:
    return request.user.get_username()


@workspace_required
@require_POST
def workflow_create(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = integration_selectors.integration_get(
        workspace=request.workspace, integration_id=integration_id
    )
    if integration is None:
        return not_found(request, "integration")
    form = WorkflowCreateForm(request.POST)
    if form.is_valid():
        connector, _, operation = form.cleaned_data["trigger"].partition(".")
        config = {}
        if connector == "custom":
            # A first name and an empty schema; the editor sets the real ones.
            config = {
                "event_name": "event",
                "schema": {"type": "object", "properties": {}},
            }
        elif connector == schedule.SCHEDULE:
            config = dict(schedule.DEFAULT_CONFIG)
        try:
            workflow = versions.workflow_create(
                integration=integration,
                name=form.cleaned_data["name"],
                trigger_connector=connector,
                trigger_operation=operation,
                trigger_config=config,
            )
        except ApplicationError as exc:
            form.add_error("name", exc.message)
        else:
            version = workflow.versions.get()
            return redirect(editor_url(version, "trigger"))
    workflows = integration.workflows.select_related("published_version")
    return render(
        request,
        "builder/integration_detail.html",
        {"integration": integration, "workflows": workflows, "form": form},
        status=422,
    )


@workspace_required
def workflow_detail(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = selectors.workflow_get(
        workspace=request.workspace, workflow_id=workflow_id
    )
    if workflow is None:
        return not_found(request, "workflow")
    return redirect(editor_url(selectors.version_latest(workflow=workflow)))


@workspace_required
@require_http_methods(["GET", "POST"])
def version_release(request: HttpRequest, version_id: int) -> HttpResponse:
    version = version_for_request(request, version_id)
    if version is None:
        return not_found(request, "workflow version")
    problems, error = [], ""
    if request.method == "POST":
        try:
            versions.version_release(version=version, released_by=_user_label(request))
        except ApplicationError as exc:
            problems, error = exc.fields, exc.message
            if problems:
                # The message repeats every problem, which the page lists below.
                error = f"Version {version.number} cannot be released:"
        else:
            messages.success(
                request,
                f"Version {version.number} is released. Publish it to make it live.",
            )
            return redirect(editor_url(version))
    return render(
        request,
        "builder/release_confirm.html",
        {
            "version": version,
            "workflow": version.workflow,
            "problems": problems,
            "error": error,
        },
        status=409 if error and version.is_released else (422 if error else 200),
    )


@workspace_required
@require_POST
def version_publish(request: HttpRequest, version_id: int) -> HttpResponse:
    version = version_for_request(request, version_id)
    if version is None:
        return not_found(request, "workflow version")
    try:
        versions.version_publish(version=version, published_by=_user_label(request))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Version {version.number} is live.")
    return redirect(request.POST.get("next") or editor_url(version))


@workspace_required
@require_POST
def version_new(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = selectors.workflow_get(
        workspace=request.workspace, workflow_id=workflow_id
    )
    if workflow is None:
        return not_found(request, "workflow")
    try:
        draft = versions.version_create_next(workflow=workflow)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(editor_url(selectors.version_latest(workflow=workflow)))
    messages.success(request, f"Version {draft.number} is a draft copy; edit away.")
    return redirect(editor_url(draft))


@workspace_required
def version_history(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = selectors.workflow_get(
        workspace=request.workspace, workflow_id=workflow_id
    )
    if workflow is None:
        return not_found(request, "workflow")
    all_versions = list(workflow.versions.order_by("-number"))
    numbers = [v.number for v in all_versions]
    diff_form = DiffForm(request.GET or None, numbers=numbers)
    if not request.GET and len(numbers) > 1:
        diff_form = DiffForm(
            initial={"older": numbers[1], "newer": numbers[0]}, numbers=numbers
        )
    diff = None
    if diff_form.is_bound and diff_form.is_valid():
        by_number = {v.number: v for v in all_versions}
        diff = selectors.version_diff(
            by_number[diff_form.cleaned_data["older"]],
            by_number[diff_form.cleaned_data["newer"]],
        )
    return render(
        request,
        "builder/version_history.html",
        {
            "workflow": workflow,
            "versions": all_versions,
            "publications": workflow.publications.select_related(
                "version", "previous_version"
            ),
            "diff_form": diff_form,
            "diff": diff,
        },
    )


@workspace_required
@require_http_methods(["GET", "POST"])
def version_test(request: HttpRequest, version_id: int) -> HttpResponse:
    version = version_for_request(request, version_id)
    if version is None:
        return not_found(request, "workflow version")
    connections = integration_selectors.test_connection_list(
        workspace=request.workspace
    )
    form = TestRunForm(
        request.POST or None,
        initial={"sample_json": pretty_json(version_sample(version))},
        connections=connections,
    )
    result = None
    if request.method == "POST" and form.is_valid():
        chosen = form.cleaned_data["connection"]
        connection = next((c for c in connections if c.pk == chosen), None)
        if chosen is not None and connection is None:
            form.add_error("connection", "Choose a connection of this workspace.")
        else:
            result = version_test_run(
                version=version,
                event=form.cleaned_data["sample_json"],
                connection=connection,
            )
    return render(
        request,
        "builder/test_run.html",
        {
            "version": version,
            "workflow": version.workflow,
            "form": form,
            "result": result,
        },
        status=422 if form.errors else 200,
    )
