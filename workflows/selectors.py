"""Reads for workflows: published triggers, frozen version plans, runs."""

from dataclasses import dataclass
from typing import Any

from django.db.models import F
from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator

from connectors import registry
from integrations.models import Integration, Workspace
from workflows.models import Block, FieldMapping, Run, Workflow, WorkflowVersion
from workflows.retry import RetryPolicy, policy_from_config


@dataclass(frozen=True)
class StepPlan:
    """A block of a version with what executing it needs, read once."""

    block_id: int
    position: int
    key: str
    connector: str
    operation: str
    mappings: tuple[tuple[str, str, Any], ...]
    required: frozenset[str]
    input_validator: Validator | None
    retry: RetryPolicy


@dataclass(frozen=True)
class VersionPlan:
    version_id: int
    trigger: StepPlan
    trigger_config: dict[str, Any]
    actions: tuple[StepPlan, ...]
    # The custom event's compiled schema; None for app events.
    trigger_validator: Validator | None


def trigger_topics_for_integration(*, integration: Integration) -> list[str]:
    """Webhook topics of the integration's published workflows' triggers."""
    triggers = Block.objects.filter(
        kind=Block.Kind.TRIGGER,
        connector=integration.app,
        version__workflow__integration=integration,
        version__workflow__published_version=F("version"),
    ).values_list("operation", flat=True)
    topics = set()
    for operation in triggers:
        trigger = registry.trigger_get(integration.app, operation)
        if trigger and trigger.topic:
            topics.add(trigger.topic)
    return sorted(topics)


def custom_event_workflows(*, workspace: Workspace, event_name: str) -> list[Workflow]:
    """Workflows whose published version starts on this custom event."""
    return list(
        Workflow.objects.select_related("integration", "published_version").filter(
            integration__workspace=workspace,
            published_version__blocks__kind=Block.Kind.TRIGGER,
            published_version__blocks__connector="custom",
            published_version__blocks__config__event_name=event_name,
        )
    )


def app_event_workflows(
    *, integration_ids: list[int], connector: str, operation: str
) -> list[Workflow]:
    return list(
        Workflow.objects.select_related("published_version").filter(
            integration_id__in=integration_ids,
            published_version__blocks__kind=Block.Kind.TRIGGER,
            published_version__blocks__connector=connector,
            published_version__blocks__operation=operation,
        )
    )


# Plans of released versions, which never change, kept for the process's life.
_released_plans: dict[int, VersionPlan] = {}


def version_plan(version_id: int) -> VersionPlan:
    """Load a version's blocks, mappings and compiled schemas.

    A released version's plan is built once per process and then served from
    memory without a query. Drafts are read fresh, since they change while
    being edited.
    """
    plan = _released_plans.get(version_id)
    if plan is not None:
        return plan
    status = (
        WorkflowVersion.objects.filter(pk=version_id)
        .values_list("status", flat=True)
        .first()
    )
    plan = _build_plan(version_id)
    if status == WorkflowVersion.Status.RELEASED:
        _released_plans[version_id] = plan
    return plan


def _build_plan(version_id: int) -> VersionPlan:
    blocks = list(Block.objects.filter(version_id=version_id).order_by("position"))
    mappings: dict[int, list[tuple[str, str, Any]]] = {}
    for item in FieldMapping.objects.filter(block__version_id=version_id).order_by(
        "target"
    ):
        mappings.setdefault(item.block_id, []).append(
            (item.target, item.kind, item.value)
        )
    steps = []
    for block in blocks:
        action = registry.action_get(block.connector, block.operation)
        validator = None
        required: frozenset[str] = frozenset()
        if action is not None:
            validator = Draft202012Validator(
                action.input_schema, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            required = frozenset(action.required_inputs)
        steps.append(
            StepPlan(
                block_id=block.pk,
                position=block.position,
                key=block.key,
                connector=block.connector,
                operation=block.operation,
                mappings=tuple(mappings.get(block.pk, [])),
                required=required,
                input_validator=validator,
                retry=policy_from_config(block.config.get("retry")),
            )
        )
    trigger_block = blocks[0]
    trigger_validator = None
    schema = trigger_block.config.get("schema")
    if trigger_block.connector == "custom" and schema:
        trigger_validator = Draft202012Validator(
            schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
    return VersionPlan(
        version_id=version_id,
        trigger=steps[0],
        trigger_config=dict(trigger_block.config),
        actions=tuple(steps[1:]),
        trigger_validator=trigger_validator,
    )


def run_list(*, workspace: Workspace, limit: int = 100) -> list[Run]:
    return list(
        Run.objects.filter(workspace=workspace)
        .select_related("workflow", "version")
        .order_by("-created_at")[:limit]
    )


def run_get(*, workspace: Workspace, run_id: int) -> Run | None:
    return (
        Run.objects.select_related("workflow", "version", "event", "end_user")
        .prefetch_related("steps", "stream_deliveries")
        .filter(workspace=workspace, pk=run_id)
        .first()
    )
