"""A warehouse step's config: the checks on table and column names."""

import pytest

from connectors.warehouse.config import SYSTEM_COLUMNS, config_problems


def orders_config(**changes) -> dict:
    config = {
        "table": "orders",
        "columns": [
            {"name": "order_id", "type": "bigint"},
            {"name": "total", "type": "numeric"},
        ],
        "key": ["order_id"],
    }
    config.update(changes)
    return config


def test_orders_config_has_no_problems():
    assert config_problems(orders_config(), upsert=True) == []


@pytest.mark.parametrize("table", ["pg_class", "pg_orders", "pg_"])
def test_pg_table_rejected(table):
    [problem] = config_problems(orders_config(table=table), upsert=True)
    assert problem["path"] == "$.config.table"
    assert f"The table name {table!r} starts with 'pg_'" in problem["message"]


def test_table_containing_pg_accepted():
    assert config_problems(orders_config(table="orders_pg_copy"), upsert=True) == []


@pytest.mark.parametrize("column", sorted(SYSTEM_COLUMNS))
def test_system_column_rejected(column):
    columns = [
        {"name": "order_id", "type": "bigint"},
        {"name": column, "type": "text"},
    ]
    [problem] = config_problems(orders_config(columns=columns), upsert=True)
    assert problem["path"] == "$.config.columns[1].name"
    assert (
        f"The column name {column!r} is a PostgreSQL system column"
        in (problem["message"])
    )


def test_system_column_key_rejected():
    columns = [{"name": "ctid", "type": "text"}]
    problems = config_problems(
        orders_config(columns=columns, key=["ctid"]), upsert=True
    )
    paths = [problem["path"] for problem in problems]
    assert paths == ["$.config.columns[0].name", "$.config.key"]


def test_system_columns_match_postgresql(warehouse):
    rows = warehouse(
        "SELECT attname FROM pg_attribute "
        "WHERE attrelid = 'pg_class'::regclass AND attnum < 0"
    )
    assert {name for (name,) in rows} == SYSTEM_COLUMNS
