"""The Insert rows and Upsert rows actions, and the check of a new connection."""

import logging
from typing import Any

from django.conf import settings

from alloy.jsonbody import json_type_phrase
from connectors.registry import ActionContext, ActionError
from connectors.warehouse import columns
from connectors.warehouse.backends import (
    TableSpec,
    WarehouseError,
    WarehouseSession,
    backend_get,
)
from connectors.warehouse.config import VALUES_INPUT, config_problems, table_spec
from connectors.warehouse.connection_url import (
    WarehouseURL,
    WarehouseURLError,
    warehouse_url_parse,
)

logger = logging.getLogger(__name__)

# Characters of a bad value shown in an error message.
VALUE_PREVIEW_LENGTH = 80


def insert_rows(context: ActionContext, data: dict[str, Any]) -> dict[str, Any]:
    return _write(context, data, upsert=False)


def upsert_rows(context: ActionContext, data: dict[str, Any]) -> dict[str, Any]:
    return _write(context, data, upsert=True)


def _write(context: ActionContext, data: dict[str, Any], *, upsert: bool) -> dict:
    problems = config_problems(context.config, upsert=upsert)
    if problems:
        raise ActionError(
            "The step's warehouse config is invalid: "
            + "; ".join(f"{p['path']}: {p['message']}" for p in problems),
            code="invalid_warehouse_config",
            fields=problems,
        )

    table = table_spec(context.config)
    # The engine passes {"rows": [input, ...]} when the config has rows_from,
    # and the one input otherwise.
    inputs = data.get("rows", [data])
    rows = [
        _row_convert(table, index, item.get(VALUES_INPUT) or {}, len(inputs))
        for index, item in enumerate(inputs)
    ]
    result = {"table": table.name, "inserted": 0, "updated": 0, "unchanged": 0}
    if not rows:
        return result

    try:
        url = warehouse_url_parse(context.credentials.get("url", ""))
    except WarehouseURLError as exc:
        raise ActionError(
            f"The warehouse connection is invalid: {exc} Connect the warehouse again.",
            code="warehouse_connection_invalid",
        ) from exc

    try:
        with _session(url) as session:
            if upsert:
                written = session.upsert(table, rows)
            else:
                written = session.insert(table, rows)
    except WarehouseError as exc:
        raise ActionError(exc.message, code=exc.code, retryable=exc.retryable) from exc
    logger.info(
        "warehouse.rows.written",
        extra={
            "table": table.name,
            "inserted": written.inserted,
            "updated": written.updated,
            "unchanged": written.unchanged,
        },
    )
    result.update(
        inserted=written.inserted, updated=written.updated, unchanged=written.unchanged
    )
    return result


def _session(url: WarehouseURL) -> WarehouseSession:
    backend = backend_get(url.backend)
    return backend.connect(url, timeout=settings.WAREHOUSE_CONNECT_TIMEOUT)


def _row_convert(
    table: TableSpec, index: int, values: dict[str, Any], count: int
) -> dict[str, Any]:
    """Convert one row's mapped values to its column types.

    Raises ActionError naming the row, the column, its type and the value.
    """
    row = {}
    where = f"row {index + 1} of {count}" if count > 1 else "the row"
    path = f"$.rows[{index}].values" if count > 1 else "$.values"
    for column in table.columns:
        value = values.get(column.name)
        if value is None and column.name in table.key:
            raise ActionError(
                f"In {where}, the key column {column.name!r} is null or missing; "
                "map it to a value that identifies the row.",
                code="invalid_warehouse_value",
                fields=[{"path": f"{path}.{column.name}", "message": "Missing key."}],
            )
        try:
            row[column.name] = columns.value_convert(column.type, value)
        except columns.ConversionError as exc:
            value_text = repr(value)
            if len(value_text) > VALUE_PREVIEW_LENGTH:
                value_text = value_text[:VALUE_PREVIEW_LENGTH] + "..."
            message = (
                f"In {where}, the value {value_text} of column {column.name!r} "
                f"does not convert to {column.type}: {exc}."
            )
            raise ActionError(
                message,
                code="invalid_warehouse_value",
                fields=[{"path": f"{path}.{column.name}", "message": str(exc)}],
            ) from exc
    return row


def validate_connection(account_id: str, credentials: dict) -> list[dict[str, str]]:
    """Check a warehouse URL: it parses, its host is allowed, and it connects.

    Returns the problems as fields; a message names the URL with its password
    redacted. An empty ``account_id`` is not checked, because the caller
    derives it from the URL.
    """
    url_text = credentials.get("url") if isinstance(credentials, dict) else None
    if url_text is not None and not isinstance(url_text, str):
        return [
            {
                "path": "$.credentials.url",
                "message": "Invalid: the URL must be a string, not "
                f"{json_type_phrase(url_text)}; give the warehouse as a "
                "postgresql:// URL.",
            }
        ]
    if not url_text or not url_text.strip():
        return [
            {
                "path": "$.credentials.url",
                "message": "Missing: give the warehouse as a postgresql:// URL.",
            }
        ]
    try:
        url = warehouse_url_parse(url_text)
    except WarehouseURLError as exc:
        return [{"path": "$.credentials.url", "message": str(exc)}]
    if account_id and url.password and url.password in account_id:
        return [
            {
                "path": "$.account_id",
                "message": "The account id contains the warehouse password; use "
                f"a name such as {url.redacted}, or leave it out.",
            }
        ]
    try:
        with _session(url) as session:
            session.check()
    except WarehouseError as exc:
        return [{"path": "$.credentials.url", "message": exc.message}]
    return []
