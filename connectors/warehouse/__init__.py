"""The warehouse connector: Insert rows and Upsert rows into a warehouse table."""

from typing import Any

from connectors.registry import Action, Connector, register
from connectors.warehouse import actions, config

ROWS_INPUT: dict[str, Any] = {
    "type": "object",
    "required": [config.VALUES_INPUT],
    "properties": {
        config.VALUES_INPUT: {
            "type": "object",
            "description": "One value per declared column, mapped as values.<column>.",
        },
    },
    "additionalProperties": False,
}

ROWS_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "table": {"type": "string"},
        "inserted": {"type": "integer"},
        "updated": {"type": "integer"},
        "unchanged": {"type": "integer"},
    },
}


def _insert_problems(block_config: dict, targets: list[str]) -> list[dict[str, str]]:
    return config.config_problems(block_config, upsert=False) + config.mapping_problems(
        block_config, targets, upsert=False
    )


def _upsert_problems(block_config: dict, targets: list[str]) -> list[dict[str, str]]:
    return config.config_problems(block_config, upsert=True) + config.mapping_problems(
        block_config, targets, upsert=True
    )


connector = register(
    Connector(
        key="warehouse",
        title="Warehouse",
        validate_connection=actions.validate_connection,
        actions={
            "insert_rows": Action(
                connector="warehouse",
                name="insert_rows",
                title="Insert rows",
                description=(
                    "Inserts rows into a warehouse table, creating the table from "
                    "the declared column types if it is missing."
                ),
                input_schema=ROWS_INPUT,
                output_schema=ROWS_OUTPUT,
                execute=actions.insert_rows,
                config_problems=_insert_problems,
                input_targets=config.column_targets,
            ),
            "upsert_rows": Action(
                connector="warehouse",
                name="upsert_rows",
                title="Upsert rows",
                description=(
                    "Inserts rows, or updates the row with the same key; a row "
                    "with a newer version column is never overwritten."
                ),
                input_schema=ROWS_INPUT,
                output_schema=ROWS_OUTPUT,
                execute=actions.upsert_rows,
                config_problems=_upsert_problems,
                input_targets=config.column_targets,
            ),
        },
    )
)
