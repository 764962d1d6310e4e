"""The builder's Warehouse page and the warehouse step's table settings."""

import json
from pathlib import Path

import pytest

from integrations.models import Connection
from workflows.models import Block, FieldMapping
from workflows.services import versions

pytestmark = pytest.mark.django_db

PASSWORD = "s3cret-Pa55"
SAMPLES = Path(__file__).resolve().parents[2] / "connectors/shopify/samples"


def test_warehouse_page_lists_unavailable_backends(author_client):
    page = author_client.get("/builder/warehouse").content.decode()
    assert '<option value="snowflake" disabled>' in page
    assert "Snowflake (not available yet)" in page
    assert '<option value="bigquery" disabled>' in page


def test_warehouse_page_connects(author_client, workspace, warehouse_url):
    url = warehouse_url.replace("postgres@", f"postgres:{PASSWORD}@")
    response = author_client.post(
        "/builder/warehouse", {"backend": "postgresql", "url": url}, follow=True
    )
    page = response.content.decode()
    assert "Warehouse connected." in page
    assert warehouse_url.split("/")[-1] in page
    assert PASSWORD not in page
    assert Connection.objects.filter(workspace=workspace, app="warehouse").exists()


def test_warehouse_page_refused_url(author_client):
    url = f"postgresql://loader:{PASSWORD}@127.0.0.1:9/analytics"
    response = author_client.post(
        "/builder/warehouse", {"backend": "postgresql", "url": url}
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "postgresql://loader:***@127.0.0.1:9/analytics" in page
    assert PASSWORD not in page


def test_warehouse_page_rejects_snowflake(author_client):
    response = author_client.post(
        "/builder/warehouse",
        {"backend": "snowflake", "url": "snowflake://u@acme/db"},
    )
    assert response.status_code == 422
    assert "not available yet" in response.content.decode()


def test_warehouse_page_removes(author_client, workspace, warehouse_url):
    author_client.post(
        "/builder/warehouse", {"backend": "postgresql", "url": warehouse_url}
    )
    author_client.post("/builder/warehouse/remove")
    assert not Connection.objects.filter(workspace=workspace).exists()


def test_warehouse_page_other_workspace_unseen(
    author_client, other_client, workspace, warehouse_url
):
    author_client.post(
        "/builder/warehouse", {"backend": "postgresql", "url": warehouse_url}
    )
    page = other_client.get("/builder/warehouse").content.decode()
    assert "No warehouse is connected yet." in page


@pytest.fixture
def warehouse_step(workspace):
    from integrations.services import integration_create

    integration = integration_create(workspace=workspace, name="Shop", app="shopify")
    workflow = versions.workflow_create(
        integration=integration,
        name="Orders to warehouse",
        trigger_connector="shopify",
        trigger_operation="order_created",
    )
    return versions.action_add(
        version=workflow.versions.get(),
        key="orders",
        connector="warehouse",
        operation="upsert_rows",
    )


def test_step_config_saved(author_client, warehouse_step):
    response = author_client.post(
        f"/builder/steps/{warehouse_step.pk}/config",
        {
            "config-table": "shopify_orders",
            "config-columns": "order_id bigint\ntotal_price numeric\n"
            "updated_at timestamptz",
            "config-key": "order_id",
            "config-version_column": "updated_at",
            "config-rows_from": "",
        },
    )
    assert response.status_code == 302
    warehouse_step.refresh_from_db()
    assert warehouse_step.config == {
        "table": "shopify_orders",
        "columns": [
            {"name": "order_id", "type": "bigint"},
            {"name": "total_price", "type": "numeric"},
            {"name": "updated_at", "type": "timestamptz"},
        ],
        "key": ["order_id"],
        "version_column": "updated_at",
    }


def test_step_config_bad_type_shown(author_client, warehouse_step):
    response = author_client.post(
        f"/builder/steps/{warehouse_step.pk}/config",
        {
            "config-table": "orders",
            "config-columns": "order_id int64",
            "config-key": "order_id",
        },
    )
    assert response.status_code == 422
    assert "The column type &#x27;int64&#x27; is not supported" in (
        response.content.decode()
    )


def test_step_config_system_names_shown(author_client, warehouse_step):
    response = author_client.post(
        f"/builder/steps/{warehouse_step.pk}/config",
        {
            "config-table": "pg_class",
            "config-columns": "order_id bigint\nctid text",
            "config-key": "order_id",
        },
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "The table name &#x27;pg_class&#x27; starts with" in page
    assert "The column name &#x27;ctid&#x27; is a PostgreSQL system column" in page
    warehouse_step.refresh_from_db()
    assert warehouse_step.config.get("table") != "pg_class"


def test_step_mapping_lists_columns(author_client, warehouse_step):
    versions.action_config_set(
        block=warehouse_step,
        config={
            "table": "orders",
            "columns": [
                {"name": "order_id", "type": "bigint"},
                {"name": "note", "type": "text"},
            ],
            "key": ["order_id"],
        },
    )
    page = author_client.get(
        f"/builder/versions/{warehouse_step.version_id}?block=orders"
    ).content.decode()
    assert 'data-target="values.order_id"' in page
    assert 'data-target="values.note"' in page


def test_step_mappings_saved_per_column(author_client, warehouse_step):
    versions.action_config_set(
        block=warehouse_step,
        config={
            "table": "orders",
            "columns": [{"name": "order_id", "type": "bigint"}],
            "key": ["order_id"],
        },
    )
    author_client.post(
        f"/builder/steps/{warehouse_step.pk}/mappings",
        {"kind:values.order_id": "expression", "value:values.order_id": "event.id"},
    )
    mapping = FieldMapping.objects.get(block=warehouse_step)
    assert (mapping.target, mapping.value) == ("values.order_id", "event.id")


def test_release_lists_warehouse_problems(warehouse_step):
    versions.action_config_set(
        block=warehouse_step,
        config={
            "table": "orders",
            "columns": [{"name": "order_id", "type": "bigint"}],
            "key": ["order_id"],
            "rows_from": "event.line_itemz",
        },
    )
    versions.mapping_set(
        block=warehouse_step, target="values.total", kind="expression", value="event.id"
    )
    with pytest.raises(versions.ValidationError) as raised:
        versions.version_release(version=warehouse_step.version)
    problems = {p["path"]: p["message"] for p in raised.value.fields}
    assert "not a declared column" in problems["blocks.orders.inputs.values.total"]
    assert "is not mapped" in problems["blocks.orders.inputs.values.order_id"]
    assert "line_itemz" in problems["blocks.orders.config.rows_from"]


def test_release_accepts_item_fields(warehouse_step):
    versions.action_config_set(
        block=warehouse_step,
        config={
            "table": "line_items",
            "columns": [{"name": "line_item_id", "type": "bigint"}],
            "key": ["line_item_id"],
            "rows_from": "event.line_items",
        },
    )
    versions.mapping_set(
        block=warehouse_step,
        target="values.line_item_id",
        kind="expression",
        value="item.id",
    )
    released = versions.version_release(version=warehouse_step.version)
    assert released.is_released
    assert Block.objects.get(pk=warehouse_step.pk).config["rows_from"]


def test_preview_reads_first_item(author_client, warehouse_step):
    versions.action_config_set(
        block=warehouse_step,
        config={
            "table": "line_items",
            "columns": [{"name": "sku", "type": "text"}],
            "key": ["sku"],
            "rows_from": "event.line_items",
        },
    )
    response = author_client.post(
        f"/builder/steps/{warehouse_step.pk}/preview",
        {"target": "values.sku", "kind": "expression", "value": "item.sku"},
    )
    sample = json.loads((SAMPLES / "orders_create.json").read_text())["line_items"][0][
        "sku"
    ]
    assert response.json() == {"value": json.dumps(sample)}
