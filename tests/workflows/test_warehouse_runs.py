"""Warehouse steps in real runs: Shopify webhooks to typed PostgreSQL rows."""

import copy
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from integrations import services as integration_services
from integrations.models import Connection
from tests.conftest import SHOP_DOMAIN
from workflows.models import Run
from workflows.services import versions
from workflows.services.intake import app_event_ingest
from workflows.services.replays import run_replay

pytestmark = pytest.mark.django_db(transaction=True)

SAMPLES = Path(__file__).resolve().parents[2] / "connectors/shopify/samples"
# Above 2**53: a double cannot hold it, so only an exact path keeps it.
BIG_ORDER_ID = 9007199254740993

ORDER_COLUMNS = [
    {"name": "order_id", "type": "bigint"},
    {"name": "name", "type": "text"},
    {"name": "total_price", "type": "numeric"},
    {"name": "updated_at", "type": "timestamptz"},
    {"name": "customer", "type": "jsonb"},
    {"name": "test", "type": "boolean"},
]
ORDER_MAPPINGS = [
    ("values.order_id", "expression", "event.id"),
    ("values.name", "expression", "event.name"),
    ("values.total_price", "expression", "event.total_price"),
    ("values.updated_at", "expression", "event.updated_at"),
    ("values.customer", "expression", "event.customer"),
    ("values.test", "expression", "event.test"),
]
ORDERS_UPSERT = {
    "table": "shopify_orders",
    "columns": ORDER_COLUMNS,
    "key": ["order_id"],
    "version_column": "updated_at",
}
LINE_ITEMS_UPSERT = {
    "table": "shopify_line_items",
    "columns": [
        {"name": "line_item_id", "type": "bigint"},
        {"name": "order_id", "type": "bigint"},
        {"name": "sku", "type": "text"},
        {"name": "quantity", "type": "bigint"},
        {"name": "price", "type": "numeric"},
    ],
    "key": ["line_item_id"],
    "rows_from": "event.line_items",
}
LINE_ITEM_MAPPINGS = [
    ("values.line_item_id", "expression", "item.id"),
    ("values.order_id", "expression", "event.id"),
    ("values.sku", "expression", "item.sku"),
    ("values.quantity", "expression", "item.quantity"),
    ("values.price", "expression", "item.price"),
]


def order_sample(**changes) -> dict:
    order = json.loads((SAMPLES / "orders_create.json").read_text())
    order.update(changes)
    return order


@pytest.fixture
def integration(workspace, end_user, connection, warehouse_url):
    """A Shopify integration installed for the end user, its warehouse connected."""
    integration_services.warehouse_connection_set(
        workspace=workspace, url=warehouse_url
    )
    integration = integration_services.integration_create(
        workspace=workspace, name="Shopify to warehouse", app="shopify"
    )
    integration_services.installation_create(
        end_user=end_user, integration=integration, connection=connection
    )
    return integration


def publish(integration, *, trigger, operation, config, mappings, key="write"):
    """Create a workflow from ``trigger`` to one warehouse step; release, publish."""
    workflow = versions.workflow_create(
        integration=integration,
        name=f"{trigger} to {config['table']} ({operation})",
        trigger_connector="shopify",
        trigger_operation=trigger,
    )
    draft = workflow.versions.get()
    block = versions.action_add(
        version=draft,
        key=key,
        connector="warehouse",
        operation=operation,
        config=config,
        retry={"max_attempts": 1},
    )
    for target, kind, value in mappings:
        versions.mapping_set(block=block, target=target, kind=kind, value=value)
    versions.version_release(version=draft)
    versions.version_publish(version=draft)
    return workflow


def deliver(rq_worker, data, *, topic="orders/create") -> Run:
    """Ingest one Shopify webhook delivery, run its workflow, return the run."""
    results = app_event_ingest(
        connector="shopify",
        account_id=SHOP_DOMAIN,
        topic=topic,
        delivery_id=str(uuid.uuid4()),
        data=data,
        app_event_id=str(uuid.uuid4()),
    )
    rq_worker()
    run_id = results[0].runs[0].pk
    return Run.objects.get(pk=run_id)


def step_of(run: Run, key: str = "write"):
    return run.steps.get(key=key)


@pytest.fixture
def orders_workflow(integration):
    return publish(
        integration,
        trigger="order_created",
        operation="upsert_rows",
        config=ORDERS_UPSERT,
        mappings=ORDER_MAPPINGS,
    )


def test_upsert_creates_typed_table(orders_workflow, rq_worker, warehouse):
    run = deliver(rq_worker, order_sample(id=BIG_ORDER_ID))
    assert run.status == Run.Status.SUCCEEDED
    types = dict(
        warehouse(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'shopify_orders'"
        )
    )
    assert types == {
        "order_id": "bigint",
        "name": "text",
        "total_price": "numeric",
        "updated_at": "timestamp with time zone",
        "customer": "jsonb",
        "test": "boolean",
    }


def test_upsert_keeps_exact_id_and_money(orders_workflow, rq_worker, warehouse):
    deliver(rq_worker, order_sample(id=BIG_ORDER_ID, total_price="1234567.10"))
    [(order_id, total, updated_at, customer, test)] = warehouse(
        "SELECT order_id, total_price, updated_at, customer, test FROM shopify_orders"
    )
    assert order_id == BIG_ORDER_ID
    assert total == Decimal("1234567.10")
    assert updated_at == datetime(2026, 4, 2, 16, 31, 24, tzinfo=UTC)
    assert customer["email"] == order_sample()["customer"]["email"]
    assert test is False


def test_upsert_step_output_counts_rows(orders_workflow, rq_worker):
    run = deliver(rq_worker, order_sample())
    assert step_of(run).output == {
        "table": "shopify_orders",
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
    }


def test_replayed_order_leaves_one_row(orders_workflow, rq_worker, warehouse):
    first = deliver(rq_worker, order_sample(id=BIG_ORDER_ID))
    replay = run_replay(run=first)
    rq_worker()
    replay.refresh_from_db()
    assert replay.status == Run.Status.SUCCEEDED
    assert step_of(replay).output["unchanged"] == 1
    assert warehouse("SELECT count(*) FROM shopify_orders") == [(1,)]


def test_duplicated_order_leaves_one_row(orders_workflow, rq_worker, warehouse):
    deliver(rq_worker, order_sample(id=BIG_ORDER_ID))
    second = deliver(rq_worker, order_sample(id=BIG_ORDER_ID))
    assert second.status == Run.Status.SUCCEEDED
    assert warehouse("SELECT count(*) FROM shopify_orders") == [(1,)]


def test_newer_update_replaces_row(orders_workflow, rq_worker, warehouse):
    deliver(rq_worker, order_sample(updated_at="2026-04-02T10:00:00Z"))
    run = deliver(
        rq_worker,
        order_sample(updated_at="2026-04-02T11:00:00Z", total_price="99.00"),
    )
    assert step_of(run).output["updated"] == 1
    assert warehouse("SELECT total_price FROM shopify_orders") == [(Decimal("99.00"),)]


def test_older_update_does_not_win(orders_workflow, rq_worker, warehouse):
    deliver(
        rq_worker,
        order_sample(updated_at="2026-04-02T11:00:00Z", total_price="99.00"),
    )
    late = deliver(
        rq_worker,
        order_sample(updated_at="2026-04-02T10:00:00+00:00", total_price="1.00"),
    )
    assert late.status == Run.Status.SUCCEEDED
    assert step_of(late).output["unchanged"] == 1
    assert warehouse("SELECT total_price FROM shopify_orders") == [(Decimal("99.00"),)]


@pytest.fixture
def line_items_workflow(integration):
    return publish(
        integration,
        trigger="order_created",
        operation="upsert_rows",
        config=LINE_ITEMS_UPSERT,
        mappings=LINE_ITEM_MAPPINGS,
    )


def order_with_items(*prices: str) -> dict:
    order = order_sample(id=BIG_ORDER_ID)
    template = order["line_items"][0]
    items = []
    for index, price in enumerate(prices):
        item = copy.deepcopy(template)
        item.update(id=BIG_ORDER_ID + 10 + index, sku=f"SKU-{index}", price=price)
        items.append(item)
    order["line_items"] = items
    return order


def test_line_items_one_row_each(line_items_workflow, rq_worker, warehouse):
    run = deliver(rq_worker, order_with_items("19.99", "5.00", "0.10"))
    assert step_of(run).output["inserted"] == 3
    rows = warehouse(
        "SELECT line_item_id, order_id, sku, price FROM shopify_line_items "
        "ORDER BY line_item_id"
    )
    assert rows == [
        (BIG_ORDER_ID + 10, BIG_ORDER_ID, "SKU-0", Decimal("19.99")),
        (BIG_ORDER_ID + 11, BIG_ORDER_ID, "SKU-1", Decimal("5.00")),
        (BIG_ORDER_ID + 12, BIG_ORDER_ID, "SKU-2", Decimal("0.10")),
    ]


def test_line_items_replayed_not_doubled(line_items_workflow, rq_worker, warehouse):
    first = deliver(rq_worker, order_with_items("19.99", "5.00"))
    run_replay(run=first)
    rq_worker()
    assert warehouse("SELECT count(*) FROM shopify_line_items") == [(2,)]


def test_line_item_bad_value_names_row(line_items_workflow, rq_worker, warehouse):
    run = deliver(rq_worker, order_with_items("19.99", "nineteen", "5.00"))
    assert run.status == Run.Status.FAILED
    error = step_of(run).error
    assert error["code"] == "invalid_warehouse_value"
    assert "row 2 of 3" in error["message"]
    assert "'price'" in error["message"]
    assert "'nineteen'" in error["message"]
    assert error["fields"][0]["path"] == "$.rows[1].values.price"
    assert warehouse("SELECT to_regclass('shopify_line_items')") == [(None,)]


def test_failed_row_rolls_back_earlier_rows(line_items_workflow, rq_worker, warehouse):
    warehouse(
        "CREATE TABLE shopify_line_items (line_item_id bigint PRIMARY KEY, "
        "order_id bigint, sku text, quantity bigint, price numeric "
        "CHECK (price < 100))"
    )
    run = deliver(rq_worker, order_with_items("19.99", "250.00"))
    assert run.status == Run.Status.FAILED
    assert step_of(run).error["code"] == "warehouse_write_failed"
    assert warehouse("SELECT count(*) FROM shopify_line_items") == [(0,)]


def test_incompatible_column_fails_step(orders_workflow, rq_worker, warehouse):
    warehouse(
        "CREATE TABLE shopify_orders (order_id bigint PRIMARY KEY, "
        "total_price double precision)"
    )
    run = deliver(rq_worker, order_sample())
    assert run.status == Run.Status.FAILED
    error = step_of(run).error
    assert error["code"] == "warehouse_column_type_mismatch"
    message = error["message"]
    assert "'shopify_orders'" in message
    assert "'total_price'" in message
    assert "double precision" in message
    assert "numeric" in message
    assert warehouse("SELECT count(*) FROM shopify_orders") == [(0,)]


def test_incompatible_column_adds_no_columns(orders_workflow, rq_worker, warehouse):
    warehouse("CREATE TABLE shopify_orders (order_id text PRIMARY KEY)")
    deliver(rq_worker, order_sample())
    columns = warehouse(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'shopify_orders'"
    )
    assert columns == [("order_id",)]


def test_existing_table_without_unique_key(orders_workflow, rq_worker, warehouse):
    warehouse("CREATE TABLE shopify_orders (order_id bigint, name text)")
    run = deliver(rq_worker, order_sample())
    error = step_of(run).error
    assert error["code"] == "warehouse_key_not_unique"
    assert "ADD UNIQUE (order_id)" in error["message"]


def test_customers_insert_rows(integration, rq_worker, warehouse):
    publish(
        integration,
        trigger="customer_created",
        operation="insert_rows",
        config={
            "table": "shopify_customers",
            "columns": [
                {"name": "customer_id", "type": "bigint"},
                {"name": "email", "type": "text"},
                {"name": "created_at", "type": "timestamptz"},
            ],
        },
        mappings=[
            ("values.customer_id", "expression", "event.id"),
            ("values.email", "expression", "event.email"),
            ("values.created_at", "expression", "event.created_at"),
        ],
    )
    customer = json.loads((SAMPLES / "customers_create.json").read_text())
    run = deliver(rq_worker, customer, topic="customers/create")
    assert run.status == Run.Status.SUCCEEDED
    assert warehouse("SELECT customer_id, email FROM shopify_customers") == [
        (customer["id"], customer["email"])
    ]


def test_step_without_warehouse_fails(
    workspace, end_user, connection, rq_worker, warehouse_url
):
    integration = integration_services.integration_create(
        workspace=workspace, name="No warehouse", app="shopify"
    )
    integration_services.installation_create(
        end_user=end_user, integration=integration, connection=connection
    )
    publish(
        integration,
        trigger="order_created",
        operation="upsert_rows",
        config=ORDERS_UPSERT,
        mappings=ORDER_MAPPINGS,
    )
    run = deliver(rq_worker, order_sample())
    assert step_of(run).error["code"] == "connection_missing"


def test_end_user_warehouse_preferred(
    orders_workflow, workspace, end_user, rq_worker, warehouse, warehouse_url
):
    integration_services.connection_create(
        end_user=end_user,
        app="warehouse",
        account_id="merchant warehouse",
        credentials={"url": warehouse_url},
    )
    # The workspace's warehouse stops accepting connections, so only the end
    # user's own connection can make the run succeed.
    Connection.objects.filter(workspace=workspace, app="warehouse").update(
        credentials=json.dumps({"url": "postgresql://postgres@127.0.0.1:9/none"})
    )
    run = deliver(rq_worker, order_sample())
    assert run.status == Run.Status.SUCCEEDED
    assert warehouse("SELECT count(*) FROM shopify_orders") == [(1,)]


def test_unreachable_warehouse_fails_retryable(orders_workflow, workspace, rq_worker):
    Connection.objects.filter(workspace=workspace, app="warehouse").update(
        credentials=json.dumps({"url": "postgresql://postgres:pw-9@127.0.0.1:9/x"})
    )
    run = deliver(rq_worker, order_sample())
    error = step_of(run).error
    assert error["code"] == "warehouse_unreachable"
    assert error["retryable"] is True
    assert "postgresql://postgres:***@127.0.0.1:9/x" in error["message"]
    assert "pw-9" not in json.dumps(error)


def test_rows_from_not_array_fails(line_items_workflow, rq_worker, warehouse):
    run = deliver(rq_worker, order_sample(line_items={"id": 1}))
    assert run.status == Run.Status.FAILED
    error = step_of(run).error
    assert error["code"] == "rows_from_not_array"
    assert "'event.line_items' gave an object, not an array" in error["message"]
    assert warehouse("SELECT to_regclass('shopify_line_items')") == [(None,)]


def test_empty_rows_from_writes_nothing(line_items_workflow, rq_worker):
    run = deliver(rq_worker, order_sample(line_items=[]))
    assert run.status == Run.Status.SUCCEEDED
    assert step_of(run).output["inserted"] == 0
