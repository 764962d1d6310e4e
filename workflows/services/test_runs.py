"""Test runs of a draft on its sample payload, and the live preview of one mapping.

A dry test run evaluates every action's mappings and checks each input
against the action's schema, calling nothing outside the process. It calls
actions without side effects, such as Transform, for their real output. Other
steps' outputs are stand-in values built from their output schemas. A live
test run calls each action for real with one end user's connection, such as
the Shopify sandbox's shop, and stores nothing.
"""

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from jmespath.exceptions import JMESPathError

from connectors import registry
from integrations.models import Connection, EndUser
from workflows import blocks, engine, mapping, selectors, validation
from workflows.models import Block, WorkflowVersion
from workflows.validation import USER_SCHEMA, trigger_schema

logger = logging.getLogger(__name__)

SAMPLE_USER = {"id": "sample-user", "name": "Sample User", "email": "user@example.com"}


@dataclass
class StepResult:
    key: str
    title: str
    input: Any = None
    output: Any = None
    error: dict | None = None
    # True when the output is a stand-in built from the action's output schema.
    placeholder_output: bool = False


@dataclass
class TestRunResult:
    live: bool
    event: Any
    steps: list[StepResult] = field(default_factory=list)
    # Where the event breaks the trigger's schema, as intake would report it.
    event_errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return not self.event_errors and all(step.error is None for step in self.steps)


@dataclass(frozen=True)
class Preview:
    value: Any = None
    error: str = ""


def example_from_schema(schema: dict | None, *, depth: int = 0) -> Any:
    """Return a value shaped like ``schema``, to stand in for an unknown output."""
    if not isinstance(schema, dict) or depth > 6:
        return None
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        return {
            name: example_from_schema(child, depth=depth + 1)
            for name, child in schema.get("properties", {}).items()
        }
    if kind == "array":
        return [example_from_schema(schema.get("items"), depth=depth + 1)]
    return {"string": "example", "integer": 1, "number": 1.0, "boolean": True}.get(kind)


def version_sample(version: WorkflowVersion) -> Any:
    """Return the trigger's sample payload, or one built from its schema."""
    trigger = version.blocks.filter(position=0).first()
    if trigger is None:
        return {}
    if "sample" in trigger.config:
        return trigger.config["sample"]
    definition = registry.trigger_get(trigger.connector, trigger.operation)
    if definition is not None and definition.sample is not None:
        return definition.sample
    return example_from_schema(trigger_schema(trigger)) or {}


def _preview_context(version: WorkflowVersion, before_position: int) -> dict:
    visible, loop = _scope(version, before_position)
    steps = {}
    for block in visible:
        action = registry.action_get(block.connector, block.operation)
        schema = validation.output_schema(block, action) if action else {}
        steps[block.key] = example_from_schema(schema)
    context = {"event": version_sample(version), "steps": steps, "user": SAMPLE_USER}
    if loop is not None:
        sources = mapping_sources(version, before_position)
        context["item"] = example_from_schema(sources["item"])
        context["index"] = 0
        try:
            items = blocks.items_evaluate(loop.config.get("items", ""), context, 1)
        except blocks.BlockError:
            items = []
        if items:
            context["item"] = items[0]
    block = version.blocks.filter(position=before_position).first()
    rows_from = block.config.get("rows_from") if block else None
    if isinstance(rows_from, str) and rows_from.strip():
        # A step that writes one row per item previews its first item.
        try:
            items = mapping.expression_search(
                mapping.compile_expression(rows_from), context
            )
        except (mapping.ExpressionSyntaxError, JMESPathError, ValueError, TypeError):
            items = None
        if isinstance(items, list) and items:
            context["item"] = items[0]
    return context


def _scope(version: WorkflowVersion, position: int) -> tuple[list[Block], Block | None]:
    """Return the blocks a block at ``position`` can read, and its For each, if any.

    A block reads earlier blocks of its own list and of the lists around it,
    as release validation allows.
    """
    rows = list(version.blocks.order_by("position"))
    by_id = {block.pk: block for block in rows}
    target = next((block for block in rows if block.position == position), None)
    lists: set[tuple[int | None, str]] = {(None, "")}
    loop = None
    node = target
    while node is not None and node.parent_id is not None:
        parent = by_id[node.parent_id]
        lists.add((parent.pk, node.branch))
        if loop is None and (parent.connector, parent.operation) == blocks.FOR_EACH:
            loop = parent
        node = parent
    visible = [
        block
        for block in rows
        if 0 < block.position < position and (block.parent_id, block.branch) in lists
    ]
    return visible, loop


def mapping_preview(
    *, version: WorkflowVersion, position: int, target: str, kind: str, value: Any
) -> Preview:
    """Evaluate one mapping on the sample payload; the error says why it failed."""
    if kind not in mapping.KINDS:
        return Preview(error=f"Unknown mapping kind {kind!r}.")
    try:
        mapping.expressions_of(kind, value)
    except mapping.ExpressionSyntaxError as exc:
        return Preview(error=f"The {kind} does not parse: {exc}")
    context = _preview_context(version, position)
    result, failures = mapping.evaluate(
        [(target, kind, value)], context, required={target.split(".", 1)[0]}
    )
    if failures:
        return Preview(error=failures[0].message)
    node: Any = result
    for part in target.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return Preview(value=node)


def version_test_run(
    *,
    version: WorkflowVersion,
    event: Any,
    connection: Connection | None = None,
) -> TestRunResult:
    """Run a version's actions on ``event``: dry without a connection, else live.

    A live run calls each action with ``connection``'s account (the HTTP action
    signs with the workspace's secret), so it has the actions' side effects.
    Stops at the first failed step, as a run does. Stores nothing.
    """
    live = connection is not None
    result = TestRunResult(live=live, event=event)
    plan = selectors.version_plan(version.pk)
    end_user: EndUser | None = connection.end_user if connection else None
    user = (
        {"id": end_user.external_id, "name": end_user.name, "email": end_user.email}
        if end_user
        else SAMPLE_USER
    )
    if plan.trigger_validator is not None:
        # A run never starts on data intake would reject, so neither does a test.
        result.event_errors = [
            {
                "path": engine.json_path(error.absolute_path),
                "message": engine.schema_error_message(error),
            }
            for error in plan.trigger_validator.iter_errors(event)
        ]
        if result.event_errors:
            return result
    context: dict[str, Any] = {"event": event, "steps": {}, "user": user}
    walk = _TestWalk(
        version=version,
        connection=connection,
        result=result,
        context=context,
        run_key=uuid.uuid4().hex[:12],
    )
    _test_list(walk, plan.actions, None)
    logger.info(
        "workflows.test_run.finished",
        extra={
            "version_id": version.pk,
            "live": live,
            "succeeded": result.succeeded,
            "connection_id": connection.pk if connection else None,
        },
    )
    return result


@dataclass
class _TestWalk:
    version: WorkflowVersion
    connection: Connection | None
    result: TestRunResult
    context: dict[str, Any]
    run_key: str


def _test_list(walk: _TestWalk, steps, item_index: int | None) -> bool:
    """Test a list of blocks; returns False once a step failed or a filter stopped."""
    return all(_test_step(walk, step, item_index) for step in steps)


def _test_step(walk: _TestWalk, step, item_index: int | None) -> bool:
    action = registry.action_get(step.connector, step.operation)
    title = action.title if action else f"{step.connector}.{step.operation}"
    key = step.key if item_index is None else f"{step.key}[{item_index}]"
    outcome = StepResult(key=key, title=title)
    walk.result.steps.append(outcome)

    if step.block_type in blocks.ENGINE_BLOCKS:
        return _test_engine_block(walk, step, outcome, item_index)

    try:
        step_input = engine.step_input_build(step, walk.context)
    except engine.StepFailed as failed:
        outcome.input, outcome.error = (
            _shown_input(step, failed.step_input),
            failed.error,
        )
        return False

    outcome.input = _shown_input(step, step_input)
    if action is None:
        outcome.error = {"code": "unknown_action", "message": f"{title} is gone."}
        return False

    live = walk.connection is not None
    if live and action.requires_connection and walk.connection.app != step.connector:
        outcome.error = {
            "code": "connection_missing",
            "message": f"The test connection is a {walk.connection.app} account; "
            f"{title} needs a {step.connector} one.",
        }
        return False

    if not live and action.side_effects:
        outcome.output = example_from_schema(action.output_schema)
        outcome.placeholder_output = True
    else:
        try:
            outcome.output = action.execute(
                _test_context(
                    walk.version,
                    action,
                    walk.connection,
                    f"{walk.run_key}-{key}",
                    step,
                ),
                step_input,
            )
        except registry.ActionError as exc:
            outcome.error = exc.as_dict()
            return False

    walk.context["steps"][step.key] = outcome.output
    return True


def _shown_input(step, step_input: Any) -> Any:
    if step.redact_input is not None and isinstance(step_input, dict):
        return step.redact_input(step_input)
    return step_input


def _test_engine_block(
    walk: _TestWalk, step, outcome: StepResult, item_index: int | None
) -> bool:
    """Evaluate a logic or utility block as a run would; a Delay does not wait."""
    config = step.config
    outcome.input = config
    kind = step.block_type
    try:
        if kind in (blocks.FILTER, blocks.BRANCH):
            passed = blocks.condition_evaluate(
                config.get("condition", ""), walk.context
            )
        elif kind == blocks.FOR_EACH:
            limit = min(
                int(config.get("limit", settings.FOR_EACH_MAX_ITEMS)),
                settings.FOR_EACH_MAX_ITEMS,
            )
            items = blocks.items_evaluate(config.get("items", ""), walk.context, limit)
    except blocks.BlockError as exc:
        outcome.error = exc.as_dict()
        return False
    if kind == blocks.FILTER:
        outcome.output = {"passed": passed}
        walk.context["steps"][step.key] = outcome.output
        return passed
    if kind == blocks.BRANCH:
        branch = "then" if passed else "else"
        outcome.output = {"condition": passed, "branch": branch}
        walk.context["steps"][step.key] = outcome.output
        return _test_list(walk, step.lists.get(branch, []), item_index)
    if kind == blocks.DELAY:
        outcome.output = {"seconds": config.get("seconds")}
        walk.context["steps"][step.key] = outcome.output
        return True
    outcome.output = {"count": len(items)}
    walk.context["steps"][step.key] = outcome.output
    for index, item in enumerate(items):
        walk.context["item"], walk.context["index"] = item, index
        if not _test_list(walk, step.lists.get("body", []), index):
            return False
    walk.context.pop("item", None)
    walk.context.pop("index", None)
    return True


def _test_context(
    version: WorkflowVersion,
    action: registry.Action,
    connection: Connection,
    key: str,
    step: selectors.StepPlan,
) -> registry.ActionContext:
    idempotency_key = f"alloy-test-{key}"
    if not action.requires_connection:
        workspace = version.workflow.integration.workspace
        return registry.ActionContext(
            account_id="",
            credentials={"signing_secret": workspace.signing_secret},
            idempotency_key=idempotency_key,
            config=step.config,
        )
    return registry.ActionContext(
        account_id=connection.account_id,
        credentials=connection.credential_data,
        idempotency_key=idempotency_key,
        config=step.config,
    )


def mapping_sources(version: WorkflowVersion, before_position: int) -> dict:
    """The data a mapping at ``before_position`` can read, as JSON Schemas.

    Inside a For each, ``item`` is the schema of the array's items.
    """
    trigger = version.blocks.filter(position=0).first()
    visible, loop = _scope(version, before_position)
    steps = {}
    for block in visible:
        action = registry.action_get(block.connector, block.operation)
        steps[block.key] = validation.output_schema(block, action) if action else {}
    sources = {
        "event": (trigger_schema(trigger) if trigger else None) or {},
        "steps": steps,
        "user": USER_SCHEMA,
    }
    if loop is not None:
        scope = {"type": "object", "properties": dict(sources)}
        scope["properties"]["steps"] = {"type": "object", "properties": steps}
        sources["item"] = validation.item_schema(loop, scope)
    return sources
