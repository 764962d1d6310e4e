"""The worker class: its scheduler and reconciler threads against real Redis."""

from datetime import timedelta

import django_rq
import pytest
from rq.scheduler import RQScheduler

from tests.conftest import SHOP_DOMAIN
from tests.workflows.test_delivery import installed, order_run  # noqa: F401
from workflows.jobs import runs_reconcile_job
from workflows.models import Run
from workflows.worker import Worker

pytestmark = pytest.mark.django_db(transaction=True)

# Seconds without a job after which the test's worker stops by itself.
IDLE_SECONDS = 3


class QuietWorker(Worker):
    """The worker class without the command channel's pub/sub thread, which
    redis-py 8 joins without a timeout on stop (see tests/conftest.py)."""

    def subscribe(self) -> None:
        return

    def unsubscribe(self) -> None:
        return


def work_until_idle() -> QuietWorker:
    """Run a worker with ``--with-scheduler`` in this thread until it idles."""
    queue = django_rq.get_queue("default")
    worker = QuietWorker([queue], connection=queue.connection)
    worker.work(with_scheduler=True, max_idle_time=IDLE_SECONDS)
    return worker


def scheduler_lock_held() -> bool:
    connection = django_rq.get_connection("default")
    return bool(connection.exists(RQScheduler.get_locking_key("default")))


def test_scheduler_thread_moves_due_job():
    queue = django_rq.get_queue("default")
    job = queue.enqueue_in(timedelta(seconds=1), runs_reconcile_job)

    work_until_idle()

    assert job.get_status(refresh=True) == "finished"
    assert queue.scheduled_job_registry.count == 0


def test_worker_stops_its_threads():
    worker = work_until_idle()

    assert not worker.scheduler._process.is_alive()
    assert not worker.reconciler.is_alive()
    assert not scheduler_lock_held()


def test_reconciler_thread_enqueues_lost_run(
    order_run,  # noqa: F811
    sandbox,
    redis_flushed,
    settings,
):
    settings.RUN_ENQUEUE_GRACE_SECONDS = 0.01
    settings.RUNS_RECONCILE_INTERVAL = 0.2
    run_id = order_run().pk
    # The run's job is lost with Redis's data; only the reconciler finds it.
    redis_flushed.flushdb()

    work_until_idle()

    run = Run.objects.get(pk=run_id)
    assert run.status == Run.Status.SUCCEEDED
    assert len(sandbox.shop(SHOP_DOMAIN).orders) == 1


def test_reconciler_idle_without_scheduler_lock(settings):
    settings.RUNS_RECONCILE_INTERVAL = 0.2
    queue = django_rq.get_queue("default")
    # Another worker's scheduler holds the lock for the queue.
    other = RQScheduler([queue], connection=queue.connection)
    other.acquire_locks()
    try:
        worker = work_until_idle()
    finally:
        other.release_locks()

    assert worker.scheduler.acquired_locks == set()
    assert worker.reconciler.passes == 0
