"""Local HTTP server that speaks the parts of Shopify's Admin API the platform uses.

Real shops are addressed as ``https://{shop}.myshopify.com``. Sandbox clients connect
to ``http://127.0.0.1:PORT`` instead and name the shop in the ``Host`` header. Routes:

- ``POST /admin/api/{version}/graphql.json``: the Admin GraphQL API, authenticated by
  ``X-Shopify-Access-Token`` and throttled by a leaky bucket per shop.
- ``GET`` and ``POST /admin/oauth/authorize``, ``POST /admin/oauth/access_token``:
  the OAuth authorization code grant (see ``oauth``). A browser cannot set the
  ``Host`` header, so these also take the shop from a ``shop`` query parameter.
- ``POST /_sandbox/shops``: create a shop from ``{"domain", "access_token"?,
  "currency"?, "utc_offset"?}``. Returns 201 ``{"domain", "access_token"}``.
- ``GET /_sandbox/shops``: list the shop domains.
- ``GET /_sandbox/shops/{domain}``: a shop's orders, customers, webhook subscriptions
  and deliveries, with delivery bodies as text.
- ``POST /_sandbox/faults``: queue a fault (see ``faults.py``); ``DELETE`` clears the
  faults and the request log; ``GET /_sandbox/requests`` returns both.

The ``/_sandbox`` routes exist only in the sandbox and need no token.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Sequence
from http.server import ThreadingHTTPServer
from typing import Any

from connectors.shopify.sandbox import oauth
from connectors.shopify.sandbox.cost import LeakyBucket
from connectors.shopify.sandbox.execution import GraphQLExecutor
from connectors.shopify.sandbox.faults import FaultPlan, fault_from_json
from connectors.shopify.sandbox.handler import (
    API_VERSION_PATTERN,
    INVALID_QUERY,
    SandboxHTTPServer,
    SandboxRequestHandler,
)
from connectors.shopify.sandbox.resolvers import load_schema
from connectors.shopify.sandbox.state import (
    DOMAIN_PATTERN,
    IdSequence,
    ShopState,
    parse_utc_offset,
)
from connectors.shopify.sandbox.webhooks import WebhookDispatcher

logger = logging.getLogger(__name__)


class ShopifySandbox:
    """A local Shopify: shops, the Admin GraphQL API and outgoing webhooks.

    ``webhook_retry_delays`` are the seconds between a failed delivery attempt and the
    next. Shopify retries 8 times over 4 hours, and the default compresses that to
    about 4 minutes. ``bucket_size`` and ``restore_rate`` set each shop's cost bucket
    in points and points per second. ``max_query_cost`` is the largest cost one query
    may request. ``client_id`` and ``client_secret`` identify the one app that may
    be installed through OAuth.
    """

    def __init__(
        self,
        client_secret: str,
        api_version: str = "2026-07",
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_retry_delays: Sequence[float] = (1, 2, 4, 8, 16, 32, 64, 128),
        bucket_size: float = 2000.0,
        restore_rate: float = 100.0,
        max_query_cost: float = 1000.0,
        client_id: str = "sandbox-client-id",
    ) -> None:
        if not client_secret:
            raise ValueError("client_secret must not be empty, it signs every webhook")
        if not API_VERSION_PATTERN.match(api_version):
            raise ValueError(f"invalid API version {api_version!r}, expected YYYY-MM")
        self.client_secret = client_secret
        self.client_id = client_id
        self.oauth_codes: dict[str, oauth.AuthorizationCode] = {}
        self.api_version = api_version
        self.host = host
        self.port = port
        self.bucket_size = bucket_size
        self.restore_rate = restore_rate
        self.lock = threading.Condition(threading.RLock())
        self._shops: dict[str, ShopState] = {}
        self._ids = IdSequence()
        self.schema = load_schema()
        self._dispatcher = WebhookDispatcher(
            self.lock, client_secret, api_version, webhook_retry_delays
        )
        self._executor = GraphQLExecutor(
            self.schema, self._ids, self.lock, self._dispatcher.dispatch, max_query_cost
        )
        self.faults = FaultPlan()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle

    def start(self) -> ShopifySandbox:
        """Start serving in a daemon thread and return self."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        server = SandboxHTTPServer((self.host, self.port), SandboxRequestHandler)
        server.sandbox = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="shopify-sandbox-http",
            daemon=True,
        )
        self._thread.start()
        logger.info("shopify_sandbox.server.started", extra={"url": self.url})
        return self

    def stop(self) -> None:
        """Stop serving and cancel pending webhook retries."""
        server = self._server
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._dispatcher.stop()
        self._server = None
        self._thread = None
        logger.info("shopify_sandbox.server.stopped", extra={"url": self.url})

    def __enter__(self) -> ShopifySandbox:
        return self.start()

    def __exit__(self, *_exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # Shops

    def add_shop(
        self,
        domain: str,
        access_token: str | None = None,
        currency: str = "USD",
        utc_offset: str = "-05:00",
    ) -> str:
        """Create a shop and return its access token, generated when not given.

        Raises:
            ValueError: the domain is invalid or taken, or the currency, offset or
                token is invalid.
        """
        domain = domain.strip().lower()
        if not DOMAIN_PATTERN.match(domain):
            raise ValueError(
                f"invalid shop domain {domain!r}, expected acme.myshopify.com"
            )
        if currency not in self.schema.type_map["CurrencyCode"].values:  # type: ignore[attr-defined]
            raise ValueError(
                f"invalid currency {currency!r}, expected an ISO 4217 code"
            )
        parse_utc_offset(utc_offset)
        if access_token is None:
            access_token = "shpat_" + secrets.token_hex(16)
        if not isinstance(access_token, str) or not access_token.strip():
            raise ValueError("access_token must be a non-empty string")
        with self.lock:
            if domain in self._shops:
                raise ValueError(f"shop {domain!r} already exists")
            self._shops[domain] = ShopState(
                domain=domain,
                access_token=access_token,
                currency=currency,
                utc_offset=utc_offset,
                shop_id=self._ids.next_id(),
                bucket=LeakyBucket(self.bucket_size, self.restore_rate),
            )
        logger.info("shopify_sandbox.shop.added", extra={"shop_domain": domain})
        return access_token

    def shop(self, domain: str) -> ShopState:
        """Return a shop's state. Hold ``lock`` while reading lists that may change.

        Raises:
            KeyError: no shop has this domain.
        """
        with self.lock:
            return self._shops[domain.strip().lower()]

    def find_shop(self, domain: str) -> ShopState | None:
        with self.lock:
            return self._shops.get(domain.strip().lower())

    def shop_domains(self) -> list[str]:
        with self.lock:
            return sorted(self._shops)

    def inject_fault(self, kind: str, **options: Any) -> None:
        """Queue a fault for the next matching Admin API requests.

        Takes the fields of ``POST /_sandbox/faults``; raises ValueError for a
        bad one.
        """
        self.faults.add(fault_from_json({"kind": kind, **options}))

    def wait_for_deliveries(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` deliveries in all shops have succeeded or given up.

        Returns False if ``timeout`` seconds passed first.
        """

        def finished_count() -> int:
            return sum(
                1
                for shop in self._shops.values()
                for delivery in shop.deliveries
                if delivery.finished
            )

        with self.lock:
            return self.lock.wait_for(lambda: finished_count() >= count, timeout)

    # Request handling, called from handler threads

    def handle_graphql(
        self, shop: ShopState, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Return the status and body of a GraphQL request with a parsed JSON body."""
        query = payload.get("query")
        if not isinstance(query, str) or not query.strip():
            return 400, INVALID_QUERY
        variables = payload.get("variables")
        if isinstance(variables, str):
            # Some clients send the variables as a JSON string, which Shopify accepts.
            try:
                variables = json.loads(variables) if variables.strip() else None
            except json.JSONDecodeError:
                return 400, {
                    "errors": {"variables": "Required parameter missing or invalid"}
                }
        if variables is None:
            variables = {}
        if not isinstance(variables, dict):
            return 400, {
                "errors": {"variables": "Required parameter missing or invalid"}
            }
        operation_name = payload.get("operationName")
        if operation_name is not None and not isinstance(operation_name, str):
            return 400, {
                "errors": {"operationName": "Required parameter missing or invalid"}
            }
        return 200, self._executor.run(shop, query, variables, operation_name or None)
