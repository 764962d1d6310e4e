"""Shopify actions: Create Order, Create Customer and Add Customer Tags.

Each action turns its snake_case input into GraphQL variables, sends one
mutation through :class:`ShopifyClient`, and turns ``userErrors`` into an
ActionError whose fields are JSON paths into the step's input. Ids in outputs
are strings, because Shopify's 64-bit ids lose precision as JSON doubles.
"""

import logging
from typing import Any

from connectors.registry import ActionContext, ActionError
from connectors.shopify.client import ShopifyClient, user_errors_to_fields

logger = logging.getLogger(__name__)

# The order fields every order action returns, shared so that an order found
# again after an unknown outcome has the same output as a created one.
CREATED_ORDER_FRAGMENT = """
fragment createdOrder on Order {
  id
  legacyResourceId
  name
  email
  phone
  createdAt
  tags
  totalPriceSet { shopMoney { amount currencyCode } }
  customer { id }
}
"""

ORDER_CREATE = (
    """
mutation orderCreate(
  $order: OrderCreateOrderInput!, $options: OrderCreateOptionsInput
) {
  orderCreate(order: $order, options: $options) {
    order { ...createdOrder }
    userErrors { field message code }
  }
}
"""
    + CREATED_ORDER_FRAGMENT
)

ORDER_BY_SOURCE_IDENTIFIER = (
    """
query orderBySourceIdentifier($query: String!) {
  orders(first: 1, query: $query) { nodes { ...createdOrder sourceIdentifier } }
}
"""
    + CREATED_ORDER_FRAGMENT
)

SHOP_CURRENCY = "query shopCurrency { shop { currencyCode } }"

CUSTOMER_CREATE = """
mutation customerCreate($input: CustomerInput!) {
  customerCreate(input: $input) {
    customer { id legacyResourceId email phone firstName lastName tags createdAt }
    userErrors { field message }
  }
}
"""

CUSTOMER_BY_EMAIL = """
query customerByEmail($query: String!) {
  customers(first: 1, query: $query) { nodes { id email } }
}
"""

TAGS_ADD = """
mutation tagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) {
    node { id ... on Customer { tags } }
    userErrors { field message }
  }
}
"""


def _client(context: ActionContext) -> ShopifyClient:
    return ShopifyClient(context.account_id, context.credentials["access_token"])


def _raise_user_errors(payload: dict, *, action: str, argument: str) -> None:
    user_errors = payload.get("userErrors") or []
    if not user_errors:
        return
    fields = user_errors_to_fields(user_errors, root="$", argument=argument)
    summary = "; ".join(f"{f['path']}: {f['message']}" for f in fields)
    raise ActionError(
        f"Shopify rejected {action}: {summary}",
        code="shopify_user_errors",
        fields=fields,
    )


def _customer_input(data: dict[str, Any]) -> dict[str, Any]:
    names = {
        "email": "email",
        "phone": "phone",
        "first_name": "firstName",
        "last_name": "lastName",
        "note": "note",
        "tags": "tags",
    }
    return {names[key]: value for key, value in data.items() if key in names}


def _address_input(address: dict[str, Any]) -> dict[str, Any]:
    names = {
        "first_name": "firstName",
        "last_name": "lastName",
        "address1": "address1",
        "address2": "address2",
        "city": "city",
        "province_code": "provinceCode",
        "country_code": "countryCode",
        "zip": "zip",
        "phone": "phone",
        "company": "company",
    }
    return {names[key]: value for key, value in address.items() if key in names}


def create_order(context: ActionContext, data: dict[str, Any]) -> dict[str, Any]:
    client = _client(context)
    if context.outcome_unknown:
        existing = _order_by_source_identifier(client, context.idempotency_key)
        if existing is not None:
            logger.info(
                "shopify.order.found_existing",
                extra={"order_id": existing.get("id")},
            )
            return _order_output(existing)
    currency = data.get("currency")
    if not currency:
        shop = client.execute(SHOP_CURRENCY).get("shop") or {}
        currency = shop.get("currencyCode") or "USD"

    line_items = []
    for item in data["line_items"]:
        line_item: dict[str, Any] = {"quantity": item["quantity"]}
        if item.get("variant_id"):
            line_item["variantId"] = _gid("ProductVariant", item["variant_id"])
        if "title" in item:
            line_item["title"] = item["title"]
        if "price" in item:
            line_item["priceSet"] = {
                "shopMoney": {"amount": str(item["price"]), "currencyCode": currency}
            }
        if item.get("sku"):
            line_item["sku"] = item["sku"]
        line_items.append(line_item)

    order: dict[str, Any] = {
        "currency": currency,
        "lineItems": line_items,
        # Marks the order with the step that created it, so a retried step can
        # find its own order instead of creating a second one.
        "sourceIdentifier": context.idempotency_key,
    }
    for key, name in (("email", "email"), ("phone", "phone"), ("note", "note")):
        if data.get(key) is not None:
            order[name] = data[key]
    if data.get("tags"):
        order["tags"] = data["tags"]
    if data.get("financial_status"):
        order["financialStatus"] = data["financial_status"].upper()
    if data.get("customer"):
        order["customer"] = {"toUpsert": _customer_input(data["customer"])}
    for key, name in (
        ("shipping_address", "shippingAddress"),
        ("billing_address", "billingAddress"),
    ):
        if data.get(key):
            order[name] = _address_input(data[key])

    result = client.execute(ORDER_CREATE, {"order": order})
    payload = result.get("orderCreate") or {}
    _raise_user_errors(_with_input_paths(payload), action="the order", argument="order")
    return _order_output(payload.get("order") or {})


def _order_by_source_identifier(client: ShopifyClient, key: str) -> dict | None:
    """Return the order an earlier attempt created with this key, if any."""
    result = client.execute(
        ORDER_BY_SOURCE_IDENTIFIER,
        {"query": f"source_identifier:{_search_value(key)}"},
    )
    nodes = ((result.get("orders") or {}).get("nodes")) or []
    for node in nodes:
        if node.get("sourceIdentifier") == key:
            return node
    return None


def _order_output(created: dict[str, Any]) -> dict[str, Any]:
    money = (created.get("totalPriceSet") or {}).get("shopMoney") or {}
    return {
        "id": created.get("id"),
        "legacy_id": str(created.get("legacyResourceId") or ""),
        "name": created.get("name"),
        "email": created.get("email"),
        "created_at": created.get("createdAt"),
        "total_price": money.get("amount"),
        "currency": money.get("currencyCode"),
        "customer_id": (created.get("customer") or {}).get("id"),
    }


def create_customer(context: ActionContext, data: dict[str, Any]) -> dict[str, Any]:
    result = _client(context).execute(CUSTOMER_CREATE, {"input": _customer_input(data)})
    payload = result.get("customerCreate") or {}
    _raise_user_errors(
        _with_input_paths(payload), action="the customer", argument="input"
    )
    customer = payload.get("customer") or {}
    return {
        "id": customer.get("id"),
        "legacy_id": str(customer.get("legacyResourceId") or ""),
        "email": customer.get("email"),
        "phone": customer.get("phone"),
        "first_name": customer.get("firstName"),
        "last_name": customer.get("lastName"),
        "tags": customer.get("tags") or [],
        "created_at": customer.get("createdAt"),
    }


def add_customer_tags(context: ActionContext, data: dict[str, Any]) -> dict[str, Any]:
    client = _client(context)
    if data.get("customer_id"):
        customer_id = _gid("Customer", data["customer_id"])
    else:
        customer_id = _customer_id_by_email(client, data["email"])
    result = client.execute(TAGS_ADD, {"id": customer_id, "tags": data["tags"]})
    payload = result.get("tagsAdd") or {}
    user_errors = payload.get("userErrors") or []
    if user_errors:
        fields = [
            {
                "path": "$.customer_id"
                if (error.get("field") or [None])[0] == "id"
                else "$.tags",
                "message": str(error.get("message", "")),
            }
            for error in user_errors
        ]
        raise ActionError(
            "Shopify rejected the tags: "
            + "; ".join(f"{f['path']}: {f['message']}" for f in fields),
            code="shopify_user_errors",
            fields=fields,
        )
    node = payload.get("node") or {}
    return {"customer_id": node.get("id", customer_id), "tags": node.get("tags", [])}


def _customer_id_by_email(client: ShopifyClient, email: str) -> str:
    result = client.execute(
        CUSTOMER_BY_EMAIL, {"query": f"email:{_search_value(email)}"}
    )
    nodes = ((result.get("customers") or {}).get("nodes")) or []
    matches = [
        node for node in nodes if (node.get("email") or "").lower() == email.lower()
    ]
    if not matches:
        raise ActionError(
            f"The shop has no customer with the email {email!r}; create the "
            "customer first or map customer_id.",
            code="shopify_customer_not_found",
            fields=[{"path": "$.email", "message": "No customer has this email."}],
        )
    return matches[0]["id"]


def _search_value(text: str) -> str:
    """Quote a value for Shopify's search syntax.

    A quoted value keeps spaces and colons from widening the query.
    """
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _with_input_paths(payload: dict) -> dict:
    """Rename GraphQL field paths in ``userErrors`` to the action's input names."""
    renamed = []
    for error in payload.get("userErrors") or []:
        field = [
            _INPUT_NAMES.get(str(part), str(part))
            for part in error.get("field") or []
            if str(part) not in _DROPPED_PARTS
        ]
        renamed.append({**error, "field": field})
    return {**payload, "userErrors": renamed}


_INPUT_NAMES = {
    "lineItems": "line_items",
    "priceSet": "price",
    "firstName": "first_name",
    "lastName": "last_name",
    "shippingAddress": "shipping_address",
    "billingAddress": "billing_address",
    "variantId": "variant_id",
    "financialStatus": "financial_status",
}

# GraphQL nesting that the flat action input does not have.
_DROPPED_PARTS = {"toUpsert", "shopMoney", "amount"}


def _gid(resource: str, value: Any) -> str:
    text = str(value)
    if text.startswith("gid://shopify/"):
        return text
    if not text.isdigit():
        raise ActionError(
            f"{text!r} is not a Shopify {resource} id; use a number or a "
            f"gid://shopify/{resource}/... id.",
            code="invalid_input",
        )
    return f"gid://shopify/{resource}/{text}"
