"""Test runs of a draft on its sample payload, and the live preview of one mapping.

A dry test run evaluates every action's mappings and checks each input
against the action's schema, calling nothing outside the process; earlier
steps' outputs are stand-in values built from their output schemas. A live
test run calls each action for real with one end user's connection, such as
the Shopify sandbox's shop, and stores nothing.
"""

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from jmespath.exceptions import JMESPathError

from connectors import registry
from integrations.models import Connection, EndUser
from workflows import engine, mapping, selectors
from workflows.models import WorkflowVersion
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
    steps = {}
    for block in version.blocks.filter(position__gt=0, position__lt=before_position):
        action = registry.action_get(block.connector, block.operation)
        steps[block.key] = example_from_schema(action.output_schema if action else {})
    context = {"event": version_sample(version), "steps": steps, "user": SAMPLE_USER}
    block = version.blocks.filter(position=before_position).first()
    rows_from = block.config.get("rows_from") if block else None
    if isinstance(rows_from, str) and rows_from.strip():
        # A step that writes one row per item previews its first item.
        try:
            items = mapping.compile_expression(rows_from).search(context)
        except (mapping.ExpressionSyntaxError, JMESPathError, ValueError, TypeError):
            items = None
        if isinstance(items, list) and items:
            context["item"] = items[0]
    return context


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
            {"path": engine.json_path(error.absolute_path), "message": error.message}
            for error in plan.trigger_validator.iter_errors(event)
        ]
        if result.event_errors:
            return result
    context: dict[str, Any] = {"event": event, "steps": {}, "user": user}
    run_key = uuid.uuid4().hex[:12]
    for step in plan.actions:
        action = registry.action_get(step.connector, step.operation)
        title = action.title if action else f"{step.connector}.{step.operation}"
        outcome = StepResult(key=step.key, title=title)
        result.steps.append(outcome)
        try:
            outcome.input = engine.step_input_build(step, context)
        except engine.StepFailed as failed:
            outcome.input, outcome.error = failed.step_input, failed.error
            break
        if action is None:
            outcome.error = {"code": "unknown_action", "message": f"{title} is gone."}
            break
        if live and action.requires_connection and connection.app != step.connector:
            outcome.error = {
                "code": "connection_missing",
                "message": f"The test connection is a {connection.app} account; "
                f"{title} needs a {step.connector} one.",
            }
            break
        if not live:
            outcome.output = example_from_schema(action.output_schema)
            outcome.placeholder_output = True
        else:
            try:
                outcome.output = action.execute(
                    _test_context(
                        version, action, connection, f"{run_key}-{step.key}", step
                    ),
                    outcome.input,
                )
            except registry.ActionError as exc:
                outcome.error = exc.as_dict()
                break
        context["steps"][step.key] = outcome.output
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
    """The data a mapping at ``before_position`` can read, as JSON Schemas."""
    trigger = version.blocks.filter(position=0).first()
    steps = {}
    for block in version.blocks.filter(position__gt=0, position__lt=before_position):
        action = registry.action_get(block.connector, block.operation)
        steps[block.key] = action.output_schema if action else {}
    return {
        "event": (trigger_schema(trigger) if trigger else None) or {},
        "steps": steps,
        "user": USER_SCHEMA,
    }
