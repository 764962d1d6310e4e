"""GraphQL request pipeline of the Shopify sandbox: parse, validate, coerce variables,
charge the shop's cost bucket, execute and report the cost.

Every response, errors included, carries ``extensions.cost`` as Shopify's does. A
request whose requested cost exceeds the points left in the shop's bucket gets a
``THROTTLED`` error and is not executed.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from graphql import (
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    execute_sync,
    get_operation_ast,
    parse,
)

from connectors.shopify.sandbox.cost import CostCalculator
from connectors.shopify.sandbox.errors import (
    coerce_variables,
    format_error,
    validation_errors,
)
from connectors.shopify.sandbox.state import IdSequence, RequestContext, ShopState

logger = logging.getLogger(__name__)

RATE_LIMITS_DOCUMENTATION = "https://shopify.dev/api/usage/rate-limits"
INTERNAL_ERROR_MESSAGE = "Internal error. Looks like something went wrong on our end."

EventSink = Callable[[ShopState, str, dict[str, Any]], Any]


def _cost_extension(
    shop: ShopState, requested: int, actual: int | None
) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": shop.bucket.status(),
        }
    }


class GraphQLExecutor:
    """Runs GraphQL requests against one schema for any shop of a sandbox.

    ``lock`` is the sandbox's state lock, held while resolvers run. ``dispatch_event``
    receives each webhook event that a request raised, still under the lock, after
    execution has finished.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        ids: IdSequence,
        lock: threading.Condition,
        dispatch_event: EventSink,
        max_query_cost: float,
    ) -> None:
        self._schema = schema
        self._ids = ids
        self._lock = lock
        self._dispatch_event = dispatch_event
        self._max_query_cost = max_query_cost

    def run(
        self,
        shop: ShopState,
        query: str,
        variables: dict[str, Any],
        operation_name: str | None,
    ) -> dict[str, Any]:
        """Return the response body of one request, always sent with HTTP 200."""
        try:
            document = parse(query)
        except GraphQLSyntaxError as error:
            return {
                "errors": [format_error(error)],
                "extensions": _cost_extension(shop, 0, 0),
            }

        errors = validation_errors(self._schema, document)
        if errors:
            return {"errors": errors, "extensions": _cost_extension(shop, 0, 0)}

        operation = get_operation_ast(document, operation_name)
        if operation is None:
            message = (
                f"No operation named '{operation_name}'"
                if operation_name
                else "An operation name is required when the document has several"
            )
            error = format_error(GraphQLError(message))
            return {"errors": [error], "extensions": _cost_extension(shop, 0, 0)}

        coerced, errors = coerce_variables(self._schema, operation, variables)
        if errors:
            return {"errors": errors, "extensions": _cost_extension(shop, 0, 0)}

        fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        calculator = CostCalculator(self._schema, operation, fragments, coerced)
        requested = calculator.requested()
        if requested > self._max_query_cost:
            return self._max_cost_response(shop, requested)
        if not shop.bucket.try_consume(requested):
            logger.info(
                "shopify_sandbox.request.throttled",
                extra={"shop_domain": shop.domain, "requested_cost": requested},
            )
            throttled = {
                "message": "Throttled",
                "extensions": {
                    "code": "THROTTLED",
                    "documentation": RATE_LIMITS_DOCUMENTATION,
                },
            }
            return {
                "errors": [throttled],
                "extensions": _cost_extension(shop, requested, None),
            }

        with self._lock:
            context = RequestContext(shop=shop, ids=self._ids)
            result = execute_sync(
                self._schema,
                document,
                context_value=context,
                variable_values=variables,
                operation_name=operation_name,
            )
            for topic, payload in context.events:
                self._dispatch_event(shop, topic, payload)
            actual = calculator.actual(result.data)

        shop.bucket.refund(requested - actual)
        response: dict[str, Any] = {}
        if result.errors:
            response["errors"] = [
                self._format_execution_error(shop, e) for e in result.errors
            ]
        response["data"] = result.data
        response["extensions"] = _cost_extension(shop, requested, actual)
        return response

    def _max_cost_response(self, shop: ShopState, requested: int) -> dict[str, Any]:
        limit = int(self._max_query_cost)
        message = (
            f"Query cost is {requested}, which exceeds the single query max cost limit "
            f"({limit}). Request fewer items per connection or split the query."
        )
        error = {
            "message": message,
            "extensions": {
                "code": "MAX_COST_EXCEEDED",
                "cost": requested,
                "maxCost": limit,
                "documentation": RATE_LIMITS_DOCUMENTATION,
            },
        }
        return {"errors": [error], "extensions": _cost_extension(shop, requested, None)}

    def _format_execution_error(
        self, shop: ShopState, error: GraphQLError
    ) -> dict[str, Any]:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            return format_error(error)
        # A resolver bug is hidden from the client, as Shopify hides its own, and
        # logged with the request id returned to the client.
        request_id = str(uuid.uuid4())
        logger.error(
            "shopify_sandbox.resolver.failed",
            exc_info=original,
            extra={
                "shop_domain": shop.domain,
                "request_id": request_id,
                "path": error.path,
            },
        )
        formatted = format_error(GraphQLError(INTERNAL_ERROR_MESSAGE, path=error.path))
        formatted["extensions"] = {
            "code": "INTERNAL_SERVER_ERROR",
            "requestId": request_id,
        }
        if error.locations:
            formatted["locations"] = [
                {"line": location.line, "column": location.column}
                for location in error.locations
            ]
        return formatted
