"""Shopify's search syntax for the ``query`` argument of the sandbox's connections.

Supported: ``field:value`` terms, plain text, ``-`` or ``NOT`` to negate a term,
``OR`` between groups of terms, quoted values, a trailing ``*`` for a prefix match, and
``>``, ``<``, ``>=``, ``<=`` comparisons on ids and timestamps. Terms next to each other
must all match. Field terms compare whole values without regard to case. Plain text
matches any part of the resource's text fields. Parentheses are not supported.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from connectors.shopify.sandbox.rest import split_tags

logger = logging.getLogger(__name__)

TOKEN_PATTERN = re.compile(
    r"(?P<negated>-)?"
    r"(?:(?P<field>[a-z_]+):(?P<operator>>=|<=|>|<)?)?"
    r"(?P<value>\"[^\"]*\"|'[^']*'|\S+)"
)
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    ">": lambda left, right: left > right,
    "<": lambda left, right: left < right,
    ">=": lambda left, right: left >= right,
    "<=": lambda left, right: left <= right,
}
TIMESTAMP_FIELDS = ("created_at", "updated_at", "processed_at")

FieldValues = Callable[[dict[str, Any]], list[str]]


def _value(key: str) -> FieldValues:
    return lambda resource: (
        [str(resource[key])] if resource.get(key) is not None else []
    )


def _order_name(order: dict[str, Any]) -> list[str]:
    return [order["name"], order["name"].lstrip("#")]


def _customer_id_of_order(order: dict[str, Any]) -> list[str]:
    customer = order.get("customer")
    return [str(customer["id"])] if customer else []


def _customer_full_name(customer: dict[str, Any]) -> list[str]:
    parts = [customer.get("first_name"), customer.get("last_name")]
    return [" ".join(part for part in parts if part)]


def _tags(resource: dict[str, Any]) -> list[str]:
    return split_tags(resource.get("tags"))


CUSTOMER_FIELDS: dict[str, FieldValues] = {
    "email": _value("email"),
    "phone": _value("phone"),
    "first_name": _value("first_name"),
    "last_name": _value("last_name"),
    "state": _value("state"),
    "tag": _tags,
    "id": _value("id"),
    "created_at": _value("created_at"),
    "updated_at": _value("updated_at"),
}
CUSTOMER_TEXT_FIELDS = ("email", "phone", "first_name", "last_name")

ORDER_FIELDS: dict[str, FieldValues] = {
    "name": _order_name,
    "email": _value("email"),
    "tag": _tags,
    "financial_status": _value("financial_status"),
    "source_name": _value("source_name"),
    "source_identifier": _value("source_identifier"),
    "customer_id": _customer_id_of_order,
    "id": _value("id"),
    "created_at": _value("created_at"),
    "updated_at": _value("updated_at"),
    "processed_at": _value("processed_at"),
}
ORDER_TEXT_FIELDS = ("name", "email", "tag", "source_identifier")


@dataclass(frozen=True)
class Term:
    """One search term. ``field`` is None for plain text."""

    field: str | None
    operator: str | None
    value: str
    negated: bool


def parse_query(text: str) -> list[list[Term]]:
    """Split a query into groups joined by OR, each a list of terms that all must
    match.
    """
    groups: list[list[Term]] = [[]]
    negate_next = False
    for match in TOKEN_PATTERN.finditer(text or ""):
        raw_value = match["value"]
        if match["field"] is None and not match["negated"]:
            if raw_value == "OR":
                groups.append([])
                continue
            if raw_value == "AND":
                continue
            if raw_value == "NOT":
                negate_next = True
                continue
        value = raw_value
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        term = Term(
            field=match["field"],
            operator=match["operator"],
            value=value,
            negated=bool(match["negated"]) or negate_next,
        )
        negate_next = False
        groups[-1].append(term)
    return [group for group in groups if group]


def _parse_timestamp(value: str, default_zone: tzinfo) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=default_zone)
    return parsed


def _text_matches(candidate: str, wanted: str) -> bool:
    candidate = candidate.lower()
    wanted = wanted.lower()
    if wanted.endswith("*"):
        return candidate.startswith(wanted[:-1])
    return candidate == wanted


def _compare(field: str, values: list[str], term: Term, zone: tzinfo) -> bool:
    compare = COMPARISONS[term.operator or ">"]
    if field in TIMESTAMP_FIELDS:
        wanted_time = _parse_timestamp(term.value, zone)
        if wanted_time is None:
            return False
        times = [_parse_timestamp(value, zone) for value in values]
        return any(
            moment is not None and compare(moment, wanted_time) for moment in times
        )
    try:
        wanted_number = int(term.value)
    except ValueError:
        return False
    return any(
        value.isdigit() and compare(int(value), wanted_number) for value in values
    )


def _term_matches(
    resource: dict[str, Any],
    term: Term,
    fields: dict[str, FieldValues],
    text_fields: tuple[str, ...],
    zone: tzinfo,
) -> bool:
    if term.field is None:
        needle = term.value.lower().rstrip("*")
        haystack = [value for name in text_fields for value in fields[name](resource)]
        if fields is CUSTOMER_FIELDS:
            haystack += _customer_full_name(resource)
        return any(needle in value.lower() for value in haystack)
    if term.field not in fields:
        # NOTE: Shopify ignores an unknown search field and reports a warning in the
        # response. The sandbox ignores it without a warning.
        logger.debug(
            "shopify_sandbox.search.unknown_field", extra={"field": term.field}
        )
        return True
    values = fields[term.field](resource)
    if term.operator is not None:
        return _compare(term.field, values, term, zone)
    return any(_text_matches(value, term.value) for value in values)


def filter_resources(
    resources: list[dict[str, Any]],
    query: str | None,
    fields: dict[str, FieldValues],
    text_fields: tuple[str, ...],
    zone: tzinfo,
) -> list[dict[str, Any]]:
    """Return the resources that match ``query``, or all of them for an empty query."""
    groups = parse_query(query or "")
    if not groups:
        return list(resources)

    def matches(resource: dict[str, Any]) -> bool:
        return any(
            all(
                _term_matches(resource, term, fields, text_fields, zone) != term.negated
                for term in group
            )
            for group in groups
        )

    return [resource for resource in resources if matches(resource)]
