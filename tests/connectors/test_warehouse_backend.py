"""The PostgreSQL backend on its own: concurrent upserts and table creation."""

import threading

import pytest
from django.conf import settings

from connectors.warehouse.backends import Column, TableSpec, backend_get
from connectors.warehouse.connection_url import warehouse_url_parse

TABLE = TableSpec(
    name="concurrent_orders",
    columns=(Column("order_id", "bigint"), Column("note", "text")),
    key=("order_id",),
)


def upsert_at_once(url: str, rows_per_thread: list[list[dict]]) -> list:
    """Run one upsert per thread, all released together; return each outcome."""
    backend = backend_get("postgresql")
    parsed = warehouse_url_parse(url)
    start = threading.Barrier(len(rows_per_thread))
    outcomes: list = [None] * len(rows_per_thread)

    def write(index: int, rows: list[dict]) -> None:
        with backend.connect(
            parsed, timeout=settings.WAREHOUSE_CONNECT_TIMEOUT
        ) as session:
            start.wait()
            try:
                outcomes[index] = session.upsert(TABLE, rows)
            except Exception as exc:  # the test reports every error
                outcomes[index] = exc

    threads = [
        threading.Thread(target=write, args=(index, rows))
        for index, rows in enumerate(rows_per_thread)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.parametrize("writers", [2, 6])
def test_concurrent_duplicates_one_row(warehouse_url, warehouse, writers):
    outcomes = upsert_at_once(
        warehouse_url, [[{"order_id": 7, "note": "same"}]] * writers
    )
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert errors == []
    assert warehouse("SELECT count(*) FROM concurrent_orders") == [(1,)]
    assert sum(o.inserted for o in outcomes) == 1
    assert sum(o.unchanged for o in outcomes) == writers - 1
