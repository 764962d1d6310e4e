"""The workflow editor: one page per version, its trigger, actions and mappings."""

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from alloy.errors import ApplicationError
from connectors import registry, schedule
from integrations.access import not_found, workspace_required
from workflows import blocks as logic_blocks
from workflows import schema_fields, selectors, validation
from workflows.forms import (
    ActionAddForm,
    BlockConfigForm,
    MappingForm,
    PreviewForm,
    SchemaFieldFormSet,
    TriggerForm,
    mapping_value_parse,
)
from workflows.models import Block, WorkflowVersion
from workflows.services import versions
from workflows.services.test_runs import (
    mapping_preview,
    mapping_sources,
    version_sample,
)
from workflows.views.schedules import schedule_context
from workflows.warehouse_forms import WarehouseStepForm, step_config_form

FIELD_PREFIX = "field"
# The trigger form field that shows a service error, by the error's path.
TRIGGER_ERROR_FIELDS = {
    "$.config.event_name": "event_name",
    "$.config.schema": "schema_json",
    "$.config.stream_url": "stream_url",
    "$.config.sample": "sample_json",
    "$.config.cron": "cron",
    "$.config.timezone": "timezone",
}


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _trigger_initial(version: WorkflowVersion, trigger: Block | None) -> dict:
    if trigger is None:
        return {}
    schema = trigger.config.get("schema")
    return {
        "trigger": f"{trigger.connector}.{trigger.operation}",
        "event_name": trigger.config.get("event_name", ""),
        "schema_json": pretty_json(schema) if schema is not None else "",
        "schema_original": json.dumps(schema) if schema is not None else "",
        "sample_json": pretty_json(version_sample(version)),
        "stream_url": trigger.config.get("stream_url", ""),
        "cron": trigger.config.get("cron", ""),
        "timezone": trigger.config.get("timezone", ""),
    }


def _field_initial(trigger: Block | None) -> tuple[list[dict], bool]:
    schema = trigger.config.get("schema") if trigger else None
    rows, complete = schema_fields.fields_from_schema(schema)
    return [vars(row) for row in rows], complete


def _schema_tree(schema: Any, path: str, depth: int = 0) -> list[dict]:
    """Fields of a schema as a tree of ``{path, name, type, children}``."""
    if not isinstance(schema, dict) or depth > 5:
        return []
    nodes = []
    for name, child in schema.get("properties", {}).items():
        child = child if isinstance(child, dict) else {}
        child_path = f"{path}.{name}"
        kind = child.get("type", "any")
        node = {"path": child_path, "name": name, "type": kind, "children": []}
        if kind == "object":
            node["children"] = _schema_tree(child, child_path, depth + 1)
        elif kind == "array" and isinstance(child.get("items"), dict):
            node["children"] = _schema_tree(
                child["items"], f"{child_path}[*]", depth + 1
            )
        nodes.append(node)
    return nodes


def _mapping_rows(version: WorkflowVersion, block: Block, form: MappingForm) -> list:
    rows = []
    for target, schema, required in form.targets:
        kind_field = form[f"kind:{target}"]
        value_field = form[f"value:{target}"]
        kind = kind_field.value() or ""
        preview = None
        if kind:
            preview = mapping_preview(
                version=version,
                position=block.position,
                target=target,
                kind=kind,
                value=mapping_value_parse(kind, value_field.value() or ""),
            )
        kind_type = schema.get("type", "any")
        rows.append(
            {
                "target": target,
                "required": required,
                "type": "/".join(kind_type)
                if isinstance(kind_type, list)
                else kind_type,
                "nested": "." in target,
                "kind": kind_field,
                "value": value_field,
                "preview": preview,
                "preview_text": pretty_json(preview.value) if preview else "",
            }
        )
    return rows


def _current_mappings(block: Block) -> dict:
    return {m.target: (m.kind, m.value) for m in block.mappings.all()}


def editor_render(
    request: HttpRequest,
    version: WorkflowVersion,
    *,
    selected: str = "",
    trigger_form: TriggerForm | None = None,
    field_formset=None,
    add_form: ActionAddForm | None = None,
    mapping_form: MappingForm | None = None,
    config_form: BlockConfigForm | None = None,
    step_config: WarehouseStepForm | None = None,
    status: int = 200,
) -> HttpResponse:
    blocks = list(version.blocks.prefetch_related("mappings").order_by("position"))
    trigger = blocks[0] if blocks and blocks[0].kind == Block.Kind.TRIGGER else None
    block = next((b for b in blocks if b.key == selected), None) or trigger
    initial_rows, complete = _field_initial(trigger)
    context: dict[str, Any] = {
        "version": version,
        "workflow": version.workflow,
        "integration": version.workflow.integration,
        "blocks": _block_summaries(blocks),
        "selected": block,
        "read_only": version.is_released,
        "schema_complete": complete,
        "add_form": add_form or ActionAddForm(places=block_places(blocks)),
    }
    block_type = (block.connector, block.operation) if block else None
    if block_type in logic_blocks.ENGINE_BLOCKS:
        context.update(
            action=registry.action_get(*block_type),
            config_form=config_form
            or BlockConfigForm(block_type=block_type, config=block.config),
        )
    elif block is not None and block.kind == Block.Kind.TRIGGER:
        context["trigger_form"] = trigger_form or TriggerForm(
            initial=_trigger_initial(version, block)
        )
        context["field_formset"] = field_formset or SchemaFieldFormSet(
            initial=initial_rows, prefix=FIELD_PREFIX
        )
        context.update(schedule_context(block))
    elif block is not None:
        action = registry.action_get(block.connector, block.operation)
        if action is not None:
            form = mapping_form or MappingForm(
                action=action, current=_current_mappings(block), config=block.config
            )
            if action.config_problems is not None:
                context["step_config_form"] = step_config or step_config_form(block)
            sources = mapping_sources(version, block.position)
            context.update(
                action=action,
                mapping_form=form,
                mapping_rows=_mapping_rows(version, block, form),
                item_tree=_schema_tree(sources.get("item"), "item"),
                in_loop="item" in sources,
                event_tree=_schema_tree(sources["event"], "event"),
                step_trees=[
                    {"key": key, "fields": _schema_tree(schema, f"steps.{key}")}
                    for key, schema in sources["steps"].items()
                ],
                user_tree=_schema_tree(sources["user"], "user"),
                preview_url=reverse("workflows:mapping-preview", args=[block.pk]),
            )
    return render(request, "builder/editor.html", context, status=status)


def block_places(blocks: list[Block]) -> list[tuple[str, str]]:
    """Return the lists a new block can join besides the top level, for a select."""
    places = []
    for block in blocks:
        lists = logic_blocks.CONTAINER_LISTS.get((block.connector, block.operation))
        for name in lists or ():
            label = Block.Branch(name).label
            places.append((f"{block.key}.{name}", f"Inside {block.key}: {label}"))
    return places


def _block_summaries(blocks: list[Block]) -> list[dict]:
    """Return summaries in flow order, each with its depth and enclosing list."""
    by_id = {block.pk: block for block in blocks}
    depths: dict[int, int] = {}
    summaries = []
    for block in blocks:
        summary = _block_summary(block)
        parent = by_id.get(block.parent_id)
        depths[block.pk] = depths[parent.pk] + 1 if parent else 0
        summary["depth"] = depths[block.pk]
        summary["list"] = (
            f"{parent.key}: {Block.Branch(block.branch).label}" if parent else ""
        )
        summaries.append(summary)
    return summaries


def _block_summary(block: Block) -> dict:
    if block.kind == Block.Kind.TRIGGER:
        definition = registry.trigger_get(block.connector, block.operation)
    else:
        definition = registry.action_get(block.connector, block.operation)
    connector = registry.connector_get(block.connector)
    detail = ""
    if block.connector == "custom":
        detail = block.config.get("event_name", "")
    elif block.connector == schedule.SCHEDULE:
        detail = f"{block.config.get('cron', '')} ({block.config.get('timezone', '')})"
    elif block.config.get("stream_url"):
        detail = f"streams to {block.config['stream_url']}"
    elif block.config.get("table"):
        detail = f"writes to {block.config['table']}"
    app = connector.title if connector else block.connector
    title = definition.title if definition else block.operation
    engine_block = (block.connector, block.operation) in logic_blocks.ENGINE_BLOCKS
    if engine_block:
        detail = _config_summary(block.config)
    return {
        "block": block,
        # The Custom Event connector's one trigger has the connector's own name.
        "title": title if app == title else f"{app}: {title}",
        "detail": detail,
        "mapped": len(block.mappings.all()),
        "has_inputs": not engine_block,
    }


def _config_summary(config: dict) -> str:
    if "condition" in config:
        return f"if {config['condition']}"
    if "items" in config:
        return f"each of {config['items']}"
    if "seconds" in config:
        return f"wait {config['seconds']:g} s"
    return "not set up yet"


def version_for_request(request: HttpRequest, version_id: int):
    return selectors.version_get(workspace=request.workspace, version_id=version_id)


def block_for_request(request: HttpRequest, block_id: int):
    return selectors.block_get(workspace=request.workspace, block_id=block_id)


def editor_url(version: WorkflowVersion, key: str = "") -> str:
    url = reverse("workflows:version-editor", args=[version.pk])
    return f"{url}?block={key}" if key else url


@workspace_required
def version_editor(request: HttpRequest, version_id: int) -> HttpResponse:
    version = version_for_request(request, version_id)
    if version is None:
        return not_found(request, "workflow version")
    return editor_render(request, version, selected=request.GET.get("block", ""))


def _normalized(schema: Any) -> Any:
    """Sort a schema's ``required`` lists, so that their order does not count."""
    if isinstance(schema, dict):
        return {
            key: sorted(value)
            if key == "required" and isinstance(value, list)
            else _normalized(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_normalized(item) for item in schema]
    return schema


def _chosen_schema(form: TriggerForm, formset) -> Any:
    """Pick the schema the author edited, the JSON or the rows, or add an error."""
    original = form.cleaned_data.get("schema_original")
    from_json = form.cleaned_data.get("schema_json")
    json_changed = _normalized(from_json) != _normalized(original)
    _, complete = schema_fields.fields_from_schema(original)
    if not complete or (original is None and json_changed):
        if from_json is None:
            form.add_error("schema_json", "A custom event needs a JSON Schema.")
        return from_json
    from_rows = formset.build_schema(original)
    if from_rows is None:
        return None
    rows_changed = _normalized(from_rows) != _normalized(original)
    if json_changed and rows_changed:
        form.add_error(
            "schema_json",
            "Both the fields and the JSON Schema changed; keep the edit of one "
            "and save, then make the other.",
        )
        return None
    if json_changed:
        if from_json is None:
            form.add_error("schema_json", "A custom event needs a JSON Schema.")
        return from_json
    # Unchanged rows keep the saved schema as it was, to the order of its lists.
    return from_rows if rows_changed else original


def _trigger_config(version: WorkflowVersion, form: TriggerForm, formset) -> dict:
    data = form.cleaned_data
    connector, _, operation = data["trigger"].partition(".")
    config: dict[str, Any] = {}
    if connector == "custom":
        config["event_name"] = data["event_name"]
        config["schema"] = _chosen_schema(form, formset)
    if connector == schedule.SCHEDULE:
        config["cron"] = data["cron"].strip()
        config["timezone"] = data["timezone"].strip()
    current = version.blocks.filter(position=0).first()
    same_trigger = current is not None and (current.connector, current.operation) == (
        connector,
        operation,
    )
    definition = registry.trigger_get(connector, operation)
    default_sample = definition.sample if definition else None
    sample = data.get("sample_json")
    # A sample typed for another trigger would only mislead the previews.
    if same_trigger and sample is not None and sample != default_sample:
        config["sample"] = sample
    if data.get("stream_url"):
        config["stream_url"] = data["stream_url"]
    if isinstance(config.get("schema"), dict) and "sample" in config:
        for problem in validation.sample_problems(config["schema"], config["sample"]):
            form.add_error("sample_json", problem)
    return config


@workspace_required
@require_POST
def trigger_save(request: HttpRequest, version_id: int) -> HttpResponse:
    version = version_for_request(request, version_id)
    if version is None:
        return not_found(request, "workflow version")
    form = TriggerForm(request.POST)
    formset = SchemaFieldFormSet(request.POST, prefix=FIELD_PREFIX)
    if form.is_valid() and formset.is_valid():
        config = _trigger_config(version, form, formset)
        if not form.errors and not formset.total_error_count():
            connector, _, operation = form.cleaned_data["trigger"].partition(".")
            try:
                versions.trigger_set(
                    version=version,
                    connector=connector,
                    operation=operation,
                    config=config,
                )
            except ApplicationError as exc:
                _add_service_errors(form, exc)
            else:
                messages.success(request, "Trigger saved.")
                return redirect(editor_url(version, "trigger"))
    return editor_render(
        request,
        version,
        selected="trigger",
        trigger_form=form,
        field_formset=formset,
        status=409 if version.is_released else 422,
    )


def _add_service_errors(form, exc: ApplicationError) -> None:
    placed = False
    for problem in exc.fields:
        path = problem.get("path", "")
        name = next(
            (
                f
                for prefix, f in TRIGGER_ERROR_FIELDS.items()
                if path.startswith(prefix)
            ),
            None,
        )
        if name is not None:
            form.add_error(name, problem["message"])
            placed = True
    if not placed:
        form.add_error(None, exc.message)


@workspace_required
@require_POST
def action_add(request: HttpRequest, version_id: int) -> HttpResponse:
    version = version_for_request(request, version_id)
    if version is None:
        return not_found(request, "workflow version")
    places = block_places(list(version.blocks.order_by("position")))
    form = ActionAddForm(request.POST, places=places)
    if form.is_valid():
        connector, _, operation = form.cleaned_data["action"].partition(".")
        parent_key, _, branch = form.cleaned_data["place"].partition(".")
        parent = version.blocks.filter(key=parent_key).first() if parent_key else None
        try:
            block = versions.action_add(
                version=version,
                key=form.cleaned_data["key"],
                connector=connector,
                operation=operation,
                parent=parent,
                branch=branch,
            )
        except ApplicationError as exc:
            form.add_error("key" if exc.fields else None, exc.message)
        else:
            messages.success(request, f"Step {block.key} added; map its inputs.")
            return redirect(editor_url(version, block.key))
    return editor_render(
        request,
        version,
        selected=request.POST.get("selected", ""),
        add_form=form,
        status=409 if version.is_released else 422,
    )


@workspace_required
@require_POST
def action_remove(request: HttpRequest, block_id: int) -> HttpResponse:
    block = block_for_request(request, block_id)
    if block is None:
        return not_found(request, "step")
    try:
        versions.action_remove(block=block)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(editor_url(block.version, block.key))
    messages.success(request, f"Step {block.key} removed.")
    return redirect(editor_url(block.version))


@workspace_required
@require_POST
def mappings_save(request: HttpRequest, block_id: int) -> HttpResponse:
    block = block_for_request(request, block_id)
    if block is None:
        return not_found(request, "step")
    action = registry.action_get(block.connector, block.operation)
    if action is None or block.kind != Block.Kind.ACTION:
        return not_found(request, "action step")
    form = MappingForm(
        request.POST,
        action=action,
        current=_current_mappings(block),
        config=block.config,
    )
    if form.is_valid():
        try:
            versions.block_mappings_replace(block=block, mappings=form.mappings())
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Mappings of {block.key} saved.")
            return redirect(editor_url(block.version, block.key))
    return editor_render(
        request,
        block.version,
        selected=block.key,
        mapping_form=form,
        status=409 if block.version.is_released else 422,
    )


@workspace_required
@require_POST
def mapping_preview_view(request: HttpRequest, block_id: int) -> JsonResponse:
    """Preview one mapping on the sample payload: ``{"value"}`` or ``{"error"}``."""
    block = block_for_request(request, block_id)
    if block is None:
        return JsonResponse({"error": "No such step in this workspace."}, status=404)
    form = PreviewForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(
            f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()
        )
        return JsonResponse(
            {"error": f"Invalid preview request: {problems}"}, status=400
        )
    kind = form.cleaned_data["kind"]
    preview = mapping_preview(
        version=block.version,
        position=block.position,
        target=form.cleaned_data["target"],
        kind=kind,
        value=mapping_value_parse(kind, form.cleaned_data["value"]),
    )
    if preview.error:
        return JsonResponse({"error": preview.error})
    return JsonResponse({"value": pretty_json(preview.value)})


# The config form field that shows a service error, by the error's path.
CONFIG_ERROR_FIELDS = {
    "$.config.condition": "condition",
    "$.config.rules": "rule_field_0",
    "$.config.items": "items",
    "$.config.limit": "limit",
    "$.config.seconds": "seconds",
}


@workspace_required
@require_POST
def block_config_save(request: HttpRequest, block_id: int) -> HttpResponse:
    block = block_for_request(request, block_id)
    block_type = (block.connector, block.operation) if block else None
    if block is None or block_type not in logic_blocks.ENGINE_BLOCKS:
        return not_found(request, "logic or utility step")
    form = BlockConfigForm(request.POST, block_type=block_type, config=block.config)
    if form.is_valid():
        try:
            versions.block_config_set(block=block, config=form.config())
        except ApplicationError as exc:
            placed = False
            for problem in exc.fields:
                name = CONFIG_ERROR_FIELDS.get(problem.get("path", ""))
                if name in form.fields:
                    form.add_error(name, problem["message"])
                    placed = True
            if not placed:
                form.add_error(None, exc.message)
        else:
            messages.success(request, f"Settings of {block.key} saved.")
            return redirect(editor_url(block.version, block.key))
    return editor_render(
        request,
        block.version,
        selected=block.key,
        config_form=form,
        status=409 if block.version.is_released else 422,
    )
