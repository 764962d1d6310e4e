"""Operator endpoints: a PostgreSQL and Redis health check, Prometheus metrics."""

import functools
import hmac
import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from alloy.errors import error_body
from alloy.metrics import registry

logger = logging.getLogger(__name__)


def _get_only(view):
    """Return a JSON 405 for methods other than GET, before any CSRF check.

    These endpoints change nothing, so a monitor's stray POST gets the error
    envelope rather than Django's HTML CSRF page.
    """

    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse(
                error_body(
                    "method_not_allowed",
                    f"{request.method} is not allowed on {request.path}; use GET.",
                ),
                status=405,
            )
            response["Allow"] = "GET, HEAD"
            return response
        return view(request)

    return wrapper


@_get_only
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


@_get_only
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
