"""Mutation resolvers of the Shopify sandbox for orders, customers and tags.

Business rule failures come back as ``userErrors`` with HTTP 200 and a null resource,
as Shopify returns them. A mutation that creates or changes a resource queues the
matching webhook event on the request context, and the server delivers it after the
request has finished.
"""

from __future__ import annotations

import copy
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from graphql import GraphQLSchema

from connectors.shopify.sandbox.rest import (
    build_customer,
    build_order,
    customer_webhook_payload,
    join_tags,
    normalize_tags,
    split_tags,
)
from connectors.shopify.sandbox.state import RequestContext, ShopState, parse_gid

logger = logging.getLogger(__name__)

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
E164_PATTERN = re.compile(r"^\+[1-9][0-9]{6,14}$")
PHONE_SEPARATORS = re.compile(r"[\s().-]")
MAX_TAG_LENGTH = 255
# Clocks of the client and the sandbox may differ a little, so a processedAt this far
# ahead still counts as the present.
PROCESSED_AT_TOLERANCE = timedelta(minutes=1)
MISSING_CUSTOMER_IDENTITY = "Customer must have a name, phone number or email address"


def user_error(field: list[str] | None, message: str) -> dict[str, Any]:
    return {"field": field, "message": message}


def order_error(
    field: list[str] | None, message: str, code: str = "INVALID"
) -> dict[str, Any]:
    return {"field": field, "message": message, "code": code}


def normalize_phone(value: str) -> str | None:
    """Return the phone number in E.164 form, or None if it has no such form.

    Spaces, dots, dashes and brackets are dropped first, as Shopify accepts
    ``+1 (555) 555-0100`` for ``+15555550100``.
    """
    compact = PHONE_SEPARATORS.sub("", value)
    return compact if E164_PATTERN.match(compact) else None


def _stripped(fields: dict[str, Any], key: str) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    return value.strip() or None


def validate_customer_fields(
    shop: ShopState, fields: dict[str, Any], prefix: list[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Check customer input and return the cleaned fields with any user errors.

    ``prefix`` is the path of the input object, which Shopify puts before the name
    of the faulty field.
    """
    cleaned = dict(fields)
    errors: list[dict[str, Any]] = []
    for key in ("email", "firstName", "lastName", "note"):
        cleaned[key] = _stripped(fields, key)

    email = cleaned["email"]
    if email is not None:
        if not EMAIL_PATTERN.match(email):
            errors.append(user_error([*prefix, "email"], "Email is invalid"))
        elif shop.find_customer_by_email(email) is not None:
            errors.append(
                user_error([*prefix, "email"], "Email has already been taken")
            )

    phone = _stripped(fields, "phone")
    cleaned["phone"] = None
    if phone is not None:
        normalized = normalize_phone(phone)
        if normalized is None:
            errors.append(user_error([*prefix, "phone"], "Phone is invalid"))
        elif shop.find_customer_by_phone(normalized) is not None:
            errors.append(
                user_error([*prefix, "phone"], "Phone has already been taken")
            )
        cleaned["phone"] = normalized

    identity = (email, phone, cleaned["firstName"], cleaned["lastName"])
    if not any(identity):
        errors.append(user_error(None, MISSING_CUSTOMER_IDENTITY))
    errors.extend(_tag_errors(fields.get("tags") or [], [*prefix, "tags"]))
    return cleaned, errors


def _tag_errors(tags: list[str], field: list[str]) -> list[dict[str, Any]]:
    if any(len(tag) > MAX_TAG_LENGTH for tag in normalize_tags(tags)):
        message = f"Tags is too long (maximum is {MAX_TAG_LENGTH} characters)"
        return [user_error(field, message)]
    return []


def _context(info: Any) -> RequestContext:
    return info.context


# customerCreate


def customer_create(_root: Any, info: Any, **args: Any) -> dict[str, Any]:
    context = _context(info)
    fields, errors = validate_customer_fields(context.shop, args["input"], [])
    if errors:
        return {"customer": None, "userErrors": errors}
    customer = _store_customer(context, fields)
    return {"customer": customer, "userErrors": []}


def _store_customer(context: RequestContext, fields: dict[str, Any]) -> dict[str, Any]:
    customer = build_customer(context.ids, context.shop, fields)
    context.shop.customers.append(customer)
    context.queue_event("customers/create", customer_webhook_payload(customer))
    logger.info(
        "shopify_sandbox.customer.created",
        extra={"shop_domain": context.shop.domain, "customer_id": customer["id"]},
    )
    return customer


# orderCreate


def _resolve_order_customer(
    shop: ShopState, order: dict[str, Any], errors: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Return the existing customer of the order, or the fields of a new one."""
    customer_input = order.get("customer") or {}
    legacy_customer_id = order.get("customerId")
    to_associate = customer_input.get("toAssociate")
    to_upsert = customer_input.get("toUpsert")
    if customer_input and legacy_customer_id:
        errors.append(
            order_error(
                ["order", "customerId"],
                "Customer and customer id can't both be present",
                "REDUNDANT_CUSTOMER_FIELDS",
            )
        )
        return None, None
    if to_associate and to_upsert:
        errors.append(
            order_error(
                ["order", "customer"],
                "To associate and to upsert can't both be present",
                "REDUNDANT_CUSTOMER_FIELDS",
            )
        )
        return None, None

    if to_associate or legacy_customer_id:
        customer_gid = to_associate["id"] if to_associate else legacy_customer_id
        path = (
            ["order", "customer", "toAssociate", "id"]
            if to_associate
            else ["order", "customerId"]
        )
        parsed = parse_gid(customer_gid)
        customer = None
        if parsed is not None and parsed[0] == "Customer":
            customer = shop.find_customer(parsed[1])
        if customer is None:
            errors.append(order_error(path, "Customer does not exist"))
        return customer, None

    if to_upsert:
        email = _stripped(to_upsert, "email")
        existing = shop.find_customer_by_email(email) if email else None
        if existing is not None:
            return existing, None
        fields, upsert_errors = validate_customer_fields(
            shop, to_upsert, ["order", "customer", "toUpsert"]
        )
        errors.extend(
            order_error(error["field"], error["message"]) for error in upsert_errors
        )
        return None, fields
    return None, None


def _validate_line_items(
    items: list[dict[str, Any]], errors: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Check line item input and return the items with parsed variant ids."""
    if not items:
        errors.append(
            order_error(
                ["order", "lineItems"], "Line items must have at least one line item"
            )
        )
        return []
    cleaned: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        path = ["order", "lineItems", str(index)]
        result = dict(item)
        if item["quantity"] < 1:
            errors.append(
                order_error(
                    [*path, "quantity"], "Quantity must be greater than or equal to 1"
                )
            )
        variant_gid = item.get("variantId")
        if variant_gid is not None:
            parsed = parse_gid(variant_gid)
            if parsed is None or parsed[0] != "ProductVariant":
                errors.append(
                    order_error([*path, "variantId"], "Variant id is invalid")
                )
            else:
                result["variant_legacy_id"] = parsed[1]
        else:
            if not _stripped(item, "title"):
                errors.append(order_error([*path, "title"], "Title can't be blank"))
            if item.get("priceSet") is None:
                errors.append(
                    order_error([*path, "priceSet"], "Price set can't be blank")
                )
        price_set = item.get("priceSet") or {}
        for money_key in ("shopMoney", "presentmentMoney"):
            money = price_set.get(money_key)
            if money is not None and money["amount"] < 0:
                errors.append(
                    order_error(
                        [*path, "priceSet", money_key, "amount"],
                        "Price must be greater than or equal to 0",
                    )
                )
        cleaned.append(result)
    return cleaned


def _processed_at(
    shop: ShopState, order: dict[str, Any], errors: list[dict[str, Any]]
) -> str | None:
    processed_at: datetime | None = order.get("processedAt")
    if processed_at is None:
        return None
    if processed_at.tzinfo is None:
        processed_at = processed_at.replace(tzinfo=UTC)
    if processed_at > datetime.now(UTC) + PROCESSED_AT_TOLERANCE:
        errors.append(
            order_error(
                ["order", "processedAt"],
                "Processed at can't be in the future",
                "PROCESSED_AT_INVALID",
            )
        )
        return None
    return processed_at.astimezone(shop.tzinfo).replace(microsecond=0).isoformat()


def order_create(_root: Any, info: Any, **args: Any) -> dict[str, Any]:
    context = _context(info)
    shop = context.shop
    order_input: dict[str, Any] = args["order"]
    errors: list[dict[str, Any]] = []
    fields = dict(order_input)

    email = _stripped(order_input, "email")
    if email is not None and not EMAIL_PATTERN.match(email):
        errors.append(order_error(["order", "email"], "Email is invalid"))
    fields["email"] = email
    phone = _stripped(order_input, "phone")
    if phone is not None:
        fields["phone"] = normalize_phone(phone)
        if fields["phone"] is None:
            errors.append(order_error(["order", "phone"], "Phone is invalid"))
    fields["processedAt"] = _processed_at(shop, order_input, errors)
    fields["lineItems"] = _validate_line_items(
        order_input.get("lineItems") or [], errors
    )
    errors.extend(
        order_error(error["field"], error["message"])
        for error in _tag_errors(order_input.get("tags") or [], ["order", "tags"])
    )
    customer, new_customer_fields = _resolve_order_customer(shop, order_input, errors)
    if errors:
        return {"order": None, "userErrors": errors}

    if new_customer_fields is not None:
        address = order_input.get("shippingAddress") or order_input.get(
            "billingAddress"
        )
        if address:
            new_customer_fields["addresses"] = [address]
        customer = _store_customer(context, new_customer_fields)
    order = build_order(context.ids, shop, fields, customer)
    shop.orders.append(order)
    context.queue_event("orders/create", copy.deepcopy(order))
    logger.info(
        "shopify_sandbox.order.created",
        extra={
            "shop_domain": shop.domain,
            "order_id": order["id"],
            "order_name": order["name"],
        },
    )
    return {"order": order, "userErrors": []}


# tagsAdd


def tags_add(_root: Any, info: Any, **args: Any) -> dict[str, Any]:
    context = _context(info)
    shop = context.shop
    parsed = parse_gid(args["id"])
    resource = None
    topic = ""
    if parsed is not None and parsed[0] == "Order":
        resource = shop.find_order(parsed[1])
        topic = "orders/updated"
    elif parsed is not None and parsed[0] == "Customer":
        resource = shop.find_customer(parsed[1])
        topic = "customers/update"
    if resource is None:
        return {"node": None, "userErrors": [user_error(["id"], "Resource not found")]}
    errors = _tag_errors(args["tags"], ["tags"])
    if errors:
        return {"node": None, "userErrors": errors}

    current = split_tags(resource.get("tags"))
    merged = normalize_tags(current + args["tags"])
    if merged != current:
        resource["tags"] = join_tags(merged)
        resource["updated_at"] = shop.now()
        payload = (
            customer_webhook_payload(resource)
            if topic == "customers/update"
            else copy.deepcopy(resource)
        )
        context.queue_event(topic, payload)
        logger.info(
            "shopify_sandbox.tags.added",
            extra={"shop_domain": shop.domain, "resource_id": resource["id"]},
        )
    return {"node": resource, "userErrors": []}


def bind_mutations(schema: GraphQLSchema) -> None:
    """Attach the order, customer and tag resolvers to the schema's Mutation type."""
    resolvers = {
        "customerCreate": customer_create,
        "orderCreate": order_create,
        "tagsAdd": tags_add,
    }
    mutation_type: Any = schema.mutation_type
    for field_name, resolver in resolvers.items():
        mutation_type.fields[field_name].resolve = resolver
