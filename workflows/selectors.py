"""Reads for workflows: published triggers, frozen version plans, runs, diffs."""

import difflib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import (
    BigIntegerField,
    Count,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce, TruncHour
from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from referencing import Registry

from alloy.generation import GenerationCache, generation_current
from connectors import registry
from integrations.models import (
    Connection,
    EndUser,
    Installation,
    Integration,
    Workspace,
)
from integrations.selectors import connections_for_account
from workflows.models import (
    Block,
    FieldMapping,
    InstalledVersion,
    Run,
    RunStep,
    Workflow,
    WorkflowVersion,
)
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
    # A logic or utility block's settings, or an action's config that is
    # passed to it (such as a warehouse table).
    config: dict[str, Any] = field(default_factory=dict)
    # A Branch's "then" and "else" lists, or a For each's "body".
    lists: dict[str, list["StepPlan"]] = field(default_factory=dict)
    # Hides credentials in the input the step record keeps; None keeps it all.
    redact_input: Any = None

    @property
    def block_type(self) -> tuple[str, str]:
        return (self.connector, self.operation)


@dataclass(frozen=True)
class VersionPlan:
    version_id: int
    trigger: StepPlan
    trigger_config: dict[str, Any]
    # The top-level blocks after the trigger; nested ones are in their lists.
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


@dataclass(frozen=True)
class Route:
    """The workflows an event starts for one end user, with their installations.

    Each workflow has ``run_version_id``, the version its installation runs,
    and ``run_version``, that version's row. ``installations`` maps each
    integration id to the end user's installation of it. The rows are shared
    by every thread of the process and must not be changed.
    """

    end_user: EndUser
    workflows: tuple[Workflow, ...]
    installations: dict[int, Installation]
    connection: Connection | None = None


# Routes by (workspace id, event name, end user's external id), and by
# (connector, account id, trigger operation). Every service that publishes a
# version, installs, uninstalls, pins versions, or changes an end user or a
# connection bumps the generation.
_custom_routes = GenerationCache()
_app_routes = GenerationCache()


def custom_event_route(
    *, workspace: Workspace, event_name: str, user_id: str
) -> Route | None:
    """Return the workflows a custom event starts for an end user, or None.

    None when the end user is unknown, has no installation, or no installed
    integration has a published workflow triggered by the event. Served from
    the process's cache while the generation holds.
    """
    generation = generation_current()
    key = (workspace.pk, event_name, user_id)
    route = _custom_routes.get(generation, key)
    if route is not None:
        return route
    installations = list(
        Installation.objects.select_related("end_user").filter(
            end_user__workspace=workspace, end_user__external_id=user_id
        )
    )
    if not installations:
        return None
    workflows = custom_event_workflows(
        workspace=workspace, event_name=event_name, installations=installations
    )
    if not workflows:
        return None
    route = Route(
        end_user=installations[0].end_user,
        workflows=_with_run_version_rows(workflows),
        installations={i.integration_id: i for i in installations},
    )
    _custom_routes.set(generation, key, route)
    return route


def app_event_routes(*, connector: str, account_id: str, operation: str) -> list[Route]:
    """Return, per active connection to an app account, the workflows a trigger starts.

    Connections whose installations start nothing on the trigger are left
    out. Served from the process's cache while the generation holds.
    """
    generation = generation_current()
    key = (connector, account_id, operation)
    routes = _app_routes.get(generation, key)
    if routes is not None:
        return routes
    routes = []
    for connection in connections_for_account(app=connector, account_id=account_id):
        installations = list(Installation.objects.filter(connection=connection))
        if not installations:
            continue
        workflows = app_event_workflows(
            installations=installations, connector=connector, operation=operation
        )
        if not workflows:
            continue
        routes.append(
            Route(
                end_user=connection.end_user,
                workflows=_with_run_version_rows(workflows),
                installations={i.integration_id: i for i in installations},
                connection=connection,
            )
        )
    _app_routes.set(generation, key, routes)
    return routes


def _with_run_version_rows(workflows: list[Workflow]) -> tuple[Workflow, ...]:
    """Set ``run_version`` on each workflow, reading only pinned older versions."""
    pinned = {
        w.run_version_id
        for w in workflows
        if w.run_version_id != w.published_version_id
    }
    rows = {}
    if pinned:
        rows = WorkflowVersion.objects.in_bulk(pinned)
    for workflow in workflows:
        workflow.run_version = rows.get(
            workflow.run_version_id, workflow.published_version
        )
    return tuple(workflows)


def custom_event_workflows(
    *,
    workspace: Workspace,
    event_name: str,
    installations: list[Installation] | None = None,
) -> list[Workflow]:
    """Workflows whose published version starts on this custom event.

    Given ``installations``, only the workflows of their integrations, each
    with ``run_version_id``: the version that installation runs.
    """
    workflows = Workflow.objects.select_related(
        "integration", "published_version"
    ).filter(
        integration__workspace=workspace,
        published_version__blocks__kind=Block.Kind.TRIGGER,
        published_version__blocks__connector="custom",
        published_version__blocks__config__event_name=event_name,
    )
    if installations is None:
        return list(workflows)
    return _with_run_version(workflows, installations)


def app_event_workflows(
    *, installations: list[Installation], connector: str, operation: str
) -> list[Workflow]:
    """Workflows of the installations' integrations started by an app's trigger.

    Each has ``run_version_id``: the version its installation runs.
    """
    workflows = Workflow.objects.select_related("published_version").filter(
        published_version__blocks__kind=Block.Kind.TRIGGER,
        published_version__blocks__connector=connector,
        published_version__blocks__operation=operation,
    )
    return _with_run_version(workflows, installations)


def _with_run_version(
    workflows: QuerySet[Workflow], installations: list[Installation]
) -> list[Workflow]:
    # Each installation runs the version it installed; the published one is
    # the fallback for a workflow published after it was installed. An end
    # user has one installation per integration, so at most one row matches.
    installed = InstalledVersion.objects.filter(
        installation_id__in=[installation.pk for installation in installations],
        workflow_id=OuterRef("pk"),
    ).values("version_id")[:1]
    return list(
        workflows.filter(
            integration_id__in={i.integration_id for i in installations}
        ).annotate(
            run_version_id=Coalesce(
                Subquery(installed),
                F("published_version_id"),
                output_field=BigIntegerField(),
            )
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
    by_block: dict[int, StepPlan] = {}
    top_level: list[StepPlan] = []
    for block in blocks:
        action = registry.action_get(block.connector, block.operation)
        validator = None
        required: frozenset[str] = frozenset()
        if action is not None:
            validator = Draft202012Validator(
                action.input_schema, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            required = frozenset(action.required_inputs)
        step = StepPlan(
            block_id=block.pk,
            position=block.position,
            key=block.key,
            connector=block.connector,
            operation=block.operation,
            mappings=tuple(mappings.get(block.pk, [])),
            required=required,
            input_validator=validator,
            retry=policy_from_config(block.config.get("retry")),
            config=dict(block.config),
            redact_input=action.redact_input if action else None,
        )
        steps.append(step)
        by_block[block.pk] = step
        # Position order puts a container before the blocks of its lists.
        if block.parent_id is None:
            top_level.append(step)
        else:
            by_block[block.parent_id].lists.setdefault(block.branch, []).append(step)
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
        actions=tuple(top_level[1:]),
        trigger_validator=trigger_validator,
    )


def run_list(
    *,
    workspace: Workspace,
    limit: int = 100,
    workflow_id: int | None = None,
    version_number: int | None = None,
    status: str = "",
    end_user: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Run]:
    """Return the newest runs of a workspace, narrowed by each filter given."""
    runs = run_filter(
        workspace=workspace,
        status=status or None,
        user=end_user or None,
        workflow=workflow_id,
        created_after=since,
        created_before=until,
    )
    if version_number is not None:
        runs = runs.filter(version__number=version_number)
    return list(runs.order_by("-created_at")[:limit])


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
    steps = RunStep.objects.select_related("block__parent")
    return (
        Run.objects.select_related(
            "workflow__integration", "version", "event", "end_user"
        )
        .prefetch_related(Prefetch("steps", queryset=steps), "stream_deliveries")
        .filter(workspace=workspace, pk=run_id)
        .first()
    )


def block_nesting(*, version_id: int) -> dict[int, tuple[int, str]]:
    """Map each block of a version to its depth and the list that contains it.

    The list reads like ``check: Then``; top-level blocks have depth 0 and an
    empty list.
    """
    rows = list(
        Block.objects.filter(version_id=version_id)
        .order_by("position")
        .values_list("pk", "key", "parent_id", "branch")
    )
    keys = {pk: key for pk, key, _, _ in rows}
    nesting: dict[int, tuple[int, str]] = {}
    for pk, _, parent_id, branch in rows:
        if parent_id is None:
            nesting[pk] = (0, "")
        else:
            label = f"{keys[parent_id]}: {Block.Branch(branch).label}"
            nesting[pk] = (nesting[parent_id][0] + 1, label)
    return nesting


def workflow_get(*, workspace: Workspace, workflow_id: int) -> Workflow | None:
    return (
        Workflow.objects.select_related("integration", "published_version")
        .filter(integration__workspace=workspace, pk=workflow_id)
        .first()
    )


def workflow_list(*, workspace: Workspace) -> list[Workflow]:
    return list(
        Workflow.objects.select_related("integration").filter(
            integration__workspace=workspace
        )
    )


def version_get(*, workspace: Workspace, version_id: int) -> WorkflowVersion | None:
    return (
        WorkflowVersion.objects.select_related(
            "workflow__integration", "workflow__published_version"
        )
        .filter(workflow__integration__workspace=workspace, pk=version_id)
        .first()
    )


def block_get(*, workspace: Workspace, block_id: int) -> Block | None:
    return (
        Block.objects.select_related("version__workflow__integration")
        .filter(version__workflow__integration__workspace=workspace, pk=block_id)
        .first()
    )


def version_latest(*, workflow: Workflow) -> WorkflowVersion:
    return workflow.versions.order_by("-number").first()


def version_document(version: WorkflowVersion) -> dict[str, Any]:
    """Return a version's trigger, actions and mappings as one JSON document."""
    blocks = []
    rows = list(version.blocks.prefetch_related("mappings").order_by("position"))
    keys = {block.pk: block.key for block in rows}
    for block in rows:
        entry: dict[str, Any] = {
            "key": block.key,
            "block": f"{block.connector}.{block.operation}",
        }
        if block.parent_id is not None:
            # The list that holds the block, such as "check.then" or "items.body".
            entry["in"] = f"{keys[block.parent_id]}.{block.branch}"
        if block.config:
            entry["config"] = block.config
        mappings = {m.target: {m.kind: m.value} for m in block.mappings.all()}
        if mappings:
            entry["mappings"] = mappings
        blocks.append(entry)
    return {"version": version.number, "blocks": blocks}


@dataclass(frozen=True)
class DiffLine:
    left: str
    right: str
    # "equal", "replace", "delete" or "insert", as difflib names the change.
    change: str


def version_diff(older: WorkflowVersion, newer: WorkflowVersion) -> list[DiffLine]:
    """Compare two versions' documents line by line, for a side-by-side view."""
    left = json.dumps(version_document(older), indent=2, sort_keys=True).splitlines()
    right = json.dumps(version_document(newer), indent=2, sort_keys=True).splitlines()
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for change, i1, i2, j1, j2 in matcher.get_opcodes():
        old, new = left[i1:i2], right[j1:j2]
        for index in range(max(len(old), len(new))):
            lines.append(
                DiffLine(
                    left=old[index] if index < len(old) else "",
                    right=new[index] if index < len(new) else "",
                    change=change,
                )
            )
    return lines


@dataclass(frozen=True)
class HourCount:
    hour: datetime
    total: int
    failed: int


@dataclass(frozen=True)
class WorkflowHealth:
    workflow_id: int
    name: str
    total: int
    succeeded: int
    failed: int

    @property
    def success_rate(self) -> float | None:
        """Succeeded over finished runs, from 0 to 1; None before any finished."""
        finished = self.succeeded + self.failed
        return self.succeeded / finished if finished else None


def run_overview(
    *, workspace: Workspace, now: datetime, hours: int = 24
) -> tuple[list[HourCount], list[WorkflowHealth]]:
    """Runs per hour and each workflow's success over the last ``hours``.

    Every hour of the window is listed, empty ones with zero. Workflows with
    failed runs come first, most failures first.
    """
    start = (now - timedelta(hours=hours - 1)).replace(
        minute=0, second=0, microsecond=0
    )
    runs = Run.objects.filter(workspace=workspace, created_at__gte=start)
    failed = Count("pk", filter=Q(status=Run.Status.FAILED))
    per_hour = {
        row["hour"]: row
        for row in runs.annotate(hour=TruncHour("created_at"))
        .values("hour")
        .annotate(total=Count("pk"), failed=failed)
    }
    hourly = []
    for offset in range(hours):
        hour = start + timedelta(hours=offset)
        row = per_hour.get(hour, {"total": 0, "failed": 0})
        hourly.append(HourCount(hour=hour, total=row["total"], failed=row["failed"]))
    health = [
        WorkflowHealth(
            workflow_id=row["workflow_id"],
            name=row["workflow__name"],
            total=row["total"],
            succeeded=row["succeeded"],
            failed=row["failed"],
        )
        for row in runs.values("workflow_id", "workflow__name").annotate(
            total=Count("pk"),
            succeeded=Count("pk", filter=Q(status=Run.Status.SUCCEEDED)),
            failed=failed,
        )
    ]
    health.sort(key=lambda h: (-h.failed, h.success_rate or 0, h.name))
    return hourly, health
