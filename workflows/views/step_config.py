"""The editor's save of a configured step, such as a warehouse step's table."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from alloy.errors import ApplicationError
from connectors import registry
from integrations.access import not_found, workspace_required
from workflows.services import versions
from workflows.views.editor import block_for_request, editor_render, editor_url
from workflows.warehouse_forms import WarehouseStepForm


@workspace_required
@require_POST
def step_config_save(request: HttpRequest, block_id: int) -> HttpResponse:
    block = block_for_request(request, block_id)
    if block is None:
        return not_found(request, "step")
    action = registry.action_get(block.connector, block.operation)
    if action is None or action.config_problems is None:
        return not_found(request, "configured step")
    form = WarehouseStepForm(request.POST)
    if form.is_valid():
        try:
            versions.action_config_set(block=block, config=form.config())
        except ApplicationError as exc:
            form.add_problems(exc.fields or [{"message": exc.message}])
        else:
            messages.success(
                request, f"Table settings of {block.key} saved; map its columns."
            )
            return redirect(editor_url(block.version, block.key))
    return editor_render(
        request,
        block.version,
        selected=block.key,
        step_config=form,
        status=409 if block.version.is_released else 422,
    )
