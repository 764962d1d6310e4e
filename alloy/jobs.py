"""The job decorator and the one enqueue path, to RQ or to an in-process thread.

With ``REDIS_URL`` set, jobs go to the RQ queue and a worker
(``manage.py rqworker``) executes them. Without it, the embedded default, a
single daemon thread in the current process executes them in order, so the
demo needs no service.
"""

import functools
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import close_old_connections, connection, connections, transaction
from rq import Queue

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_JOB_TIMEOUT = 300
# Jobs record their outcome in the database (runs, steps, deliveries), so RQ
# deletes a finished job at once instead of keeping its hash and result for
# 500 seconds, which saves Redis writes and memory on every job. A failed job
# stays a week in the failed job registry for an operator to look at.
RESULT_TTL = 0
FAILURE_TTL = 7 * 24 * 3600

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_pending: set[Future] = set()
# In-process jobs of ``enqueue_in`` still waiting for their time, by job id.
_pending_timers: dict[str, threading.Timer] = {}
# The RQ queue of this process with the Redis URL it was built for. Building
# a queue per enqueue costs CPU and queries Redis for its version every time.
_queue: tuple[str, Any] | None = None
_queue_lock = threading.Lock()


def job(
    *, timeout: int = DEFAULT_JOB_TIMEOUT
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Mark a function as a job entry point and log its start, finish or failure.

    The wrapped function takes ids only, never model instances, because RQ
    pickles the arguments and the rows may change before a worker runs it.
    """

    def decorator(func: Callable[P, R]) -> Callable[P, R]:
        name = f"{func.__module__}.{func.__qualname__}"

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            rq_job_id = _current_rq_job_id()
            started = time.monotonic()
            logger.info(
                "alloy.job.started", extra={"job": name, "rq_job_id": rq_job_id}
            )
            try:
                result = func(*args, **kwargs)
            except Exception:
                logger.exception(
                    "alloy.job.failed",
                    extra={
                        "job": name,
                        "rq_job_id": rq_job_id,
                        "duration_ms": _elapsed_ms(started),
                    },
                )
                raise
            logger.info(
                "alloy.job.finished",
                extra={
                    "job": name,
                    "rq_job_id": rq_job_id,
                    "duration_ms": _elapsed_ms(started),
                },
            )
            return result

        wrapper.job_timeout = timeout  # type: ignore[attr-defined]
        return wrapper

    return decorator


def enqueue(func: Callable[..., Any], *args: Any, job_id: str | None = None) -> str:
    """Hand a job to RQ, or to the in-process thread when no Redis is configured.

    Call it from ``transaction.on_commit``, so a worker never reads an id whose
    row is not committed yet. Returns the job id.
    """
    job_id = job_id or uuid.uuid4().hex
    timeout = getattr(func, "job_timeout", DEFAULT_JOB_TIMEOUT)
    if settings.JOBS_IN_PROCESS:
        future = _get_executor().submit(_run_in_process, func, args)
        _pending.add(future)
        future.add_done_callback(_pending.discard)
        return job_id

    queue = _rq_queue()

    def submit() -> None:
        # On a pipeline of its own, RQ's writes for the job go to Redis in
        # one round trip instead of two. RQ's own enqueue_call is used, since
        # django-rq's would defer the job to a commit once more and then add
        # it to a pipeline already executed.
        with queue.connection.pipeline() as pipe:
            Queue.enqueue_call(
                queue,
                func,
                args=args,
                job_id=job_id,
                timeout=timeout,
                result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL,
                pipeline=pipe,
            )
            pipe.execute()

    # As django-rq does, an enqueue made inside a transaction waits for its
    # commit.
    if connection.in_atomic_block:
        transaction.on_commit(submit)
    else:
        submit()
    return job_id


def enqueue_in(
    delay_seconds: float,
    func: Callable[..., Any],
    *args: Any,
    job_id: str | None = None,
) -> str:
    """Schedule a job to start after a delay, without holding a worker meanwhile.

    Under RQ this needs a worker started with ``--with-scheduler``; in-process
    a timer thread hands the job over when it is due.
    """
    job_id = job_id or uuid.uuid4().hex
    timeout = getattr(func, "job_timeout", DEFAULT_JOB_TIMEOUT)
    if settings.JOBS_IN_PROCESS:

        def hand_over() -> None:
            enqueue(func, *args, job_id=job_id)
            _pending_timers.pop(job_id, None)

        timer = threading.Timer(delay_seconds, hand_over)
        timer.daemon = True
        _pending_timers[job_id] = timer
        timer.start()
        return job_id

    # RQ's scheduled job registry keeps whole seconds and drops the fraction,
    # which would start a job up to a second early; rounding the due time up
    # keeps every wait at least ``delay_seconds``.
    due = datetime.fromtimestamp(math.ceil(time.time() + delay_seconds), tz=UTC)
    queue = _rq_queue()
    queue.enqueue_at(
        due,
        func,
        *args,
        job_id=job_id,
        job_timeout=timeout,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
    )
    return job_id


def redis_connection() -> Any:
    """Return this process's Redis client for the RQ queue; only with ``REDIS_URL``."""
    return _rq_queue().connection


def in_process() -> bool:
    """Return whether jobs run in this process instead of RQ (no ``REDIS_URL``)."""
    return settings.JOBS_IN_PROCESS


def timer_pending(job_id: str) -> bool:
    """Return whether an in-process ``enqueue_in`` job still waits for its time."""
    return job_id in _pending_timers


def timer_cancel(job_id: str) -> bool:
    """Cancel an in-process ``enqueue_in`` job that has not started; False if none."""
    timer = _pending_timers.pop(job_id, None)
    if timer is None:
        return False
    timer.cancel()
    return True


def wait_for_in_process_jobs(timeout: float = 30.0) -> bool:
    """Block until the in-process thread has no job left; used by the demo."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pending and not _pending_timers:
            return True
        time.sleep(0.05)
    return not _pending and not _pending_timers


def _rq_queue() -> Any:
    """Return this process's RQ queue, built again only when its URL setting changes.

    RQ queues keep no per-job state and share a thread-safe connection pool,
    so every thread of the process can enqueue through one.
    """
    global _queue
    url = settings.RQ_QUEUES["default"]["URL"]
    current = _queue
    if current is not None and current[0] == url:
        return current[1]
    import django_rq

    with _queue_lock:
        if _queue is None or _queue[0] != url:
            _queue = (url, django_rq.get_queue("default"))
        return _queue[1]


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            logger.warning(
                "alloy.jobs.in_process",
                extra={"reason": "REDIS_URL is not set; jobs run in this process"},
            )
            _executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="alloy-job"
            )
        return _executor


def _run_in_process(func: Callable[..., Any], args: tuple) -> None:
    close_old_connections()
    try:
        func(*args)
    except Exception:  # noqa: S110
        # The job decorator has logged it with its ids; the thread must go on
        # to the next job, as an RQ worker would.
        pass
    finally:
        connections.close_all()


def _current_rq_job_id() -> str | None:
    try:
        from rq import get_current_job
    except ImportError:  # pragma: no cover - rq is a dependency
        return None
    current = get_current_job()
    return current.id if current else None


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
