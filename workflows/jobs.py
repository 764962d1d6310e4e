"""RQ entry points; each takes ids and calls one service."""

from alloy.jobs import job
from workflows import engine
from workflows.services import (
    dispatch,
    notifications,
    reconcile,
    schedules,
    streams,
)


@job(timeout=600)
def run_execute_job(run_id: int) -> None:
    engine.run_execute(run_id=run_id)


# Well above RUN_DRAIN_SECONDS, after which a drain job hands over: the run
# in progress then may still take up to RQ_DEFAULT_TIMEOUT.
@job(timeout=1800)
def runs_drain_job(slot: int, token: str) -> None:
    dispatch.runs_drain(slot=slot, token=token)


@job(timeout=120)
def stream_delivery_send_job(run_id: int, delivery_id: str, attempt: int) -> None:
    streams.stream_delivery_send(
        run_id=run_id, delivery_id=delivery_id, attempt=attempt
    )


@job(timeout=120)
def run_failure_notify_job(run_id: int, delivery_id: str, attempt: int) -> None:
    notifications.run_failure_notify(
        run_id=run_id, delivery_id=delivery_id, attempt=attempt
    )


@job(timeout=300)
def runs_reconcile_job() -> None:
    reconcile.runs_reconcile()


@job(timeout=300)
def schedule_fire_job(firing_id: int) -> None:
    schedules.schedule_fire(firing_id=firing_id)
