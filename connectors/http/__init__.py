"""The HTTP connector: a signed JSON POST to the author's server, and any request."""

import uuid
from typing import Any

from django.conf import settings

from connectors.http.client import post_signed_json
from connectors.http.request import (
    REQUEST_INPUT,
    REQUEST_OUTPUT,
    http_request,
    input_redact,
)
from connectors.registry import (
    Action,
    ActionContext,
    ActionError,
    Connector,
    register,
)

POST_JSON_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["url", "body"],
    "properties": {
        "url": {
            "type": "string",
            "format": "uri",
            "pattern": "^https?://",
            "description": "The http or https URL that receives the POST.",
        },
        "body": {"description": "The JSON value to send."},
    },
    "additionalProperties": False,
}

POST_JSON_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status_code": {"type": "integer"},
        "response_body": {"type": "string"},
    },
}


def post_json(context: ActionContext, data: dict[str, Any]) -> dict[str, Any]:
    secret = context.credentials.get("signing_secret", "")
    result = post_signed_json(
        data["url"],
        data["body"],
        secret=secret,
        delivery_id=str(uuid.uuid5(uuid.NAMESPACE_URL, context.idempotency_key)),
        timeout=settings.STREAM_REQUEST_TIMEOUT,
    )
    if not result.succeeded:
        raise ActionError(
            f"POST to {data['url']} failed: {result.error}.",
            code="http_request_failed",
            retryable=result.retryable,
        )
    return {"status_code": result.status_code, "response_body": result.response_body}


connector = register(
    Connector(
        key="http",
        title="HTTP",
        actions={
            "post_json": Action(
                connector="http",
                name="post_json",
                title="POST JSON",
                description=(
                    "Sends a JSON body to a URL, signed with the workspace's "
                    "signing secret."
                ),
                input_schema=POST_JSON_INPUT,
                output_schema=POST_JSON_OUTPUT,
                execute=post_json,
                requires_connection=False,
            ),
            "request": Action(
                connector="http",
                name="request",
                title="HTTP request",
                description=(
                    "Calls a URL with a method, headers and a JSON body; "
                    "credential headers are hidden in run records."
                ),
                input_schema=REQUEST_INPUT,
                output_schema=REQUEST_OUTPUT,
                execute=http_request,
                requires_connection=False,
                redact_input=input_redact,
            ),
        },
    )
)
