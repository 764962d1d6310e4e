"""Builder pages for runs: the filtered list, one run's timeline, Replay and Retry."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from alloy.errors import ApplicationError
from alloy.logging import redact_value
from integrations.access import not_found, workspace_required
from workflows import selectors
from workflows.forms import RunFilterForm
from workflows.services.replays import run_replay
from workflows.services.runs import run_retry
from workflows.views.editor import pretty_json

RUN_LIST_LIMIT = 100


@workspace_required
def run_list(request: HttpRequest) -> HttpResponse:
    workflows = selectors.workflow_list(workspace=request.workspace)
    form = RunFilterForm(request.GET or None, workflows=workflows)
    filters = {}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = {
            "workflow_id": data["workflow"],
            "version_number": data["version"],
            "status": data["status"],
            "end_user": data["end_user"].strip(),
            "since": data["since"],
            "until": data["until"],
        }
    runs = (
        []
        if form.errors
        else selectors.run_list(
            workspace=request.workspace, limit=RUN_LIST_LIMIT, **filters
        )
    )
    return render(
        request,
        "builder/run_list.html",
        {"form": form, "runs": runs, "limit": RUN_LIST_LIMIT},
        status=422 if form.errors else 200,
    )


def _shown(value) -> str:
    return "" if value is None else pretty_json(redact_value(value))


@workspace_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run_get(workspace=request.workspace, run_id=run_id)
    if run is None:
        return not_found(request, "run")
    nesting = selectors.block_nesting(version_id=run.version_id)
    steps = [
        {
            "step": step,
            "depth": nesting.get(step.block_id, (0, ""))[0],
            "list": nesting.get(step.block_id, (0, ""))[1],
            "input": _shown(step.input),
            "output": _shown(step.output),
            "error": redact_value(step.error) if step.error else None,
        }
        for step in run.steps.all()
    ]
    return render(
        request,
        "builder/run_detail.html",
        {
            "run": run,
            "steps": steps,
            "event_data": _shown(run.event.data),
            "run_error": redact_value(run.error) if run.error else None,
            "deliveries": run.stream_deliveries.all(),
        },
    )


@workspace_required
@require_POST
def run_replay_view(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run_get(workspace=request.workspace, run_id=run_id)
    if run is None:
        return not_found(request, "run")
    replay = run_replay(run=run)
    messages.success(
        request, f"Run {replay.pk} replays run {run.pk} on the same event and version."
    )
    return redirect("workflows:run-detail", replay.pk)


@workspace_required
@require_POST
def run_retry_view(request: HttpRequest, run_id: int) -> HttpResponse:
    run = selectors.run_get(workspace=request.workspace, run_id=run_id)
    if run is None:
        return not_found(request, "run")
    try:
        run_retry(run_id=run.pk)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Run {run.pk} is queued again from its failed step.")
    return redirect("workflows:run-detail", run.pk)


@workspace_required
def overview(request: HttpRequest) -> HttpResponse:
    hourly, health = selectors.run_overview(
        workspace=request.workspace, now=timezone.now()
    )
    peak = max((hour.total for hour in hourly), default=0) or 1
    bars = [
        {
            "hour": hour.hour,
            "total": hour.total,
            "failed": hour.failed,
            "height": round(100 * hour.total / peak),
            # The failed part's share of its own bar.
            "failed_share": round(100 * hour.failed / hour.total) if hour.total else 0,
        }
        for hour in hourly
    ]
    return render(
        request,
        "builder/overview.html",
        {"bars": bars, "peak": peak, "health": health},
    )
