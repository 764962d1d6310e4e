"""The getting-started integration: Shopify with four workflows, built by services.

1. Custom event ``order_requested`` -> Shopify Create Order.
2. Shopify Order Created -> the author's server (stream execution data URL).
3. Custom event ``customer_button_clicked`` -> Shopify Add Customer Tags.
4. Shopify Customer Created -> the author's server.
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
