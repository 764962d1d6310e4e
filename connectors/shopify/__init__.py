"""The Shopify connector: order and customer webhooks, and GraphQL Admin API actions."""

import json
from pathlib import Path

from connectors.registry import Action, Connector, Trigger, register
from connectors.shopify import actions, schemas, subscriptions

_SAMPLES = Path(__file__).resolve().parent / "samples"


def _sample(name: str) -> dict:
    """Load an example webhook body, as Shopify documents the topic's payload."""
    return json.loads((_SAMPLES / name).read_text())


ORDER_CREATED = "order_created"
CUSTOMER_CREATED = "customer_created"

connector = register(
    Connector(
        key="shopify",
        title="Shopify",
        validate_connection=subscriptions.validate_connection,
        sync_subscriptions=subscriptions.sync_subscriptions,
        triggers={
            ORDER_CREATED: Trigger(
                connector="shopify",
                name=ORDER_CREATED,
                title="Order Created",
                description="Starts a run when an order is placed in the shop.",
                topic="orders/create",
                output_schema=schemas.ORDER_WEBHOOK,
                sample=_sample("orders_create.json"),
            ),
            CUSTOMER_CREATED: Trigger(
                connector="shopify",
                name=CUSTOMER_CREATED,
                title="Customer Created",
                description="Starts a run when a customer signs up in the shop.",
                topic="customers/create",
                output_schema=schemas.CUSTOMER_WEBHOOK,
                sample=_sample("customers_create.json"),
            ),
        },
        actions={
            "create_order": Action(
                connector="shopify",
                name="create_order",
                title="Create Order",
                description="Creates an order in the shop with orderCreate.",
                input_schema=schemas.CREATE_ORDER_INPUT,
                output_schema=schemas.CREATE_ORDER_OUTPUT,
                execute=actions.create_order,
            ),
            "create_customer": Action(
                connector="shopify",
                name="create_customer",
                title="Create Customer",
                description="Creates a customer in the shop with customerCreate.",
                input_schema=schemas.CREATE_CUSTOMER_INPUT,
                output_schema=schemas.CREATE_CUSTOMER_OUTPUT,
                execute=actions.create_customer,
            ),
            "add_customer_tags": Action(
                connector="shopify",
                name="add_customer_tags",
                title="Add Customer Tags",
                description="Adds tags to a customer found by id or email (tagsAdd).",
                input_schema=schemas.ADD_CUSTOMER_TAGS_INPUT,
                output_schema=schemas.ADD_CUSTOMER_TAGS_OUTPUT,
                execute=actions.add_customer_tags,
            ),
        },
    )
)
