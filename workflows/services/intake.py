"""Event intake: custom events from the author's app and webhooks from apps.

Both paths store the event and one queued run per matching published
workflow in one transaction, then enqueue the runs after commit.
"""

import logging
import re
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Q

from alloy.errors import ApplicationError
from alloy.metrics import observe_intake
from connectors import registry
from integrations.models import Workspace
from integrations.selectors import end_user_get
from workflows import selectors
from workflows.exceptions import (
    EndUserNotFoundError,
    EventRejected,
    NotInstalledError,
    UnknownEventError,
)
from workflows.models import Event, Run, Workflow
from workflows.services.runs import runs_enqueue_recorded

logger = logging.getLogger(__name__)

# Errors reported per custom event; a payload with more gets the first ones.
MAX_REPORTED_ERRORS = 100


@dataclass(frozen=True)
class IntakeResult:
    event: Event
    runs: list[Run]
    # True when the idempotency key matched an event accepted before.
    duplicate: bool = False


@observe_intake("custom")
def custom_event_ingest(
    *,
    workspace: Workspace,
    event_name: str,
    user_id: str,
    data: Any,
    idempotency_key: str | None = None,
) -> IntakeResult:
    """Accept a custom event for an end user and queue a run per workflow.

    Raises EndUserNotFoundError, UnknownEventError, NotInstalledError, or
    EventRejected (422) listing every field that breaks a workflow's schema;
    nothing is stored in those cases. A repeated idempotency key returns the
    first event and its runs, and starts nothing new.
    """
    route = selectors.custom_event_route(
        workspace=workspace, event_name=event_name, user_id=user_id
    )
    try:
        if route is None:
            _raise_not_runnable(workspace, event_name, user_id)
        _validate_data(route.workflows, data)
    except ApplicationError:
        # A repeated key returns the first event even when this one would be
        # rejected now. The key is looked up only on failure, here and on the
        # unique constraint's conflict below.
        previous = _event_by_idempotency_key(workspace, idempotency_key)
        if previous is None:
            raise
        return _repeat(previous, event_name, user_id, data)

    event = Event(
        workspace=workspace,
        end_user=route.end_user,
        source=Event.Source.CUSTOM,
        name=event_name,
        data=data,
        idempotency_key=idempotency_key or None,
    )
    try:
        runs = _create_runs(event, route)
    except IntegrityError:
        # The idempotency key was used before, perhaps by a request that
        # committed a moment ago.
        previous = _event_by_idempotency_key(workspace, idempotency_key)
        if previous is None:
            raise
        return _repeat(previous, event_name, user_id, data)
    logger.info(
        "workflows.event.accepted",
        extra={
            "workspace_id": workspace.pk,
            "event_id": event.pk,
            "run_count": len(runs),
        },
    )
    return IntakeResult(event=event, runs=runs)


def _raise_not_runnable(workspace: Workspace, event_name: str, user_id: str) -> None:
    """Raise the error naming why an event starts no workflow for this user."""
    if end_user_get(workspace=workspace, external_id=user_id) is None:
        raise EndUserNotFoundError(
            f"No end user with the id {user_id!r} in this workspace; check the id, "
            "or create the end user before sending events for it.",
            fields=[{"path": "$.user", "message": f"Unknown end user {user_id!r}."}],
        )
    if not selectors.custom_event_workflows(workspace=workspace, event_name=event_name):
        raise UnknownEventError(
            f"No published workflow is triggered by the custom event {event_name!r}; "
            "check the name or publish the workflow.",
            fields=[{"path": "$.event", "message": f"Unknown event {event_name!r}."}],
        )
    raise NotInstalledError(
        f"End user {user_id!r} has not installed an integration that handles "
        f"{event_name!r}; install it first.",
        fields=[{"path": "$.user", "message": "Integration not installed."}],
    )


@observe_intake("app")
def app_event_ingest(
    *,
    connector: str,
    account_id: str,
    topic: str,
    delivery_id: str,
    data: Any,
    app_event_id: str | None = None,
) -> list[IntakeResult]:
    """Accept an app's webhook for every connection to that account.

    A delivery id seen before for a connection is dropped, and so is an
    ``app_event_id`` (X-Shopify-Event-Id) seen before for the same topic: the
    unique constraints decide at insert, so two identical deliveries arriving
    at once still make one event.
    """
    trigger = registry.trigger_for_topic(connector, topic)
    if trigger is None:
        logger.info(
            "workflows.app_event.unknown_topic",
            extra={"connector": connector, "topic": topic},
        )
        return []
    results = []
    routes = selectors.app_event_routes(
        connector=trigger.connector, account_id=account_id, operation=trigger.name
    )
    for route in routes:
        result = _ingest_for_connection(
            route, topic, (delivery_id, app_event_id or None), data
        )
        if result is not None:
            results.append(result)
    if not results:
        logger.info(
            "workflows.app_event.no_runs",
            extra={"connector": connector, "topic": topic, "delivery_id": delivery_id},
        )
    return results


def _ingest_for_connection(
    route: selectors.Route, topic: str, ids: tuple[str, str | None], data: Any
) -> IntakeResult | None:
    delivery_id, app_event_id = ids
    connection = route.connection
    event = Event(
        workspace_id=route.end_user.workspace_id,
        end_user=route.end_user,
        connection=connection,
        source=Event.Source.APP,
        name=topic,
        data=data,
        delivery_id=delivery_id,
        app_event_id=app_event_id,
    )
    try:
        runs = _create_runs(event, route)
    except IntegrityError:
        # Only the unique delivery and app event constraints mean a repeat;
        # any other integrity failure is a defect and must surface.
        repeat = Q(delivery_id=delivery_id)
        if app_event_id:
            repeat |= Q(name=topic, app_event_id=app_event_id)
        if not Event.objects.filter(repeat, connection=connection).exists():
            raise
        logger.info(
            "workflows.app_event.duplicate",
            extra={"connection_id": connection.pk, "delivery_id": delivery_id},
        )
        return None
    logger.info(
        "workflows.event.accepted",
        extra={
            "workspace_id": event.workspace_id,
            "event_id": event.pk,
            "run_count": len(runs),
            "delivery_id": delivery_id,
        },
    )
    return IntakeResult(event=event, runs=runs)


def _create_runs(event: Event, route: selectors.Route) -> list[Run]:
    """Store a new event with one queued run per workflow of the route.

    Each run gets the id of its future RQ job, which spares a write after
    enqueueing. If the enqueue fails, the reconciler finds no job under that
    id and enqueues the run again. The runs are enqueued after commit. Raises
    IntegrityError and stores nothing when a unique constraint of the event
    rejects it.
    """
    # NOTE: the data was validated against the published version's schema,
    # which may differ from a pinned older version's.
    runs = [
        Run(
            workspace_id=event.workspace_id,
            workflow=workflow,
            version=workflow.run_version,
            event=event,
            end_user_id=event.end_user_id,
            installation=route.installations[workflow.integration_id],
            rq_job_id=uuid.uuid4().hex,
        )
        for workflow in route.workflows
    ]
    db = connections[router.db_for_write(Event)]
    if db.vendor == "postgresql":
        # One statement commits by itself, so a transaction is opened only
        # to nest in the caller's.
        with transaction.atomic() if db.in_atomic_block else nullcontext():
            _insert_in_one_statement(db, event, runs)
    else:
        with transaction.atomic():
            event.save(force_insert=True)
            for run in runs:
                run.event = event
            Run.objects.bulk_create(runs)
    run_jobs = [(run.pk, run.rq_job_id) for run in runs]
    transaction.on_commit(lambda: runs_enqueue_recorded(run_jobs=run_jobs))
    return runs


def _insert_in_one_statement(db, event: Event, runs: list[Run]) -> None:
    """Insert the event and its runs with one PostgreSQL statement.

    The event's insert is a common table expression whose id the runs' rows
    read. The model fields prepare the values as the ORM's insert would, and
    only the ORM's compiling of the statement is skipped, to save the web
    process's CPU.
    """
    event_fields, run_fields, sql = _insert_statement(db, len(runs))
    params = [_db_value(db, field, event) for field in event_fields]
    for run in runs:
        params += [_db_value(db, field, run) for field in run_fields]
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    event.pk = rows[0][1]
    event._state.adding = False
    event._state.db = db.alias
    for run, (run_id, event_id) in zip(runs, rows, strict=True):
        run.pk = run_id
        run.event_id = event_id
        run._state.adding = False
        run._state.db = db.alias


# The statement for each number of runs, with the fields whose values it takes.
_insert_statements: dict[tuple[str, int], tuple[list, list, str]] = {}


def _insert_statement(db, run_count: int) -> tuple[list, list, str]:
    key = (db.alias, run_count)
    cached = _insert_statements.get(key)
    if cached is not None:
        return cached
    quote = db.ops.quote_name
    event_fields = [f for f in Event._meta.concrete_fields if not f.primary_key]
    all_run_fields = [f for f in Run._meta.concrete_fields if not f.primary_key]
    run_fields = [f for f in all_run_fields if f.attname != "event_id"]
    row = ", ".join(
        "(SELECT id FROM new_event)" if f.attname == "event_id" else "%s"
        for f in all_run_fields
    )
    # Only table and column names of the models and placeholders go into the
    # text; every value is a parameter.
    sql = (
        f"WITH new_event AS (INSERT INTO {quote(Event._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(f.column) for f in event_fields)}) "
        f"VALUES ({', '.join(['%s'] * len(event_fields))}) RETURNING id) "
        f"INSERT INTO {quote(Run._meta.db_table)} "
        f"({', '.join(quote(f.column) for f in all_run_fields)}) "
        f"VALUES {', '.join([f'({row})'] * run_count)} "
        "RETURNING id, event_id"
    )
    _insert_statements[key] = (event_fields, run_fields, sql)
    return event_fields, run_fields, sql


def _db_value(db, field, obj) -> Any:
    return field.get_db_prep_save(field.pre_save(obj, True), connection=db)


def _validate_data(workflows: tuple[Workflow, ...], data: Any) -> None:
    problems: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for workflow in workflows:
        validator = selectors.version_plan(
            workflow.published_version_id
        ).trigger_validator
        if validator is None:
            continue
        for error in validator.iter_errors(data):
            path = "$.data" + "".join(
                f"[{part}]" if isinstance(part, int) else f".{part}"
                for part in error.absolute_path
            )
            entry = (path, error.message)
            if entry in seen:
                continue
            seen.add(entry)
            problems.append({"path": path, "message": error.message})
    if problems:
        problems.sort(key=lambda p: _path_sort_key(p["path"]))
        raise EventRejected(
            f"The event data does not match the schema: {len(problems)} "
            f"problem{'s' if len(problems) != 1 else ''}; see fields.",
            fields=problems[:MAX_REPORTED_ERRORS],
        )


def _path_sort_key(path: str) -> list[tuple[int, int | str]]:
    """Order JSON paths so that ``[2]`` comes before ``[10]``."""
    parts = re.findall(r"\[(\d+)\]|\.([^.\[]+)", path)
    return [(0, int(index)) if index else (1, name) for index, name in parts]


def _event_by_idempotency_key(workspace: Workspace, key: str | None) -> Event | None:
    if not key:
        return None
    return (
        Event.objects.select_related("end_user")
        .filter(workspace=workspace, idempotency_key=key)
        .first()
    )


def _repeat(previous: Event, event_name: str, user_id: str, data: Any) -> IntakeResult:
    if (
        previous.name != event_name
        or previous.end_user.external_id != user_id
        or previous.data != data
    ):
        raise EventRejected(
            "This idempotency key was used for a different event; send a new key "
            "for new data.",
            code="idempotency_key_reused",
            fields=[
                {"path": "$.idempotency_key", "message": "Used for another event."}
            ],
        )
    return IntakeResult(
        event=previous, runs=list(previous.runs.order_by("pk")), duplicate=True
    )
