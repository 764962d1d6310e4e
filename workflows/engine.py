"""The engine that executes a run: each block's mapping, action and step record.

A run executes the released version it was created with. Steps already
succeeded (from an earlier attempt) are not executed again: their recorded
output is put back into the context and the run resumes after them.
"""

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from jmespath.exceptions import JMESPathError

from alloy.jsonbody import first_unstorable, json_storable, json_type_phrase
from alloy.rows import row_insert, row_update
from connectors import registry
from integrations.models import Connection
from workflows import blocks, mapping, selectors
from workflows.lease import LeaseKeeper, lease_owner_name
from workflows.models import Run, RunStep
from workflows.selectors import StepPlan
from workflows.services import streams
from workflows.services.runs import (
    run_delay_schedule,
    run_finish,
    run_retry_schedule,
    runs_claim,
)

logger = logging.getLogger(__name__)


class StepFailed(Exception):
    def __init__(self, error: dict[str, Any], step_input: Any = None) -> None:
        super().__init__(error["message"])
        self.error = error
        self.step_input = step_input


def run_execute(*, run_id: int) -> Run | None:
    """Execute one queued run; see runs_execute. Returns None if it did not run."""
    return runs_execute(run_ids=[run_id]).get(run_id)


def runs_execute(*, run_ids: list[int]) -> dict[int, Run | None]:
    """Execute a batch of queued runs, one after another, each until it stops.

    One UPDATE claims every run that is ready and takes a lease on it, which
    a thread renews, so two workers given the same run cannot both execute
    it and a dead worker's runs are taken over by the reconciler. A run stops
    when it finishes, or when a step fails with a retryable error and has
    attempts left, which puts it back in the queue with a scheduled job.
    Makes the first stream delivery attempt when a run finishes and its
    trigger has a stream URL. A run that raises is logged and left running under its
    lease for the reconciler; the rest of the batch goes on.

    Returns each claimed run by id, or None for one whose lease was lost;
    runs already finished or claimed elsewhere are left out.
    """
    owner = lease_owner_name()
    claimed = _claim(run_ids, owner)
    results: dict[int, Run | None] = {}
    if not claimed:
        return results
    with LeaseKeeper([run.pk for run, _ in claimed], owner) as lease:
        for run, plan in claimed:
            try:
                results[run.pk] = _run_continue(run, plan, owner, lease)
            except Exception:
                logger.exception("workflows.run.crashed", extra={"run_id": run.pk})
            finally:
                lease.release(run.pk)
    return results


def _run_continue(
    run: Run, plan: selectors.VersionPlan, owner: str, lease: LeaseKeeper
) -> Run | None:
    """Walk a claimed run's blocks, then finish it or schedule its next attempt."""
    ids = {
        "run_id": run.pk,
        "workflow_id": run.workflow_id,
        "version_id": run.version_id,
    }
    # The finished line names the run again, so this one only serves tracing.
    logger.debug("workflows.run.started", extra={**ids, "attempt": run.attempt})
    started = time.monotonic()
    result = _execute_steps(run, plan, lease)

    if result.retry_delay is not None or result.delay is not None:
        with transaction.atomic():
            locked = Run.objects.select_for_update().get(pk=run.pk)
            if locked.status != Run.Status.RUNNING or locked.lease_owner != owner:
                logger.warning("workflows.run.abandoned", extra={**ids, "owner": owner})
                return None
            if result.delay is not None:
                return run_delay_schedule(
                    run=locked, delay_seconds=result.delay, step=result.step_key
                )
            return run_retry_schedule(
                run=locked, delay_seconds=result.retry_delay, step=result.step_key
            )
    status = Run.Status.SUCCEEDED
    if result.failure:
        status = Run.Status.FAILED
    elif result.filtered:
        status = Run.Status.FILTERED
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
    if run.stream_delivery_id is not None:
        _stream_first_attempt(run)
    return run


def _stream_first_attempt(run: Run) -> None:
    """Make the first stream delivery attempt here, without a job of its own.

    A failed attempt schedules the next as a job. If this worker dies first,
    the reconciler finds the delivery without an attempt and enqueues it.
    """
    try:
        streams.stream_delivery_send(
            run_id=run.pk, delivery_id=str(run.stream_delivery_id), attempt=1
        )
    except Exception:
        logger.exception("workflows.stream.crashed", extra={"run_id": run.pk})


@dataclass(frozen=True)
class _Result:
    failure: dict | None = None
    # Seconds until the next attempt of the failed step ``step_key``.
    retry_delay: float | None = None
    step_key: str = ""
    # A Filter block's condition was false: the run stops, marked filtered.
    filtered: bool = False
    # Seconds a Delay block ``step_key`` waits before the run goes on.
    delay: float | None = None


@dataclass
class _Walk:
    """State of one walk over a version's blocks: the step records and the context."""

    run: Run
    lease: LeaseKeeper
    # Earlier attempts' steps by ``(position, item_index)``.
    done: dict[tuple[int, int | None], RunStep]
    context: dict[str, Any]


def _execute_steps(run: Run, plan: selectors.VersionPlan, lease: LeaseKeeper):
    if run.attempt == 1:
        # A first attempt has no step records yet but the trigger's, which
        # the claim stored, so there is nothing to resume from.
        done: dict[tuple[int, int | None], RunStep] = {}
    else:
        done = {(step.position, step.item_index): step for step in run.steps.all()}
    context = {
        "event": run.event.data,
        "steps": {},
        "user": {
            "id": run.end_user.external_id,
            "name": run.end_user.name,
            "email": run.end_user.email,
        },
    }
    if run.attempt > 1 and (0, None) not in done:
        record = _step_start(run, plan.trigger, None, None)
        _step_finish(
            record,
            _Outcome(RunStep.Status.SUCCEEDED, output=run.event.data),
            started=time.monotonic(),
        )
    walk = _Walk(run=run, lease=lease, done=done, context=context)
    return _walk_list(walk, plan.actions, None) or _Result()


def _walk_list(
    walk: _Walk, steps: Sequence[StepPlan], item_index: int | None
) -> _Result | None:
    """Execute a list of blocks in order; a result means the run stops or pauses."""
    for step in steps:
        if walk.lease.lost(walk.run.pk):
            return _Result()
        result = _walk_step(walk, step, item_index)
        if result is not None:
            return result
    return None


def _walk_step(walk: _Walk, step: StepPlan, item_index: int | None) -> _Result | None:
    previous = walk.done.get((step.position, item_index))
    if previous is not None and previous.status == RunStep.Status.SUCCEEDED:
        walk.context["steps"][step.key] = previous.output
        return _continue(walk, step, previous.output, item_index, resumed=True)
    outcome_unknown = previous is not None and (
        previous.status == RunStep.Status.STARTED
        or bool((previous.error or {}).get("retryable"))
    )
    record = _step_start(walk.run, step, previous, item_index)
    step_started = time.monotonic()
    try:
        step_input, output = _execute_block(walk, step, outcome_unknown, item_index)
    except StepFailed as failed:
        _step_finish(
            record,
            _Outcome(
                RunStep.Status.FAILED,
                step_input=_recorded_input(step, failed.step_input),
                error=failed.error,
            ),
            started=step_started,
        )
        return _failure_result(step, record, failed.error, item_index)
    _step_finish(
        record,
        _Outcome(
            RunStep.Status.SUCCEEDED,
            step_input=_recorded_input(step, step_input),
            output=output,
        ),
        started=step_started,
    )
    walk.context["steps"][step.key] = output
    return _continue(walk, step, output, item_index, resumed=False)


def _continue(
    walk: _Walk, step: StepPlan, output: Any, item_index: int | None, *, resumed: bool
) -> _Result | None:
    """Act on a finished logic block: stop, pause, or walk its lists."""
    kind = step.block_type
    if kind == blocks.FILTER and not output.get("passed"):
        return _Result(filtered=True, step_key=step.key)
    if kind == blocks.DELAY:
        # Measured from the recorded end, so a run taken over from a worker
        # that died before it could wait still waits out the rest.
        remaining = datetime.fromisoformat(output["resume_at"]) - timezone.now()
        if not resumed or remaining.total_seconds() > 0:
            delay = max(remaining.total_seconds(), 0.0)
            return _Result(delay=delay, step_key=step.key)
    if kind == blocks.BRANCH:
        return _walk_list(walk, step.lists.get(output["branch"], []), item_index)
    if kind == blocks.FOR_EACH:
        return _walk_items(walk, step)
    return None


def _walk_items(walk: _Walk, step: StepPlan) -> _Result | None:
    """Walk a For each's body once per item, each iteration's steps apart.

    The items are evaluated again on a resumed run, on the same restored
    context, so a retry goes on at the failed item and skips done ones.
    """
    try:
        items = blocks.items_evaluate(
            step.config["items"], walk.context, _item_limit(step)
        )
    except blocks.BlockError as exc:
        failure = {"step": step.key, **exc.as_dict(), "attempts": 1}
        return _Result(failure=failure)
    outer = {name: walk.context.get(name) for name in ("item", "index")}
    try:
        for index, item in enumerate(items):
            walk.context["item"], walk.context["index"] = item, index
            result = _walk_list(walk, step.lists.get("body", []), index)
            if result is not None:
                return result
    finally:
        for name, value in outer.items():
            if value is None:
                walk.context.pop(name, None)
            else:
                walk.context[name] = value
    return None


def _item_limit(step: StepPlan) -> int:
    return min(
        int(step.config.get("limit", settings.FOR_EACH_MAX_ITEMS)),
        settings.FOR_EACH_MAX_ITEMS,
    )


def _execute_block(
    walk: _Walk, step: StepPlan, outcome_unknown: bool, item_index: int | None
) -> tuple[Any, Any]:
    """Evaluate a logic or utility block's config, or call an action."""
    kind = step.block_type
    if kind not in blocks.ENGINE_BLOCKS:
        return _execute_step(walk.run, step, walk.context, outcome_unknown, item_index)
    config = step.config
    try:
        if kind in (blocks.FILTER, blocks.BRANCH):
            passed = blocks.condition_evaluate(config["condition"], walk.context)
            if kind == blocks.FILTER:
                return config, {"passed": passed}
            return config, {"condition": passed, "branch": "then" if passed else "else"}
        if kind == blocks.FOR_EACH:
            items = blocks.items_evaluate(
                config["items"], walk.context, _item_limit(step)
            )
            return config, {"count": len(items)}
    except blocks.BlockError as exc:
        raise StepFailed(exc.as_dict(), config) from exc
    seconds = float(config["seconds"])
    resume_at = timezone.now() + timedelta(seconds=seconds)
    return config, {"seconds": seconds, "resume_at": resume_at.isoformat()}


def _recorded_input(step: StepPlan, step_input: Any) -> Any:
    if step.redact_input is not None and isinstance(step_input, dict):
        return step.redact_input(step_input)
    return step_input


def _failure_result(
    step: StepPlan, record: RunStep, error: dict, item_index: int | None
) -> _Result:
    tries = record.attempt - record.first_attempt + 1
    if error.get("retryable") and tries < step.retry.max_attempts:
        delay = step.retry.delay(tries, error.get("retry_after"))
        return _Result(retry_delay=delay, step_key=step.key)
    failure = {"step": step.key, **error, "attempts": tries}
    if item_index is not None:
        failure["item_index"] = item_index
    return _Result(failure=failure)


def _claim(run_ids: list[int], owner: str) -> list[tuple[Run, selectors.VersionPlan]]:
    """Claim the ready runs among ``run_ids`` and load each with its plan.

    The trigger's step records of first attempts are stored in one INSERT
    after the claim: the trigger calls nothing, so it needs no separate
    started mark, and a worker that dies in between leaves a run whose next
    attempt records the trigger itself.
    """
    claimed = [
        (run, selectors.version_plan(run.version_id))
        for run in runs_claim(run_ids=run_ids, lease_owner=owner)
    ]
    firsts = [
        _trigger_record(run, plan.trigger) for run, plan in claimed if run.attempt == 1
    ]
    if len(firsts) == 1:
        # bulk_create wraps even one row in BEGIN and COMMIT.
        row_insert(firsts[0])
    elif firsts:
        RunStep.objects.bulk_create(firsts)
    return claimed


def _trigger_record(run: Run, trigger: StepPlan) -> RunStep:
    """The trigger's step, already succeeded, with the event data as output."""
    now = timezone.now()
    output, truncated = stored_output(json_storable(run.event.data))
    return RunStep(
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
    run: Run,
    step: StepPlan,
    context: dict,
    outcome_unknown: bool,
    item_index: int | None = None,
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
    action_context = _action_context(run, step, action, outcome_unknown, item_index)
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

    With ``rows_from`` in the block's config (a JMESPath expression that
    yields an array), the mappings are evaluated once per item, with the item
    as ``item`` in the context, and the input is ``{"rows": [input, ...]}``.
    Raises StepFailed naming every mapping that failed, every input field the
    action's schema rejects, or a value the database could not store. Calls
    nothing outside the process.
    """
    rows_from = step.config.get("rows_from")
    if rows_from:
        items = _rows_from_items(rows_from, context)
        rows = [
            _input_build(step, {**context, "item": item}, prefix=f"rows[{index}].")
            for index, item in enumerate(items)
        ]
        return {"rows": rows}
    return _input_build(step, context)


def _rows_from_items(expression: str, context: dict) -> list:
    try:
        items = mapping.expression_search(
            mapping.compile_expression(expression), context
        )
    except (
        mapping.ExpressionSyntaxError,
        JMESPathError,
        ValueError,
        TypeError,
        RecursionError,
    ) as exc:
        items = exc
    if isinstance(items, list):
        return items
    reason = (
        f"cannot be evaluated: {items}"
        if isinstance(items, Exception)
        else f"gave {json_type_phrase(items)}, not an array"
    )
    message = f"rows_from {expression!r} {reason}; map it to an array of items."
    raise StepFailed(
        {
            "code": "rows_from_not_array",
            "message": message,
            "fields": [{"path": "$.config.rows_from", "message": message}],
        }
    )


def _input_build(step: StepPlan, context: dict, prefix: str = "") -> dict:
    step_input, failures = mapping.evaluate(
        list(step.mappings), context, required=step.required
    )
    if failures:
        raise StepFailed(
            {
                "code": "mapping_failed",
                "message": "; ".join(
                    f"{prefix}{f.target}: {f.message}" for f in failures
                ),
                "fields": [_prefixed(f.as_field(), prefix) for f in failures],
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
                _prefixed(
                    {
                        "path": json_path(error.absolute_path),
                        "message": schema_error_message(error),
                    },
                    prefix,
                )
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
        field = _prefixed({"path": path, "message": message}, prefix)
        raise StepFailed(
            {
                "code": "invalid_step_input",
                "message": f"{field['path']}: {message}",
                "fields": [field],
            },
            json_storable(step_input),
        )
    return step_input


def _prefixed(field: dict[str, str], prefix: str) -> dict[str, str]:
    """Put a per-item input's field under its row, as ``$.rows[2].values.sku``."""
    if not prefix:
        return field
    return {**field, "path": "$." + prefix + field["path"].removeprefix("$.")}


def _action_context(
    run: Run,
    step: StepPlan,
    action: registry.Action,
    outcome_unknown: bool,
    item_index: int | None = None,
) -> registry.ActionContext:
    idempotency_key = f"alloy-run-{run.pk}-{step.key}"
    if item_index is not None:
        idempotency_key += f"-{item_index}"
    if not action.requires_connection:
        return registry.ActionContext(
            account_id="",
            credentials={"signing_secret": run.workspace.signing_secret},
            idempotency_key=idempotency_key,
            outcome_unknown=outcome_unknown,
            config=step.config,
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
    if connection is None:
        # The author's connection for the whole workspace, such as its
        # warehouse, serves end users who have none of their own.
        connection = Connection.objects.filter(
            workspace_id=run.workspace_id, end_user__isnull=True, app=step.connector
        ).first()
    if connection is None or connection.status != Connection.Status.ACTIVE:
        raise StepFailed(
            {
                "code": "connection_missing",
                "message": f"End user {run.end_user.external_id!r} has no active "
                f"{step.connector} connection, and the workspace has none; connect "
                "the account and replay the run.",
                "fields": [],
            }
        )
    return registry.ActionContext(
        account_id=connection.account_id,
        credentials=connection.credential_data,
        idempotency_key=idempotency_key,
        outcome_unknown=outcome_unknown,
        config=step.config,
    )


@dataclass(frozen=True)
class _Outcome:
    status: str
    step_input: Any = None
    output: Any = None
    error: dict | None = None


def _step_start(
    run: Run, step: StepPlan, previous: RunStep | None, item_index: int | None
) -> RunStep:
    """Mark a step started before its action runs, so a crash leaves a trace."""
    now = timezone.now()
    if previous is None:
        return row_insert(
            RunStep(
                run=run,
                position=step.position,
                item_index=item_index,
                block_id=step.block_id,
                key=step.key,
                status=RunStep.Status.STARTED,
                started_at=now,
            )
        )
    previous.attempt += 1
    previous.status = RunStep.Status.STARTED
    previous.started_at = now
    previous.finished_at = None
    row_update(
        previous, ["attempt", "status", "started_at", "finished_at", "updated_at"]
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
    row_update(
        record,
        [
            "output",
            "output_truncated",
            "status",
            "input",
            "error",
            "finished_at",
            "duration_ms",
            "updated_at",
        ],
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


def schema_error_message(error) -> str:
    """Return a jsonschema error's message with its value written as JSON.

    jsonschema 4 starts most messages with the Python repr of the value, such
    as ``None is not of type 'string'``; the author wrote ``null``.
    """
    message = error.message
    shown = repr(error.instance)
    if not message.startswith(shown):
        return message
    try:
        as_json = json.dumps(error.instance, ensure_ascii=False)
    except (TypeError, ValueError):
        return message
    return as_json + message[len(shown) :]
