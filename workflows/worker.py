"""The RQ worker class: a SimpleWorker whose scheduler and reconciler run in threads.

RQ's ``--with-scheduler`` forks a scheduler process from the worker, a copy of
the whole application that only polls Redis once a second. Here the
scheduler polls from a thread of the worker instead, and a second thread runs
the reconciler (``workflows.services.reconcile``) every
``RUNS_RECONCILE_INTERVAL`` seconds while this worker holds the scheduler's
lock, so a deployment needs no reconciler process of its own.
"""

import logging
import threading

from django.conf import settings
from django.db import close_old_connections, connections
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.scheduler import RQScheduler
from rq.worker import SimpleWorker

logger = logging.getLogger(__name__)

# Seconds to wait for a thread to finish when the worker stops. Both threads
# are daemons, so one still busy (a slow reconcile pass) does not hold the
# process past that.
THREAD_JOIN_TIMEOUT = 5.0


class ThreadScheduler(RQScheduler):
    """RQ's scheduler, polling from a thread of the worker instead of a fork.

    RQ reads ``_process`` for ``is_alive()`` to restart a scheduler that
    stopped, which a thread provides as a process does.
    """

    def start(self) -> threading.Thread:
        self._status = self.Status.STARTED
        self._stop_requested = False
        self._process = threading.Thread(
            target=self._work_logged, name="rq-scheduler", daemon=True
        )
        self._process.start()
        return self._process

    def _install_signal_handlers(self) -> None:
        # Only the main thread may install signal handlers. The worker's own
        # handlers stop this thread through Worker.stop_scheduler().
        return

    def _work_logged(self) -> None:
        logger.info(
            "workflows.scheduler.started",
            extra={"queues": ",".join(sorted(self._queue_names))},
        )
        try:
            self.work()
        except Exception:
            # The worker's maintenance step starts the scheduler again.
            logger.exception("workflows.scheduler.failed")
            return
        logger.info("workflows.scheduler.stopped")

    def stop_thread(self, timeout: float) -> None:
        self.request_stop()
        thread = self._process
        if isinstance(thread, threading.Thread) and thread.is_alive():
            thread.join(timeout)


class ReconcilerThread(threading.Thread):
    """Run the reconciler every ``interval`` seconds while ``active()`` is true."""

    def __init__(self, *, interval: float, active) -> None:
        super().__init__(name="alloy-reconciler", daemon=True)
        self.interval = interval
        self.active = active
        self.stopping = threading.Event()
        # Reconciler passes run so far, failed ones included.
        self.passes = 0

    def run(self) -> None:
        from workflows.services.reconcile import runs_reconcile

        logger.info("workflows.reconciler.started", extra={"interval": self.interval})
        try:
            while not self.stopping.wait(self.interval):
                if not self.active():
                    continue
                # A connection idle since the last pass may have been closed
                # by the server or passed DATABASE_CONN_MAX_AGE.
                close_old_connections()
                self.passes += 1
                try:
                    runs_reconcile()
                except Exception:
                    # The next pass tries again, as a restarted
                    # `manage.py runs_reconcile --every` would.
                    logger.exception("workflows.reconciler.failed")
        finally:
            connections.close_all()
        logger.info("workflows.reconciler.stopped")

    def stop(self, timeout: float) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout)


class Worker(SimpleWorker):
    """A SimpleWorker whose ``--with-scheduler`` runs the scheduler and the
    reconciler in threads of this process.

    In burst mode the scheduler moves due jobs once, as RQ's does, and no
    reconciler starts.
    """

    reconciler: ReconcilerThread | None = None

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        self.scheduler = ThreadScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level or self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if burst:
            if self.scheduler.acquired_locks:
                try:
                    self.scheduler.register_birth()
                    self.scheduler.enqueue_scheduled_jobs()
                finally:
                    self.scheduler.release_locks()
                    self.scheduler.register_death()
            return
        if self.scheduler.acquired_locks:
            self.scheduler.start()
        scheduler = self.scheduler
        self.reconciler = ReconcilerThread(
            interval=settings.RUNS_RECONCILE_INTERVAL,
            # One reconciler per deployment is enough: the one beside the
            # scheduler that holds the lock. Another worker's takes over with
            # the lock when this worker stops.
            active=lambda: bool(scheduler.acquired_locks),
        )
        self.reconciler.start()

    def stop_scheduler(self) -> None:
        # RQ calls this on a warm shutdown and again at teardown.
        if isinstance(self.scheduler, ThreadScheduler):
            self.scheduler.stop_thread(THREAD_JOIN_TIMEOUT)
        if self.reconciler is not None:
            self.reconciler.stop(THREAD_JOIN_TIMEOUT)
