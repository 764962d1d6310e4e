"""The HTTP request action: any method, URL, headers and body, with outbound checks."""

import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings

from alloy.logging import REDACTED, redact_value
from alloy.outbound import OutboundURLError, outbound_url_check
from connectors.registry import ActionContext, ActionError

logger = logging.getLogger(__name__)

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Bytes of a response body kept in the step's output.
RESPONSE_MAX_BYTES = 65_536
REQUEST_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["method", "url"],
    "properties": {
        "method": {
            "type": "string",
            "enum": list(METHODS),
            "description": "The HTTP method.",
        },
        "url": {
            "type": "string",
            "format": "uri",
            "pattern": "^https?://",
            "description": "The http or https URL to call.",
        },
        "headers": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": 'Request headers as a JSON object, e.g. {"Authorization": '
            '"Bearer ..."}; credentials are hidden in run records.',
        },
        "body": {
            "description": "The JSON value to send; left out for GET and DELETE "
            "when not mapped."
        },
    },
    "additionalProperties": False,
}

REQUEST_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status_code": {"type": "integer"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "body": {"description": "The response parsed as JSON, or its text."},
    },
}


def input_redact(data: dict[str, Any]) -> dict[str, Any]:
    """Return the input with credential headers and URL userinfo hidden."""
    redacted = dict(data)
    if isinstance(data.get("url"), str):
        redacted["url"] = _url_redact(data["url"])
    if isinstance(data.get("headers"), dict):
        redacted["headers"] = redact_value(data["headers"])
    return redacted


def _url_redact(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{REDACTED}@{host}"))


def _request_check(data: dict[str, Any]) -> None:
    """Reject credentials in the URL and header text that would break the request.

    A URL's userinfo would be sent as Basic authentication in place of any
    Authorization header the author mapped, so it is rejected instead.
    """
    try:
        userinfo = "@" in urlsplit(data["url"]).netloc
    except ValueError:
        userinfo = False
    if userinfo:
        message = (
            "The URL contains a user name or password; remove them from the URL "
            "and send the credentials in an Authorization header instead."
        )
        raise ActionError(
            message,
            code="url_has_credentials",
            fields=[{"path": "$.url", "message": message}],
            retryable=False,
        )
    for name, value in data.get("headers", {}).items():
        if any(char in name or char in value for char in "\r\n"):
            message = (
                f"The header {name!r} contains a line break (CR or LF), which HTTP "
                "does not allow; remove it from the header's name and value."
            )
            raise ActionError(
                message,
                code="invalid_header",
                fields=[{"path": f"$.headers.{name}", "message": message}],
                retryable=False,
            )


def http_request(context: ActionContext, data: dict[str, Any]) -> dict[str, Any]:
    """Send one request; a non-2xx response, timeout or rejected URL raises ActionError.

    Redirects are not followed, because a redirect could lead to an address
    the outbound check would reject. 429, 5xx, timeouts and connection errors
    are retryable; other failures are not.
    """
    url = data["url"]
    _request_check(data)
    try:
        outbound_url_check(url)
    except OutboundURLError as exc:
        raise ActionError(
            f"The URL is not allowed: {exc}", code="url_not_allowed", retryable=False
        ) from exc
    headers = {"User-Agent": "Alloy-Request/1", **data.get("headers", {})}
    if not any(name.lower() == "idempotency-key" for name in headers):
        headers["Idempotency-Key"] = context.idempotency_key
    body = None
    if "body" in data:
        body = json.dumps(data["body"], separators=(",", ":")).encode()
        headers.setdefault("Content-Type", "application/json")
    timeout = settings.HTTP_REQUEST_TIMEOUT
    started = time.monotonic()
    try:
        response = requests.request(
            data["method"],
            url,
            data=body,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout as exc:
        raise ActionError(
            f"{data['method']} {url} timed out after {timeout:g}s.",
            code="http_timeout",
            retryable=True,
        ) from exc
    except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL) as exc:
        # Invalid input fails the same way on every attempt.
        raise ActionError(
            f"{data['method']} {url} was not sent: {exc}",
            code="invalid_request",
            retryable=False,
        ) from exc
    except requests.RequestException as exc:
        raise ActionError(
            f"{data['method']} {url} failed: {type(exc).__name__}.",
            code="http_connection_failed",
            retryable=True,
        ) from exc
    logger.info(
        "http.request.answered",
        extra={
            "status_code": response.status_code,
            "duration_ms": int((time.monotonic() - started) * 1000),
        },
    )
    output = {
        "status_code": response.status_code,
        "headers": redact_value(dict(response.headers)),
        "body": _response_body(response),
    }
    if not 200 <= response.status_code < 300:
        retryable = response.status_code == 429 or response.status_code >= 500
        raise ActionError(
            f"{data['method']} {url} returned HTTP {response.status_code}.",
            code="http_error_status",
            fields=[{"path": "$.status_code", "message": str(response.status_code)}],
            retryable=retryable,
            retry_after=_retry_after(response) if retryable else None,
        )
    return output


def _response_body(response: requests.Response) -> Any:
    content = response.content[:RESPONSE_MAX_BYTES]
    if "json" in response.headers.get("Content-Type", ""):
        try:
            return json.loads(content)
        except ValueError:
            pass
    return content.decode(response.encoding or "utf-8", "replace")


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
