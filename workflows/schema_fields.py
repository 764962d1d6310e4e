"""A custom event's JSON Schema as rows of fields, and back, for the field editor.

A row's name is a dotted path: ``customer.email`` is a field of the object
``customer``, and ``line_items[].title`` a field of each object in the array
``line_items``. Keywords the rows do not show (``format``, ``pattern``,
``minItems``, ``additionalProperties``, ...) are copied from the previous
schema to the rebuilt one wherever a field keeps its path and type.
"""

import re
from dataclasses import dataclass
from typing import Any

FIELD_TYPES = ("string", "number", "integer", "boolean", "object", "array")
_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SHOWN_KEYWORDS = {"type", "description", "properties", "items", "required"}


@dataclass
class SchemaField:
    name: str
    type: str
    items: str = ""
    required: bool = False
    description: str = ""


class FieldProblem(ValueError):
    """A row that cannot become part of the schema; ``index`` is its row."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.message = message


def fields_from_schema(schema: Any) -> tuple[list[SchemaField], bool]:
    """Return the rows of an object schema, and whether they show all its fields.

    The second value is False when a field uses a type the rows cannot show,
    such as a list of types or a ``$ref``; such a schema is edited as JSON.
    """
    rows: list[SchemaField] = []
    complete = _walk(schema if isinstance(schema, dict) else {}, "", rows)
    return rows, complete


def _walk(node: dict, prefix: str, rows: list[SchemaField]) -> bool:
    complete = True
    required = set(node.get("required", []))
    for name, child in node.get("properties", {}).items():
        if not isinstance(child, dict) or child.get("type") not in FIELD_TYPES:
            complete = False
            continue
        path = f"{prefix}{name}"
        row = SchemaField(
            name=path,
            type=child["type"],
            required=name in required,
            description=child.get("description", ""),
        )
        rows.append(row)
        if row.type == "object":
            complete &= _walk(child, f"{path}.", rows)
        elif row.type == "array":
            items = child.get("items", {})
            item_type = items.get("type") if isinstance(items, dict) else None
            if item_type not in FIELD_TYPES or item_type == "array":
                complete = False
                continue
            row.items = item_type
            if item_type == "object":
                complete &= _walk(items, f"{path}[].", rows)
    return complete


def schema_from_fields(fields: list[SchemaField], *, previous: Any) -> dict:
    """Build an object schema from rows; raises FieldProblem naming a bad row."""
    previous = previous if isinstance(previous, dict) else {}
    root: dict[str, Any] = _extras(previous, "object") | {
        "type": "object",
        "properties": {},
    }
    containers: dict[str, dict] = {"": root}
    seen: set[str] = set()
    order = sorted(range(len(fields)), key=lambda i: fields[i].name.count("."))
    for index in order:
        row = fields[index]
        parent_path, _, leaf = row.name.rpartition(".")
        _check_row(index, row, leaf, seen)
        seen.add(row.name)
        container = containers.get(parent_path)
        if container is None:
            raise FieldProblem(
                index,
                f"{row.name!r} is inside {parent_path.removesuffix('[]')!r}, which "
                "is not an object field (or an array of objects) above it.",
            )
        old = _find(previous, row.name)
        node: dict[str, Any] = _extras(old, row.type) | {"type": row.type}
        if row.description:
            node["description"] = row.description
        if row.type == "object":
            node["properties"] = {}
            containers[row.name] = node
        elif row.type == "array":
            item_type = row.items or "string"
            old_items = old.get("items") if isinstance(old, dict) else None
            node["items"] = _extras(old_items, item_type) | {"type": item_type}
            if item_type == "object":
                node["items"]["properties"] = {}
                containers[f"{row.name}[]"] = node["items"]
        container["properties"][leaf] = node
        if row.required:
            container.setdefault("required", []).append(leaf)
    return root


def _check_row(index: int, row: SchemaField, leaf: str, seen: set[str]) -> None:
    if row.name in seen:
        raise FieldProblem(
            index, f"Duplicate field name {row.name!r}; each field needs its own name."
        )
    parts = row.name.split(".")
    bad = [p for p in parts[:-1] if not _SEGMENT.match(p.removesuffix("[]"))]
    if bad or not _SEGMENT.match(leaf):
        raise FieldProblem(
            index,
            f"{row.name!r} is not a field name: use letters, digits and _, not "
            "starting with a digit; separate nested fields with '.'.",
        )
    if row.type not in FIELD_TYPES:
        raise FieldProblem(index, f"{row.type!r} is not a field type.")
    if row.type == "array" and row.items == "array":
        raise FieldProblem(
            index, "An array of arrays cannot be drawn as rows; edit the JSON Schema."
        )


def _find(schema: dict, path: str) -> dict | None:
    node: Any = schema
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        if part.endswith("[]"):
            node = node.get("properties", {}).get(part[:-2], {}).get("items")
        else:
            node = node.get("properties", {}).get(part)
    return node if isinstance(node, dict) else None


def _extras(node: Any, type_: str) -> dict:
    """Keywords of ``node`` the rows do not show, kept while its type stays."""
    if not isinstance(node, dict) or node.get("type") != type_:
        return {}
    return {k: v for k, v in node.items() if k not in _SHOWN_KEYWORDS}
