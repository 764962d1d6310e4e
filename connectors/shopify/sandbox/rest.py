"""REST JSON representations of sandbox resources, and Shopify's JSON byte encoding.

Orders and customers are stored in the shape that the REST Admin API and the
``orders/create`` and ``customers/create`` webhooks use (API version 2026-07). GraphQL
resolvers read the same dicts.
"""

from __future__ import annotations

import json
import secrets
import string
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors.shopify.sandbox.places import country_name, province_name
from connectors.shopify.sandbox.state import IdSequence, ShopState, gid

CENT = Decimal("0.01")
CONFIRMATION_ALPHABET = string.ascii_uppercase + string.digits
CONFIRMATION_LENGTH = 9

# Customer webhooks dropped these fields in API version 2025-01. The REST resource
# still has them, so only the webhook payload leaves them out.
CUSTOMER_FIELDS_NOT_IN_WEBHOOKS = ("tags",)

# Ruby's JSON generator, which Shopify uses, escapes these characters. Python's does
# not, so a receiver that re-encodes the body gets different bytes and a bad HMAC.
SHOPIFY_JSON_ESCAPES = {
    "/": "\\/",
    "&": "\\u0026",
    "<": "\\u003c",
    ">": "\\u003e",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def encode_shopify_json(value: Any) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON with Shopify's escapes.

    The escaped characters can only occur inside JSON strings, so replacing them in
    the encoded text never changes the structure.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for character, escape in SHOPIFY_JSON_ESCAPES.items():
        text = text.replace(character, escape)
    return text.encode("utf-8")


def format_money(amount: Decimal) -> str:
    """Return an amount as a money string with two decimals, such as ``"9.50"``."""
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def money_set(
    amount: Decimal,
    currency: str,
    presentment_amount: Decimal | None = None,
    presentment_currency: str | None = None,
) -> dict[str, Any]:
    """Return a REST ``*_set`` object with shop and presentment money."""
    return {
        "shop_money": {"amount": format_money(amount), "currency_code": currency},
        "presentment_money": {
            "amount": format_money(
                amount if presentment_amount is None else presentment_amount
            ),
            "currency_code": presentment_currency or currency,
        },
    }


def join_tags(tags: list[str]) -> str:
    """Return tags as the REST API's comma-separated string."""
    return ", ".join(tags)


def split_tags(tags: str | None) -> list[str]:
    return [tag.strip() for tag in (tags or "").split(",") if tag.strip()]


def normalize_tags(values: list[str]) -> list[str]:
    """Split values on commas, trim them, and drop blanks and case-insensitive
    repeats.
    """
    result: list[str] = []
    seen: set[str] = set()
    for value in values:
        for tag in value.split(","):
            cleaned = tag.strip()
            if cleaned and cleaned.lower() not in seen:
                seen.add(cleaned.lower())
                result.append(cleaned)
    return result


def build_address(fields: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return an order's REST billing or shipping address from a MailingAddressInput."""
    if not fields:
        return None
    first_name = fields.get("firstName")
    last_name = fields.get("lastName")
    full_name = " ".join(part for part in (first_name, last_name) if part) or None
    country_code = fields.get("countryCode")
    province_code = fields.get("provinceCode")
    return {
        "first_name": first_name,
        "last_name": last_name,
        "name": full_name,
        "address1": fields.get("address1"),
        "address2": fields.get("address2"),
        "city": fields.get("city"),
        "zip": fields.get("zip"),
        "province": province_name(country_code, province_code),
        "province_code": province_code,
        "country": country_name(country_code),
        "country_code": country_code,
        "phone": fields.get("phone"),
        "company": fields.get("company"),
        "latitude": None,
        "longitude": None,
    }


def build_customer_address(
    ids: IdSequence, customer_id: int, fields: dict[str, Any], default: bool
) -> dict[str, Any]:
    """Return an entry of a REST customer's ``addresses`` list."""
    address = build_address(fields) or {}
    address.pop("latitude", None)
    address.pop("longitude", None)
    return {
        "id": ids.next_id(),
        "customer_id": customer_id,
        **address,
        "country_name": address.get("country"),
        "default": default,
    }


def build_customer(
    ids: IdSequence, shop: ShopState, fields: dict[str, Any]
) -> dict[str, Any]:
    """Return a new REST customer from validated CustomerInput-style fields."""
    customer_id = ids.next_id()
    now = shop.now()
    addresses = [
        build_customer_address(ids, customer_id, address, default=index == 0)
        for index, address in enumerate(fields.get("addresses") or [])
    ]
    customer: dict[str, Any] = {
        "id": customer_id,
        "admin_graphql_api_id": gid("Customer", customer_id),
        "email": fields.get("email"),
        "phone": fields.get("phone"),
        "first_name": fields.get("firstName"),
        "last_name": fields.get("lastName"),
        "state": "disabled",
        "verified_email": bool(fields.get("email")),
        "multipass_identifier": None,
        "note": fields.get("note"),
        "currency": shop.currency,
        "tax_exempt": False,
        "tax_exemptions": [],
        "created_at": now,
        "updated_at": now,
        "tags": join_tags(normalize_tags(fields.get("tags") or [])),
        "addresses": addresses,
    }
    if addresses:
        customer["default_address"] = dict(addresses[0])
    return customer


def customer_webhook_payload(customer: dict[str, Any]) -> dict[str, Any]:
    """Return the body of a ``customers/*`` webhook for a stored customer."""
    return {
        key: value
        for key, value in customer.items()
        if key not in CUSTOMER_FIELDS_NOT_IN_WEBHOOKS
    }


def order_customer_snapshot(customer: dict[str, Any]) -> dict[str, Any]:
    """Return the ``customer`` object embedded in an order at creation time."""
    snapshot = {
        key: customer.get(key)
        for key in (
            "id",
            "admin_graphql_api_id",
            "email",
            "phone",
            "first_name",
            "last_name",
            "state",
            "verified_email",
            "currency",
            "tax_exempt",
            "tax_exemptions",
            "note",
            "created_at",
            "updated_at",
        )
    }
    default_address = customer.get("default_address")
    if default_address:
        snapshot["default_address"] = {
            key: default_address.get(key)
            for key in (
                "id",
                "customer_id",
                "address1",
                "city",
                "country_code",
                "default",
            )
        }
    return snapshot


def build_line_item(
    ids: IdSequence, fields: dict[str, Any], currency: str, presentment_currency: str
) -> dict[str, Any]:
    """Return a REST line item from a validated OrderCreateLineItemInput."""
    line_item_id = ids.next_id()
    price_set = fields.get("priceSet") or {}
    shop_amount = Decimal(price_set.get("shopMoney", {}).get("amount", "0"))
    presentment = price_set.get("presentmentMoney") or {}
    presentment_amount = Decimal(presentment.get("amount", shop_amount))
    variant_id = fields.get("variant_legacy_id")
    title = fields.get("title") or f"Variant {variant_id}"
    variant_title = fields.get("variantTitle")
    quantity = fields["quantity"]
    return {
        "id": line_item_id,
        "admin_graphql_api_id": gid("LineItem", line_item_id),
        # NOTE: the sandbox has no product catalog, so a variant line item keeps the
        # title and price from its input and its product stays unknown.
        "product_id": None,
        "variant_id": variant_id,
        "sku": fields.get("sku"),
        "title": title,
        "variant_title": variant_title,
        "name": f"{title} - {variant_title}" if variant_title else title,
        "vendor": None,
        "quantity": quantity,
        "current_quantity": quantity,
        "fulfillable_quantity": quantity,
        "grams": 0,
        "price": format_money(shop_amount),
        "price_set": money_set(
            shop_amount,
            currency,
            presentment_amount,
            presentment.get("currencyCode") or presentment_currency,
        ),
        "total_discount": "0.00",
        "taxable": fields.get("taxable", True),
        "requires_shipping": fields.get("requiresShipping", True),
        "gift_card": fields.get("giftCard", False),
        "product_exists": False,
        "fulfillment_service": "manual",
        "fulfillment_status": None,
        "properties": [],
        "tax_lines": [],
        "discount_allocations": [],
        "duties": [],
    }


def confirmation_number() -> str:
    return "".join(
        secrets.choice(CONFIRMATION_ALPHABET) for _ in range(CONFIRMATION_LENGTH)
    )


def build_order(
    ids: IdSequence,
    shop: ShopState,
    fields: dict[str, Any],
    customer: dict[str, Any] | None,
) -> dict[str, Any]:
    """Return a new REST order from a validated OrderCreateOrderInput.

    The sandbox computes no taxes, discounts or shipping, so the total is the sum of
    the line items.
    """
    order_id = ids.next_id()
    order_number = shop.next_order_number
    shop.next_order_number += 1
    now = shop.now()
    currency = fields.get("currency") or shop.currency
    presentment_currency = fields.get("presentmentCurrency") or currency
    line_items = [
        build_line_item(ids, item, currency, presentment_currency)
        for item in fields["lineItems"]
    ]
    subtotal = sum(
        (Decimal(item["price"]) * item["quantity"] for item in line_items), Decimal(0)
    )
    presentment_subtotal = sum(
        (
            Decimal(item["price_set"]["presentment_money"]["amount"]) * item["quantity"]
            for item in line_items
        ),
        Decimal(0),
    )
    zero = Decimal(0)
    # NOTE: PAID as the default status is an assumption about orders created without
    # transactions. Pass financialStatus to be explicit.
    financial_status = (fields.get("financialStatus") or "PAID").lower()
    outstanding = zero if financial_status in ("paid", "refunded") else subtotal
    email = fields.get("email") or (customer or {}).get("email")

    def totals() -> dict[str, Any]:
        return money_set(subtotal, currency, presentment_subtotal, presentment_currency)

    return {
        "id": order_id,
        "admin_graphql_api_id": gid("Order", order_id),
        "name": f"#{order_number}",
        "order_number": order_number,
        "number": order_number - 1000,
        "confirmation_number": confirmation_number(),
        "test": fields.get("test", False),
        "confirmed": True,
        "email": email,
        "contact_email": email,
        "phone": fields.get("phone"),
        "created_at": now,
        "updated_at": now,
        "processed_at": fields.get("processedAt") or now,
        "cancelled_at": None,
        "closed_at": None,
        "currency": currency,
        "presentment_currency": presentment_currency,
        "financial_status": financial_status,
        "fulfillment_status": None,
        "subtotal_price": format_money(subtotal),
        "subtotal_price_set": totals(),
        "total_discounts": "0.00",
        "total_tax": "0.00",
        "total_tax_set": money_set(zero, currency, zero, presentment_currency),
        "total_price": format_money(subtotal),
        "total_price_set": totals(),
        "current_total_price": format_money(subtotal),
        "current_total_price_set": totals(),
        "total_outstanding": format_money(outstanding),
        "total_tip_received": "0.00",
        "total_weight": 0,
        "taxes_included": False,
        "tags": join_tags(normalize_tags(fields.get("tags") or [])),
        "note": fields.get("note"),
        "note_attributes": [],
        "source_name": fields.get("sourceName") or "api",
        "source_identifier": fields.get("sourceIdentifier"),
        "payment_gateway_names": [],
        "discount_codes": [],
        "discount_applications": [],
        "tax_lines": [],
        "line_items": line_items,
        "shipping_lines": [],
        "billing_address": build_address(fields.get("billingAddress")),
        "shipping_address": build_address(fields.get("shippingAddress")),
        "customer": order_customer_snapshot(customer) if customer else None,
        "fulfillments": [],
        "refunds": [],
        "payment_terms": None,
    }
