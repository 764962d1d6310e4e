"""Column types of warehouse tables, and conversion of mapped values to them.

Money is exact: a ``numeric`` value becomes a Decimal from the value's text,
never through binary floating point (Shopify sends prices as strings). A
``bigint`` accepts integers and their decimal strings, so a 64-bit id such as
9007199254740993 stays exact.
"""

import math
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from alloy.jsonbody import json_type_phrase

TEXT = "text"
NUMERIC = "numeric"
BIGINT = "bigint"
TIMESTAMPTZ = "timestamptz"
JSONB = "jsonb"
BOOLEAN = "boolean"
COLUMN_TYPES = (TEXT, NUMERIC, BIGINT, TIMESTAMPTZ, JSONB, BOOLEAN)
COLUMN_TYPE_DESCRIPTIONS = {
    TEXT: "text",
    NUMERIC: "exact decimal, for money",
    BIGINT: "64-bit integer, for ids",
    TIMESTAMPTZ: "timestamp with time zone",
    JSONB: "any JSON value",
    BOOLEAN: "true or false",
}

BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1
# The largest integer a JSON parser that reads numbers as doubles keeps exact.
FLOAT_EXACT_MAX = 2**53


class ConversionError(ValueError):
    """A value that does not convert to a column type, with the reason."""


def value_convert(column_type: str, value: Any) -> Any:
    """Return ``value`` as the Python value the driver writes to ``column_type``.

    None stays None (SQL NULL). Raises ConversionError with the reason.
    """
    if value is None:
        return None
    converter = _CONVERTERS[column_type]
    return converter(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal | str):
        text = value if isinstance(value, str) else str(value)
        if "\x00" in text:
            raise ConversionError("text cannot contain the NUL character")
        return text
    raise ConversionError(f"{json_type_phrase(value)} is not text; map a string")


def _numeric(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ConversionError(
            f"{json_type_phrase(value)} is not a number; map a number or a "
            "numeric string"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ConversionError("the number is not finite")
    # repr() of a float is the shortest text that reads back as the same
    # double, which is the text the JSON payload carried.
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ConversionError("the text is not a decimal number") from None
    if not number.is_finite():
        raise ConversionError("the number is not finite")
    return number


def _bigint(value: Any) -> int:
    if isinstance(value, bool):
        raise ConversionError("a boolean is not an integer")
    if isinstance(value, float):
        if not value.is_integer() or abs(value) > FLOAT_EXACT_MAX:
            raise ConversionError(
                "the number is not an exact integer; send large ids as integers "
                "or strings"
            )
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    elif isinstance(value, str):
        raise ConversionError("the text is not a whole number")
    else:
        raise ConversionError(f"{json_type_phrase(value)} is not an integer")
    if not BIGINT_MIN <= number <= BIGINT_MAX:
        raise ConversionError("the integer does not fit in 64 bits")
    return number


def _timestamptz(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ConversionError(
            f"{json_type_phrase(value)} is not a timestamp; map an ISO 8601 string"
        )
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConversionError(
            "the text is not an ISO 8601 timestamp such as 2026-07-01T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise ConversionError(
            "the timestamp has no UTC offset; add one, such as Z or +02:00"
        )
    return moment


def _jsonb(value: Any) -> Any:
    return value


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConversionError(f"{json_type_phrase(value)} is not true or false")


_CONVERTERS = {
    TEXT: _text,
    NUMERIC: _numeric,
    BIGINT: _bigint,
    TIMESTAMPTZ: _timestamptz,
    JSONB: _jsonb,
    BOOLEAN: _boolean,
}
