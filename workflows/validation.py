"""Checks a draft must pass to be released: schemas, inputs, expressions, fields.

Field references are checked by walking each JMESPath expression's syntax
tree beside the JSON Schema of the data it reads: the trigger's schema under
``event``, earlier actions' output schemas under ``steps``, the end user's
fields under ``user``, and inside a For each the array's item under ``item``.
"""

import json
from typing import Any

import jsonschema
from django.conf import settings
from jmespath.functions import Functions
from jmespath.parser import ParsedResult
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from connectors import registry, schedule
from workflows import blocks as logic_blocks
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
# A key of the ``steps`` schema in a scope: the steps inside earlier Branch
# and For each blocks, which that scope cannot read, mapped to their container.
_INSIDE = "$inside"
# jmespath's names of the ordering comparators, with the operator each is.
_ORDERING_COMPARATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

Problem = dict[str, str]

_FUNCTIONS = Functions().FUNCTION_TABLE


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
    return _check_references_in_schema(schema, path=path)


def _check_references_in_schema(schema: dict, *, path: str) -> list[Problem]:
    """Reject a ``$ref`` that points outside the schema or resolves to nothing.

    Validation never fetches a remote schema, so such a reference would fail
    every event at intake instead of at release.
    """
    resolver = Registry().resolver_with_root(
        Resource.from_contents(schema, default_specification=DRAFT202012)
    )
    problems: list[Problem] = []
    stack: list[tuple[Any, str]] = [(schema, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            if key not in ("$ref", "$dynamicRef"):
                stack.append((value, f"{where}.{key}"))
                continue
            if not isinstance(value, str) or not value.startswith("#"):
                message = (
                    f"{key} {value!r} points outside the schema; only references "
                    "within it, such as '#/$defs/address', are supported."
                )
            else:
                try:
                    resolver.lookup(value)
                    continue
                except Unresolvable:
                    message = f"{key} {value!r} does not resolve within the schema."
            problems.append({"path": f"{where}.{key}", "message": message})
    return problems


def sample_problems(schema: dict, sample: Any, limit: int = 5) -> list[str]:
    """Return how a sample payload breaks a custom event's schema, first ``limit``."""
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(sample), key=lambda e: list(e.absolute_path))
    return [
        "The sample does not match the schema at $"
        + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path)
        + f": {e.message}"
        for e in errors[:limit]
    ]


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
    """Return every reason the version's blocks cannot be released; empty if none.

    A block may read the trigger, the end user and the steps that certainly
    ran before it: earlier blocks of its own list and of the lists around it,
    but not blocks inside an earlier Branch or For each. Inside a For each,
    ``item`` and ``index`` are the current array item and its index.
    """
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
    lists: dict[tuple[int | None, str], list[Block]] = {}
    for block in blocks[1:]:
        lists.setdefault((block.parent_id, block.branch), []).append(block)
    problems.extend(_check_list(lists.get((None, ""), []), lists, root))
    return problems


def _check_list(
    blocks: list[Block], lists: dict[tuple[int | None, str], list[Block]], scope: dict
) -> list[Problem]:
    """Check one list of blocks in order, adding each one's output to ``scope``."""
    problems: list[Problem] = []
    for block in blocks:
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
        kind = (block.connector, block.operation)
        if kind in logic_blocks.ENGINE_BLOCKS:
            problems.extend(_check_engine_block(block, scope, label))
        else:
            problems.extend(_check_config(block, action, label))
            problems.extend(_check_rows_from(block, scope, label))
            problems.extend(
                _check_mappings(block, action, _block_root(block, scope), label)
            )
        scope["properties"]["steps"]["properties"][block.key] = output_schema(
            block, action
        )
        for name in logic_blocks.CONTAINER_LISTS.get(kind, ()):
            inner = _scope_copy(scope)
            if kind == logic_blocks.FOR_EACH:
                inner["properties"]["item"] = item_schema(block, scope)
                inner["properties"]["index"] = {"type": "integer", "minimum": 0}
            problems.extend(_check_list(lists.get((block.pk, name), []), lists, inner))
        if kind in logic_blocks.CONTAINER_LISTS:
            # Later blocks cannot read these steps; the key names the reason.
            steps = scope["properties"]["steps"]
            steps[_INSIDE] = steps.get(_INSIDE, {}) | dict.fromkeys(
                _nested_keys(block, lists), f"{action.title} '{block.key}'"
            )
    return problems


def _nested_keys(
    container: Block, lists: dict[tuple[int | None, str], list[Block]]
) -> list[str]:
    keys = []
    kind = (container.connector, container.operation)
    for name in logic_blocks.CONTAINER_LISTS.get(kind, ()):
        for block in lists.get((container.pk, name), []):
            keys.append(block.key)
            keys.extend(_nested_keys(block, lists))
    return keys


def _scope_copy(scope: dict) -> dict:
    """Copy a scope so that steps added inside a list stay out of the outer one."""
    steps = scope["properties"]["steps"]
    return {
        **scope,
        "properties": {
            **scope["properties"],
            "steps": {**steps, "properties": dict(steps["properties"])},
        },
    }


def output_schema(block: Block, action: registry.Action) -> dict:
    """Return the JSON Schema of a block's output, as later blocks read it."""
    if input_is_open(action):
        # A Transform's output is its mapped input: one field per mapping.
        names = {m.target.split(".", 1)[0] for m in block.mappings.all()}
        return {"type": "object", "properties": dict.fromkeys(names, _UNKNOWN)}
    return action.output_schema


def item_schema(block: Block, scope: dict) -> dict:
    """Return the schema of a For each's item, from its items expression."""
    try:
        parsed = mapping.compile_expression(block.config.get("items"))
    except mapping.ExpressionSyntaxError:
        return _UNKNOWN
    return _items(_resolve(parsed.parsed, scope, "", []))


def _check_engine_block(block: Block, scope: dict, label: str) -> list[Problem]:
    problems = logic_blocks.config_problems(
        block.connector, block.operation, block.config, path=f"{label}.config"
    )
    if problems:
        return problems
    for key in ("condition", "items"):
        if key in block.config:
            expression = mapping.compile_expression(block.config[key])
            problems.extend(
                _check_references(expression, scope, f"{label}.config.{key}")
            )
    return problems


def input_is_open(action: registry.Action) -> bool:
    """True for an action such as Transform, whose inputs are named by the author."""
    schema = action.input_schema
    return not schema.get("properties") and schema.get("additionalProperties") is True


def input_accepts(action: registry.Action, name: str) -> bool:
    """True when ``name`` can be a top-level input of the action."""
    return name in action.input_schema.get("properties", {}) or input_is_open(action)


def _check_config(block: Block, action: registry.Action, label: str) -> list[Problem]:
    """Return the problems of a block's config, as its action checks them."""
    if action.config_problems is None:
        return []
    targets = [m.target for m in block.mappings.all()]
    return [
        {
            "path": label + problem["path"].removeprefix("$"),
            "message": problem["message"],
        }
        for problem in action.config_problems(block.config, targets)
    ]


def _check_rows_from(block: Block, root: dict, label: str) -> list[Problem]:
    rows_from = block.config.get("rows_from")
    if not rows_from or not isinstance(rows_from, str):
        return []
    try:
        expression = mapping.compile_expression(rows_from)
    except mapping.ExpressionSyntaxError:
        # The action's own config check reports the syntax error.
        return []
    return _check_references(expression, root, f"{label}.config.rows_from")


def _block_root(block: Block, root: dict) -> dict:
    """Add ``item``, the element of the block's ``rows_from`` array, to the context."""
    rows_from = block.config.get("rows_from")
    if not rows_from or not isinstance(rows_from, str):
        return root
    try:
        expression = mapping.compile_expression(rows_from)
    except mapping.ExpressionSyntaxError:
        return root
    unknown: list[str] = []
    array = _resolve(expression.parsed, root, "", unknown)
    properties = {**root["properties"], "item": _items(array)}
    return {**root, "properties": properties}


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
    if trigger.connector == schedule.SCHEDULE:
        return schedule.config_problems(trigger.config, path="blocks.trigger.config")
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
    if input_is_open(action) and not mappings:
        problems.append(
            {
                "path": f"{label}.inputs",
                "message": f"{action.title} builds its output from mappings; map at "
                "least one field.",
            }
        )
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
    for item in mappings:
        path = f"{label}.inputs.{item.target}"
        target_problem = _check_target(action, item)
        if target_problem:
            problems.append({"path": path, "message": target_problem})
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


def _check_target(action: registry.Action, item) -> str | None:
    """Return why a mapping's target or literal value cannot be the action's input."""
    schema: dict = action.input_schema
    walked: list[str] = []
    for name in item.target.split("."):
        properties = schema.get("properties", {})
        if name in properties:
            schema = _as_schema(properties[name])
        elif not walked and not input_accepts(action, name):
            return f"{action.title} has no input {name!r}."
        elif schema.get("additionalProperties") is False:
            return f"The input {'.'.join(walked)!r} has no field {name!r}."
        else:
            schema = _as_schema(schema.get("additionalProperties", True))
        walked.append(name)
    if item.kind == mapping.LITERAL:
        errors = list(
            jsonschema.Draft202012Validator(
                schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
            ).iter_errors(item.value)
        )
        if errors:
            return f"The literal {item.value!r} is not accepted: {errors[0].message}"
    if item.kind == mapping.TEMPLATE:
        declared = schema.get("type")
        types = declared if isinstance(declared, list) else [declared]
        if declared is not None and "string" not in types:
            return (
                f"A template produces text, but this input takes {declared}; "
                "map an expression instead."
            )
    return None


def _check_references(expression: ParsedResult, root: dict, path: str) -> list[Problem]:
    unknown: list[str] = []
    _resolve(expression.parsed, root, "", unknown)
    return [
        {"path": path, "message": f"{expression.expression!r} {problem}."}
        for problem in unknown
    ]


def _as_schema(value: Any) -> dict:
    """Return a subschema as a dict; JSON Schema allows ``true`` and ``false`` too."""
    if isinstance(value, dict):
        return value
    if value is False:
        return {"not": {}}
    return _UNKNOWN


def _scalar_type(schema: dict | None) -> str | None:
    """Return the type of a schema that can never have fields, if it is one."""
    if not schema:
        return None
    declared = schema.get("type")
    types = declared if isinstance(declared, list) else [declared]
    if declared is None or "object" in types:
        return None
    return " or ".join(str(name) for name in types)


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
    if schema and "items" in schema:
        return _as_schema(schema["items"])
    return _UNKNOWN


def _resolve(node: dict, schema: dict | None, where: str, unknown: list[str]) -> dict:
    """Return the schema of ``node``'s result; unknown field names go to ``unknown``."""
    kind = node["type"]
    children = node.get("children", [])
    if kind == "field":
        name = node["value"]
        label = f"{where}.{name}" if where else name
        scalar = _scalar_type(schema)
        if scalar is not None:
            hint = f"; use {where}[*].{name}" if scalar == "array" else ""
            unknown.append(
                f"reads the field {name!r} of '{where}', which is of type "
                f"{scalar} and has no fields{hint}"
            )
            return _UNKNOWN
        properties = _properties(schema)
        if properties is None:
            return _UNKNOWN
        field_schema = _as_schema(properties.get(name, False))
        container = schema.get(_INSIDE, {}).get(name) if schema else None
        if name not in properties and container is not None:
            unknown.append(
                f"reads '{label}', a step inside the {container}; a block after a "
                "Branch or For each cannot read the steps inside it"
            )
            return _UNKNOWN
        if name not in properties or field_schema == {"not": {}}:
            unknown.append(f"references '{label}', which the data does not have")
            return _UNKNOWN
        return field_schema | {"$label": label}
    if kind == "function_expression":
        return _resolve_function(node, schema, where, unknown)
    if kind in ("subexpression", "pipe"):
        current = schema
        for child in children:
            current = _resolve(child, current, _label(current, where), unknown)
        return current
    if kind == "index_expression":
        left = _resolve(children[0], schema, where, unknown)
        if any(child["type"] == "slice" for child in children[1:]):
            # A slice keeps the array; a projection after it reads the items.
            return left
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
        left = _resolve(children[0], schema, where, unknown)
        values = list((_properties(left) or {}).values())
        if values and all(_properties(_as_schema(v)) is not None for v in values):
            # Every value is an object with declared fields: the right side
            # must name a field of at least one of them.
            found: list[list[str]] = []
            for value in values:
                misses: list[str] = []
                _resolve(children[1], _as_schema(value), "", misses)
                found.append(misses)
            if all(found):
                unknown.append(
                    f"reads fields under '{_label(left, where)}.*' that no value "
                    f"has: {found[0][0]}"
                )
        return _UNKNOWN
    if kind == "comparator" and node["value"] in _ORDERING_COMPARATORS:
        return _resolve_ordering(node, schema, where, unknown)
    for child in children:
        # Functions, comparisons and boolean operators read fields of the
        # current value; their own result type is not tracked.
        _resolve(child, schema, where, unknown)
    return _UNKNOWN


def _resolve_ordering(
    node: dict, schema: dict | None, where: str, unknown: list[str]
) -> dict:
    """Check an ordering comparison such as ``event.total > `10```.

    JMESPath orders numbers only (and jmespath also strings), so a string
    field compared with a number is null on every run: that is reported,
    with to_number() as the fix.
    """
    sides = [_resolve(child, schema, where, unknown) for child in node["children"]]
    numbers = [
        _is_number_side(child, side)
        for child, side in zip(node["children"], sides, strict=True)
    ]
    for position, side in enumerate(sides):
        other_is_number = numbers[1 - position]
        if other_is_number and _schema_types(side) == {"string"}:
            label = side.get("$label", "this field")
            unknown.append(
                f"compares '{label}', which is a string, with a number by "
                f"'{_ORDERING_COMPARATORS[node['value']]}', which is null (false) "
                "on every run; "
                f"convert it with to_number({label})"
            )
    return _UNKNOWN


def _is_number_side(node: dict, schema: dict) -> bool:
    if node["type"] == "literal":
        return mapping.is_number(node["value"])
    types = _schema_types(schema)
    return bool(types) and types <= {"number", "integer"}


def _schema_types(schema: dict | None) -> set[str]:
    """Return the JSON types a schema declares, without null; empty when undeclared."""
    declared = (schema or {}).get("type")
    if declared is None:
        return set()
    types = set(declared) if isinstance(declared, list) else {declared}
    return types - {"null"}


# Functions whose expression argument (``&expr``) reads each item of an array
# argument: the function name, then the positions of the array and the expref.
_EXPREF_FUNCTIONS = {
    "sort_by": (0, 1),
    "max_by": (0, 1),
    "min_by": (0, 1),
    "map": (1, 0),
}


def _resolve_function(
    node: dict, schema: dict | None, where: str, unknown: list[str]
) -> dict:
    name = node["value"]
    children = node["children"]
    signature = _FUNCTIONS.get(name, {}).get("signature")
    if signature is None:
        unknown.append(f"calls {name}(), which is not a JMESPath function")
        return _UNKNOWN
    variadic = any(argument.get("variadic") for argument in signature)
    if len(children) < len(signature) or (
        not variadic and len(children) > len(signature)
    ):
        expected = f"{'at least ' if variadic else ''}{len(signature)}"
        unknown.append(
            f"calls {name}() with {len(children)} arguments, but it takes {expected}"
        )
        return _UNKNOWN
    array_position, expref_position = _EXPREF_FUNCTIONS.get(name, (None, None))
    for position, child in enumerate(children):
        if position == expref_position and child["type"] == "expref":
            continue
        resolved = _resolve(child, schema, where, unknown)
        if position == array_position and expref_position is not None:
            expref = children[expref_position]
            if expref["type"] == "expref":
                item_where = _label(resolved, where) + "[]"
                _resolve(expref["children"][0], _items(resolved), item_where, unknown)
    return _UNKNOWN


def _label(schema: dict | None, fallback: str) -> str:
    if schema and "$label" in schema:
        return schema["$label"]
    return fallback
