"""The mapping engine: action inputs from literals, JMESPath expressions or templates.

Expressions run over the run context ``{"event": ..., "steps": {key: output},
"user": {...}}``. A template is text with expressions inside ``{{ }}``, such
as ``"Order from {{ event.email }}"``. Parsed expressions are cached, since
released versions never change and the same few strings are evaluated for
every run.
"""

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

import jmespath
from jmespath import exceptions as jmespath_exceptions
from jmespath import visitor
from jmespath.parser import ParsedResult

LITERAL = "literal"
EXPRESSION = "expression"
TEMPLATE = "template"
KINDS = (LITERAL, EXPRESSION, TEMPLATE)

_TEMPLATE_PART = re.compile(r"{{(.*?)}}", re.DOTALL)


class ExpressionSyntaxError(ValueError):
    """An expression or template that does not parse, with the parser's reason."""


@dataclass(frozen=True)
class MappingFailure:
    target: str
    message: str

    def as_field(self) -> dict[str, str]:
        return {"path": f"$.{self.target}", "message": self.message}


class _Interpreter(visitor.TreeInterpreter):
    """JMESPath evaluation whose ordering comparisons never raise.

    The JMESPath specification makes ``<``, ``<=``, ``>`` and ``>=`` null
    unless both sides are numbers. jmespath 1.1 also orders two strings, which
    is kept, but it raises TypeError on a string against a number, such as
    Shopify's money string "15.00" against `10`; that comparison is null here.
    """

    def visit_comparator(self, node: dict, value: Any) -> Any:
        if node["value"] in self._EQUALITY_OPS:
            return super().visit_comparator(node, value)
        left = self.visit(node["children"][0], value)
        right = self.visit(node["children"][1], value)
        numbers = is_number(left) and is_number(right)
        strings = isinstance(left, str) and isinstance(right, str)
        if not (numbers or strings):
            return None
        return self.COMPARATOR_FUNC[node["value"]](left, right)


def is_number(value: Any) -> bool:
    """True for a JSON number; Python's booleans are ints but JSON's are not."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def expression_search(parsed: ParsedResult, data: Any) -> Any:
    """Evaluate a compiled expression on ``data`` by the JMESPath specification."""
    return _Interpreter(visitor.Options()).visit(parsed.parsed, data)


@functools.lru_cache(maxsize=4096)
def compile_expression(text: str) -> ParsedResult:
    if not isinstance(text, str) or not text.strip():
        raise ExpressionSyntaxError("the expression is empty")
    try:
        return jmespath.compile(text)
    except jmespath_exceptions.JMESPathError as exc:
        raise ExpressionSyntaxError(_parser_message(exc)) from exc
    except RecursionError:
        raise ExpressionSyntaxError(
            "the expression nests too deeply to parse; simplify it"
        ) from None


@functools.lru_cache(maxsize=4096)
def parse_template(text: str) -> tuple[str | ParsedResult, ...]:
    """Split a template into literal text and compiled expressions."""
    if not isinstance(text, str):
        raise ExpressionSyntaxError("a template must be a string")
    if text.count("{{") != text.count("}}"):
        raise ExpressionSyntaxError("unbalanced '{{' and '}}'")
    parts: list[str | ParsedResult] = []
    position = 0
    for match in _TEMPLATE_PART.finditer(text):
        if match.start() > position:
            parts.append(text[position : match.start()])
        parts.append(compile_expression(match.group(1).strip()))
        position = match.end()
    if position < len(text):
        parts.append(text[position:])
    return tuple(parts)


def expressions_of(kind: str, value: Any) -> list[ParsedResult]:
    """Return the compiled expressions a mapping uses; raises ExpressionSyntaxError."""
    if kind == EXPRESSION:
        return [compile_expression(value)]
    if kind == TEMPLATE:
        return [part for part in parse_template(value) if not isinstance(part, str)]
    return []


def evaluate(
    mappings: list[tuple[str, str, Any]],
    context: dict[str, Any],
    *,
    required: set[str] | frozenset[str] = frozenset(),
) -> tuple[dict[str, Any], list[MappingFailure]]:
    """Build an action's input from ``(target, kind, value)`` mappings.

    A source field that is missing fails the mapping when its input is
    required (by the top-level name of its target); for an optional input the
    field is left out. Returns the input and every failure, so a step error
    can name all of them at once.
    """
    result: dict[str, Any] = {}
    failures: list[MappingFailure] = []
    for target, kind, value in mappings:
        root = target.split(".", 1)[0]
        try:
            mapped = _evaluate_one(kind, value, context)
        except _MissingField as missing:
            if root in required:
                failures.append(MappingFailure(target, str(missing)))
            continue
        except (ExpressionSyntaxError, jmespath_exceptions.JMESPathError) as exc:
            failures.append(MappingFailure(target, f"cannot evaluate: {exc}"))
            continue
        except (TypeError, ValueError, RecursionError) as exc:
            # JMESPath functions and comparisons raise these on data of the
            # wrong type, e.g. a string compared with a number.
            failures.append(
                MappingFailure(target, f"cannot evaluate {value!r} on this data: {exc}")
            )
            continue
        _assign(result, target, mapped)
    return result, failures


class _MissingField(Exception):
    pass


def _evaluate_one(kind: str, value: Any, context: dict[str, Any]) -> Any:
    if kind == LITERAL:
        return value
    if kind == EXPRESSION:
        return _search(compile_expression(value), value, context)
    if kind == TEMPLATE:
        rendered = []
        for part in parse_template(value):
            if isinstance(part, str):
                rendered.append(part)
            else:
                rendered.append(_render(_search(part, part.expression, context)))
        return "".join(rendered)
    raise ExpressionSyntaxError(f"unknown mapping kind {kind!r}")


def _search(parsed: ParsedResult, text: str, context: dict[str, Any]) -> Any:
    found = expression_search(parsed, context)
    if found is None:
        missing = _missing_path(parsed.parsed, context)
        if missing is not None:
            raise _MissingField(
                f"{text!r} found no value: {missing} is missing from the run data"
            )
        if not _is_plain_path(parsed.parsed):
            raise _MissingField(f"{text!r} evaluated to null")
    return found


def _render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _assign(result: dict[str, Any], target: str, value: Any) -> None:
    *parents, leaf = target.split(".")
    node = result
    for name in parents:
        child = node.get(name)
        if not isinstance(child, dict):
            child = node[name] = {}
        node = child
    node[leaf] = value


def _path_steps(node: dict) -> list[tuple[str, Any]] | None:
    """Flatten a chain of fields and indexes, or None for anything else."""
    kind = node["type"]
    if kind == "field":
        return [("field", node["value"])]
    if kind == "subexpression":
        steps: list[tuple[str, Any]] = []
        for child in node["children"]:
            child_steps = _path_steps(child)
            if child_steps is None:
                return None
            steps.extend(child_steps)
        return steps
    if kind == "index_expression":
        # jmespath 1.x builds ``a[0][3]`` as one node with the field and then
        # each index as children.
        left, *indexes = node["children"]
        steps = _path_steps(left)
        if steps is None or any(index["type"] != "index" for index in indexes):
            return None
        return [*steps, *(("index", index["value"]) for index in indexes)]
    return None


def _is_plain_path(node: dict) -> bool:
    return _path_steps(node) is not None


def _missing_path(node: dict, context: Any) -> str | None:
    """Name the first part of a plain path that the context lacks, if any.

    A path whose last field is present but null is not missing.
    """
    steps = _path_steps(node)
    if steps is None:
        return None
    current = context
    walked = ""
    for kind, name in steps:
        if kind == "field":
            label = f"{walked}.{name}" if walked else name
            if not isinstance(current, dict) or name not in current:
                return f"field '{label}'"
            current = current[name]
        else:
            label = f"{walked}[{name}]"
            if not isinstance(current, list) or not -len(current) <= name < len(
                current
            ):
                return f"item '{label}'"
            current = current[name]
        walked = label
    return None


def _parser_message(exc: jmespath_exceptions.JMESPathError) -> str:
    if isinstance(exc, jmespath_exceptions.ParseError):
        if exc.token_value is None:
            return f"{exc.msg} at position {exc.lex_position}, the end of the text"
        return f"{exc.msg} at position {exc.lex_position} near {exc.token_value!r}"
    return str(exc).splitlines()[0]
