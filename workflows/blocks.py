"""Logic and utility blocks the engine executes itself: their config and evaluation.

Filter and Branch hold a JMESPath ``condition``, For each an ``items``
expression and a ``limit``, Delay a number of ``seconds``. Conditions follow
JMESPath truthiness: false, null, an empty string, array or object are false,
and everything else, 0 included, is true.
"""

import json
from typing import Any

from django.conf import settings
from jmespath import exceptions as jmespath_exceptions

from alloy.jsonbody import json_type
from workflows import mapping

FILTER = ("logic", "filter")
BRANCH = ("logic", "branch")
FOR_EACH = ("logic", "for_each")
DELAY = ("utility", "delay")
# Blocks without an action call: the engine reads their config instead.
ENGINE_BLOCKS = frozenset({FILTER, BRANCH, FOR_EACH, DELAY})
# The lists of blocks each container holds, in the order the builder shows them.
CONTAINER_LISTS: dict[tuple[str, str], tuple[str, ...]] = {
    BRANCH: ("then", "else"),
    FOR_EACH: ("body",),
}

# Comparison operators of a Filter rule, as JMESPath comparators; `contains`
# and `exists` are written as function calls instead.
OPERATORS = ("==", "!=", ">", ">=", "<", "<=", "contains", "exists")
# Operators that order two numbers; a Filter rule with one of them and a
# number value converts its field with to_number().
ORDERING_OPERATORS = (">", ">=", "<", "<=")

Problem = dict[str, str]


class BlockError(Exception):
    """A logic block could not evaluate its config on the run's data."""

    def __init__(self, message: str, *, code: str, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.path = path

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "fields": [{"path": self.path, "message": self.message}],
            "retryable": False,
        }


def truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    return not (isinstance(value, str | list | dict) and not value)


def condition_from_rules(rules: list[dict[str, Any]]) -> str:
    """Compile Filter rows of ``{field, operator, value}`` into one expression.

    Every row must hold, so the rows are joined with ``&&``. Raises
    ValueError naming the row that is not a valid rule.
    """
    parts = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise ValueError(f"rule {index + 1} must be an object")
        field = rule.get("field")
        operator = rule.get("operator")
        if not isinstance(field, str) or not field.strip():
            raise ValueError(f"rule {index + 1} needs a field, such as event.total")
        if operator not in OPERATORS:
            raise ValueError(
                f"rule {index + 1} has the operator {_json_text(operator)}; use one of "
                f"{', '.join(OPERATORS)}"
            )
        value = rule.get("value")
        literal = _jmespath_literal(value)
        if operator == "exists":
            parts.append(f"{field} != `null`")
        elif operator == "contains":
            parts.append(f"contains({field}, {literal})")
        elif operator in ORDERING_OPERATORS and mapping.is_number(value):
            # Apps such as Shopify send amounts as strings ("15.00"), and an
            # ordering comparison of a string with a number is null.
            parts.append(f"to_number({field}) {operator} {literal}")
        else:
            parts.append(f"{field} {operator} {literal}")
    if not parts:
        raise ValueError("add at least one rule, or write the condition")
    return " && ".join(f"({part})" for part in parts)


def _json_text(value: Any) -> str:
    """Show a config value as JSON, as the author wrote it: null, not None."""
    return json.dumps(value, ensure_ascii=False)


def _jmespath_literal(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return "`" + text.replace("`", "\\`") + "`"


def config_problems(
    connector: str, operation: str, config: Any, *, path: str = "$.config"
) -> list[Problem]:
    """List each invalid setting of an engine block's config; empty if none."""
    if not isinstance(config, dict):
        return [{"path": path, "message": "The config must be a JSON object."}]
    block = (connector, operation)
    allowed = {
        FILTER: {"condition", "rules"},
        BRANCH: {"condition"},
        FOR_EACH: {"items", "limit"},
        DELAY: {"seconds"},
    }[block]
    problems = [
        {
            "path": f"{path}.{key}",
            "message": f"Unknown setting; use {', '.join(sorted(allowed))}.",
        }
        for key in sorted(set(config) - allowed)
    ]
    if block in (FILTER, BRANCH):
        problems.extend(_expression_problems(config, "condition", path))
    elif block == FOR_EACH:
        problems.extend(_expression_problems(config, "items", path))
        problems.extend(
            _number_problems(
                config,
                "limit",
                path,
                settings.FOR_EACH_MAX_ITEMS,
                whole=True,
                required=False,
            )
        )
    else:
        problems.extend(
            _number_problems(
                config,
                "seconds",
                path,
                settings.DELAY_MAX_SECONDS,
                whole=False,
                required=True,
            )
        )
    return problems


def _expression_problems(config: dict, key: str, path: str) -> list[Problem]:
    value = config.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        label = "condition" if key == "condition" else "items expression"
        return [{"path": f"{path}.{key}", "message": f"Enter the {label}."}]
    if not isinstance(value, str):
        return [
            {
                "path": f"{path}.{key}",
                "message": "Must be a JMESPath expression as a string.",
            }
        ]
    try:
        mapping.compile_expression(value)
    except mapping.ExpressionSyntaxError as exc:
        return [
            {"path": f"{path}.{key}", "message": f"{value!r} does not parse: {exc}"}
        ]
    return []


def _number_problems(
    config: dict, key: str, path: str, maximum: float, *, whole: bool, required: bool
) -> list[Problem]:
    if key not in config:
        if required:
            return [{"path": f"{path}.{key}", "message": "Enter a number of seconds."}]
        return []
    value = config[key]
    valid_type = isinstance(value, int) if whole else isinstance(value, int | float)
    if isinstance(value, bool) or not valid_type:
        kind = "a whole number" if whole else "a number"
        return [
            {"path": f"{path}.{key}", "message": f"{_json_text(value)} is not {kind}."}
        ]
    if not 0 < value <= maximum:
        return [
            {
                "path": f"{path}.{key}",
                "message": f"{_json_text(value)} is out of range; use more than 0 "
                f"and at most {maximum:g}.",
            }
        ]
    return []


def condition_evaluate(expression: str, context: dict[str, Any]) -> bool:
    """Evaluate a condition on the run context; a missing field reads as null.

    An ordering comparison of anything but two numbers or two strings is
    null, so false. Raises BlockError when the expression cannot be evaluated
    on this data, e.g. a function given an argument of the wrong type.
    """
    value = _search(expression, context, "condition")
    return truthy(value)


def items_evaluate(expression: str, context: dict[str, Any], limit: int) -> list:
    """Evaluate a For each's items expression; the result must be an array.

    Raises BlockError naming the expression and the type found, or the limit
    when the array has more items than ``limit``.
    """
    value = _search(expression, context, "items")
    if not isinstance(value, list):
        raise BlockError(
            f"The items expression {expression!r} evaluated to {json_type(value)}, "
            "not an array; point it at an array such as event.line_items.",
            code="items_not_array",
            path="$.config.items",
        )
    if len(value) > limit:
        raise BlockError(
            f"The items expression {expression!r} returned {len(value)} items, more "
            f"than this For each's limit of {limit}; raise the block's limit (at "
            f"most FOR_EACH_MAX_ITEMS, {settings.FOR_EACH_MAX_ITEMS}) or narrow the "
            "expression.",
            code="items_over_limit",
            path="$.config.limit",
        )
    return value


def _search(expression: str, context: dict[str, Any], key: str) -> Any:
    try:
        return mapping.expression_search(
            mapping.compile_expression(expression), context
        )
    except (
        mapping.ExpressionSyntaxError,
        jmespath_exceptions.JMESPathError,
        TypeError,
        ValueError,
        RecursionError,
    ) as exc:
        raise BlockError(
            f"The {key} {expression!r} cannot be evaluated on this data: {exc}",
            code="expression_failed",
            path=f"$.config.{key}",
        ) from exc
