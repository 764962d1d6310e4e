"""The config of a warehouse step: table, typed columns, key, version column, rows.

A step's block config looks like::

    {"table": "orders",
     "columns": [{"name": "order_id", "type": "bigint"},
                 {"name": "total", "type": "numeric"}],
     "key": ["order_id"],
     "version_column": "updated_at",
     "rows_from": "event.line_items"}

Each column's value is mapped to the input ``values.<column>``. With
``rows_from`` (a JMESPath expression that yields an array) the mappings are
evaluated once per item, with the item as ``item`` beside ``event``.
"""

import re
from typing import Any

from connectors.warehouse import columns
from connectors.warehouse.backends import Column, TableSpec

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
MAX_COLUMNS = 200
# PostgreSQL reserves the pg_ prefix for system tables, and an unqualified
# name such as pg_class resolves to the catalog in pg_catalog first.
RESERVED_TABLE_PREFIX = "pg_"
# PostgreSQL's system columns, which every table has (PostgreSQL 12 and later).
SYSTEM_COLUMNS = frozenset({"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"})
# Types that order versions: an upsert keeps the row with the larger value.
VERSION_TYPES = (columns.TIMESTAMPTZ, columns.BIGINT, columns.NUMERIC)
VALUES_INPUT = "values"

Problem = dict[str, str]


def _identifier_problem(value: Any, label: str) -> str | None:
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        return (
            f"The {label} {value!r} is not a valid name: use lower-case letters, "
            "digits and _, starting with a letter or _, at most 63 characters."
        )
    return None


def config_problems(config: dict[str, Any], *, upsert: bool) -> list[Problem]:
    """Return every problem of a warehouse step's config, each with its path."""
    problems: list[Problem] = []
    table = config.get("table")
    table_problem = _identifier_problem(table, "table name")
    if not table_problem and table.startswith(RESERVED_TABLE_PREFIX):
        table_problem = (
            f"The table name {table!r} starts with {RESERVED_TABLE_PREFIX!r}, "
            "which PostgreSQL reserves for its system catalogs; choose another name."
        )
    if table_problem:
        problems.append({"path": "$.config.table", "message": table_problem})

    declared = config.get("columns")
    names: dict[str, str] = {}
    if not isinstance(declared, list) or not declared:
        problems.append(
            {
                "path": "$.config.columns",
                "message": "Declare at least one column, each with a name and a "
                f"type ({', '.join(columns.COLUMN_TYPES)}).",
            }
        )
        declared = []
    elif len(declared) > MAX_COLUMNS:
        problems.append(
            {
                "path": "$.config.columns",
                "message": f"A table may have at most {MAX_COLUMNS} columns.",
            }
        )
    for index, column in enumerate(declared):
        problems.extend(_column_problems(index, column, names))

    problems.extend(_key_problems(config, names, upsert=upsert))
    rows_from = config.get("rows_from")
    if rows_from not in (None, ""):
        problems.extend(_rows_from_problems(rows_from))
    return problems


def _column_problems(index: int, column: Any, names: dict[str, str]) -> list[Problem]:
    path = f"$.config.columns[{index}]"
    if not isinstance(column, dict):
        return [{"path": path, "message": "A column is an object with name and type."}]
    problems = []
    name = column.get("name")
    problem = _identifier_problem(name, "column name")
    if not problem and name in SYSTEM_COLUMNS:
        problem = (
            f"The column name {name!r} is a PostgreSQL system column "
            f"({', '.join(sorted(SYSTEM_COLUMNS))}); choose another name."
        )
    if problem:
        problems.append({"path": f"{path}.name", "message": problem})
    elif name in names:
        problems.append(
            {
                "path": f"{path}.name",
                "message": f"The column {name!r} is declared twice.",
            }
        )
    column_type = column.get("type")
    if column_type not in columns.COLUMN_TYPES:
        problems.append(
            {
                "path": f"{path}.type",
                "message": f"The column type {column_type!r} is not supported; use "
                f"one of {', '.join(columns.COLUMN_TYPES)}.",
            }
        )
    elif not problem:
        names[name] = column_type
    return problems


def _key_problems(
    config: dict[str, Any], names: dict[str, str], *, upsert: bool
) -> list[Problem]:
    problems = []
    key = config.get("key") or []
    if upsert and (not isinstance(key, list) or not key):
        problems.append(
            {
                "path": "$.config.key",
                "message": "An upsert needs a key: the columns that identify a row, "
                "such as the order id.",
            }
        )
        key = []
    if not upsert and key:
        problems.append(
            {
                "path": "$.config.key",
                "message": "Insert rows takes no key; use Upsert rows to write "
                "by a key.",
            }
        )
    for name in key if isinstance(key, list) else []:
        if name not in names:
            problems.append(
                {
                    "path": "$.config.key",
                    "message": f"The key column {name!r} is not a declared column.",
                }
            )
    if isinstance(key, list) and len(set(key)) != len(key):
        problems.append(
            {"path": "$.config.key", "message": "The key names a column twice."}
        )
    version = config.get("version_column") or None
    if version is not None:
        if not upsert:
            problems.append(
                {
                    "path": "$.config.version_column",
                    "message": "Only Upsert rows compares versions; remove the "
                    "version column or use Upsert rows.",
                }
            )
        elif names.get(version) not in VERSION_TYPES:
            problems.append(
                {
                    "path": "$.config.version_column",
                    "message": f"The version column {version!r} must be a declared "
                    f"column of type {', '.join(VERSION_TYPES)}.",
                }
            )
        elif version in key:
            problems.append(
                {
                    "path": "$.config.version_column",
                    "message": f"The version column {version!r} cannot be part of "
                    "the key.",
                }
            )
    return problems


def _rows_from_problems(rows_from: Any) -> list[Problem]:
    from workflows import mapping

    if not isinstance(rows_from, str) or not rows_from.strip():
        return [
            {
                "path": "$.config.rows_from",
                "message": "rows_from must be a JMESPath expression, such as "
                "event.line_items.",
            }
        ]
    try:
        mapping.compile_expression(rows_from)
    except mapping.ExpressionSyntaxError as exc:
        return [
            {
                "path": "$.config.rows_from",
                "message": f"The expression {rows_from!r} does not parse: {exc}.",
            }
        ]
    return []


def mapping_problems(
    config: dict[str, Any], targets: list[str], *, upsert: bool
) -> list[Problem]:
    """Return the problems of a step's mapping targets against its columns.

    Every target must be ``values.<declared column>``, and every key column
    must be mapped.
    """
    declared = {
        c.get("name") for c in config.get("columns") or [] if isinstance(c, dict)
    }
    problems = []
    mapped = set()
    for target in targets:
        root, _, name = target.partition(".")
        if root != VALUES_INPUT or not name or "." in name:
            problems.append(
                {
                    "path": f"$.inputs.{target}",
                    "message": f"Map each column as values.<column>, not {target!r}.",
                }
            )
        elif name not in declared:
            problems.append(
                {
                    "path": f"$.inputs.{target}",
                    "message": f"{name!r} is not a declared column; declare it or "
                    "remove the mapping.",
                }
            )
        mapped.add(name)
    key = config.get("key") if upsert else []
    for name in key if isinstance(key, list) else []:
        if name not in mapped:
            problems.append(
                {
                    "path": f"$.inputs.values.{name}",
                    "message": f"The key column {name!r} is not mapped.",
                }
            )
    return problems


def table_spec(config: dict[str, Any]) -> TableSpec:
    """Return the table a checked config declares."""
    return TableSpec(
        name=config["table"],
        columns=tuple(Column(c["name"], c["type"]) for c in config["columns"]),
        key=tuple(config.get("key") or ()),
        version_column=config.get("version_column") or None,
    )


def column_targets(config: dict[str, Any]) -> list[tuple[str, dict, bool]]:
    """List a step's mapping targets, one per column: ``(target, schema, required)``."""
    key = config.get("key") or []
    targets = []
    for column in config.get("columns") or []:
        if not isinstance(column, dict) or not isinstance(column.get("name"), str):
            continue
        column_type = column.get("type", "")
        schema = {
            "description": columns.COLUMN_TYPE_DESCRIPTIONS.get(column_type, ""),
            "type": column_type or "any",
        }
        targets.append(
            (f"{VALUES_INPUT}.{column['name']}", schema, column["name"] in key)
        )
    return targets
