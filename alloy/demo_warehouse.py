"""The demo's warehouse: create its PostgreSQL database, and read back its rows."""

import psycopg
from psycopg import sql

from connectors.warehouse.connection_url import warehouse_url_parse

# Seconds the demo waits for PostgreSQL before it skips the warehouse.
CONNECT_TIMEOUT = 3


def warehouse_database_create(url: str) -> bool:
    """Create the URL's database unless it exists, and return whether it was created.

    Connects to the server's ``postgres`` database as the URL's user. Raises
    WarehouseURLError for a URL that does not parse, and psycopg.Error when
    the server cannot be reached or rejects the connection.
    """
    parsed = warehouse_url_parse(url)
    with psycopg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.user,
        password=parsed.password,
        dbname="postgres",
        connect_timeout=CONNECT_TIMEOUT,
        autocommit=True,
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [parsed.database]
        ).fetchone()
        if exists:
            return False
        connection.execute(
            sql.SQL("CREATE DATABASE {}").format(sql.Identifier(parsed.database))
        )
        return True


def warehouse_rows(
    url: str, *, order_ids: list[int], customer_ids: list[int]
) -> dict[str, list[tuple]]:
    """Read the demo's orders, order lines and customers back from the warehouse.

    Only rows of the given Shopify ids are read, since the tables keep the
    rows of earlier demos. A table that does not exist reads as no rows.
    """
    queries = {
        "shopify_orders": (
            "SELECT order_id, name, total_price, currency, updated_at "
            "FROM shopify_orders WHERE order_id = ANY(%s) ORDER BY order_id",
            order_ids,
        ),
        "shopify_order_lines": (
            "SELECT order_id, line_item_id, title, quantity, price "
            "FROM shopify_order_lines WHERE order_id = ANY(%s) "
            "ORDER BY line_item_id",
            order_ids,
        ),
        "shopify_customers": (
            "SELECT customer_id, email, first_name, last_name "
            "FROM shopify_customers WHERE customer_id = ANY(%s) ORDER BY customer_id",
            customer_ids,
        ),
    }
    rows: dict[str, list[tuple]] = {}
    with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT) as connection:
        for table, (query, ids) in queries.items():
            exists = connection.execute("SELECT to_regclass(%s)", [table]).fetchone()[0]
            rows[table] = connection.execute(query, [ids]).fetchall() if exists else []
    return rows
