"""The engine that executes a run: each block's mapping, action and step record.

A run executes the released version it was created with. Steps already
succeeded (from an earlier attempt) are not executed again: their recorded
output is put back into the context and the run resumes after them.
"""

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alloy.jsonbody import first_unstorable, json_storable
from connectors import registry
from integrations.models import Connection
from workflows import mapping, selectors
from workflows.lease import LeaseKeeper, lease_owner_name
from workflows.models import Run, RunStep
from workflows.selectors import StepPlan
from workflows.services.runs import (
    TERMINAL,
    run_finish,
    run_retry_schedule,
    run_transition,
)

logger = logging.getLogger(__name__)


class StepFailed(Exception):
    def __init__(self, error: dict[str, Any], step_input: Any = None) -> None:
        super().__init__(error["message"])
        self.error = error
        self.step_input = step_input


def run_execute(*, run_id: int) -> Run | None:
    """Execute a queued run until it finishes or a step waits for a retry.

    Locks the run row while claiming it and takes a lease that a thread
    renews, so two workers given the same run cannot both execute it and a
    dead worker's run is taken over by the reconciler. A step that fails with
    a retryable error and has attempts left puts the run back in the queue
    with a scheduled job. Enqueues the stream delivery when the run finishes
    and the trigger has a stream URL. Returns None when the run is already
    finished or claimed, or its lease was lost.
    """
    owner = lease_owner_name()
    claimed = _claim(run_id, owner)
    if claimed is None:
        return None
    run, plan = claimed
    ids = {
        "run_id": run.pk,
        "workflow_id": run.workflow_id,
        "version_id": run.version_id,
    }
    logger.info("workflows.run.started", extra={**ids, "attempt": run.attempt})
    started = time.monotonic()
    with LeaseKeeper(run.pk, owner) as lease:
        result = _execute_steps(run, plan, lease)

    if result.retry_delay is not None:
        with transaction.atomic():
            locked = Run.objects.select_for_update().get(pk=run.pk)
            if locked.status != Run.Status.RUNNING or locked.lease_owner != owner:
                logger.warning("workflows.run.abandoned", extra={**ids, "owner": owner})
                return None
            return run_retry_schedule(
                run=locked, delay_seconds=result.retry_delay, step=result.step_key
            )
    status = Run.Status.FAILED if result.failure else Run.Status.SUCCEEDED
    finished = run_finish(
        run=run,
        lease_owner=owner,
        status=status,
        error=result.failure,
        stream=bool(plan.trigger_config.get("stream_url")),
    )
    if not finished:
        logger.warning("workflows.run.abandoned", extra={**ids, "owner": owner})
        return None
    log = logger.warning if result.failure else logger.info
    log(
        "workflows.run.finished",
        extra={
            **ids,
            "status": status,
            "duration_ms": int((time.monotonic() - started) * 1000),
            "error_code": result.failure["code"] if result.failure else None,
        },
    )
    return run


@dataclass(frozen=True)
class _Result:
    failure: dict | None = None
    # Seconds until the next attempt of the failed step ``step_key``.
    retry_delay: float | None = None
    step_key: str = ""


def _execute_steps(run: Run, plan: selectors.VersionPlan, lease: LeaseKeeper):
    if run.attempt == 1:
        # A first attempt has no step records yet but the trigger's, which
        # the claim stored, so there is nothing to resume from.
        done: dict[int, RunStep] = {}
    else:
        done = {step.position: step for step in run.steps.all()}
    context = {
        "event": run.event.data,
        "steps": {},
        "user": {
            "id": run.end_user.external_id,
            "name": run.end_user.name,
            "email": run.end_user.email,
        },
    }
    if run.attempt > 1 and 0 not in done:
        record = _step_start(run, plan.trigger, None)
        _step_finish(
            record,
            _Outcome(RunStep.Status.SUCCEEDED, output=run.event.data),
            started=time.monotonic(),
        )

    for step in plan.actions:
        if lease.lost:
            return _Result()
        previous = done.get(step.position)
        if previous is not None and previous.status == RunStep.Status.SUCCEEDED:
            context["steps"][step.key] = previous.output
            continue
        outcome_unknown = previous is not None and (
            previous.status == RunStep.Status.STARTED
            or bool((previous.error or {}).get("retryable"))
        )
        record = _step_start(run, step, previous)
        step_started = time.monotonic()
        try:
            step_input, output = _execute_step(run, step, context, outcome_unknown)
        except StepFailed as failed:
            _step_finish(
                record,
                _Outcome(
                    RunStep.Status.FAILED,
                    step_input=failed.step_input,
                    error=failed.error,
                ),
                started=step_started,
            )
            return _failure_result(step, record, failed.error)
        _step_finish(
            record,
            _Outcome(RunStep.Status.SUCCEEDED, step_input=step_input, output=output),
            started=step_started,
        )
        context["steps"][step.key] = output
    return _Result()


def _failure_result(step: StepPlan, record: RunStep, error: dict) -> _Result:
    tries = record.attempt - record.first_attempt + 1
    if error.get("retryable") and tries < step.retry.max_attempts:
        delay = step.retry.delay(tries, error.get("retry_after"))
        return _Result(retry_delay=delay, step_key=step.key)
    failure = {"step": step.key, **error, "attempts": tries}
    return _Result(failure=failure)


def _claim(run_id: int, owner: str) -> tuple[Run, selectors.VersionPlan] | None:
    """Lock a queued run, mark it running under a lease, and load its plan.

    On the first attempt the trigger's step record is stored in the same
    transaction, since the trigger calls nothing and so needs no separate
    started mark.
    """
    with transaction.atomic():
        # No ordering: first() would sort by the model's default ordering,
        # which costs compile time on every claim and means nothing for a pk.
        found = list(
            Run.objects.select_for_update(of=("self",))
            .select_related(
                "event", "end_user", "workspace", "installation__connection"
            )
            .filter(pk=run_id)
            .order_by()
        )
        run = found[0] if found else None
        if run is None:
            logger.warning("workflows.run.missing", extra={"run_id": run_id})
            return None
        if run.status in TERMINAL or run.status == Run.Status.RUNNING:
            logger.info(
                "workflows.run.skipped", extra={"run_id": run_id, "status": run.status}
            )
            return None
        run_transition(run=run, status=Run.Status.RUNNING, lease_owner=owner)
        plan = selectors.version_plan(run.version_id)
        if run.attempt == 1:
            _trigger_record(run, plan.trigger)
        return run, plan


def _trigger_record(run: Run, trigger: StepPlan) -> RunStep:
    """Store the trigger's step, already succeeded, with the event data as output."""
    now = timezone.now()
    output, truncated = stored_output(json_storable(run.event.data))
    return RunStep.objects.create(
        run=run,
        position=trigger.position,
        block_id=trigger.block_id,
        key=trigger.key,
        status=RunStep.Status.SUCCEEDED,
        output=output,
        output_truncated=truncated,
        started_at=now,
        finished_at=now,
        duration_ms=0,
    )


def _execute_step(
    run: Run, step: StepPlan, context: dict, outcome_unknown: bool
) -> tuple[dict, dict]:
    action = registry.action_get(step.connector, step.operation)
    if action is None:
        raise StepFailed(
            {
                "code": "unknown_action",
                "message": f"The action {step.connector}.{step.operation} is not "
                "installed on this server.",
                "fields": [],
            }
        )
    step_input = step_input_build(step, context)
    action_context = _action_context(run, step, action, outcome_unknown)
    try:
        output = action.execute(action_context, step_input)
    except registry.ActionError as exc:
        raise StepFailed(exc.as_dict(), step_input) from exc
    except Exception as exc:
        logger.exception(
            "workflows.step.crashed",
            extra={"run_id": run.pk, "step": step.key, "connector": step.connector},
        )
        raise StepFailed(
            {
                "code": "action_crashed",
                "message": f"The {step.connector}.{step.operation} action failed "
                f"unexpectedly: {type(exc).__name__}.",
                "fields": [],
            },
            step_input,
        ) from exc
    return step_input, output


def step_input_build(step: StepPlan, context: dict) -> dict:
    """Evaluate a step's mappings on the run context and check the input's schema.

    Raises StepFailed naming every mapping that failed, every input field the
    action's schema rejects, or a value the database could not store. Calls
    nothing outside the process.
    """
    step_input, failures = mapping.evaluate(
        list(step.mappings), context, required=step.required
    )
    if failures:
        raise StepFailed(
            {
                "code": "mapping_failed",
                "message": "; ".join(f"{f.target}: {f.message}" for f in failures),
                "fields": [f.as_field() for f in failures],
            },
            step_input,
        )
    if step.input_validator is not None:
        errors = sorted(
            step.input_validator.iter_errors(step_input),
            key=lambda e: list(e.absolute_path),
        )
        if errors:
            fields = [
                {"path": json_path(error.absolute_path), "message": error.message}
                for error in errors
            ]
            raise StepFailed(
                {
                    "code": "invalid_step_input",
                    "message": "; ".join(
                        f"{f['path']}: {f['message']}" for f in fields
                    ),
                    "fields": fields,
                },
                step_input,
            )
    unstorable = first_unstorable(step_input)
    if unstorable is not None:
        # Checked before the call, so that no side effect happens for a step
        # whose record the database would reject.
        path, message = unstorable
        raise StepFailed(
            {
                "code": "invalid_step_input",
                "message": f"{path}: {message}",
                "fields": [{"path": path, "message": message}],
            },
            json_storable(step_input),
        )
    return step_input


def _action_context(
    run: Run, step: StepPlan, action: registry.Action, outcome_unknown: bool
) -> registry.ActionContext:
    idempotency_key = f"alloy-run-{run.pk}-{step.key}"
    if not action.requires_connection:
        return registry.ActionContext(
            account_id="",
            credentials={"signing_secret": run.workspace.signing_secret},
            idempotency_key=idempotency_key,
            outcome_unknown=outcome_unknown,
        )
    connection = None
    if run.installation and run.installation.connection.app == step.connector:
        connection = run.installation.connection
    if connection is None:
        connection = (
            Connection.objects.filter(end_user_id=run.end_user_id, app=step.connector)
            .order_by("-created_at")
            .first()
        )
    if connection is None or connection.status != Connection.Status.ACTIVE:
        raise StepFailed(
            {
                "code": "connection_missing",
                "message": f"End user {run.end_user.external_id!r} has no active "
                f"{step.connector} connection; connect the account and replay the run.",
                "fields": [],
            }
        )
    return registry.ActionContext(
        account_id=connection.account_id,
        credentials=connection.credential_data,
        idempotency_key=idempotency_key,
        outcome_unknown=outcome_unknown,
    )


@dataclass(frozen=True)
class _Outcome:
    status: str
    step_input: Any = None
    output: Any = None
    error: dict | None = None


def _step_start(run: Run, step: StepPlan, previous: RunStep | None) -> RunStep:
    """Mark a step started before its action runs, so a crash leaves a trace."""
    now = timezone.now()
    if previous is None:
        return RunStep.objects.create(
            run=run,
            position=step.position,
            block_id=step.block_id,
            key=step.key,
            status=RunStep.Status.STARTED,
            started_at=now,
        )
    previous.attempt += 1
    previous.status = RunStep.Status.STARTED
    previous.started_at = now
    previous.finished_at = None
    previous.save(
        update_fields=["attempt", "status", "started_at", "finished_at", "updated_at"]
    )
    return previous


def _step_finish(record: RunStep, outcome: _Outcome, *, started: float) -> RunStep:
    """Store a step's outcome; an output over STEP_OUTPUT_MAX_BYTES is truncated."""
    record.output, record.output_truncated = stored_output(
        json_storable(outcome.output)
    )
    record.status = outcome.status
    record.input = json_storable(outcome.step_input)
    record.error = json_storable(outcome.error)
    record.finished_at = timezone.now()
    record.duration_ms = int((time.monotonic() - started) * 1000)
    record.save(
        update_fields=[
            "output",
            "output_truncated",
            "status",
            "input",
            "error",
            "finished_at",
            "duration_ms",
            "updated_at",
        ]
    )
    return record


def stored_output(output: Any) -> tuple[Any, bool]:
    """Return the output to store and whether it was truncated.

    An output whose JSON is larger than STEP_OUTPUT_MAX_BYTES is replaced by
    a marker object with its size and the start of its JSON text.
    """
    if output is None:
        return None, False
    text = json.dumps(output, separators=(",", ":"), default=str)
    size = len(text.encode())
    limit = settings.STEP_OUTPUT_MAX_BYTES
    if size <= limit:
        return output, False
    preview = text.encode()[: limit // 2].decode("utf-8", "ignore")
    return {"truncated": True, "size_bytes": size, "preview": preview}, True


def json_path(parts) -> str:
    """Return a JSON path such as ``$.line_items[0].price`` for a jsonschema path."""
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
