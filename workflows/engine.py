"""The engine that executes a run: each block's mapping, action and step record.

A run executes the released version it was created with. Steps already
succeeded (from an earlier attempt) are not executed again: their recorded
output is put back into the context and the run resumes after them.
"""

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from alloy.jsonbody import first_unstorable, json_storable
from connectors import registry
from integrations.models import Connection
from workflows import mapping, selectors
from workflows.models import Run, RunStep
from workflows.selectors import StepPlan
from workflows.services.runs import TERMINAL, run_transition
from workflows.services.streams import stream_delivery_schedule

logger = logging.getLogger(__name__)


class StepFailed(Exception):
    """A step failed; ``error`` is its coded error and ``step_input`` what it got."""

    def __init__(self, error: dict[str, Any], step_input: Any = None) -> None:
        super().__init__(error["message"])
        self.error = error
        self.step_input = step_input


def run_execute(*, run_id: int) -> Run | None:
    """Execute a queued run to its end and record a step per block.

    Locks the run row while claiming it, so two workers given the same run
    cannot both execute it. Enqueues the stream delivery when the trigger has
    a stream URL. Returns None when the run is already finished or claimed.
    """
    run = _claim(run_id)
    if run is None:
        return None
    ids = {
        "run_id": run.pk,
        "workflow_id": run.workflow_id,
        "version_id": run.version_id,
    }
    logger.info("workflows.run.started", extra={**ids, "attempt": run.attempt})
    started = time.monotonic()

    plan = selectors.version_plan(run.version_id)
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
    if 0 not in done:
        _record_step(
            run,
            plan.trigger,
            _Outcome(RunStep.Status.SUCCEEDED, output=run.event.data),
            started_at=timezone.now(),
            started=time.monotonic(),
        )

    failure = None
    for step in plan.actions:
        previous = done.get(step.position)
        if previous is not None and previous.status == RunStep.Status.SUCCEEDED:
            context["steps"][step.key] = previous.output
            continue
        step_started_at, step_started = timezone.now(), time.monotonic()
        try:
            step_input, output = _execute_step(run, step, context)
        except StepFailed as failed:
            outcome = _Outcome(
                RunStep.Status.FAILED, step_input=failed.step_input, error=failed.error
            )
            failure = {"step": step.key, **failed.error}
        else:
            outcome = _Outcome(
                RunStep.Status.SUCCEEDED, step_input=step_input, output=output
            )
            context["steps"][step.key] = output
        _record_step(
            run,
            step,
            outcome,
            started_at=step_started_at,
            started=step_started,
            previous=previous,
        )
        if failure:
            break

    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        status = Run.Status.FAILED if failure else Run.Status.SUCCEEDED
        run_transition(run=locked, status=status, error=failure)
        if plan.trigger_config.get("stream_url"):
            stream_delivery_schedule(run_id=locked.pk, delivery_id=str(uuid.uuid4()))
    log = logger.warning if failure else logger.info
    log(
        "workflows.run.finished",
        extra={
            **ids,
            "status": status,
            "duration_ms": int((time.monotonic() - started) * 1000),
            "error_code": failure["code"] if failure else None,
        },
    )
    return locked


def _claim(run_id: int) -> Run | None:
    with transaction.atomic():
        run = (
            Run.objects.select_for_update(of=("self",))
            .select_related(
                "event", "end_user", "workspace", "installation__connection"
            )
            .filter(pk=run_id)
            .first()
        )
        if run is None:
            logger.warning("workflows.run.missing", extra={"run_id": run_id})
            return None
        if run.status in TERMINAL or run.status == Run.Status.RUNNING:
            logger.info(
                "workflows.run.skipped", extra={"run_id": run_id, "status": run.status}
            )
            return None
        return run_transition(run=run, status=Run.Status.RUNNING)


def _execute_step(run: Run, step: StepPlan, context: dict) -> tuple[dict, dict]:
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
    action_context = _action_context(run, step, action)
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

    Raises StepFailed naming every mapping that failed or input field the
    action's schema rejects. Calls nothing outside the process.
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
                {"path": _json_path(error.absolute_path), "message": error.message}
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
    run: Run, step: StepPlan, action: registry.Action
) -> registry.ActionContext:
    idempotency_key = f"alloy-run-{run.pk}-{step.key}"
    if not action.requires_connection:
        return registry.ActionContext(
            account_id="",
            credentials={"signing_secret": run.workspace.signing_secret},
            idempotency_key=idempotency_key,
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
    )


@dataclass(frozen=True)
class _Outcome:
    status: str
    step_input: Any = None
    output: Any = None
    error: dict | None = None


def _record_step(
    run: Run,
    step: StepPlan,
    outcome: _Outcome,
    *,
    started_at: datetime,
    started: float,
    previous: RunStep | None = None,
) -> RunStep:
    """Write the step record; a retried step updates its earlier record."""
    values = {
        "block_id": step.block_id,
        "key": step.key,
        "status": outcome.status,
        "input": json_storable(outcome.step_input),
        "output": json_storable(outcome.output),
        "error": json_storable(outcome.error),
        "started_at": started_at,
        "finished_at": timezone.now(),
        "duration_ms": int((time.monotonic() - started) * 1000),
    }
    if previous is not None:
        values["attempt"] = previous.attempt + 1
        RunStep.objects.filter(pk=previous.pk).update(
            **values, updated_at=timezone.now()
        )
        previous.refresh_from_db()
        return previous
    return RunStep.objects.create(run=run, position=step.position, **values)


def _json_path(parts) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
