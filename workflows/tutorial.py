"""The getting-started integrations, built by services.

The tutorial's Shopify integration has four workflows:

1. Custom event ``order_requested`` -> Shopify Create Order.
2. Shopify Order Created -> the author's server (stream execution data URL).
3. Custom event ``customer_button_clicked`` -> Shopify Add Customer Tags.
4. Shopify Customer Created -> the author's server.

The warehouse integration, the getting-started overview's example, has three:

1. Shopify Order Created -> upsert the order, and one row per line item.
2. Shopify Customer Created -> upsert the customer.
3. Custom event ``vip_button_clicked`` -> Shopify Add Customer Tags.
"""

from integrations.models import Integration, Workspace
from integrations.services import integration_create
from workflows.models import Workflow
from workflows.services import versions

ORDER_REQUESTED_SCHEMA = {
    "type": "object",
    "required": ["email", "line_items"],
    "properties": {
        "email": {"type": "string", "format": "email", "description": "Buyer's email."},
        "phone": {"type": "string", "description": "E.164, such as +15555550100."},
        "first_name": {"type": "string"},
        "last_name": {"type": "string"},
        "note": {"type": "string"},
        "line_items": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["title", "quantity", "price"],
                "properties": {
                    "title": {"type": "string", "minLength": 1},
                    "quantity": {"type": "integer", "minimum": 1},
                    "price": {"type": "string", "pattern": r"^\d+(\.\d{1,2})?$"},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

BUTTON_CLICKED_SCHEMA = {
    "type": "object",
    "required": ["email", "tags"],
    "properties": {
        "email": {"type": "string", "format": "email"},
        "button": {"type": "string", "description": "Which button was clicked."},
        "tags": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "minLength": 1},
        },
    },
    "additionalProperties": False,
}

ORDER_REQUESTED_SAMPLE = {
    "email": "jane.doe@example.com",
    "phone": "+15555550100",
    "first_name": "Jane",
    "last_name": "Doe",
    "note": "Leave at the front desk",
    "line_items": [
        {"title": "Widget", "quantity": 2, "price": "19.99"},
        {"title": "Gadget & case", "quantity": 1, "price": "5.00"},
    ],
}

BUTTON_CLICKED_SAMPLE = {
    "email": "jane.doe@example.com",
    "button": "upgrade",
    "tags": ["acme-upgrade-clicked"],
}

CREATE_ORDER_MAPPINGS = [
    ("email", "expression", "event.email"),
    ("phone", "expression", "event.phone"),
    ("note", "template", "Requested in Acme Co by {{ user.id }}: {{ event.note }}"),
    (
        "line_items",
        "expression",
        "event.line_items[*].{title: title, quantity: quantity, price: price}",
    ),
    ("customer.email", "expression", "event.email"),
    ("customer.phone", "expression", "event.phone"),
    ("customer.first_name", "expression", "event.first_name"),
    ("customer.last_name", "expression", "event.last_name"),
    ("tags", "literal", ["acme-co"]),
    ("financial_status", "literal", "paid"),
]


def tutorial_integration_create(
    *, workspace: Workspace, stream_base_url: str, published_by: str = "demo"
) -> Integration:
    """Create the Shopify integration with its four workflows released and published."""
    integration = integration_create(
        workspace=workspace,
        name="Shopify",
        app="shopify",
        description="Two-way sync between Acme Co and its merchants' Shopify stores.",
    )
    base = stream_base_url.rstrip("/")

    create_order = versions.workflow_create(
        integration=integration,
        name="Create Shopify order from Acme Co",
        trigger_connector="custom",
        trigger_operation="custom_event",
        trigger_config={
            "event_name": "order_requested",
            "schema": ORDER_REQUESTED_SCHEMA,
            "sample": ORDER_REQUESTED_SAMPLE,
        },
    )
    _add_action(create_order, "create_order", "create_order", CREATE_ORDER_MAPPINGS)

    order_created = versions.workflow_create(
        integration=integration,
        name="Send new Shopify orders to Acme Co",
        trigger_connector="shopify",
        trigger_operation="order_created",
        trigger_config={"stream_url": f"{base}/alloy/orders"},
    )

    tag_customer = versions.workflow_create(
        integration=integration,
        name="Tag customer on button click",
        trigger_connector="custom",
        trigger_operation="custom_event",
        trigger_config={
            "event_name": "customer_button_clicked",
            "schema": BUTTON_CLICKED_SCHEMA,
            "sample": BUTTON_CLICKED_SAMPLE,
        },
    )
    _add_action(
        tag_customer,
        "tag_customer",
        "add_customer_tags",
        [("email", "expression", "event.email"), ("tags", "expression", "event.tags")],
    )

    customer_created = versions.workflow_create(
        integration=integration,
        name="Send new Shopify customers to Acme Co",
        trigger_connector="shopify",
        trigger_operation="customer_created",
        trigger_config={"stream_url": f"{base}/alloy/customers"},
    )

    for workflow in (create_order, order_created, tag_customer, customer_created):
        version = workflow.versions.get()
        versions.version_release(version=version, released_by=published_by)
        versions.version_publish(version=version, published_by=published_by)
    return integration


def _add_action(
    workflow: Workflow, key: str, operation: str, mappings: list[tuple]
) -> None:
    draft = workflow.versions.get()
    block = versions.action_add(
        version=draft, key=key, connector="shopify", operation=operation
    )
    for target, kind, value in mappings:
        versions.mapping_set(block=block, target=target, kind=kind, value=value)


WAREHOUSE_ORDERS = {
    "table": "shopify_orders",
    "columns": [
        {"name": "order_id", "type": "bigint"},
        {"name": "name", "type": "text"},
        {"name": "email", "type": "text"},
        {"name": "total_price", "type": "numeric"},
        {"name": "currency", "type": "text"},
        {"name": "created_at", "type": "timestamptz"},
        {"name": "updated_at", "type": "timestamptz"},
        {"name": "shipping_address", "type": "jsonb"},
    ],
    "key": ["order_id"],
    "version_column": "updated_at",
}
WAREHOUSE_ORDERS_MAPPINGS = [
    ("values.order_id", "expression", "event.id"),
    ("values.name", "expression", "event.name"),
    ("values.email", "expression", "event.email"),
    ("values.total_price", "expression", "event.total_price"),
    ("values.currency", "expression", "event.currency"),
    ("values.created_at", "expression", "event.created_at"),
    ("values.updated_at", "expression", "event.updated_at"),
    ("values.shipping_address", "expression", "event.shipping_address"),
]
WAREHOUSE_ORDER_LINES = {
    "table": "shopify_order_lines",
    "columns": [
        {"name": "line_item_id", "type": "bigint"},
        {"name": "order_id", "type": "bigint"},
        {"name": "title", "type": "text"},
        {"name": "quantity", "type": "bigint"},
        {"name": "price", "type": "numeric"},
    ],
    "key": ["line_item_id"],
    "rows_from": "event.line_items",
}
WAREHOUSE_ORDER_LINES_MAPPINGS = [
    ("values.line_item_id", "expression", "item.id"),
    ("values.order_id", "expression", "event.id"),
    ("values.title", "expression", "item.title"),
    ("values.quantity", "expression", "item.quantity"),
    ("values.price", "expression", "item.price"),
]
WAREHOUSE_CUSTOMERS = {
    "table": "shopify_customers",
    "columns": [
        {"name": "customer_id", "type": "bigint"},
        {"name": "email", "type": "text"},
        {"name": "first_name", "type": "text"},
        {"name": "last_name", "type": "text"},
        {"name": "created_at", "type": "timestamptz"},
        {"name": "updated_at", "type": "timestamptz"},
    ],
    "key": ["customer_id"],
    "version_column": "updated_at",
}
WAREHOUSE_CUSTOMERS_MAPPINGS = [
    ("values.customer_id", "expression", "event.id"),
    ("values.email", "expression", "event.email"),
    ("values.first_name", "expression", "event.first_name"),
    ("values.last_name", "expression", "event.last_name"),
    ("values.created_at", "expression", "event.created_at"),
    ("values.updated_at", "expression", "event.updated_at"),
]
VIP_CLICKED_SAMPLE = {
    "email": "jane.doe@example.com",
    "button": "vip",
    "tags": ["acme-vip"],
}


def warehouse_integration_create(
    *, workspace: Workspace, published_by: str = "demo"
) -> Integration:
    """Create the warehouse integration, released and published.

    Shopify orders and new customers go to the warehouse, and a button click
    tags a customer. The warehouse steps write through the end user's own
    warehouse connection, or else the workspace's, and create their tables on
    the first run.
    """
    integration = integration_create(
        workspace=workspace,
        name="Shopify to warehouse",
        app="shopify",
        description="Shopify orders and customers in Acme Co's warehouse.",
    )
    orders = versions.workflow_create(
        integration=integration,
        name="Send Shopify orders to the warehouse",
        trigger_connector="shopify",
        trigger_operation="order_created",
    )
    _add_warehouse_step(orders, "orders", WAREHOUSE_ORDERS, WAREHOUSE_ORDERS_MAPPINGS)
    _add_warehouse_step(
        orders, "order_lines", WAREHOUSE_ORDER_LINES, WAREHOUSE_ORDER_LINES_MAPPINGS
    )
    customers = versions.workflow_create(
        integration=integration,
        name="Send new Shopify customers to the warehouse",
        trigger_connector="shopify",
        trigger_operation="customer_created",
    )
    _add_warehouse_step(
        customers, "customers", WAREHOUSE_CUSTOMERS, WAREHOUSE_CUSTOMERS_MAPPINGS
    )
    tag_vip = versions.workflow_create(
        integration=integration,
        name="Tag customer as VIP on button click",
        trigger_connector="custom",
        trigger_operation="custom_event",
        trigger_config={
            "event_name": "vip_button_clicked",
            "schema": BUTTON_CLICKED_SCHEMA,
            "sample": VIP_CLICKED_SAMPLE,
        },
    )
    _add_action(
        tag_vip,
        "tag_customer",
        "add_customer_tags",
        [("email", "expression", "event.email"), ("tags", "expression", "event.tags")],
    )
    for workflow in (orders, customers, tag_vip):
        version = workflow.versions.get()
        versions.version_release(version=version, released_by=published_by)
        versions.version_publish(version=version, published_by=published_by)
    return integration


def _add_warehouse_step(
    workflow: Workflow, key: str, config: dict, mappings: list[tuple]
) -> None:
    block = versions.action_add(
        version=workflow.versions.get(),
        key=key,
        connector="warehouse",
        operation="upsert_rows",
        config=config,
    )
    for target, kind, value in mappings:
        versions.mapping_set(block=block, target=target, kind=kind, value=value)
