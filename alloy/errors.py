"""Coded application errors and the one error envelope of every JSON endpoint.

Every JSON error reads ``{"error": {"code", "message", "fields"}}``; ``fields``
lists each bad input as ``{"path", "message"}`` where the path is a JSON path
such as ``$.data.line_items[0].quantity``.
"""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
)
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A failure the caller can act on, with a stable snake_case code."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: list[dict[str, str]] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.fields = fields or []


class ValidationError(ApplicationError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    code = "validation_failed"


class NotFoundError(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class ConflictError(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


def error_body(
    code: str, message: str, fields: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or []}}


def drf_error_fields(detail: Any, path: str = "$") -> list[dict[str, str]]:
    """Flatten a DRF serializer error tree into field entries under ``path``."""
    return _drf_fields(detail, path)


def _drf_fields(detail: Any, path: str = "$") -> list[dict[str, str]]:
    """Flatten a DRF serializer error tree into JSON-path field entries."""
    if isinstance(detail, dict):
        fields = []
        for key, value in detail.items():
            child = path if key == "non_field_errors" else f"{path}.{key}"
            fields.extend(_drf_fields(value, child))
        return fields
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [{"path": path, "message": str(item)} for item in detail]
        fields = []
        for index, item in enumerate(detail):
            fields.extend(_drf_fields(item, f"{path}[{index}]"))
        return fields
    return [{"path": path, "message": str(detail)}]


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """Render every API failure in the error envelope.

    Unexpected exceptions return None, so Django logs them and returns a 500.
    Only failures the caller could fix are turned into 4xx responses here.
    """
    if isinstance(exc, ApplicationError):
        body = error_body(exc.code, exc.message, exc.fields)
        return Response(body, status=exc.status_code)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    if not isinstance(exc, drf_exceptions.APIException):
        return None

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, drf_exceptions.ValidationError):
        body = error_body(
            "invalid_request",
            "The request body is invalid; see fields for each problem.",
            _drf_fields(exc.detail),
        )
        return Response(body, status=status.HTTP_400_BAD_REQUEST, headers=headers)
    if isinstance(exc, drf_exceptions.ParseError):
        body = error_body(
            "malformed_json", f"The request body is not valid JSON: {exc.detail}"
        )
        return Response(body, status=status.HTTP_400_BAD_REQUEST, headers=headers)
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        body = error_body(
            "unsupported_media_type",
            f"{exc.detail} Send the body as JSON with "
            "'Content-Type: application/json'.",
        )
        return Response(body, status=status.HTTP_400_BAD_REQUEST, headers=headers)

    code = exc.default_code if isinstance(exc.default_code, str) else "error"
    return Response(
        error_body(code, str(exc.detail)), status=exc.status_code, headers=headers
    )


# Paths whose pages are HTML for a person in a browser, not JSON for a client.
HTML_PREFIXES = ("/builder/", "/connect/")


def json_not_found(request, exception=None) -> HttpResponse:
    if request.path.startswith(HTML_PREFIXES):
        return render(
            request,
            "error.html",
            {"title": "Not found", "message": f"There is no page at {request.path}."},
            status=404,
        )
    return JsonResponse(
        error_body("not_found", f"No endpoint at {request.path}."), status=404
    )


def bad_request(request, exception=None) -> HttpResponse:
    """Return the error page for a request Django rejected before any view ran.

    The usual cause is a body over DATA_UPLOAD_MAX_MEMORY_SIZE, such as a
    pasted JSON Schema or sample payload that is too large.
    """
    if isinstance(exception, RequestDataTooBig):
        message = (
            "The request body is larger than the server accepts "
            f"({settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes); send less data, "
            "for example a shorter sample payload."
        )
    elif isinstance(exception, TooManyFieldsSent):
        message = (
            "The form has more fields than the server accepts "
            f"({settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}); send fewer fields."
        )
    else:
        message = "The server could not read this request; check it and send again."
    if request.path.startswith(HTML_PREFIXES):
        return render(
            request,
            "error.html",
            {"title": "Request refused", "message": message},
            status=400,
        )
    return JsonResponse(error_body("bad_request", message), status=400)


def json_server_error(request) -> JsonResponse:
    return JsonResponse(
        error_body("internal_error", "An unexpected error occurred; it was logged."),
        status=500,
    )
