"""Writes for workflows and their versions: drafts, release, publish, rollback.

A draft is edited block by block; ``version_release`` validates it and freezes
it for good; ``version_publish`` makes a release the live one. Database
triggers back the same rule, so not even a raw queryset update changes a
released version.
"""

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone

from alloy.errors import ValidationError
from alloy.generation import generation_bump
from alloy.jsonbody import first_unstorable
from alloy.outbound import OutboundURLError, outbound_url_check
from connectors import registry, schedule
from integrations.models import Integration
from workflows import blocks as logic_blocks
from workflows import mapping, validation
from workflows.exceptions import (
    ReleasedVersionError,
    ReleaseValidationError,
    VersionStateError,
)
from workflows.models import Block, FieldMapping, Publication, Workflow, WorkflowVersion
from workflows.retry import policy_problems as retry_policy_problems
from workflows.services import installed_versions

logger = logging.getLogger(__name__)

EVENT_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,199}\Z")
BLOCK_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
TRIGGER_KEY = "trigger"
# The stream delivery records keep the URL in a column of this length.
STREAM_URL_MAX_LENGTH = 2000
# Column lengths of Workflow.name and FieldMapping.target.
WORKFLOW_NAME_MAX_LENGTH = 200
MAPPING_TARGET_MAX_LENGTH = 255
MAPPING_TARGET_PATTERN = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z"
)


@transaction.atomic
def workflow_create(
    *,
    integration: Integration,
    name: str,
    trigger_connector: str,
    trigger_operation: str,
    trigger_config: dict[str, Any] | None = None,
) -> Workflow:
    """Create a workflow with a first draft version holding its trigger block.

    Raises ValidationError for a bad name or trigger; nothing is stored then.
    """
    problem = _text_problem(name, max_length=WORKFLOW_NAME_MAX_LENGTH)
    if problem:
        raise ValidationError(
            f"The workflow name is invalid: {problem}",
            fields=[{"path": "$.name", "message": problem}],
        )
    try:
        with transaction.atomic():
            workflow = Workflow.objects.create(integration=integration, name=name)
    except IntegrityError as exc:
        raise ValidationError(
            f"The integration already has a workflow named {name!r}.",
            code="already_exists",
            fields=[{"path": "$.name", "message": "Already taken."}],
        ) from exc
    version = WorkflowVersion.objects.create(workflow=workflow, number=1)
    trigger_set(
        version=version,
        connector=trigger_connector,
        operation=trigger_operation,
        config=trigger_config or {},
    )
    logger.info(
        "workflows.workflow.created",
        extra={"workflow_id": workflow.pk, "version_id": version.pk},
    )
    return workflow


def _text_problem(value: Any, *, max_length: int) -> str | None:
    if not isinstance(value, str):
        return "must be a string."
    if not value.strip():
        return "must not be blank."
    if len(value) > max_length:
        return f"must be at most {max_length} characters."
    unstorable = first_unstorable(value)
    if unstorable is not None:
        return unstorable[1]
    return None


def _reject_unstorable(value: Any, *, field: str, label: str) -> None:
    """Raise ValidationError when the database could not store ``value`` as JSON."""
    unstorable = first_unstorable(value)
    if unstorable is not None:
        path, message = unstorable
        raise ValidationError(
            f"{label} cannot be stored: {message}",
            fields=[{"path": f"$.{field}{path[1:]}", "message": message}],
        )


def _require_draft(version: WorkflowVersion) -> None:
    if version.is_released:
        raise ReleasedVersionError(version)


def _lock_draft(version_id: int) -> WorkflowVersion:
    """Lock a draft's row until the transaction ends; raise if it is released.

    Every edit holds this lock, so a concurrent version_release waits for the
    edit to commit and then validates it, and an edit that waits for a
    release reads the released status.
    """
    version = WorkflowVersion.objects.select_for_update().get(pk=version_id)
    _require_draft(version)
    return version


def _check_trigger_config(connector: str, config: dict[str, Any]) -> list[dict]:
    problems = []
    if connector == "custom":
        name = config.get("event_name")
        if not isinstance(name, str) or not EVENT_NAME_PATTERN.match(name):
            problems.append(
                {
                    "path": "$.config.event_name",
                    "message": f"{name!r} is not an event name: use letters, digits "
                    "and _ . : - starting with a letter.",
                }
            )
        problems.extend(
            validation.check_custom_event_schema(
                config.get("schema"), path="$.config.schema"
            )
        )
    if connector == schedule.SCHEDULE:
        problems.extend(schedule.config_problems(config, path="$.config"))
    stream_url = config.get("stream_url")
    if stream_url not in (None, ""):
        problem = stream_url_problem(stream_url)
        if problem is None:
            try:
                outbound_url_check(stream_url)
            except OutboundURLError as exc:
                problem = str(exc)
        if problem:
            problems.append({"path": "$.config.stream_url", "message": problem})
    known = {"event_name", "schema", "stream_url", "sample"}
    if connector == schedule.SCHEDULE:
        known.update(schedule.CONFIG_KEYS)
    unknown = set(config) - known
    for key in sorted(unknown):
        problems.append({"path": f"$.config.{key}", "message": "Unknown setting."})
    return problems


def stream_url_problem(stream_url: Any) -> str | None:
    """Return why a stream URL is not an http(s) URL that fits its column, or None."""
    if not isinstance(stream_url, str):
        return "The stream URL must be a string."
    if len(stream_url) > STREAM_URL_MAX_LENGTH:
        return f"The stream URL is longer than {STREAM_URL_MAX_LENGTH} characters."
    try:
        parts = urlsplit(stream_url)
    except ValueError:
        return f"{stream_url!r} is not an http or https URL."
    try:
        port = parts.port
    except ValueError:
        return f"{stream_url!r} has an invalid port; use 1 to 65535."
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        return f"{stream_url!r} is not an http or https URL."
    return None


@transaction.atomic
def trigger_set(
    *,
    version: WorkflowVersion,
    connector: str,
    operation: str,
    config: dict[str, Any],
) -> Block:
    """Set the draft's trigger; raises ValidationError naming each bad setting."""
    _lock_draft(version.pk)
    if registry.trigger_get(connector, operation) is None:
        raise ValidationError(
            f"Unknown trigger {connector}.{operation}.",
            fields=[{"path": "$.operation", "message": "Unknown trigger."}],
        )
    if not isinstance(config, dict):
        raise ValidationError("The trigger config must be a JSON object.")
    _reject_unstorable(config, field="config", label="The trigger config")
    problems = _check_trigger_config(connector, config)
    if problems:
        raise ValidationError("The trigger settings are invalid.", fields=problems)
    block, _ = Block.objects.update_or_create(
        version=version,
        kind=Block.Kind.TRIGGER,
        defaults={
            "position": 0,
            "key": TRIGGER_KEY,
            "connector": connector,
            "operation": operation,
            "config": config,
        },
    )
    return block


@transaction.atomic
def action_add(
    *,
    version: WorkflowVersion,
    key: str,
    connector: str,
    operation: str,
    retry: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    parent: Block | None = None,
    branch: str = "",
) -> Block:
    """Add an action, logic or utility block at the end of a draft's list.

    The list is the top level, or with ``parent`` one of a Branch's lists
    (``then``, ``else``) or a For each's ``body``. ``retry`` overrides the
    default retry policy of an action step with any of ``max_attempts``,
    ``base_delay_seconds`` and ``max_delay_seconds``. ``config`` holds a
    logic or utility block's settings, or those of an action configured
    beyond its mappings, such as a warehouse table. Later blocks move down
    one position. Raises ValidationError naming the bad setting; nothing is
    stored then.
    """
    _lock_draft(version.pk)
    problems = retry_policy_problems(retry, path="$.config.retry")
    if problems:
        raise ValidationError("The retry policy is invalid.", fields=problems)
    action = registry.action_get(connector, operation)
    if action is None:
        raise ValidationError(
            f"Unknown action {connector}.{operation}.",
            fields=[{"path": "$.operation", "message": "Unknown action."}],
        )
    if not BLOCK_KEY_PATTERN.match(key) or key == TRIGGER_KEY:
        raise ValidationError(
            f"{key!r} is not a block key: use lower-case letters, digits and _, "
            "starting with a letter.",
            fields=[{"path": "$.key", "message": "Invalid key."}],
        )
    if version.blocks.filter(key=key).exists():
        raise ValidationError(
            f"The version already has a block named {key!r}.",
            fields=[{"path": "$.key", "message": "Already taken."}],
        )
    stored_config = _block_config(connector, operation, config, retry)
    tree = list(version.blocks.order_by("position"))
    _check_place(
        tree, parent, branch, nests_loop=(connector, operation) == logic_blocks.FOR_EACH
    )
    if parent is None:
        position = (tree[-1].position if tree else 0) + 1
    else:
        position = _subtree_end(tree, parent) + 1
    # Descending, so that no two rows share a position at any moment.
    for later in reversed([b for b in tree if b.position >= position]):
        later.position += 1
        later.save(update_fields=["position", "updated_at"])
    return Block.objects.create(
        version=version,
        kind=Block.Kind.ACTION,
        position=position,
        key=key,
        connector=connector,
        operation=operation,
        config=stored_config,
        parent=parent,
        branch=branch if parent is not None else "",
    )


def _block_config(
    connector: str, operation: str, config: Any, retry: dict | None
) -> dict[str, Any]:
    """Check a new block's config and return the one to store."""
    if (connector, operation) not in logic_blocks.ENGINE_BLOCKS:
        if config:
            _reject_config_problems(registry.action_get(connector, operation), config)
        return {**(config or {}), **({"retry": retry} if retry else {})}
    if retry:
        raise ValidationError(
            f"{connector}.{operation} makes no call, so it has no retry policy.",
            fields=[{"path": "$.config.retry", "message": "Unknown setting."}],
        )
    if not isinstance(config, dict | None):
        raise ValidationError(
            "The block config must be a JSON object.",
            fields=[{"path": "$.config", "message": "Expected an object."}],
        )
    if not config:
        # A draft may hold a block not set up yet; release reports it.
        return {}
    config = dict(config)
    _reject_unstorable(config, field="config", label="The block config")
    if (connector, operation) == logic_blocks.FILTER and config.get("rules"):
        try:
            config["condition"] = logic_blocks.condition_from_rules(config["rules"])
        except ValueError as exc:
            raise ValidationError(
                f"The filter rules are invalid: {exc}.",
                fields=[{"path": "$.config.rules", "message": str(exc)}],
            ) from exc
    problems = logic_blocks.config_problems(connector, operation, config)
    if problems:
        raise ValidationError(
            "The block settings are invalid: "
            + "; ".join(f"{p['path']}: {p['message']}" for p in problems),
            fields=problems,
        )
    return config


def _check_place(
    tree: list[Block], parent: Block | None, branch: str, *, nests_loop: bool
) -> None:
    if parent is None:
        if branch:
            raise ValidationError(
                f"The list {branch!r} needs a Branch or For each block to hold it.",
                fields=[{"path": "$.branch", "message": "No parent block."}],
            )
        return
    lists = logic_blocks.CONTAINER_LISTS.get((parent.connector, parent.operation))
    if parent.version_id != tree[0].version_id or lists is None:
        raise ValidationError(
            f"{parent.key} cannot hold blocks; only a Branch or For each can.",
            fields=[{"path": "$.parent", "message": "Not a Branch or For each."}],
        )
    if branch not in lists:
        raise ValidationError(
            f"{parent.key} has the lists {', '.join(lists)}, not {branch!r}.",
            fields=[{"path": "$.branch", "message": f"Use {' or '.join(lists)}."}],
        )
    by_id = {b.pk: b for b in tree}
    ancestor: Block | None = parent
    while nests_loop and ancestor is not None:
        if (ancestor.connector, ancestor.operation) == logic_blocks.FOR_EACH:
            raise ValidationError(
                f"A For each cannot go inside the For each {ancestor.key}; map the "
                "inner array in a Transform or flatten it in the items expression.",
                fields=[{"path": "$.parent", "message": "Nested For each."}],
            )
        ancestor = by_id.get(ancestor.parent_id)


def _subtree_end(tree: list[Block], root: Block) -> int:
    """Return the last position of ``root`` and the blocks nested inside it."""
    inside = {root.pk}
    end = root.position
    for block in tree:
        if block.parent_id in inside:
            inside.add(block.pk)
            end = max(end, block.position)
    return end


@transaction.atomic
def block_config_set(*, block: Block, config: dict[str, Any]) -> Block:
    """Replace a draft's logic or utility block settings.

    Raises ValidationError naming each bad setting.
    """
    _lock_draft(block.version_id)
    if (block.connector, block.operation) not in logic_blocks.ENGINE_BLOCKS:
        raise ValidationError(
            f"{block.key} takes its input from mappings, not settings.",
            fields=[{"path": "$.config", "message": "No settings."}],
        )
    block.config = _block_config(block.connector, block.operation, config, None)
    block.save(update_fields=["config", "updated_at"])
    return block


def _reject_config_problems(action: registry.Action, config: dict[str, Any]) -> None:
    _reject_unstorable(config, field="config", label="The config")
    if action.config_problems is None:
        raise ValidationError(
            f"{action.title} takes no config; map its inputs instead.",
            fields=[{"path": "$.config", "message": "Not accepted."}],
        )
    # Mapping problems wait for the release: the mappings come after the config.
    problems = [
        problem
        for problem in action.config_problems(config, [])
        if problem["path"].startswith("$.config")
    ]
    if problems:
        raise ValidationError(
            "The step's config is invalid: "
            + "; ".join(f"{p['path']}: {p['message']}" for p in problems),
            fields=problems,
        )


@transaction.atomic
def action_config_set(*, block: Block, config: dict[str, Any]) -> Block:
    """Replace a draft action's config, keeping its retry policy.

    Raises ValidationError listing each problem of the config, by path.
    """
    _lock_draft(block.version_id)
    action = registry.action_get(block.connector, block.operation)
    if action is None or block.kind != Block.Kind.ACTION:
        raise ValidationError(f"{block.key} is not an action with a config.")
    _reject_config_problems(action, config)
    retry = block.config.get("retry")
    block.config = {**config, **({"retry": retry} if retry else {})}
    block.save(update_fields=["config", "updated_at"])
    return block


@transaction.atomic
def action_remove(*, block: Block) -> None:
    """Remove a block from a draft, with the blocks nested inside it.

    Later blocks move up to close the gap in positions.
    """
    _lock_draft(block.version_id)
    if block.kind == Block.Kind.TRIGGER:
        raise ValidationError("A workflow's trigger cannot be removed; replace it.")
    version = block.version
    tree = list(version.blocks.order_by("position"))
    end = _subtree_end(tree, block)
    removed = end - block.position + 1
    block.delete()
    for later in version.blocks.filter(position__gt=end).order_by("position"):
        later.position -= removed
        later.save(update_fields=["position", "updated_at"])


@transaction.atomic
def mapping_set(*, block: Block, target: str, kind: str, value: Any) -> FieldMapping:
    """Map one input of a draft's action; the expression must parse now."""
    _lock_draft(block.version_id)
    if block.kind != Block.Kind.ACTION:
        raise ValidationError("Only action blocks have input mappings.")
    if kind not in mapping.KINDS:
        raise ValidationError(
            f"{kind!r} is not a mapping kind; use one of {', '.join(mapping.KINDS)}.",
            fields=[{"path": "$.kind", "message": "Unknown kind."}],
        )
    problem = _text_problem(target, max_length=MAPPING_TARGET_MAX_LENGTH)
    if problem is None and not MAPPING_TARGET_PATTERN.match(target):
        problem = "use input names joined by dots, such as customer.email."
    if problem:
        raise ValidationError(
            f"The mapping target {target!r} is invalid: {problem}",
            fields=[{"path": "$.target", "message": problem}],
        )
    _reject_unstorable(value, field="value", label=f"The {kind}")
    if kind != mapping.LITERAL and not isinstance(value, str):
        raise ValidationError(
            f"The {kind} must be a string.",
            fields=[{"path": "$.value", "message": "Must be a string."}],
        )
    action = registry.action_get(block.connector, block.operation)
    top = target.split(".", 1)[0]
    if action is None or not validation.input_accepts(action, top):
        raise ValidationError(
            f"{block.key} has no input {top!r}.",
            fields=[{"path": "$.target", "message": f"Unknown input {top!r}."}],
        )
    try:
        mapping.expressions_of(kind, value)
    except mapping.ExpressionSyntaxError as exc:
        raise ValidationError(
            f"The {kind} for {target} does not parse: {exc}",
            fields=[{"path": "$.value", "message": str(exc)}],
        ) from exc
    item, _ = FieldMapping.objects.update_or_create(
        block=block, target=target, defaults={"kind": kind, "value": value}
    )
    return item


@transaction.atomic
def mapping_remove(*, block: Block, target: str) -> None:
    _lock_draft(block.version_id)
    for item in block.mappings.filter(target=target):
        item.delete()


@transaction.atomic
def block_mappings_replace(
    *, block: Block, mappings: dict[str, tuple[str, Any]]
) -> None:
    """Set a draft action's mappings to ``{target: (kind, value)}``, removing others.

    Runs in one transaction, so a mapping that fails to parse leaves every
    mapping of the block as it was. Raises ValidationError for that mapping.
    """
    _require_draft(block.version)
    for target, (kind, value) in mappings.items():
        mapping_set(block=block, target=target, kind=kind, value=value)
    for item in block.mappings.exclude(target__in=list(mappings)):
        item.delete()


@transaction.atomic
def version_release(
    *, version: WorkflowVersion, released_by: str = ""
) -> WorkflowVersion:
    """Validate a draft and freeze it for good.

    Locks the version row. Raises ReleaseValidationError listing every
    unmapped required input, unparsable expression and unknown field, or
    ReleasedVersionError if it is released already.
    """
    given = version
    version = WorkflowVersion.objects.select_for_update().get(pk=version.pk)
    _require_draft(version)
    blocks = list(version.blocks.prefetch_related("mappings").order_by("position"))
    problems = validation.check_version(blocks)
    if problems:
        raise ReleaseValidationError(
            f"Version {version.number} cannot be released: "
            + "; ".join(f"{p['path']}: {p['message']}" for p in problems),
            fields=problems,
        )
    _mark_releasing(version.pk)
    version.status = WorkflowVersion.Status.RELEASED
    version.released_at = timezone.now()
    version.released_by = released_by
    version.save(update_fields=["status", "released_at", "released_by", "updated_at"])
    # The caller's instance reflects the release too, so it can be published.
    given.status, given.released_at = version.status, version.released_at
    given.released_by = version.released_by
    logger.info(
        "workflows.version.released",
        extra={"workflow_id": version.workflow_id, "version_id": version.pk},
    )
    return version


def _mark_releasing(version_id: int) -> None:
    """Tell PostgreSQL's freeze trigger that this transaction validated the version."""
    db = transaction.get_connection()
    if db.vendor != "postgresql":
        return
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('alloy.releasing_version', %s, true)", [str(version_id)]
        )


@transaction.atomic
def version_publish(*, version: WorkflowVersion, published_by: str = "") -> Workflow:
    """Make a released version the one new events run. Locks the workflow row.

    Installations that follow the published version move to it, and a job
    reconciles their shops' webhook subscriptions after commit.
    """
    workflow = Workflow.objects.select_for_update().get(pk=version.workflow_id)
    version = WorkflowVersion.objects.get(pk=version.pk)
    if not version.is_released:
        raise VersionStateError(
            f"Version {version.number} is a draft; release it before publishing."
        )
    previous_id = workflow.published_version_id
    if previous_id == version.pk:
        return workflow
    workflow.published_version = version
    workflow.save(update_fields=["published_version", "updated_at"])
    generation_bump()
    Publication.objects.create(
        workflow=workflow,
        version=version,
        published_by=published_by,
        previous_version_id=previous_id,
    )
    installed_versions.followers_move(workflow=workflow)
    logger.info(
        "workflows.version.published",
        extra={
            "workflow_id": workflow.pk,
            "version_id": version.pk,
            "previous_version_id": previous_id,
        },
    )
    return workflow


def version_rollback(
    *, workflow: Workflow, version: WorkflowVersion, published_by: str = ""
) -> Workflow:
    """Publish an older release again; a newer draft or release is kept."""
    if version.workflow_id != workflow.pk:
        raise VersionStateError("The version belongs to another workflow.")
    current = (
        Workflow.objects.select_related("published_version")
        .get(pk=workflow.pk)
        .published_version
    )
    if current is not None and version.number >= current.number:
        raise VersionStateError(
            f"Version {version.number} is not older than the published version "
            f"{current.number}; publish it instead of rolling back."
        )
    return version_publish(version=version, published_by=published_by)


@transaction.atomic
def version_create_next(*, workflow: Workflow) -> WorkflowVersion:
    """Start a draft that copies the latest version's blocks and mappings.

    Raises VersionStateError when the workflow has a draft already.
    """
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    latest = workflow.versions.order_by("-number").first()
    if latest is not None and not latest.is_released:
        raise VersionStateError(
            f"Version {latest.number} is still a draft; edit it or release it first."
        )
    number = (latest.number if latest else 0) + 1
    draft = WorkflowVersion.objects.create(workflow=workflow, number=number)
    if latest is None:
        return draft
    copies: dict[int, Block] = {}
    # Position order copies each parent before the blocks nested in it.
    for block in latest.blocks.prefetch_related("mappings").order_by("position"):
        copy = copies[block.pk] = Block.objects.create(
            version=draft,
            position=block.position,
            kind=block.kind,
            key=block.key,
            connector=block.connector,
            operation=block.operation,
            config=block.config,
            parent=copies.get(block.parent_id),
            branch=block.branch,
        )
        FieldMapping.objects.bulk_create(
            FieldMapping(block=copy, target=m.target, kind=m.kind, value=m.value)
            for m in block.mappings.all()
        )
    logger.info(
        "workflows.version.created",
        extra={
            "workflow_id": workflow.pk,
            "version_id": draft.pk,
            "copied_from": latest.pk,
        },
    )
    return draft
