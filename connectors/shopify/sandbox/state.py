"""In-memory state of the Shopify sandbox: shops, their resources and delivery records.

Every object here is guarded by the lock of the sandbox that owns it. Callers hold that
lock while they read or change a shop.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from connectors.shopify.sandbox.cost import LeakyBucket

# Shopify's ids are 64-bit integers, often above 2**53 (9007199254740992), so the
# sandbox starts there to break clients that parse ids as doubles.
FIRST_ID = 820982911946154508
MAX_ID_STEP = 997

GID_PATTERN = re.compile(r"^gid://shopify/(?P<kind>[A-Za-z]+)/(?P<id>[0-9]{1,19})$")
UTC_OFFSET_PATTERN = re.compile(
    r"^(?P<sign>[+-])(?P<hours>[01][0-9]|2[0-3]):(?P<minutes>[0-5][0-9])$"
)
DOMAIN_PATTERN = re.compile(
    r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$"
)

# Zones for offsets that are not whole hours, so that no Etc/GMT zone exists for them.
FRACTIONAL_OFFSET_ZONES = {
    "-09:30": "Pacific/Marquesas",
    "-03:30": "America/St_Johns",
    "+03:30": "Asia/Tehran",
    "+04:30": "Asia/Kabul",
    "+05:30": "Asia/Kolkata",
    "+05:45": "Asia/Kathmandu",
    "+06:30": "Asia/Yangon",
    "+09:30": "Australia/Darwin",
    "+10:30": "Australia/Lord_Howe",
    "+12:45": "Pacific/Chatham",
}


class IdSequence:
    """Source of unique resource ids above 2**53, with random gaps as in real shops."""

    def __init__(self) -> None:
        self._next = FIRST_ID + secrets.randbelow(10**12)

    def next_id(self) -> int:
        value = self._next
        self._next += 1 + secrets.randbelow(MAX_ID_STEP)
        return value


def gid(kind: str, resource_id: int) -> str:
    """Return the global id of a resource, such as ``gid://shopify/Order/1``."""
    return f"gid://shopify/{kind}/{resource_id}"


def parse_gid(value: str) -> tuple[str, int] | None:
    """Split a global id into its kind and numeric id, or return None if malformed."""
    match = GID_PATTERN.match(value or "")
    if match is None:
        return None
    return match["kind"], int(match["id"])


def parse_utc_offset(value: str) -> timezone:
    """Return the fixed time zone of an offset such as ``-05:00``.

    Raises:
        ValueError: the offset is not in ``+HH:MM`` or ``-HH:MM`` form.
    """
    match = UTC_OFFSET_PATTERN.match(value)
    if match is None:
        raise ValueError(f"invalid UTC offset {value!r}, expected a form like -05:00")
    delta = timedelta(hours=int(match["hours"]), minutes=int(match["minutes"]))
    return timezone(-delta if match["sign"] == "-" else delta)


def iana_timezone(utc_offset: str) -> str:
    """Return an IANA zone name with the given standard offset.

    Whole hours map to ``Etc/GMT`` zones, whose sign is inverted by POSIX convention.
    """
    if utc_offset in FRACTIONAL_OFFSET_ZONES:
        return FRACTIONAL_OFFSET_ZONES[utc_offset]
    match = UTC_OFFSET_PATTERN.match(utc_offset)
    if match is None or match["minutes"] != "00":
        return "Etc/UTC"
    hours = int(match["hours"])
    if hours == 0:
        return "Etc/UTC"
    inverted_sign = "+" if match["sign"] == "-" else "-"
    return f"Etc/GMT{inverted_sign}{hours}"


def utc_timestamp() -> str:
    """Return the current UTC time with microseconds and a ``Z`` suffix."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class Delivery:
    """One webhook delivery to one subscription, with every attempt made so far.

    ``attempts`` contains dicts with ``at`` and either ``status_code`` or ``error``.
    ``finished`` turns True when the delivery succeeded or the last retry failed.
    """

    webhook_id: str
    event_id: str
    topic: str
    shop_domain: str
    uri: str
    subscription_id: int
    headers: dict[str, str]
    body: bytes
    attempts: list[dict[str, Any]] = field(default_factory=list)
    delivered: bool = False
    finished: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "webhook_id": self.webhook_id,
            "event_id": self.event_id,
            "topic": self.topic,
            "shop_domain": self.shop_domain,
            "uri": self.uri,
            "subscription_id": self.subscription_id,
            "attempts": [dict(attempt) for attempt in self.attempts],
            "delivered": self.delivered,
            "finished": self.finished,
            "headers": dict(self.headers),
            "body": self.body.decode("utf-8"),
        }


@dataclass
class RequestContext:
    """Context of one GraphQL request: the shop it addresses and the webhook events
    its mutations raised. The server delivers the events after the request finishes.
    """

    shop: ShopState
    ids: IdSequence
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def queue_event(self, topic: str, payload: dict[str, Any]) -> None:
        """Queue a webhook of a REST topic name such as ``orders/create``."""
        self.events.append((topic, payload))


@dataclass
class ShopState:
    """One sandbox shop. Orders and customers are stored in their REST JSON shape."""

    domain: str
    access_token: str
    currency: str
    utc_offset: str
    shop_id: int
    bucket: LeakyBucket
    orders: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    webhook_subscriptions: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    next_order_number: int = 1001
    # The scopes the merchant granted the app through OAuth.
    granted_scopes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.tzinfo = parse_utc_offset(self.utc_offset)

    @property
    def name(self) -> str:
        """Return a display name derived from the subdomain, as no owner named it."""
        subdomain = self.domain.split(".", 1)[0]
        return subdomain.replace("-", " ").title()

    def now(self) -> str:
        """Return the current time in the shop's offset, in whole seconds."""
        return datetime.now(self.tzinfo).replace(microsecond=0).isoformat()

    def find_order(self, order_id: int) -> dict[str, Any] | None:
        return next((order for order in self.orders if order["id"] == order_id), None)

    def find_customer(self, customer_id: int) -> dict[str, Any] | None:
        return next(
            (customer for customer in self.customers if customer["id"] == customer_id),
            None,
        )

    def find_customer_by_email(self, email: str) -> dict[str, Any] | None:
        wanted = email.strip().lower()
        return next(
            (
                customer
                for customer in self.customers
                if (customer.get("email") or "").lower() == wanted
            ),
            None,
        )

    def find_customer_by_phone(self, phone: str) -> dict[str, Any] | None:
        return next(
            (customer for customer in self.customers if customer.get("phone") == phone),
            None,
        )

    def find_subscription(self, subscription_id: int) -> dict[str, Any] | None:
        return next(
            (
                subscription
                for subscription in self.webhook_subscriptions
                if subscription["id"] == subscription_id
            ),
            None,
        )

    def subscriptions_for(self, topic: str) -> list[dict[str, Any]]:
        """Return the subscriptions of a REST topic name such as ``orders/create``."""
        enum_name = topic.upper().replace("/", "_")
        return [
            subscription
            for subscription in self.webhook_subscriptions
            if subscription["topic"] == enum_name
        ]

    def to_json(self) -> dict[str, Any]:
        """Return the shop's resources and deliveries, leaving out the access token."""
        return {
            "domain": self.domain,
            "currency": self.currency,
            "utc_offset": self.utc_offset,
            "orders": self.orders,
            "customers": self.customers,
            "webhook_subscriptions": self.webhook_subscriptions,
            "deliveries": [delivery.to_json() for delivery in self.deliveries],
        }
