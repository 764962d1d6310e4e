"""Checks a draft must pass to be released: schemas, inputs, expressions, fields.

Field references are checked by walking each JMESPath expression's syntax
tree beside the JSON Schema of the data it reads: the trigger's schema under
``event``, earlier actions' output schemas under ``steps``, and the end user's
fields under ``user``.
"""

import json
from typing import Any

import jsonschema
from django.conf import settings
from jmespath.parser import ParsedResult

from connectors import registry
from workflows import mapping
from workflows.models import Block

USER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "Your id for the end user."},
        "name": {"type": "string"},
        "email": {"type": "string"},
    },
}

# Any value; nothing below it can be checked.
_UNKNOWN: dict[str, Any] = {}

Problem = dict[str, str]


def trigger_schema(block: Block) -> dict[str, Any] | None:
    if block.connector == "custom":
        return block.config.get("schema")
    trigger = registry.trigger_get(block.connector, block.operation)
    return trigger.output_schema if trigger else None


def check_custom_event_schema(schema: Any, *, path: str) -> list[Problem]:
    if not isinstance(schema, dict):
        return [{"path": path, "message": "The schema must be a JSON object."}]
    size = len(json.dumps(schema, separators=(",", ":"), default=str).encode())
    if size > settings.SCHEMA_MAX_BYTES:
        return [
            {
                "path": path,
                "message": f"The schema is {size} bytes as JSON, more than the "
                f"limit of {settings.SCHEMA_MAX_BYTES} (SCHEMA_MAX_BYTES); split "
                "or simplify it.",
            }
        ]
    depth = _nesting_depth(schema)
    if depth > settings.SCHEMA_MAX_DEPTH:
        return [
            {
                "path": path,
                "message": f"The schema nests {depth} levels deep, more than the "
                f"limit of {settings.SCHEMA_MAX_DEPTH} (SCHEMA_MAX_DEPTH); flatten "
                "it or use $defs.",
            }
        ]
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        location = "".join(f"[{part!r}]" for part in exc.absolute_path)
        return [
            {
                "path": f"{path}{location}",
                "message": f"Not a valid JSON Schema: {exc.message}",
            }
        ]
    if schema.get("type") != "object":
        return [
            {"path": path, "message": 'The event schema must have "type": "object".'}
        ]
    return []


def _nesting_depth(value: Any) -> int:
    """Count the levels of objects and arrays, without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_version(blocks: list[Block]) -> list[Problem]:
    """Return every reason the version's blocks cannot be released; empty if none."""
    problems: list[Problem] = []
    if not blocks or blocks[0].kind != Block.Kind.TRIGGER:
        return [{"path": "blocks", "message": "The workflow has no trigger block."}]

    trigger = blocks[0]
    problems.extend(_check_trigger(trigger))
    event_schema = trigger_schema(trigger) or _UNKNOWN
    root: dict[str, Any] = {
        "type": "object",
        "properties": {
            "event": event_schema,
            "steps": {"type": "object", "properties": {}},
            "user": USER_SCHEMA,
        },
    }
    for block in blocks[1:]:
        action = registry.action_get(block.connector, block.operation)
        label = f"blocks.{block.key}"
        if action is None:
            problems.append(
                {
                    "path": label,
                    "message": f"Unknown action {block.connector}.{block.operation}.",
                }
            )
            continue
        problems.extend(_check_mappings(block, action, root, label))
        root["properties"]["steps"]["properties"][block.key] = action.output_schema
    return problems


def _check_trigger(trigger: Block) -> list[Problem]:
    if trigger.connector == "custom":
        problems = []
        if not trigger.config.get("event_name"):
            problems.append(
                {
                    "path": "blocks.trigger.config.event_name",
                    "message": "A custom event needs a name.",
                }
            )
        problems.extend(
            check_custom_event_schema(
                trigger.config.get("schema"), path="blocks.trigger.config.schema"
            )
        )
        return problems
    if registry.trigger_get(trigger.connector, trigger.operation) is None:
        return [
            {
                "path": "blocks.trigger",
                "message": f"Unknown trigger {trigger.connector}.{trigger.operation}.",
            }
        ]
    return []


def _check_mappings(
    block: Block, action: registry.Action, root: dict, label: str
) -> list[Problem]:
    problems: list[Problem] = []
    mappings = list(block.mappings.all())
    mapped_roots = {m.target.split(".", 1)[0] for m in mappings}
    for name in action.required_inputs:
        if name not in mapped_roots:
            problems.append(
                {
                    "path": f"{label}.inputs.{name}",
                    "message": f"The required input {name!r} is not mapped.",
                }
            )
    groups = [g.get("required", []) for g in action.input_schema.get("anyOf", [])]
    if groups and not any(set(group) <= mapped_roots for group in groups):
        choices = " or ".join("+".join(group) for group in groups)
        problems.append(
            {
                "path": f"{label}.inputs",
                "message": f"Map at least one of: {choices}.",
            }
        )
    known_inputs = action.input_schema.get("properties", {})
    for item in mappings:
        path = f"{label}.inputs.{item.target}"
        top = item.target.split(".", 1)[0]
        if top not in known_inputs:
            problems.append(
                {"path": path, "message": f"{action.title} has no input {top!r}."}
            )
        try:
            expressions = mapping.expressions_of(item.kind, item.value)
        except mapping.ExpressionSyntaxError as exc:
            problems.append(
                {"path": path, "message": f"The {item.kind} does not parse: {exc}"}
            )
            continue
        for expression in expressions:
            problems.extend(_check_references(expression, root, path))
    return problems


def _check_references(expression: ParsedResult, root: dict, path: str) -> list[Problem]:
    unknown: list[str] = []
    _resolve(expression.parsed, root, "", unknown)
    return [
        {
            "path": path,
            "message": f"{expression.expression!r} references {name}, which the "
            "data does not have.",
        }
        for name in unknown
    ]


def _properties(schema: dict | None) -> dict | None:
    """The declared fields of an object schema, or None when any field may appear.

    Declared ``properties`` are the fields a mapping may reference, even where
    the schema admits others, because an undeclared field is most often a typo.
    Only a map-like schema, whose ``additionalProperties`` is a schema of its
    own, accepts any name.
    """
    if not schema or "properties" not in schema:
        return None
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict) and extra:
        return None
    return schema["properties"]


def _items(schema: dict | None) -> dict:
    if schema and isinstance(schema.get("items"), dict):
        return schema["items"]
    return _UNKNOWN


def _resolve(node: dict, schema: dict | None, where: str, unknown: list[str]) -> dict:
    """Return the schema of ``node``'s result; unknown field names go to ``unknown``."""
    kind = node["type"]
    children = node.get("children", [])
    if kind == "field":
        name = node["value"]
        label = f"{where}.{name}" if where else name
        properties = _properties(schema)
        if properties is None:
            return _UNKNOWN
        if name not in properties:
            unknown.append(f"'{label}'")
            return _UNKNOWN
        return properties[name] | {"$label": label}
    if kind in ("subexpression", "pipe"):
        current = schema
        for child in children:
            current = _resolve(child, current, _label(current, where), unknown)
        return current
    if kind == "index_expression":
        left = _resolve(children[0], schema, where, unknown)
        return _items(left) | {"$label": _label(left, where) + "[]"}
    if kind in ("projection", "filter_projection"):
        left = _resolve(children[0], schema, where, unknown)
        item = _items(left)
        item_where = _label(left, where) + "[]"
        if kind == "filter_projection":
            _resolve(children[2], item, item_where, unknown)
        right = _resolve(children[1], item, item_where, unknown)
        return {"type": "array", "items": right}
    if kind == "flatten":
        inner = _resolve(children[0], schema, where, unknown)
        return {"type": "array", "items": _items(_items(inner)) or _items(inner)}
    if kind == "multi_select_dict":
        properties = {}
        for pair in children:
            properties[pair["value"]] = _resolve(
                pair["children"][0], schema, where, unknown
            )
        return {"type": "object", "properties": properties}
    if kind == "multi_select_list":
        for child in children:
            _resolve(child, schema, where, unknown)
        return {"type": "array"}
    if kind in ("current", "identity"):
        return schema or _UNKNOWN
    if kind == "value_projection":
        _resolve(children[0], schema, where, unknown)
        return _UNKNOWN
    for child in children:
        # Functions, comparisons and boolean operators read fields of the
        # current value; their own result type is not tracked.
        _resolve(child, schema, where, unknown)
    return _UNKNOWN


def _label(schema: dict | None, fallback: str) -> str:
    if schema and "$label" in schema:
        return schema["$label"]
    return fallback
