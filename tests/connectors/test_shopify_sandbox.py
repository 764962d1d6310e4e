"""Tests of the local Shopify sandbox over real loopback HTTP.

They need no Django database; the sandbox modules import nothing from Django.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from connectors.shopify.sandbox import ShopifySandbox

CLIENT_SECRET = "sandbox-test-secret"
SHOP = "acme-demo.myshopify.com"
API_PATH = "/admin/api/2026-07/graphql.json"
TWO_TO_53 = 2**53
FAST_RETRIES = (0.05, 0.05, 0.05)

ORDER_CREATE = """
mutation OrderCreate($order: OrderCreateOrderInput!) {
  orderCreate(order: $order) {
    order {
      id
      legacyResourceId
      name
      createdAt
      tags
      totalPriceSet { shopMoney { amount currencyCode } }
      lineItems(first: 5) {
        nodes { id title quantity originalUnitPriceSet { shopMoney { amount } } }
      }
      customer { id email }
    }
    userErrors { field message code }
  }
}
"""

CUSTOMER_CREATE = """
mutation CustomerCreate($input: CustomerInput!) {
  customerCreate(input: $input) {
    customer { id email firstName tags }
    userErrors { field message }
  }
}
"""

SUBSCRIPTION_CREATE = """
mutation Subscribe($topic: WebhookSubscriptionTopic!, $uri: String!) {
  webhookSubscriptionCreate(
    topic: $topic
    webhookSubscription: {uri: $uri, format: JSON}
  ) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""


def line_item(title: str = "Widget", quantity: int = 1, amount: str = "19.99"):
    return {
        "title": title,
        "quantity": quantity,
        "priceSet": {"shopMoney": {"amount": amount, "currencyCode": "USD"}},
    }


class Receiver:
    """Local webhook endpoint that records raw requests and replies with set codes."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/redirected")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def shop_sandbox() -> Iterator[ShopifySandbox]:
    server = ShopifySandbox(
        client_secret=CLIENT_SECRET, webhook_retry_delays=FAST_RETRIES
    ).start()
    yield server
    server.stop()


@pytest.fixture
def token(shop_sandbox: ShopifySandbox) -> str:
    return shop_sandbox.add_shop(SHOP)


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


def post_graphql(
    sandbox: ShopifySandbox,
    token: str,
    query: str,
    variables: dict[str, Any] | None = None,
    shop: str = SHOP,
) -> requests.Response:
    return requests.post(
        sandbox.url + API_PATH,
        json={"query": query, "variables": variables or {}},
        headers={"Host": shop, "X-Shopify-Access-Token": token},
        timeout=10,
    )


def graphql_data(
    sandbox: ShopifySandbox, token: str, query: str, variables: dict | None = None
) -> dict[str, Any]:
    response = post_graphql(sandbox, token, query, variables)
    body = response.json()
    assert response.status_code == 200
    assert "errors" not in body, body
    return body["data"]


def subscribe(sandbox: ShopifySandbox, token: str, topic: str, uri: str) -> dict:
    data = graphql_data(
        sandbox, token, SUBSCRIPTION_CREATE, {"topic": topic, "uri": uri}
    )
    return data["webhookSubscriptionCreate"]


def create_order(sandbox: ShopifySandbox, token: str, order: dict) -> dict[str, Any]:
    data = graphql_data(sandbox, token, ORDER_CREATE, {"order": order})
    return data["orderCreate"]


def expected_hmac(body: bytes) -> str:
    digest = hmac.new(CLIENT_SECRET.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# orderCreate


def test_order_create_returns_large_gid(shop_sandbox, token):
    result = create_order(shop_sandbox, token, {"lineItems": [line_item()]})
    order = result["order"]
    assert result["userErrors"] == []
    assert order["id"].startswith("gid://shopify/Order/")
    assert int(order["id"].rsplit("/", 1)[1]) > TWO_TO_53
    assert order["legacyResourceId"] == order["id"].rsplit("/", 1)[1]
    assert order["name"] == "#1001"


def test_order_create_money_as_strings(shop_sandbox, token):
    order = create_order(
        shop_sandbox, token, {"lineItems": [line_item(quantity=2, amount="19.5")]}
    )["order"]
    assert order["totalPriceSet"]["shopMoney"] == {
        "amount": "39.00",
        "currencyCode": "USD",
    }
    unit_price = order["lineItems"]["nodes"][0]["originalUnitPriceSet"]["shopMoney"]
    assert unit_price["amount"] == "19.50"


def test_order_create_timestamp_has_shop_offset(shop_sandbox, token):
    order = create_order(shop_sandbox, token, {"lineItems": [line_item()]})["order"]
    assert order["createdAt"].endswith("-05:00")


def test_order_create_stores_rest_order(shop_sandbox, token):
    create_order(
        shop_sandbox, token, {"lineItems": [line_item()], "tags": ["vip", " VIP", "b"]}
    )
    stored = shop_sandbox.shop(SHOP).orders[0]
    assert stored["total_price"] == "19.99"
    assert stored["tags"] == "vip, b"
    assert stored["line_items"][0]["product_id"] is None
    assert stored["line_items"][0]["variant_id"] is None
    assert stored["customer"] is None


def test_order_create_without_line_items_fails(shop_sandbox, token):
    result = create_order(shop_sandbox, token, {"email": "jane@example.com"})
    assert result["order"] is None
    assert result["userErrors"] == [
        {
            "field": ["order", "lineItems"],
            "message": "Line items must have at least one line item",
            "code": "INVALID",
        }
    ]
    assert shop_sandbox.shop(SHOP).orders == []


def test_order_create_zero_quantity_fails(shop_sandbox, token):
    result = create_order(shop_sandbox, token, {"lineItems": [line_item(quantity=0)]})
    errors = result["userErrors"]
    assert result["order"] is None
    assert [error["field"] for error in errors] == [
        ["order", "lineItems", "0", "quantity"]
    ]
    assert errors[0]["message"] == "Quantity must be greater than or equal to 1"


def test_order_create_invalid_email_fails(shop_sandbox, token):
    result = create_order(
        shop_sandbox, token, {"email": "not-an-email", "lineItems": [line_item()]}
    )
    assert result["userErrors"][0]["field"] == ["order", "email"]
    assert result["userErrors"][0]["message"] == "Email is invalid"


def test_order_create_negative_price_fails(shop_sandbox, token):
    result = create_order(shop_sandbox, token, {"lineItems": [line_item(amount="-1")]})
    assert result["userErrors"][0]["field"] == [
        "order",
        "lineItems",
        "0",
        "priceSet",
        "shopMoney",
        "amount",
    ]


def test_order_create_custom_item_needs_title(shop_sandbox, token):
    item = line_item()
    del item["title"]
    result = create_order(shop_sandbox, token, {"lineItems": [item]})
    assert result["userErrors"][0]["field"] == ["order", "lineItems", "0", "title"]


# Authentication, routing and request errors


@pytest.mark.parametrize("headers", [{}, {"X-Shopify-Access-Token": "shpat_wrong"}])
def test_bad_token_returns_401(shop_sandbox, token, headers):
    response = requests.post(
        shop_sandbox.url + API_PATH,
        json={"query": "{ shop { name } }"},
        headers={"Host": SHOP, **headers},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json() == {
        "errors": (
            "[API] Invalid API key or access token "
            "(unrecognized login or wrong password)"
        )
    }


def test_unknown_shop_returns_404(shop_sandbox, token):
    response = post_graphql(
        shop_sandbox, token, "{ shop { name } }", shop="other.myshopify.com"
    )
    assert response.status_code == 404
    assert response.json() == {"errors": "Not Found"}


def test_host_header_port_is_ignored(shop_sandbox, token):
    response = post_graphql(
        shop_sandbox, token, "{ shop { myshopifyDomain } }", shop=f"{SHOP}:443"
    )
    assert response.json()["data"]["shop"]["myshopifyDomain"] == SHOP


def test_malformed_version_returns_404(shop_sandbox, token):
    response = requests.post(
        shop_sandbox.url + "/admin/api/latest/graphql.json",
        json={"query": "{ shop { name } }"},
        headers={"Host": SHOP, "X-Shopify-Access-Token": token},
        timeout=10,
    )
    assert response.status_code == 404


def test_malformed_json_returns_400(shop_sandbox, token):
    response = requests.post(
        shop_sandbox.url + API_PATH,
        data=b"{not json",
        headers={
            "Host": SHOP,
            "X-Shopify-Access-Token": token,
            "Content-Type": "application/json",
        },
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": {"query": "Required parameter missing or invalid"}
    }


def test_unknown_field_returns_undefined_field(shop_sandbox, token):
    response = post_graphql(shop_sandbox, token, "{ shop { nme } }")
    error = response.json()["errors"][0]
    assert response.status_code == 200
    assert error["extensions"]["code"] == "undefinedField"
    assert error["path"] == ["query", "shop", "nme"]
    assert error["locations"] == [{"line": 1, "column": 10}]


def test_missing_argument_returns_code(shop_sandbox, token):
    response = post_graphql(shop_sandbox, token, "{ customers { nodes { id } } }")
    codes = [error["extensions"]["code"] for error in response.json()["errors"]]
    assert codes == ["missingRequiredArguments"]


def test_bad_variable_returns_invalid_variable(shop_sandbox, token):
    order = {"lineItems": [{**line_item(), "quantity": "two"}]}
    response = post_graphql(shop_sandbox, token, ORDER_CREATE, {"order": order})
    error = response.json()["errors"][0]
    assert response.status_code == 200
    assert error["extensions"]["code"] == "INVALID_VARIABLE"
    assert error["extensions"]["problems"][0]["path"] == ["lineItems", 0, "quantity"]
    assert shop_sandbox.shop(SHOP).orders == []


def test_response_carries_cost_extension(shop_sandbox, token):
    body = post_graphql(shop_sandbox, token, "{ shop { name } }").json()
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 1
    assert cost["actualQueryCost"] == 1
    assert cost["throttleStatus"]["maximumAvailable"] == 2000.0
    assert cost["throttleStatus"]["restoreRate"] == 100.0


def test_connection_cost_scales_with_first(shop_sandbox, token):
    query = "{ customers(first: 50) { nodes { id email } } }"
    cost = post_graphql(shop_sandbox, token, query).json()["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 52
    assert cost["actualQueryCost"] == 2


# Throttling


def test_throttled_request_executes_nothing():
    sandbox = ShopifySandbox(
        client_secret=CLIENT_SECRET, bucket_size=15.0, restore_rate=0.0
    ).start()
    try:
        token = sandbox.add_shop(SHOP)
        variables = {"order": {"lineItems": [line_item()]}}
        first = post_graphql(sandbox, token, ORDER_CREATE, variables).json()
        second_response = post_graphql(sandbox, token, ORDER_CREATE, variables)
        second = second_response.json()
        orders = sandbox.shop(SHOP).orders
    finally:
        sandbox.stop()
    assert first["data"]["orderCreate"]["userErrors"] == []
    assert second_response.status_code == 200
    assert second["errors"] == [
        {
            "message": "Throttled",
            "extensions": {
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits",
            },
        }
    ]
    assert "data" not in second
    assert second["extensions"]["cost"]["requestedQueryCost"] == 10
    assert second["extensions"]["cost"]["throttleStatus"] == {
        "maximumAvailable": 15.0,
        "currentlyAvailable": 5.0,
        "restoreRate": 0.0,
    }
    assert len(orders) == 1


def test_query_over_max_cost_rejected(shop_sandbox, token):
    query = (
        "{ orders(first: 250) { nodes { lineItems(first: 250) { nodes { id } } } } }"
    )
    error = post_graphql(shop_sandbox, token, query).json()["errors"][0]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"


# customerCreate, tagsAdd and customer search


def test_customer_create_duplicate_email_fails(shop_sandbox, token):
    customer = {"email": "jane@example.com", "firstName": "Jane"}
    graphql_data(shop_sandbox, token, CUSTOMER_CREATE, {"input": customer})
    data = graphql_data(shop_sandbox, token, CUSTOMER_CREATE, {"input": customer})
    assert data["customerCreate"]["customer"] is None
    assert data["customerCreate"]["userErrors"] == [
        {"field": ["email"], "message": "Email has already been taken"}
    ]
    assert len(shop_sandbox.shop(SHOP).customers) == 1


def test_customer_create_without_identity_fails(shop_sandbox, token):
    data = graphql_data(shop_sandbox, token, CUSTOMER_CREATE, {"input": {"note": "x"}})
    assert data["customerCreate"]["userErrors"] == [
        {
            "field": None,
            "message": "Customer must have a name, phone number or email address",
        }
    ]


def test_customer_create_invalid_phone_fails(shop_sandbox, token):
    customer = {"firstName": "Jane", "phone": "555-0100"}
    data = graphql_data(shop_sandbox, token, CUSTOMER_CREATE, {"input": customer})
    assert data["customerCreate"]["userErrors"] == [
        {"field": ["phone"], "message": "Phone is invalid"}
    ]


def test_tags_add_on_customer_shows_tags(shop_sandbox, token):
    created = graphql_data(
        shop_sandbox, token, CUSTOMER_CREATE, {"input": {"email": "jo@example.com"}}
    )["customerCreate"]["customer"]
    mutation = """
    mutation TagsAdd($id: ID!, $tags: [String!]!) {
      tagsAdd(id: $id, tags: $tags) {
        node { id ... on Customer { tags } }
        userErrors { field message }
      }
    }
    """
    tags_added = graphql_data(
        shop_sandbox, token, mutation, {"id": created["id"], "tags": [" vip ", "vip"]}
    )["tagsAdd"]
    queried = graphql_data(
        shop_sandbox,
        token,
        "query($id: ID!) { customer(id: $id) { tags } }",
        {"id": created["id"]},
    )
    assert tags_added["userErrors"] == []
    assert tags_added["node"]["tags"] == ["vip"]
    assert queried["customer"]["tags"] == ["vip"]


def test_tags_add_unknown_id_fails(shop_sandbox, token):
    mutation = """
    mutation { tagsAdd(id: "gid://shopify/Customer/1", tags: ["a"]) {
      node { id } userErrors { field message } } }
    """
    data = graphql_data(shop_sandbox, token, mutation)
    assert data["tagsAdd"]["userErrors"] == [
        {"field": ["id"], "message": "Resource not found"}
    ]


def test_customers_query_finds_email(shop_sandbox, token):
    for email in ("ann@example.com", "bob@example.com"):
        graphql_data(shop_sandbox, token, CUSTOMER_CREATE, {"input": {"email": email}})
    query = """
    query($q: String) {
      customers(first: 10, query: $q) { nodes { email } edges { node { email } } }
    }
    """
    data = graphql_data(shop_sandbox, token, query, {"q": "email:bob@example.com"})
    assert data["customers"]["nodes"] == [{"email": "bob@example.com"}]
    assert data["customers"]["edges"] == [{"node": {"email": "bob@example.com"}}]


def test_customers_query_plain_text(shop_sandbox, token):
    customer = {"email": "zed@example.com", "firstName": "Zed", "lastName": "Ng"}
    graphql_data(shop_sandbox, token, CUSTOMER_CREATE, {"input": customer})
    graphql_data(shop_sandbox, token, CUSTOMER_CREATE, {"input": {"firstName": "Amy"}})
    query = '{ customers(first: 10, query: "zed") { nodes { firstName } } }'
    data = graphql_data(shop_sandbox, token, query)
    assert data["customers"]["nodes"] == [{"firstName": "Zed"}]


def test_customers_pagination_after_cursor(shop_sandbox, token):
    for name in ("Ann", "Bob", "Cy"):
        graphql_data(
            shop_sandbox, token, CUSTOMER_CREATE, {"input": {"firstName": name}}
        )
    query = """
    query($after: String) {
      customers(first: 2, after: $after) {
        nodes { firstName }
        pageInfo { hasNextPage endCursor }
      }
    }
    """
    first_page = graphql_data(shop_sandbox, token, query)["customers"]
    cursor = first_page["pageInfo"]["endCursor"]
    second_page = graphql_data(shop_sandbox, token, query, {"after": cursor})
    assert [node["firstName"] for node in first_page["nodes"]] == ["Ann", "Bob"]
    assert first_page["pageInfo"]["hasNextPage"] is True
    assert second_page["customers"]["nodes"] == [{"firstName": "Cy"}]
    assert second_page["customers"]["pageInfo"]["hasNextPage"] is False


# Webhook subscriptions and deliveries


def test_duplicate_subscription_fails(shop_sandbox, token, webhook_receiver):
    subscribe(shop_sandbox, token, "ORDERS_CREATE", webhook_receiver.url)
    result = subscribe(shop_sandbox, token, "ORDERS_CREATE", webhook_receiver.url)
    assert result["webhookSubscription"] is None
    assert result["userErrors"] == [
        {
            "field": ["webhookSubscription", "callbackUrl"],
            "message": "Address for this topic has already been taken",
        }
    ]


def test_subscription_invalid_uri_fails(shop_sandbox, token):
    result = subscribe(shop_sandbox, token, "ORDERS_CREATE", "not a url")
    assert result["userErrors"][0]["message"] == "Address is invalid"


def test_subscription_delete_removes_it(shop_sandbox, token, webhook_receiver):
    created = subscribe(shop_sandbox, token, "ORDERS_CREATE", webhook_receiver.url)
    subscription_id = created["webhookSubscription"]["id"]
    mutation = """
    mutation($id: ID!) { webhookSubscriptionDelete(id: $id) {
      deletedWebhookSubscriptionId userErrors { field message } } }
    """
    data = graphql_data(shop_sandbox, token, mutation, {"id": subscription_id})
    result = data["webhookSubscriptionDelete"]
    assert result["deletedWebhookSubscriptionId"] == subscription_id
    assert shop_sandbox.shop(SHOP).webhook_subscriptions == []


def test_order_webhook_has_shopify_headers(shop_sandbox, token, webhook_receiver):
    subscribe(shop_sandbox, token, "ORDERS_CREATE", webhook_receiver.url)
    create_order(shop_sandbox, token, {"lineItems": [line_item()]})
    assert shop_sandbox.wait_for_deliveries(1, timeout=10)
    headers = webhook_receiver.requests[0]["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Shopify-Topic"] == "orders/create"
    assert headers["X-Shopify-Shop-Domain"] == SHOP
    assert headers["X-Shopify-API-Version"] == "2026-07"
    assert headers["User-Agent"] == "Shopify-Captain-Hook"
    assert len(headers["X-Shopify-Webhook-Id"]) == 36
    assert len(headers["X-Shopify-Event-Id"]) == 36
    assert headers["X-Shopify-Triggered-At"].endswith("Z")


def test_order_webhook_hmac_matches_raw_body(shop_sandbox, token, webhook_receiver):
    subscribe(shop_sandbox, token, "ORDERS_CREATE", webhook_receiver.url)
    create_order(shop_sandbox, token, {"lineItems": [line_item()]})
    assert shop_sandbox.wait_for_deliveries(1, timeout=10)
    request = webhook_receiver.requests[0]
    assert request["headers"]["X-Shopify-Hmac-Sha256"] == expected_hmac(request["body"])


def test_order_webhook_body_escapes_like_shopify(shop_sandbox, token, webhook_receiver):
    subscribe(shop_sandbox, token, "ORDERS_CREATE", webhook_receiver.url)
    order = {"lineItems": [line_item(title="Tëa & cups")], "note": "a/b <c>"}
    create_order(shop_sandbox, token, order)
    assert shop_sandbox.wait_for_deliveries(1, timeout=10)
    body = webhook_receiver.requests[0]["body"]
    assert b'"gid:\\/\\/shopify\\/Order\\/' in body
    assert b'"a\\/b \\u003cc\\u003e"' in body
    assert "Tëa \\u0026 cups".encode() in body
    assert json.dumps(json.loads(body)).encode() != body


def test_order_webhook_ids_exceed_double_precision(
    shop_sandbox, token, webhook_receiver
):
    subscribe(shop_sandbox, token, "ORDERS_CREATE", webhook_receiver.url)
    create_order(shop_sandbox, token, {"lineItems": [line_item()]})
    assert shop_sandbox.wait_for_deliveries(1, timeout=10)
    payload = json.loads(webhook_receiver.requests[0]["body"])
    assert payload["id"] > TWO_TO_53
    assert payload["line_items"][0]["id"] > TWO_TO_53
    assert payload["total_price"] == "19.99"
    assert payload["name"] == "#1001"


def test_failing_receiver_retried_same_id(shop_sandbox, token, webhook_receiver):
    webhook_receiver.statuses = [500]
    subscribe(shop_sandbox, token, "ORDERS_CREATE", webhook_receiver.url)
    create_order(shop_sandbox, token, {"lineItems": [line_item()]})
    assert shop_sandbox.wait_for_deliveries(1, timeout=10)
    first, second = webhook_receiver.requests
    delivery = shop_sandbox.shop(SHOP).deliveries[0]
    assert (
        first["headers"]["X-Shopify-Webhook-Id"]
        == (second["headers"]["X-Shopify-Webhook-Id"])
    )
    assert first["body"] == second["body"]
    assert [attempt["status_code"] for attempt in delivery.attempts] == [500, 200]
    assert delivery.delivered is True


def test_redirect_counts_as_failed_attempt(shop_sandbox, token, webhook_receiver):
    webhook_receiver.statuses = [302]
    subscribe(shop_sandbox, token, "ORDERS_CREATE", webhook_receiver.url)
    create_order(shop_sandbox, token, {"lineItems": [line_item()]})
    assert shop_sandbox.wait_for_deliveries(1, timeout=10)
    paths = [request["path"] for request in webhook_receiver.requests]
    assert paths == ["/webhooks", "/webhooks"]


def test_delivery_gives_up_after_last_retry(shop_sandbox, token, webhook_receiver):
    webhook_receiver.statuses = [500] * 10
    subscribe(shop_sandbox, token, "ORDERS_CREATE", webhook_receiver.url)
    create_order(shop_sandbox, token, {"lineItems": [line_item()]})
    assert shop_sandbox.wait_for_deliveries(1, timeout=10)
    delivery = shop_sandbox.shop(SHOP).deliveries[0]
    assert len(delivery.attempts) == len(FAST_RETRIES) + 1
    assert delivery.delivered is False


def test_unreachable_receiver_records_error(shop_sandbox, token):
    closed = Receiver()
    uri = closed.url
    closed.stop()
    subscribe(shop_sandbox, token, "CUSTOMERS_CREATE", uri)
    graphql_data(shop_sandbox, token, CUSTOMER_CREATE, {"input": {"firstName": "Al"}})
    assert shop_sandbox.wait_for_deliveries(1, timeout=10)
    attempts = shop_sandbox.shop(SHOP).deliveries[0].attempts
    assert all("error" in attempt for attempt in attempts)


def test_order_upsert_creates_customer(shop_sandbox, token, webhook_receiver):
    subscribe(shop_sandbox, token, "CUSTOMERS_CREATE", webhook_receiver.url)
    order = {
        "lineItems": [line_item()],
        "customer": {"toUpsert": {"email": "new@example.com", "firstName": "Nia"}},
    }
    result = create_order(shop_sandbox, token, order)
    assert shop_sandbox.wait_for_deliveries(1, timeout=10)
    request = webhook_receiver.requests[0]
    payload = json.loads(request["body"])
    customers = shop_sandbox.shop(SHOP).customers
    assert result["order"]["customer"]["email"] == "new@example.com"
    assert len(customers) == 1
    assert request["headers"]["X-Shopify-Topic"] == "customers/create"
    assert payload["email"] == "new@example.com"
    assert payload["id"] > TWO_TO_53
    assert "tags" not in payload


def test_order_upsert_reuses_customer_by_email(shop_sandbox, token):
    customer = {"email": "old@example.com", "firstName": "Ola"}
    graphql_data(shop_sandbox, token, CUSTOMER_CREATE, {"input": customer})
    order = {
        "lineItems": [line_item()],
        "customer": {"toUpsert": {"email": "OLD@example.com"}},
    }
    result = create_order(shop_sandbox, token, order)
    customers = shop_sandbox.shop(SHOP).customers
    assert result["order"]["customer"]["id"] == customers[0]["admin_graphql_api_id"]
    assert len(customers) == 1


# Control endpoints


def test_control_endpoint_creates_shop(shop_sandbox):
    response = requests.post(
        shop_sandbox.url + "/_sandbox/shops",
        json={
            "domain": "beta.myshopify.com",
            "currency": "EUR",
            "utc_offset": "+01:00",
        },
        timeout=10,
    )
    body = response.json()
    assert response.status_code == 201
    assert body["domain"] == "beta.myshopify.com"
    assert body["access_token"].startswith("shpat_")
    assert len(body["access_token"]) == len("shpat_") + 32


def test_control_endpoint_returns_shop_state(shop_sandbox, token):
    create_order(shop_sandbox, token, {"lineItems": [line_item()]})
    response = requests.get(shop_sandbox.url + f"/_sandbox/shops/{SHOP}", timeout=10)
    body = response.json()
    assert response.status_code == 200
    assert len(body["orders"]) == 1
    assert body["customers"] == []
    assert body["webhook_subscriptions"] == []
    assert body["deliveries"] == []
    assert "access_token" not in body


def test_add_shop_rejects_duplicate_domain(shop_sandbox, token):
    with pytest.raises(ValueError, match="already exists"):
        shop_sandbox.add_shop(SHOP)
