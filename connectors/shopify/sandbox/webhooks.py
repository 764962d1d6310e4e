"""Outgoing webhook deliveries of the Shopify sandbox, with Shopify's headers and
retries.

Each delivery runs in its own daemon thread. A response outside 2xx (redirects
included, which are not followed), a connection error or a timeout fails the attempt,
and the delivery is retried after each of the configured delays with the same body and
the same ``X-Shopify-Webhook-Id``. After the last retry fails the delivery gives up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import logging
import threading
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from connectors.shopify.sandbox.rest import encode_shopify_json
from connectors.shopify.sandbox.state import Delivery, ShopState, utc_timestamp

logger = logging.getLogger(__name__)

USER_AGENT = "Shopify-Captain-Hook"
# Shopify waits about 5 seconds for a response before it counts the attempt as failed.
DELIVERY_TIMEOUT_SECONDS = 5.0


def sign_body(body: bytes, client_secret: str) -> str:
    """Return ``X-Shopify-Hmac-Sha256`` for a body: base64 of its HMAC-SHA256."""
    digest = hmac.new(client_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _select_fields(
    payload: dict[str, Any], include_fields: list[str]
) -> dict[str, Any]:
    """Keep only the subscription's ``includeFields``, or everything if it lists none.

    NOTE: only top-level names are matched. Shopify also accepts nested paths such as
    ``line_items.title``.
    """
    if not include_fields:
        return payload
    return {key: value for key, value in payload.items() if key in include_fields}


class WebhookDispatcher:
    """Creates delivery records and sends them from background threads.

    ``condition`` is the sandbox's state lock. The dispatcher takes it to update a
    delivery and notifies it when a delivery finishes, which wakes
    ``ShopifySandbox.wait_for_deliveries``.
    """

    def __init__(
        self,
        condition: threading.Condition,
        client_secret: str,
        api_version: str,
        retry_delays: Sequence[float],
        timeout: float = DELIVERY_TIMEOUT_SECONDS,
    ) -> None:
        self._condition = condition
        self._client_secret = client_secret
        self._api_version = api_version
        self._retry_delays = tuple(float(delay) for delay in retry_delays)
        self._timeout = timeout
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def dispatch(
        self, shop: ShopState, topic: str, payload: dict[str, Any]
    ) -> list[Delivery]:
        """Send ``payload`` to every subscription of ``topic`` in ``shop``.

        The caller holds the state lock. Returns the new deliveries.
        """
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        event_id = str(uuid.uuid4())
        triggered_at = utc_timestamp()
        deliveries: list[Delivery] = []
        for subscription in shop.subscriptions_for(topic):
            body = encode_shopify_json(
                _select_fields(payload, subscription["include_fields"])
            )
            webhook_id = str(uuid.uuid4())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Shopify-Topic": topic,
                "X-Shopify-Hmac-Sha256": sign_body(body, self._client_secret),
                "X-Shopify-Shop-Domain": shop.domain,
                "X-Shopify-API-Version": self._api_version,
                "X-Shopify-Webhook-Id": webhook_id,
                "X-Shopify-Event-Id": event_id,
                "X-Shopify-Triggered-At": triggered_at,
            }
            delivery = Delivery(
                webhook_id=webhook_id,
                event_id=event_id,
                topic=topic,
                shop_domain=shop.domain,
                uri=subscription["uri"],
                subscription_id=subscription["id"],
                headers=headers,
                body=body,
            )
            shop.deliveries.append(delivery)
            deliveries.append(delivery)
            if self._stopping.is_set():
                self._finish(delivery, delivered=False)
                continue
            thread = threading.Thread(
                target=self._run,
                args=(delivery,),
                name=f"shopify-sandbox-webhook-{webhook_id[:8]}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()
        return deliveries

    def stop(self, timeout: float = 1.0) -> None:
        """Cancel pending retries and wait up to ``timeout`` seconds for each thread."""
        self._stopping.set()
        for thread in list(self._threads):
            thread.join(timeout)
        self._threads = [thread for thread in self._threads if thread.is_alive()]

    def _run(self, delivery: Delivery) -> None:
        attempts_allowed = len(self._retry_delays) + 1
        for attempt_number in range(1, attempts_allowed + 1):
            if attempt_number > 1:
                delay = self._retry_delays[attempt_number - 2]
                if self._stopping.wait(delay):
                    logger.warning(
                        "shopify_sandbox.webhook.abandoned",
                        extra=self._log_ids(delivery, attempt=attempt_number - 1),
                    )
                    self._finish(delivery, delivered=False)
                    return
            attempt = self._post(delivery)
            with self._condition:
                delivery.attempts.append(attempt)
            status_code = attempt.get("status_code")
            if status_code is not None and 200 <= status_code < 300:
                logger.info(
                    "shopify_sandbox.webhook.delivered",
                    extra=self._log_ids(
                        delivery, attempt_number, status_code=status_code
                    ),
                )
                self._finish(delivery, delivered=True)
                return
            retry_in = (
                self._retry_delays[attempt_number - 1]
                if attempt_number < attempts_allowed
                else None
            )
            logger.warning(
                "shopify_sandbox.webhook.attempt_failed",
                extra=self._log_ids(
                    delivery,
                    attempt_number,
                    status_code=status_code,
                    error=attempt.get("error"),
                    retry_in_seconds=retry_in,
                ),
            )
        logger.error(
            "shopify_sandbox.webhook.gave_up",
            extra=self._log_ids(delivery, attempts_allowed),
        )
        self._finish(delivery, delivered=False)

    def _post(self, delivery: Delivery) -> dict[str, Any]:
        """Make one attempt and return its record.

        Network and HTTP protocol errors go into the record instead of being raised.
        """
        parts = urlsplit(delivery.uri)
        connection_class = (
            http.client.HTTPSConnection
            if parts.scheme == "https"
            else http.client.HTTPConnection
        )
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        # NOTE: the timeout applies to each socket operation, so a receiver that sends
        # its response slowly can hold an attempt longer than Shopify would wait.
        connection = connection_class(parts.hostname, parts.port, timeout=self._timeout)
        try:
            connection.request(
                "POST", path, body=delivery.body, headers=delivery.headers
            )
            response = connection.getresponse()
            response.read()
            return {"status_code": response.status, "at": utc_timestamp()}
        except (OSError, http.client.HTTPException) as error:
            return {"error": f"{type(error).__name__}: {error}", "at": utc_timestamp()}
        finally:
            connection.close()

    def _finish(self, delivery: Delivery, delivered: bool) -> None:
        with self._condition:
            delivery.delivered = delivered
            delivery.finished = True
            self._condition.notify_all()

    @staticmethod
    def _log_ids(delivery: Delivery, attempt: int, **fields: Any) -> dict[str, Any]:
        return {
            "webhook_id": delivery.webhook_id,
            "topic": delivery.topic,
            "shop_domain": delivery.shop_domain,
            "uri": delivery.uri,
            "attempt": attempt,
            **fields,
        }
