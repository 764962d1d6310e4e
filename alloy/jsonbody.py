"""Strict parsing of JSON request bodies, for the API and app webhooks.

Python's ``json`` accepts input that the database cannot store or that no
caller means. This module rejects each such value with its JSON path:
``NaN`` and ``Infinity``, numbers that overflow to infinity, NUL characters
(PostgreSQL's jsonb rejects them), unpaired UTF-16 surrogates (not encodable
as UTF-8), and nesting deep enough to exhaust the stack.
"""

import json
import math
import re
from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from alloy.errors import ApplicationError

_UNSTORABLE_CHARACTERS = re.compile("[\x00\ud800-\udfff]")


class InvalidJsonError(ApplicationError):
    """A body that is not JSON the platform can store."""

    code = "malformed_json"


class PayloadTooLargeError(ApplicationError):
    status_code = 413
    code = "payload_too_large"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON; send numbers as finite values")


def json_body_parse(body: bytes, *, check_values: bool = True) -> Any:
    """Parse UTF-8 JSON bytes, or raise InvalidJsonError naming the problem.

    Raises PayloadTooLargeError past ``EVENT_MAX_BODY_BYTES``. With
    ``check_values`` false, values the database cannot store (NUL characters,
    unpaired surrogates, overflowing numbers, nesting past ``JSON_MAX_DEPTH``)
    are left for the caller to check part by part with ``first_unstorable``.
    """
    if len(body) > settings.EVENT_MAX_BODY_BYTES:
        raise PayloadTooLargeError(
            f"The body is larger than the limit of {settings.EVENT_MAX_BODY_BYTES} "
            "bytes (EVENT_MAX_BODY_BYTES); send less data per request."
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJsonError(
            f"The body is not valid UTF-8 at byte {exc.start}; encode it as UTF-8."
        ) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise InvalidJsonError(_too_deep_message()) from None
    except ValueError as exc:
        raise InvalidJsonError(f"The body is not valid JSON: {exc}.") from None
    problem = first_unstorable(value) if check_values else None
    if problem is not None:
        path, message = problem
        raise InvalidJsonError(
            f"The body cannot be stored: {message}",
            fields=[{"path": path, "message": message}],
        )
    return value


def _too_deep_message() -> str:
    return (
        f"The body nests objects and arrays deeper than "
        f"{settings.JSON_MAX_DEPTH} levels (JSON_MAX_DEPTH); flatten it."
    )


def first_unstorable(value: Any) -> tuple[str, str] | None:
    """Return the JSON path and reason of the first value that cannot be stored."""
    stack: list[tuple[Any, str, int]] = [(value, "$", 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict):
            if depth > settings.JSON_MAX_DEPTH:
                return path, _too_deep_message()
            for key, child in item.items():
                if _UNSTORABLE_CHARACTERS.search(key):
                    return path, f"the key {key!r} contains {_character_name(key)}."
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, list):
            if depth > settings.JSON_MAX_DEPTH:
                return path, _too_deep_message()
            for index, child in enumerate(item):
                stack.append((child, f"{path}[{index}]", depth + 1))
        elif isinstance(item, str):
            if _UNSTORABLE_CHARACTERS.search(item):
                return path, f"the string contains {_character_name(item)}."
        elif isinstance(item, float) and not math.isfinite(item):
            return path, "the number is too large; send it as a string."
    return None


def json_storable(value: Any) -> Any:
    """Return a copy of ``value`` that the database can store as JSON.

    For records of what a third party returned, which must be kept even when
    they contain values that ``json_body_parse`` rejects: NUL characters and
    unpaired surrogates become U+FFFD, and non-finite numbers become strings.
    """
    if isinstance(value, dict):
        return {json_storable(key): json_storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_storable(item) for item in value]
    if isinstance(value, str):
        return _UNSTORABLE_CHARACTERS.sub("\ufffd", value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def json_type(value: Any) -> str:
    """Return the JSON Schema type name of a parsed JSON value, such as "array"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def json_type_phrase(value: Any) -> str:
    """Return a value's JSON type with its article, as in "an array" or "null"."""
    name = json_type(value)
    if name == "null":
        return name
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _character_name(text: str) -> str:
    if "\x00" in text:
        return "a NUL character (\\u0000), which cannot be stored"
    return "an unpaired UTF-16 surrogate, which is not valid Unicode"


class StrictJsonParser(BaseParser):
    """DRF's JSON parser with the checks of ``json_body_parse``."""

    media_type = "application/json"
    check_values = True

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        if stream is None:
            raise ParseError("The body is empty; send a JSON object.")
        body = stream.read(settings.EVENT_MAX_BODY_BYTES + 1)
        return json_body_parse(body, check_values=self.check_values)


class PartwiseJsonParser(StrictJsonParser):
    """A parser for bodies whose parts get separate results, such as a batch.

    It rejects only what makes the whole body unreadable; the view checks
    each part's values with ``first_unstorable``.
    """

    check_values = False
