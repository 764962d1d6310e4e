"""GraphQL schema of the Shopify sandbox with its scalars, type fields and queries.

Sources of the object types are the stored REST dicts, so each GraphQL field has a
resolver that reads the matching REST key. Mutations live in the mutations and
webhook_subscriptions modules.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from graphql import GraphQLError, GraphQLSchema, build_schema

from connectors.shopify.sandbox.connections import build_connection
from connectors.shopify.sandbox.mutations import bind_mutations
from connectors.shopify.sandbox.rest import format_money, split_tags
from connectors.shopify.sandbox.scalars import bind_scalars
from connectors.shopify.sandbox.search import (
    CUSTOMER_FIELDS,
    CUSTOMER_TEXT_FIELDS,
    ORDER_FIELDS,
    ORDER_TEXT_FIELDS,
    filter_resources,
)
from connectors.shopify.sandbox.state import (
    RequestContext,
    ShopState,
    gid,
    iana_timezone,
    parse_gid,
)
from connectors.shopify.sandbox.webhook_subscriptions import (
    bind_webhook_subscription_mutations,
)

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")

Resolver = Callable[..., Any]


def load_schema() -> GraphQLSchema:
    """Build the sandbox schema from its SDL file and attach every resolver."""
    schema = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
    bind_scalars(schema)
    _bind_types(schema)
    _bind_queries(schema)
    bind_mutations(schema)
    bind_webhook_subscription_mutations(schema)
    return schema


def invalid_id_error(value: str) -> GraphQLError:
    """Return the error Shopify raises for an argument that is not a global id."""
    return GraphQLError(
        f"Invalid global id '{value}'",
        extensions={
            "code": "argumentLiteralsIncompatible",
            "typeName": "CoercionError",
        },
    )


# Type fields


def _key(key: str) -> Resolver:
    return lambda source, _info, **_args: source.get(key)


def _upper(key: str) -> Resolver:
    def resolve(source: dict[str, Any], _info: Any, **_args: Any) -> str | None:
        value = source.get(key)
        return value.upper() if isinstance(value, str) else None

    return resolve


def _money(value: dict[str, Any]) -> dict[str, Any]:
    return {"amount": value["amount"], "currencyCode": value["currency_code"]}


def _money_bag(key: str) -> Resolver:
    def resolve(source: dict[str, Any], _info: Any, **_args: Any) -> Any:
        value = source.get(key)
        if value is None:
            return None
        return {
            "shopMoney": _money(value["shop_money"]),
            "presentmentMoney": _money(value["presentment_money"]),
        }

    return resolve


def _tags(source: dict[str, Any], _info: Any, **_args: Any) -> list[str]:
    return split_tags(source.get("tags"))


def _address(key: str) -> Resolver:
    def resolve(source: dict[str, Any], _info: Any, **_args: Any) -> Any:
        address = source.get(key)
        if address is None:
            return None
        # Order addresses have no id in REST, so the GraphQL id derives from the order
        # and the address's role.
        role = key.removesuffix("_address")
        address_id = (
            f"{gid('MailingAddress', source['id'])}?model_name=Address&role={role}"
        )
        return {**address, "_gid": address_id}

    return resolve


def _customer_address(address: dict[str, Any]) -> dict[str, Any]:
    address_id = gid("MailingAddress", address["id"]) + "?model_name=CustomerAddress"
    return {**address, "_gid": address_id}


def _shop(info: Any) -> ShopState:
    context: RequestContext = info.context
    return context.shop


def _customer_orders(customer: dict[str, Any], info: Any) -> list[dict[str, Any]]:
    return [
        order
        for order in _shop(info).orders
        if order.get("customer") and order["customer"]["id"] == customer["id"]
    ]


def _display_name(customer: dict[str, Any], _info: Any, **_args: Any) -> str:
    parts = [customer.get("first_name"), customer.get("last_name")]
    name = " ".join(part for part in parts if part)
    return name or customer.get("email") or customer.get("phone") or ""


def _order_customer(order: dict[str, Any], info: Any, **_args: Any) -> Any:
    snapshot = order.get("customer")
    if snapshot is None:
        return None
    return _shop(info).find_customer(snapshot["id"]) or snapshot


def _line_item_total(item: dict[str, Any], _info: Any, **_args: Any) -> dict[str, Any]:
    bag = item["price_set"]
    quantity = item["quantity"]

    def total(money: dict[str, Any]) -> dict[str, Any]:
        amount = format_money(Decimal(money["amount"]) * quantity)
        return {"amount": amount, "currencyCode": money["currency_code"]}

    return {
        "shopMoney": total(bag["shop_money"]),
        "presentmentMoney": total(bag["presentment_money"]),
    }


def _timezone_offset(shop: ShopState, _info: Any, **_args: Any) -> str:
    return shop.utc_offset.replace(":", "")


def _timezone_minutes(shop: ShopState, _info: Any, **_args: Any) -> int:
    delta = shop.tzinfo.utcoffset(None)
    return int(delta.total_seconds() // 60) if delta is not None else 0


# NOTE: timestamps keep the shop's UTC offset, as in REST and webhooks. The real Admin
# GraphQL API returns DateTime in UTC with a Z suffix, so clients must accept both.
COMMON_FIELDS: dict[str, Resolver] = {
    "id": _key("admin_graphql_api_id"),
    "legacyResourceId": _key("id"),
    "createdAt": _key("created_at"),
    "updatedAt": _key("updated_at"),
}

TYPE_RESOLVERS: dict[str, dict[str, Resolver]] = {
    "Shop": {
        "id": lambda shop, _info, **_: gid("Shop", shop.shop_id),
        "name": lambda shop, _info, **_: shop.name,
        "myshopifyDomain": lambda shop, _info, **_: shop.domain,
        "currencyCode": lambda shop, _info, **_: shop.currency,
        "ianaTimezone": lambda shop, _info, **_: iana_timezone(shop.utc_offset),
        "timezoneOffset": _timezone_offset,
        "timezoneOffsetMinutes": _timezone_minutes,
    },
    "Customer": {
        **COMMON_FIELDS,
        "defaultEmailAddress": lambda customer, _info, **_: (
            {"emailAddress": customer["email"]} if customer.get("email") else None
        ),
        "defaultPhoneNumber": lambda customer, _info, **_: (
            {"phoneNumber": customer["phone"]} if customer.get("phone") else None
        ),
        "firstName": _key("first_name"),
        "lastName": _key("last_name"),
        "displayName": _display_name,
        "tags": _tags,
        "state": _upper("state"),
        "verifiedEmail": _key("verified_email"),
        "numberOfOrders": lambda customer, info, **_: len(
            _customer_orders(customer, info)
        ),
        "defaultAddress": lambda customer, _info, **_: (
            _customer_address(customer["default_address"])
            if customer.get("default_address")
            else None
        ),
        "addresses": lambda customer, _info, first=None, **_: [
            _customer_address(address)
            for address in customer.get("addresses", [])[:first]
        ],
        "orders": lambda customer, info, first, after=None, reverse=False, **_: (
            build_connection(_customer_orders(customer, info), first, after, reverse)
        ),
    },
    "Order": {
        **COMMON_FIELDS,
        "confirmationNumber": _key("confirmation_number"),
        "tags": _tags,
        "closed": lambda order, _info, **_: order.get("closed_at") is not None,
        "processedAt": _key("processed_at"),
        "cancelledAt": _key("cancelled_at"),
        "currencyCode": _key("currency"),
        "presentmentCurrencyCode": _key("presentment_currency"),
        "displayFinancialStatus": _upper("financial_status"),
        "displayFulfillmentStatus": lambda order, _info, **_: (
            order.get("fulfillment_status") or "unfulfilled"
        ).upper(),
        "sourceIdentifier": _key("source_identifier"),
        "sourceName": _key("source_name"),
        "subtotalPriceSet": _money_bag("subtotal_price_set"),
        "totalPriceSet": _money_bag("total_price_set"),
        "totalTaxSet": _money_bag("total_tax_set"),
        "currentTotalPriceSet": _money_bag("current_total_price_set"),
        "lineItems": lambda order, _info, first, after=None, reverse=False, **_: (
            build_connection(order["line_items"], first, after, reverse)
        ),
        "customer": _order_customer,
        "billingAddress": _address("billing_address"),
        "shippingAddress": _address("shipping_address"),
    },
    "LineItem": {
        "id": _key("admin_graphql_api_id"),
        "variantTitle": _key("variant_title"),
        "currentQuantity": _key("current_quantity"),
        "requiresShipping": _key("requires_shipping"),
        "originalUnitPriceSet": _money_bag("price_set"),
        "originalTotalSet": _line_item_total,
    },
    "MailingAddress": {
        "id": _key("_gid"),
        "countryCodeV2": _key("country_code"),
        "firstName": _key("first_name"),
        "lastName": _key("last_name"),
        "provinceCode": _key("province_code"),
    },
    "WebhookSubscription": {
        **COMMON_FIELDS,
        "callbackUrl": _key("uri"),
        "includeFields": _key("include_fields"),
    },
}


def _resolve_node_type(value: Any, _info: Any, _abstract_type: Any) -> str | None:
    if isinstance(value, ShopState):
        return "Shop"
    parsed = parse_gid(value.get("admin_graphql_api_id", ""))
    return parsed[0] if parsed else None


def _bind_types(schema: GraphQLSchema) -> None:
    for type_name, resolvers in TYPE_RESOLVERS.items():
        fields: Any = schema.type_map[type_name].fields  # type: ignore[attr-defined]
        for field_name, resolver in resolvers.items():
            fields[field_name].resolve = resolver
    node_type: Any = schema.type_map["Node"]
    node_type.resolve_type = _resolve_node_type


# Queries


def find_node(shop: ShopState, value: str) -> Any:
    """Return the resource of a global id, None if it does not exist.

    Raises:
        GraphQLError: ``value`` is not a global id.
    """
    parsed = parse_gid(value)
    if parsed is None:
        raise invalid_id_error(value)
    kind, resource_id = parsed
    if kind == "Order":
        return shop.find_order(resource_id)
    if kind == "Customer":
        return shop.find_customer(resource_id)
    if kind == "WebhookSubscription":
        return shop.find_subscription(resource_id)
    if kind == "Shop" and resource_id == shop.shop_id:
        return shop
    return None


def _find_of_kind(kind: str) -> Resolver:
    def resolve(_root: Any, info: Any, **args: Any) -> Any:
        node = find_node(_shop(info), args["id"])
        if node is None or isinstance(node, ShopState):
            return None
        return node if parse_gid(node["admin_graphql_api_id"])[0] == kind else None

    return resolve


def _customers(_root: Any, info: Any, **args: Any) -> dict[str, Any]:
    shop = _shop(info)
    matches = filter_resources(
        shop.customers,
        args.get("query"),
        CUSTOMER_FIELDS,
        CUSTOMER_TEXT_FIELDS,
        shop.tzinfo,
    )
    return build_connection(matches, args["first"], args.get("after"), args["reverse"])


def _orders(_root: Any, info: Any, **args: Any) -> dict[str, Any]:
    shop = _shop(info)
    matches = filter_resources(
        shop.orders, args.get("query"), ORDER_FIELDS, ORDER_TEXT_FIELDS, shop.tzinfo
    )
    return build_connection(matches, args["first"], args.get("after"), args["reverse"])


def _webhook_subscriptions(_root: Any, info: Any, **args: Any) -> dict[str, Any]:
    subscriptions = _shop(info).webhook_subscriptions
    topics = args.get("topics")
    if topics:
        subscriptions = [item for item in subscriptions if item["topic"] in topics]
    uri = args.get("uri")
    if uri:
        subscriptions = [item for item in subscriptions if item["uri"] == uri]
    return build_connection(
        subscriptions, args["first"], args.get("after"), args["reverse"]
    )


def _bind_queries(schema: GraphQLSchema) -> None:
    resolvers: dict[str, Resolver] = {
        "shop": lambda _root, info, **_: _shop(info),
        "node": lambda _root, info, **args: find_node(_shop(info), args["id"]),
        "customer": _find_of_kind("Customer"),
        "customers": _customers,
        "order": _find_of_kind("Order"),
        "orders": _orders,
        "webhookSubscription": _find_of_kind("WebhookSubscription"),
        "webhookSubscriptions": _webhook_subscriptions,
    }
    query_type: Any = schema.query_type
    for field_name, resolver in resolvers.items():
        query_type.fields[field_name].resolve = resolver
