"""Reads for workflows: published triggers, frozen version plans, runs."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import F, QuerySet
from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from referencing import Registry

from connectors import registry
from integrations.models import Integration, Workspace
from workflows.models import (
    Block,
    FieldMapping,
    InstalledVersion,
    Run,
    Workflow,
    WorkflowVersion,
)


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


def installed_topics_for_account(*, app: str, account_id: str) -> list[str]:
    """Webhook topics that the installed versions on an app account listen to.

    Covers every installation whose active connection is that account.
    """
    operations = (
        Block.objects.filter(
            kind=Block.Kind.TRIGGER,
            connector=app,
            version__installed_by__installation__connection__app=app,
            version__installed_by__installation__connection__account_id=account_id,
            version__installed_by__installation__connection__status="active",
        )
        .values_list("operation", flat=True)
        .distinct()
    )
    topics = set()
    for operation in operations:
        trigger = registry.trigger_get(app, operation)
        if trigger and trigger.topic:
            topics.add(trigger.topic)
    return sorted(topics)


def installed_version_ids(
    *, installation_ids: list[int], workflow_ids: list[int]
) -> dict[tuple[int, int], int]:
    """Map ``(installation_id, workflow_id)`` to the version that installation runs."""
    rows = InstalledVersion.objects.filter(
        installation_id__in=installation_ids, workflow_id__in=workflow_ids
    ).values_list("installation_id", "workflow_id", "version_id")
    return {
        (installation, workflow): version for installation, workflow, version in rows
    }


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
            )
        )
    trigger_block = blocks[0]
    trigger_validator = None
    schema = trigger_block.config.get("schema")
    if trigger_block.connector == "custom" and schema:
        # An empty registry resolves references inside the schema only; the
        # default would fetch a remote $ref over the network.
        trigger_validator = Draft202012Validator(
            schema,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
            registry=Registry(),
        )
    return VersionPlan(
        version_id=version_id,
        trigger=steps[0],
        trigger_config=dict(trigger_block.config),
        actions=tuple(steps[1:]),
        trigger_validator=trigger_validator,
    )


def run_filter(
    *,
    workspace: Workspace,
    status: str | None = None,
    user: str | None = None,
    workflow: int | None = None,
    integration: int | None = None,
    event: int | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Run]:
    """Runs of a workspace matching every filter given."""
    runs = Run.objects.filter(workspace=workspace).select_related(
        "workflow", "version", "end_user"
    )
    conditions = {
        "status": status,
        "end_user__external_id": user,
        "workflow_id": workflow,
        "workflow__integration_id": integration,
        "event_id": event,
        "created_at__gte": created_after,
        "created_at__lt": created_before,
    }
    return runs.filter(**{k: v for k, v in conditions.items() if v is not None})


def run_get(*, workspace: Workspace, run_id: int) -> Run | None:
    return (
        Run.objects.select_related("workflow", "version", "event", "end_user")
        .prefetch_related("steps", "stream_deliveries")
        .filter(workspace=workspace, pk=run_id)
        .first()
    )
