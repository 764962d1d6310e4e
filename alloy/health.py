"""Operator endpoints: a PostgreSQL and Redis health check, Prometheus metrics."""

import hmac
import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from alloy.errors import error_body
from alloy.metrics import registry

logger = logging.getLogger(__name__)


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Return 200 when PostgreSQL and Redis respond, or 503 naming the failing one."""
    checks = {"database": _database_check(), "redis": _redis_check()}
    healthy = all(value in ("ok", "not used") for value in checks.values())
    if not healthy:
        logger.warning("alloy.health.failed", extra=checks)
    return JsonResponse(
        {"status": "ok" if healthy else "failing", "checks": checks},
        status=200 if healthy else 503,
    )


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Serve Prometheus metrics; with METRICS_TOKEN set, only to that bearer token."""
    token = settings.METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return JsonResponse(
                error_body(
                    "not_authenticated",
                    "Send METRICS_TOKEN as `Authorization: Bearer <token>`.",
                ),
                status=401,
            )
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _database_check() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return f"failing: {type(exc).__name__}"
    return "ok"


def _redis_check() -> str:
    if settings.JOBS_IN_PROCESS:
        return "not used"
    import django_rq

    try:
        django_rq.get_connection("default").ping()
    except RedisError as exc:
        return f"failing: {type(exc).__name__}"
    return "ok"
