"""Custom scalars of the sandbox schema: Decimal, DateTime, URL and UnsignedInt64.

``build_schema`` leaves custom scalars as pass-through, so ``bind_scalars`` attaches
the input checks and output formats that Shopify applies.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import GraphQLError, GraphQLSchema

from connectors.shopify.sandbox.rest import format_money


def _coerce_decimal_input(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise GraphQLError(f"Decimal cannot represent value: {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation as error:
        raise GraphQLError(f"Decimal cannot represent value: {value!r}") from error
    if not number.is_finite():
        raise GraphQLError(f"Decimal cannot represent value: {value!r}")
    return number


def _coerce_decimal_output(value: Any) -> str:
    return format_money(Decimal(str(value)))


def _coerce_datetime_input(value: Any) -> datetime:
    if not isinstance(value, str):
        raise GraphQLError(f"DateTime cannot represent value: {value!r}")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise GraphQLError(f"DateTime is not ISO 8601: {value!r}") from error


def _coerce_string_input(type_name: str) -> Callable[[Any], str]:
    def coerce(value: Any) -> str:
        if not isinstance(value, str):
            raise GraphQLError(f"{type_name} cannot represent value: {value!r}")
        return value

    return coerce


def _coerce_unsigned_input(value: Any) -> int:
    text = str(value)
    if isinstance(value, bool) or not text.isdigit() or int(text) >= 2**64:
        raise GraphQLError(f"UnsignedInt64 cannot represent value: {value!r}")
    return int(text)


def bind_scalars(schema: GraphQLSchema) -> None:
    coercers: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
        "Decimal": (_coerce_decimal_input, _coerce_decimal_output),
        "DateTime": (_coerce_datetime_input, str),
        "URL": (_coerce_string_input("URL"), str),
        "UnsignedInt64": (_coerce_unsigned_input, str),
    }
    for name, (coerce_input, coerce_output) in coercers.items():
        scalar: Any = schema.type_map[name]
        scalar.parse_value = coerce_input
        scalar.coerce_input_value = coerce_input
        scalar.serialize = coerce_output
        scalar.coerce_output_value = coerce_output
