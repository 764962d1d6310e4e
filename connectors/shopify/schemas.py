"""JSON Schemas of the Shopify connector's webhook payloads and action inputs.

The webhook schemas describe the REST representation Shopify delivers for API
version 2026-07. They list the fields that mappings may reference and allow
the rest, since Shopify adds fields between versions.
"""

from typing import Any

_NULLABLE_STRING = {"type": ["string", "null"]}
_MONEY = {"type": "string", "description": 'A decimal amount, such as "199.00".'}
_NULLABLE_INT = {"type": ["integer", "null"]}

_MONEY_SET = {
    "type": "object",
    "properties": {
        "shop_money": {
            "type": "object",
            "properties": {"amount": _MONEY, "currency_code": {"type": "string"}},
        },
        "presentment_money": {
            "type": "object",
            "properties": {"amount": _MONEY, "currency_code": {"type": "string"}},
        },
    },
}

_ADDRESS = {
    "type": ["object", "null"],
    "properties": dict.fromkeys(
        (
            "first_name",
            "last_name",
            "name",
            "company",
            "address1",
            "address2",
            "city",
            "province",
            "province_code",
            "country",
            "country_code",
            "country_name",
            "zip",
            "phone",
        ),
        _NULLABLE_STRING,
    ),
}

CUSTOMER_WEBHOOK: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "description": "A 64-bit id."},
        "admin_graphql_api_id": {"type": "string"},
        "email": _NULLABLE_STRING,
        "phone": _NULLABLE_STRING,
        "first_name": _NULLABLE_STRING,
        "last_name": _NULLABLE_STRING,
        "state": {"type": "string"},
        "verified_email": {"type": "boolean"},
        "note": _NULLABLE_STRING,
        "currency": {"type": "string"},
        "tax_exempt": {"type": "boolean"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "addresses": {"type": "array", "items": _ADDRESS},
        "default_address": _ADDRESS,
    },
}

_LINE_ITEM = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "admin_graphql_api_id": {"type": "string"},
        "product_id": _NULLABLE_INT,
        "variant_id": _NULLABLE_INT,
        "sku": _NULLABLE_STRING,
        "title": {"type": "string"},
        "variant_title": _NULLABLE_STRING,
        "name": {"type": "string"},
        "vendor": _NULLABLE_STRING,
        "quantity": {"type": "integer"},
        "current_quantity": {"type": "integer"},
        "grams": {"type": "integer"},
        "price": _MONEY,
        "price_set": _MONEY_SET,
        "total_discount": _MONEY,
        "taxable": {"type": "boolean"},
        "requires_shipping": {"type": "boolean"},
        "gift_card": {"type": "boolean"},
        "fulfillment_status": _NULLABLE_STRING,
        "properties": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
            },
        },
    },
}

ORDER_WEBHOOK: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "description": "A 64-bit id."},
        "admin_graphql_api_id": {"type": "string"},
        "name": {"type": "string"},
        "order_number": {"type": "integer"},
        "number": {"type": "integer"},
        "confirmation_number": _NULLABLE_STRING,
        "test": {"type": "boolean"},
        "email": _NULLABLE_STRING,
        "contact_email": _NULLABLE_STRING,
        "phone": _NULLABLE_STRING,
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "processed_at": {"type": "string", "format": "date-time"},
        "cancelled_at": _NULLABLE_STRING,
        "closed_at": _NULLABLE_STRING,
        "currency": {"type": "string"},
        "presentment_currency": {"type": "string"},
        "financial_status": _NULLABLE_STRING,
        "fulfillment_status": _NULLABLE_STRING,
        "subtotal_price": _MONEY,
        "total_discounts": _MONEY,
        "total_tax": _MONEY,
        "total_price": _MONEY,
        "current_total_price": _MONEY,
        "total_outstanding": _MONEY,
        "total_weight": {"type": "integer"},
        "taxes_included": {"type": "boolean"},
        "total_price_set": _MONEY_SET,
        "tags": {"type": "string", "description": "Comma-separated tags."},
        "note": _NULLABLE_STRING,
        "note_attributes": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
            },
        },
        "source_name": _NULLABLE_STRING,
        "source_identifier": _NULLABLE_STRING,
        "payment_gateway_names": {"type": "array", "items": {"type": "string"}},
        "discount_codes": {"type": "array"},
        "tax_lines": {"type": "array"},
        "line_items": {"type": "array", "items": _LINE_ITEM},
        "shipping_lines": {"type": "array"},
        "billing_address": _ADDRESS,
        "shipping_address": _ADDRESS,
        "customer": {
            "type": ["object", "null"],
            "description": "Null on guest orders.",
            "properties": CUSTOMER_WEBHOOK["properties"],
        },
        "fulfillments": {"type": "array"},
        "refunds": {"type": "array"},
    },
}

_CUSTOMER_FIELDS = {
    "email": {"type": "string", "format": "email"},
    "phone": {"type": "string", "description": "E.164, such as +15555550100."},
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
}

_ADDRESS_INPUT = {
    "type": "object",
    "properties": {
        name: {"type": "string"}
        for name in (
            "first_name",
            "last_name",
            "company",
            "address1",
            "address2",
            "city",
            "province_code",
            "country_code",
            "zip",
            "phone",
        )
    },
    "additionalProperties": False,
}

CREATE_ORDER_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["line_items"],
    "properties": {
        "email": _CUSTOMER_FIELDS["email"],
        "phone": _CUSTOMER_FIELDS["phone"],
        "note": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "currency": {
            "type": "string",
            "pattern": "^[A-Z]{3}$",
            "description": "ISO 4217 code; the shop's currency when omitted.",
        },
        "financial_status": {
            "type": "string",
            "enum": ["pending", "authorized", "paid", "partially_paid", "refunded"],
        },
        "line_items": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["quantity"],
                "properties": {
                    "title": {"type": "string", "minLength": 1},
                    "quantity": {"type": "integer", "minimum": 1},
                    "price": {
                        "type": ["string", "number"],
                        "pattern": r"^-?\d+(\.\d+)?$",
                        "description": 'Unit price as a decimal, such as "19.99".',
                    },
                    "sku": {"type": "string"},
                    "variant_id": {"type": ["string", "integer"]},
                },
                "additionalProperties": False,
            },
        },
        "customer": {
            "type": "object",
            "description": "Associates the order with this customer, created if new.",
            "properties": _CUSTOMER_FIELDS,
            "additionalProperties": False,
        },
        "shipping_address": _ADDRESS_INPUT,
        "billing_address": _ADDRESS_INPUT,
    },
    "additionalProperties": False,
}

CREATE_ORDER_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "gid://shopify/Order/..."},
        "legacy_id": {"type": "string"},
        "name": {"type": "string"},
        "email": {"type": ["string", "null"]},
        "created_at": {"type": "string"},
        "total_price": {"type": "string"},
        "currency": {"type": "string"},
        "customer_id": {"type": ["string", "null"]},
    },
}

CREATE_CUSTOMER_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        **_CUSTOMER_FIELDS,
        "note": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "anyOf": [
        {"required": ["email"]},
        {"required": ["phone"]},
        {"required": ["first_name"]},
        {"required": ["last_name"]},
    ],
    "additionalProperties": False,
}

CREATE_CUSTOMER_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "legacy_id": {"type": "string"},
        "email": {"type": ["string", "null"]},
        "phone": {"type": ["string", "null"]},
        "first_name": {"type": ["string", "null"]},
        "last_name": {"type": ["string", "null"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "created_at": {"type": "string"},
    },
}

ADD_CUSTOMER_TAGS_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["tags"],
    "properties": {
        "customer_id": {
            "type": ["string", "integer"],
            "description": "A numeric id or gid://shopify/Customer/...",
        },
        "email": {
            "type": "string",
            "format": "email",
            "description": "Finds the customer by email when customer_id is absent.",
        },
        "tags": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "minLength": 1, "maxLength": 255},
        },
    },
    "anyOf": [{"required": ["customer_id"]}, {"required": ["email"]}],
    "additionalProperties": False,
}

ADD_CUSTOMER_TAGS_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "customer_id": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}
