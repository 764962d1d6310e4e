"""Shopify actions against the sandbox: results, userErrors, and HTTP failures."""

import pytest

from connectors.registry import ActionContext, ActionError
from connectors.shopify import actions, subscriptions
from connectors.shopify.sandbox import ShopifySandbox

SHOP = "actions-test.myshopify.com"


@pytest.fixture
def context(sandbox):
    token = sandbox.add_shop(SHOP)
    return ActionContext(
        account_id=SHOP,
        credentials={"access_token": token},
        idempotency_key="alloy-run-1-create_order",
    )


ORDER_INPUT = {
    "email": "jane@example.com",
    "line_items": [{"title": "Widget", "quantity": 2, "price": "19.99"}],
}


def test_create_order_returns_string_ids(context):
    output = actions.create_order(context, ORDER_INPUT)
    assert output["id"].startswith("gid://shopify/Order/")
    assert isinstance(output["legacy_id"], str)
    assert int(output["legacy_id"]) > 2**53


def test_create_order_sums_money_as_string(context):
    output = actions.create_order(context, ORDER_INPUT)
    assert output["total_price"] == "39.98"
    assert output["currency"] == "USD"


def test_create_order_tags_source_identifier(context, sandbox):
    actions.create_order(context, ORDER_INPUT)
    order = sandbox.shop(SHOP).orders[0]
    assert order["source_identifier"] == "alloy-run-1-create_order"


def test_create_order_user_errors_name_input_path(context):
    with pytest.raises(ActionError) as excinfo:
        actions.create_order(context, {"line_items": [{"quantity": 1}]})
    error = excinfo.value
    assert error.code == "shopify_user_errors"
    assert not error.retryable
    assert error.fields
    assert all(f["path"].startswith("$.line_items[0]") for f in error.fields)


def test_create_customer_duplicate_email(context):
    actions.create_customer(context, {"email": "dup@example.com"})
    with pytest.raises(ActionError) as excinfo:
        actions.create_customer(context, {"email": "dup@example.com"})
    assert excinfo.value.fields == [
        {"path": "$.email", "message": "Email has already been taken"}
    ]


def test_add_tags_by_numeric_id(context):
    created = actions.create_customer(context, {"email": "tagme@example.com"})
    output = actions.add_customer_tags(
        context, {"customer_id": created["legacy_id"], "tags": ["vip"]}
    )
    assert output["tags"] == ["vip"]


def test_add_tags_unknown_id_fails(context):
    with pytest.raises(ActionError) as excinfo:
        actions.add_customer_tags(context, {"customer_id": "123", "tags": ["vip"]})
    assert excinfo.value.code == "shopify_user_errors"


def test_wrong_token_is_unauthorized(sandbox):
    sandbox.add_shop(SHOP)
    context = ActionContext(SHOP, {"access_token": "shpat_wrong"}, "key")
    with pytest.raises(ActionError) as excinfo:
        actions.create_order(context, ORDER_INPUT)
    assert excinfo.value.code == "shopify_unauthorized"
    assert not excinfo.value.retryable


def test_unknown_shop_is_not_found(sandbox):
    context = ActionContext("missing.myshopify.com", {"access_token": "x"}, "key")
    with pytest.raises(ActionError) as excinfo:
        actions.create_order(context, ORDER_INPUT)
    assert excinfo.value.code == "shopify_shop_not_found"


def test_unreachable_shopify_is_retryable(settings):
    settings.SHOPIFY_API_URL = "http://127.0.0.1:9"
    context = ActionContext(SHOP, {"access_token": "x"}, "key")
    with pytest.raises(ActionError) as excinfo:
        actions.create_order(context, ORDER_INPUT)
    assert excinfo.value.code == "shopify_unreachable"
    assert excinfo.value.retryable


def test_throttled_is_retryable_with_wait(settings):
    small = ShopifySandbox(
        client_secret="s", bucket_size=12.0, restore_rate=1.0
    ).start()
    try:
        settings.SHOPIFY_API_URL = small.url
        token = small.add_shop(SHOP)
        context = ActionContext(SHOP, {"access_token": token}, "key")
        with pytest.raises(ActionError) as excinfo:
            for _ in range(5):
                actions.create_order(context, {**ORDER_INPUT, "currency": "USD"})
    finally:
        small.stop()
    assert excinfo.value.code == "shopify_throttled"
    assert excinfo.value.retryable
    assert excinfo.value.retry_after > 0


def test_subscription_sync_is_idempotent(context, sandbox, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    topics = ["orders/create", "customers/create"]
    subscriptions.sync_subscriptions(SHOP, context.credentials, topics)
    subscriptions.sync_subscriptions(SHOP, context.credentials, topics)
    shop = sandbox.shop(SHOP)
    assert sorted(s["topic"] for s in shop.webhook_subscriptions) == [
        "CUSTOMERS_CREATE",
        "ORDERS_CREATE",
    ]


def test_validate_connection_names_bad_fields():
    fields = subscriptions.validate_connection("not a shop", {})
    assert [f["path"] for f in fields] == ["$.account_id", "$.credentials.access_token"]
