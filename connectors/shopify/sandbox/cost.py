"""Query cost estimates and the per-shop leaky bucket of the Shopify sandbox.

The cost model follows Shopify's published rules in a simplified, static form:

- a scalar or enum field costs 0;
- an object, interface or union field costs 1 plus the cost of its selections;
- a connection field (a type whose name ends in ``Connection``) costs 2 plus, for each
  requested item (``first`` or ``last``), the cost of the items' selections, and its
  ``pageInfo`` costs nothing;
- each root field of a mutation costs 10, whatever it selects.

The requested cost uses ``first`` for every connection. The actual cost repeats the walk
over the response data, so a connection costs only the items it returned. Fragments are
flattened without checking their type condition, so the requested cost of a selection
on an interface is an upper bound.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_composite_type,
    value_from_ast,
)

MUTATION_FIELD_COST = 10
CONNECTION_BASE_COST = 2


class LeakyBucket:
    """Shopify's cost bucket: it contains up to ``maximum`` points and refills
    ``restore_rate`` points per second. It has its own lock, so the server may consult
    it without holding the state lock.
    """

    def __init__(
        self,
        maximum: float,
        restore_rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maximum <= 0:
            raise ValueError(f"bucket maximum must be positive, got {maximum}")
        if restore_rate < 0:
            raise ValueError(f"restore rate must not be negative, got {restore_rate}")
        self.maximum = float(maximum)
        self.restore_rate = float(restore_rate)
        self._clock = clock
        self._available = self.maximum
        self._updated_at = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated_at)
        self._available = min(
            self.maximum, self._available + elapsed * self.restore_rate
        )
        self._updated_at = now

    def try_consume(self, cost: float) -> bool:
        """Take ``cost`` points and return True, or take nothing and return False."""
        with self._lock:
            self._refill()
            if cost > self._available:
                return False
            self._available -= cost
            return True

    def refund(self, points: float) -> None:
        """Return points taken for a request whose actual cost was lower."""
        if points <= 0:
            return
        with self._lock:
            self._refill()
            self._available = min(self.maximum, self._available + points)

    def status(self) -> dict[str, float]:
        """Return the bucket as Shopify's ``throttleStatus`` object."""
        with self._lock:
            self._refill()
            return {
                "maximumAvailable": self.maximum,
                "currentlyAvailable": round(self._available, 2),
                "restoreRate": self.restore_rate,
            }


class CostCalculator:
    """Static cost estimate of one operation, before or after it runs."""

    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self._schema = schema
        self._operation = operation
        self._fragments = fragments
        self._variables = variables

    def requested(self) -> int:
        """Return the cost assuming every connection returns ``first`` items."""
        return self._operation_cost(None)

    def actual(self, data: dict[str, Any] | None) -> int:
        """Return the cost of the response data that the operation produced."""
        return self._operation_cost(data if data is not None else {})

    def _operation_cost(self, data: dict[str, Any] | None) -> int:
        if self._operation.operation == OperationType.MUTATION:
            fields = list(self._collect_fields(self._operation.selection_set))
            return MUTATION_FIELD_COST * len(
                [node for node in fields if not node.name.value.startswith("__")]
            )
        root_type = self._schema.query_type
        if root_type is None:
            return 0
        return self._selection_cost(self._operation.selection_set, root_type, data)

    def _collect_fields(
        self, selection_set: SelectionSetNode | None
    ) -> Iterator[FieldNode]:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                yield from self._collect_fields(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self._fragments.get(selection.name.value)
                if fragment is not None:
                    yield from self._collect_fields(fragment.selection_set)

    def _selection_cost(
        self,
        selection_set: SelectionSetNode | None,
        parent_type: Any,
        data: dict[str, Any] | None,
    ) -> int:
        if not isinstance(parent_type, GraphQLObjectType | GraphQLInterfaceType):
            # A union exposes no fields of its own, so only __typename can be selected.
            return 0
        total = 0
        for node in self._collect_fields(selection_set):
            name = node.name.value
            field = parent_type.fields.get(name)
            if name.startswith("__") or field is None:
                continue
            field_type = get_named_type(field.type)
            if not is_composite_type(field_type):
                continue
            key = node.alias.value if node.alias else name
            if data is not None and key not in data:
                # Skipped by a directive or a type condition that did not match.
                continue
            child = data.get(key) if data is not None else None
            if field_type.name.endswith("Connection"):
                total += self._connection_cost(
                    node, field_type, child, data is not None
                )
            else:
                child_data = child if isinstance(child, dict) else None
                if data is not None and child_data is None:
                    child_data = {}
                total += 1 + self._selection_cost(
                    node.selection_set, field_type, child_data
                )
        return total

    def _connection_cost(
        self, node: FieldNode, connection_type: Any, result: Any, measured: bool
    ) -> int:
        if not measured:
            count = self._page_size(node)
            item_cost = self._item_cost(node, connection_type, None, 0)
            return CONNECTION_BASE_COST + count * item_cost
        if not isinstance(result, dict):
            return CONNECTION_BASE_COST
        count = self._result_count(node, result)
        return CONNECTION_BASE_COST + sum(
            self._item_cost(node, connection_type, result, index)
            for index in range(count)
        )

    def _page_size(self, node: FieldNode) -> int:
        for argument in node.arguments:
            if argument.name.value in ("first", "last"):
                value = value_from_ast(argument.value, GraphQLInt, self._variables)
                if isinstance(value, int) and value > 0:
                    return value
        return 1

    def _result_count(self, node: FieldNode, result: dict[str, Any]) -> int:
        """Return the item count of a connection result's ``nodes`` or ``edges``."""
        count = 0
        for child in self._collect_fields(node.selection_set):
            key = child.alias.value if child.alias else child.name.value
            values = result.get(key)
            if child.name.value in ("nodes", "edges") and isinstance(values, list):
                count = max(count, len(values))
        return count

    def _item_cost(
        self,
        node: FieldNode,
        connection_type: Any,
        result: dict[str, Any] | None,
        index: int,
    ) -> int:
        """Return the cost of one connection item, the larger of ``nodes`` and
        ``edges`` when a query selects both.

        With ``result`` None the estimate is static. Otherwise it measures item
        ``index`` of the result.
        """
        best = 0
        for child in self._collect_fields(node.selection_set):
            name = child.name.value
            field = connection_type.fields.get(name)
            if field is None or name not in ("nodes", "edges"):
                continue
            item_data: dict[str, Any] | None = None
            if result is not None:
                key = child.alias.value if child.alias else name
                values = result.get(key)
                item_data = {}
                in_range = isinstance(values, list) and index < len(values)
                if in_range and isinstance(values[index], dict):
                    item_data = values[index]
            # A node costs 1 as an object. An edge is free but its ``node`` is not.
            own_cost = 1 if name == "nodes" else 0
            item_type = get_named_type(field.type)
            cost = own_cost + self._selection_cost(
                child.selection_set, item_type, item_data
            )
            best = max(best, cost)
        return best
