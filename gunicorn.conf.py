"""Gunicorn settings for the web process: ``gunicorn alloy.wsgi:application``.

Gunicorn reads this file from the current directory, so run it beside
manage.py. Each value can be changed through the environment variable named
beside it. The defaults suit a small machine that also runs the RQ workers,
PostgreSQL and Redis: intake requests mostly wait on the database and Redis,
so a few threads per process keep a core busy without the memory of more
processes.
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise SystemExit(
            f"The environment variable {name}={raw!r} is invalid: set it to a "
            "whole number of zero or more."
        )
    return value


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# One process per two cores. The RQ workers run one per core on the same
# machine, and intake takes about half the CPU time of an event (12 of 25 ms
# in docs/benchmarks.md), so half the cores serve the web. Each process loads
# the whole application, about 100 MB resident at its peak. In one run of
# `manage.py bench --workers 2` on a 2-core machine, web and workers peaked
# at 305 MB with one web process and at 405 MB with two.
workers = _int("GUNICORN_WORKERS", max(1, multiprocessing.cpu_count() // 2))
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)
# glibc's malloc may give threads arenas of their own, up to 8 per core.
# MALLOC_ARENA_MAX=2 measured 1 MB less peak RSS per process in that run,
# within the noise, so it is not set here.
# Each process imports the application itself. Preloading it in the master
# measured more memory, not less, since CPython's reference counting writes to
# the shared pages and so copies them. In one run of `manage.py bench
# --web-workers 2` on a 2-core machine, master and processes took 269 MB
# peak RSS and 177 MB PSS preloaded, against 224 MB and 166 MB without.
# gc.freeze() before the fork keeps the collector off those pages, but it
# only applies to a preloaded application.
preload_app = False
# Restart a process after this many requests, at staggered times, so that a
# slow leak cannot grow without bound. Zero turns restarts off.
max_requests = _int("GUNICORN_MAX_REQUESTS", 20000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 2000)
# Seconds an idle keep-alive connection from a client or proxy stays open.
keepalive = _int("GUNICORN_KEEPALIVE", 5)
timeout = _int("GUNICORN_TIMEOUT", 30)
# Django logs every request that fails. An access line per request costs CPU
# on the hot path, so it is off unless a path is set ("-" for stdout).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
