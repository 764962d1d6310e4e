"""Shared pieces of the JSON API: cursor pagination, per-key rate limits, OpenAPI.

The OpenAPI hooks document the bearer API key and the one error envelope on
every operation, so generated clients and schema checks see every answer.
"""

import logging
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from redis.exceptions import RedisError
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)

# Answers every operation may give, in the error envelope.
COMMON_ERRORS = {
    "400": "The request is invalid; see error.fields.",
    "401": "The API key is missing, invalid or revoked.",
    "404": "Nothing with that id in this workspace.",
    "429": "Too many requests for this API key; wait Retry-After seconds.",
}

# Further answers of operations that change something.
WRITE_ERRORS = {
    "409": "The change conflicts with the current state; see error.message.",
    "413": "The body is larger than EVENT_MAX_BODY_BYTES.",
    "422": "The data is invalid; see error.fields.",
    "502": "The connected app rejected or failed a call; try again later.",
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["path", "message"],
                        "properties": {
                            "path": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}


class CursorPage(CursorPagination):
    """Pages of newest first, addressed by an opaque cursor."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def get_page_size(self, request) -> int:
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        if not value.isdigit() or not 1 <= int(value) <= self.max_page_size:
            raise ValidationError(
                {
                    self.page_size_query_param: f"{value[:50]!r} is not a page size; "
                    f"use a whole number from 1 to {self.max_page_size}."
                }
            )
        return int(value)

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            raise ValidationError(
                {
                    self.cursor_query_param: "Not a cursor from this API; use the "
                    "`next` or `previous` URL of an earlier page as it is."
                }
            ) from exc


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Count requests per API key in the Django cache, which is Redis when set.

    The rate is ``API_RATE_LIMIT`` (such as ``1200/min``), counted in fixed
    windows of the period: one counter per key and window, so each request
    costs a few small cache calls whatever the rate. DRF's own throttle
    stores every request's timestamp of the last period in one cache value
    and rewrites it on each request, which grows with the rate. A client may
    send up to twice the limit across the boundary of two windows. Requests
    without a valid key are counted per client address.
    """

    scope = "api_key"

    def allow_request(self, request, view) -> bool:
        # Intake must keep accepting events while Redis is down, because the
        # database rows are the outbox; the limit is skipped until it is back.
        try:
            return self._count_request(request, view)
        except RedisError as exc:
            logger.warning(
                "alloy.api.throttle_unavailable", extra={"error": type(exc).__name__}
            )
            return True

    def _count_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        key = f"{self.get_cache_key(request, view)}_{window}"
        if isinstance(caches[DEFAULT_CACHE_ALIAS], RedisCache):
            return self._count_in_redis(key) <= self.num_requests
        # The counter outlives its window by a second, so that incr() never
        # finds it expired between add() and incr().
        self.cache.add(key, 0, timeout=self.duration + 1)
        return self.cache.incr(key) <= self.num_requests

    def _count_in_redis(self, key: str) -> int:
        """Create the window's counter if missing and count one, in one round trip.

        The cache API would take three: add(), and incr()'s existence check
        and increment. Django's Redis cache stores integers as they are, so
        the cache reads the same counter.
        """
        key = self.cache.make_and_validate_key(key)
        pipe = self.cache._cache.get_client(key, write=True).pipeline(transaction=False)
        pipe.set(key, 0, ex=self.duration + 1, nx=True)
        pipe.incr(key)
        return pipe.execute()[1]

    def wait(self) -> float:
        """Return the seconds until the current window ends and counting restarts."""
        return max(self.window_end - self.now, 1.0)

    def get_cache_key(self, request, view) -> str:
        key = getattr(request, "auth", None)
        ident = f"key-{key.pk}" if key is not None else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "integrations.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A workspace API key: `Authorization: Bearer ak_live_...`.",
        }


def add_error_responses(result: dict, generator, request, public) -> dict:
    """Add the error envelope and the common error answers to every operation."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            errors = dict(COMMON_ERRORS)
            if method != "get":
                errors.update(WRITE_ERRORS)
            for status, description in errors.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result
