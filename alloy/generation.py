"""A shared generation token that keeps per-process read caches correct.

Web processes cache the rows intake reads on every request (API keys, and
which workflows an event starts for each end user) in their own memory. Every service
that changes those rows calls ``generation_bump``, which stores a new random
token in Redis. Each request reads the token once, and a process drops its
caches when the token differs from the one they were filled under. So a
revoked key or a newly published version takes effect on the next request
in every process.

A random token rather than a counter: after Redis loses the key (a flush, a
restart without persistence) a counter would start again at values that old
caches were filled under. Without Redis (the embedded default) there is no
token and nothing is cached, since other processes that write the same
database could not tell this one.
"""

import logging
import threading
import time
import uuid
from collections.abc import Hashable
from typing import Any

from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import transaction
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

GENERATION_KEY = "alloy:cache-generation"
# A cache contains at most this many entries, and starts empty again past it, so
# a stream of distinct end users cannot grow a process without bound.
MAX_ENTRIES = 10_000
# An entry is read again from the database after this long even when the
# token has not changed, which bounds how long a bump lost to a Redis outage
# leaves a process serving old rows.
MAX_AGE_SECONDS = 60.0

_local = threading.local()
_caches: list["GenerationCache"] = []


def _redis():
    # The connection of the jobs queue: the Redis database REDIS_URL names.
    from alloy.jobs import _rq_queue

    return _rq_queue().connection


def generation_current() -> str | None:
    """Return the shared token, or None when nothing may be served from a cache.

    Inside a request the token is read from Redis once and reused by every
    cache the request consults. Outside a request it is read on each call.
    Returns None without Redis, or when Redis cannot be reached.
    """
    if settings.JOBS_IN_PROCESS:
        return None
    if getattr(_local, "in_request", False) and _local.token is not None:
        return _local.token
    try:
        client = _redis()
        raw = client.get(GENERATION_KEY)
        if raw is None:
            # Missing after a flush: start a new token unless another process
            # just did, and use whichever was stored.
            client.set(GENERATION_KEY, uuid.uuid4().hex, nx=True)
            raw = client.get(GENERATION_KEY)
    except RedisError as exc:
        logger.warning(
            "alloy.generation.unavailable", extra={"error": type(exc).__name__}
        )
        return None
    token = raw.decode() if isinstance(raw, bytes) else raw
    if getattr(_local, "in_request", False):
        _local.token = token
    return token


def generation_bump() -> None:
    """Make every process drop its cached reads; call after changing cached rows.

    Bumps at once and again after the current transaction commits: a process
    that read the rows between the first bump and the commit cached the old
    ones under the first token, which the second bump retires.
    """
    _bump()
    transaction.on_commit(_bump)


def _bump() -> None:
    _local.token = None
    for cache in _caches:
        cache.clear()
    if settings.JOBS_IN_PROCESS:
        return
    try:
        _redis().set(GENERATION_KEY, uuid.uuid4().hex)
    except RedisError as exc:
        # NOTE: other processes keep serving their caches until the token
        # changes again, or for at most MAX_AGE_SECONDS.
        logger.warning(
            "alloy.generation.bump_failed", extra={"error": type(exc).__name__}
        )


class GenerationCache:
    """A process-wide dictionary whose entries hold for one generation token.

    Values are shared by every thread of the process, so callers must treat
    them as read-only.
    """

    def __init__(self) -> None:
        self._token: str | None = None
        self._entries: dict[Hashable, tuple[str, float, Any]] = {}
        _caches.append(self)

    def get(self, token: str | None, key: Hashable) -> Any:
        """Return the entry for ``key`` under ``token``, or None."""
        if token is None:
            return None
        entry = self._entries.get(key)
        # Each entry keeps its own token, because a thread still on an older
        # token may store into the cache just as another thread empties it.
        if entry is None or entry[0] != token:
            return None
        if time.monotonic() - entry[1] > MAX_AGE_SECONDS:
            return None
        return entry[2]

    def set(self, token: str | None, key: Hashable, value: Any) -> None:
        """Store an entry read under ``token``; a newer token empties the cache."""
        if token is None:
            return
        if token != self._token or len(self._entries) >= MAX_ENTRIES:
            self._entries = {}
            self._token = token
        self._entries[key] = (token, time.monotonic(), value)

    def clear(self) -> None:
        self._entries = {}
        self._token = None


def _request_started(**kwargs: Any) -> None:
    _local.in_request = True
    _local.token = None


def _request_finished(**kwargs: Any) -> None:
    _local.in_request = False
    _local.token = None


request_started.connect(_request_started, dispatch_uid="alloy.generation.started")
request_finished.connect(_request_finished, dispatch_uid="alloy.generation.finished")


class GenerationBumpingAdmin:
    """ModelAdmin mixin for rows that intake caches: each save or delete bumps."""

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        generation_bump()

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        generation_bump()

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        generation_bump()
