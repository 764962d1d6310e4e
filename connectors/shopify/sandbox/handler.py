"""HTTP request handler of the Shopify sandbox: routing, authentication and bodies."""

from __future__ import annotations

import hmac
import html
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from connectors.shopify.sandbox import oauth
from connectors.shopify.sandbox.faults import (
    fault_from_json,
    fault_response,
    operation_name,
)

if TYPE_CHECKING:
    from connectors.shopify.sandbox.server import ShopifySandbox
    from connectors.shopify.sandbox.state import ShopState

logger = logging.getLogger(__name__)

OAUTH_AUTHORIZE_PATH = "/admin/oauth/authorize"
OAUTH_TOKEN_PATH = "/admin/oauth/access_token"  # noqa: S105 - a path
GRAPHQL_PATH = re.compile(r"^/admin/api/(?P<version>[^/]+)/graphql\.json$")
API_VERSION_PATTERN = re.compile(r"^(?:[0-9]{4}-(?:0[1-9]|1[0-2])|unstable)$")
FAULTS_PATH = "/_sandbox/faults"
REQUESTS_PATH = "/_sandbox/requests"
SHOP_PATH = re.compile(r"^/_sandbox/shops/(?P<domain>[^/]+)$")
MAX_BODY_BYTES = 5 * 1024 * 1024

NOT_FOUND = {"errors": "Not Found"}
INVALID_TOKEN = {
    "errors": (
        "[API] Invalid API key or access token (unrecognized login or wrong password)"
    )
}
INVALID_QUERY = {"errors": {"query": "Required parameter missing or invalid"}}


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    sandbox: ShopifySandbox


class SandboxRequestHandler(BaseHTTPRequestHandler):
    server: SandboxHTTPServer
    server_version = "ShopifySandbox/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        # The base class writes every request to stderr, and a debug log is enough.
        logger.debug("shopify_sandbox.http.request", extra={"line": format % args})

    @property
    def sandbox(self) -> ShopifySandbox:
        return self.server.sandbox

    def do_GET(self) -> None:
        self._guarded(self._route_get)

    def do_POST(self) -> None:
        self._guarded(self._route_post)

    def _guarded(self, route: Callable[[], None]) -> None:
        """Run a route, and send 500 if it raises, so no connection is dropped."""
        try:
            route()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up, e.g. timed out on a slow answer; nobody reads
            # a response any more.
            logger.info(
                "shopify_sandbox.http.client_gone",
                extra={"method": self.command, "path": self.path},
            )
        except Exception:
            logger.exception(
                "shopify_sandbox.http.failed",
                extra={"method": self.command, "path": self.path},
            )
            self._send_json(500, {"errors": "Internal Server Error"})

    def _route_get(self) -> None:
        path = urlsplit(self.path).path
        if path == OAUTH_AUTHORIZE_PATH:
            self._oauth_authorize(dict(parse_qsl(urlsplit(self.path).query)))
            return
        if path == "/_sandbox/shops":
            self._send_json(200, {"domains": self.sandbox.shop_domains()})
            return
        if path in (FAULTS_PATH, REQUESTS_PATH):
            self._send_json(200, self.sandbox.faults.to_json())
            return
        match = SHOP_PATH.match(path)
        if match is None:
            status = 405 if GRAPHQL_PATH.match(path) else 404
            self._send_json(
                status, NOT_FOUND if status == 404 else {"errors": "Method Not Allowed"}
            )
            return
        with self.sandbox.lock:
            shop = self.sandbox.find_shop(unquote(match["domain"]))
            body = shop.to_json() if shop is not None else None
            encoded = json.dumps(body).encode("utf-8") if body is not None else None
        if encoded is None:
            self._send_json(404, NOT_FOUND)
            return
        self._send_bytes(200, encoded)

    def do_DELETE(self) -> None:
        self._guarded(self._route_delete)

    def _route_delete(self) -> None:
        if urlsplit(self.path).path != FAULTS_PATH:
            self._send_json(404, NOT_FOUND)
            return
        self.sandbox.faults.clear()
        self._send_json(200, self.sandbox.faults.to_json())

    def _add_fault(self) -> None:
        body = self._read_body()
        if body is None:
            return
        try:
            fault = fault_from_json(json.loads(body or b"{}"))
        except ValueError as error:
            # json.JSONDecodeError is a ValueError too.
            self._send_json(422, {"errors": str(error)})
            return
        self.sandbox.faults.add(fault)
        self._send_json(201, {"fault": asdict(fault)})

    def _route_post(self) -> None:
        path = urlsplit(self.path).path
        if path in (OAUTH_AUTHORIZE_PATH, OAUTH_TOKEN_PATH):
            body = self._read_body()
            if body is None:
                return
            params = _form_or_json(body, self.headers.get("Content-Type") or "")
            if path == OAUTH_AUTHORIZE_PATH:
                self._oauth_authorize(params, approved=True)
            else:
                self._oauth_token(params)
            return
        if path == "/_sandbox/shops":
            self._create_shop()
            return
        if path == FAULTS_PATH:
            self._add_fault()
            return
        match = GRAPHQL_PATH.match(path)
        if match is None or not API_VERSION_PATTERN.match(match["version"]):
            self._send_json(404, NOT_FOUND)
            return

        shop = self.sandbox.find_shop(self._host_domain())
        if shop is None:
            self._send_json(404, NOT_FOUND)
            return

        token = self.headers.get("X-Shopify-Access-Token") or ""
        if not hmac.compare_digest(
            token.encode("utf-8", "surrogateescape"), shop.access_token.encode("utf-8")
        ):
            logger.warning(
                "shopify_sandbox.request.unauthorized",
                extra={"shop_domain": shop.domain, "token_present": bool(token)},
            )
            self._send_json(401, INVALID_TOKEN)
            return

        body = self._read_body()
        if body is None:
            return
        payload = self._graphql_payload(body)
        if payload is None:
            self._send_json(400, INVALID_QUERY)
            return
        self._answer_graphql(shop, payload)

    def _answer_graphql(self, shop: ShopState, payload: dict[str, Any]) -> None:
        """Execute a request, or answer with the injected fault it matches."""
        operation = operation_name(payload)
        entry = self.sandbox.faults.record(shop.domain, operation)
        fault = self.sandbox.faults.take(shop.domain, operation)
        headers: dict[str, str] = {}
        if fault is not None and fault.kind != "slow":
            status, response, headers = fault_response(fault, shop.bucket.restore_rate)
        else:
            status, response = self.sandbox.handle_graphql(shop, payload)
            if fault is not None:
                time.sleep(fault.delay)
        entry.status = status
        entry.fault = fault.kind if fault is not None else None
        entry.duration_s = round(time.time() - entry.at, 3)
        self._send_json(status, response, headers)

    def _oauth_shop(self, params: dict[str, str]):
        shop = self.sandbox.find_shop(self._host_domain())
        if shop is None and params.get("shop"):
            shop = self.sandbox.find_shop(params["shop"])
        return shop

    def _oauth_authorize(self, params: dict[str, str], approved: bool = False) -> None:
        shop = self._oauth_shop(params)
        if shop is None:
            self._send_html(404, b"<h1>There is no store at this address.</h1>")
            return
        try:
            scopes = oauth.check_authorize(params, self.sandbox.client_id)
        except oauth.OAuthError as error:
            self._send_html(400, f"<h1>{html.escape(error.description)}</h1>".encode())
            return
        if not approved:
            self._send_html(200, oauth.install_page(shop.domain, params, scopes))
            return
        with self.sandbox.lock:
            shop.granted_scopes = scopes
            location = oauth.approve(
                shop.domain,
                params,
                scopes,
                self.sandbox.oauth_codes,
                self.sandbox.client_secret,
            )
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _oauth_token(self, params: dict[str, str]) -> None:
        shop = self.sandbox.find_shop(self._host_domain())
        if shop is None:
            self._send_json(404, NOT_FOUND)
            return
        try:
            with self.sandbox.lock:
                grant = oauth.exchange(
                    shop.domain,
                    params,
                    self.sandbox.oauth_codes,
                    self.sandbox.client_id,
                    self.sandbox.client_secret,
                )
        except oauth.OAuthError as error:
            self._send_json(
                400, {"error": error.error, "error_description": error.description}
            )
            return
        self._send_json(
            200, {"access_token": shop.access_token, "scope": ",".join(grant.scopes)}
        )

    def _send_html(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _host_domain(self) -> str:
        host = (self.headers.get("Host") or "").strip().lower()
        if host.startswith("["):
            return host.split("]", 1)[0] + "]"
        return host.rsplit(":", 1)[0] if ":" in host else host

    def _graphql_payload(self, body: bytes) -> dict[str, Any] | None:
        """Return the request as ``{"query", ...}``, or None if it cannot be read."""
        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0]
        content_type = content_type.strip().lower()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if content_type == "application/graphql":
            return {"query": text}
        if content_type != "application/json":
            return None
        try:
            payload = json.loads(text)
        except json.JSONDecodeError:
            return None
        return payload if isinstance(payload, dict) else None

    def _create_shop(self) -> None:
        body = self._read_body()
        if body is None:
            return
        try:
            payload = json.loads(body or b"{}")
        except json.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("domain"), str):
            self._send_json(422, {"errors": "domain is required"})
            return
        try:
            token = self.sandbox.add_shop(
                payload["domain"],
                access_token=payload.get("access_token"),
                currency=payload.get("currency") or "USD",
                utc_offset=payload.get("utc_offset") or "-05:00",
            )
        except ValueError as error:
            status = 409 if "already exists" in str(error) else 422
            self._send_json(status, {"errors": str(error)})
            return
        domain = payload["domain"].strip().lower()
        self._send_json(201, {"domain": domain, "access_token": token})

    def _read_body(self) -> bytes | None:
        """Read the request body, or send an error response and return None."""
        length_header = self.headers.get("Content-Length")
        try:
            length = int(length_header) if length_header is not None else 0
        except ValueError:
            self._send_json(400, {"errors": "Content-Length is not a number"})
            return None
        if length < 0 or length > MAX_BODY_BYTES:
            self._send_json(413, {"errors": "Request body is too large"})
            return None
        return self.rfile.read(length)

    def _send_json(
        self, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        self._send_bytes(status, json.dumps(body).encode("utf-8"), headers)

    def _send_bytes(
        self, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", secrets.token_hex(16))
        self.send_header("X-Shopify-API-Version", self.sandbox.api_version)
        self.end_headers()
        self.wfile.write(body)


def _form_or_json(body: bytes, content_type: str) -> dict[str, str]:
    """Read a form-encoded or JSON object body as strings; anything else is empty."""
    text = body.decode("utf-8", "replace")
    if content_type.split(";", 1)[0].strip().lower() == "application/json":
        try:
            payload = json.loads(text or "{}")
        except json.JSONDecodeError:
            return {}
        if not isinstance(payload, dict):
            return {}
        return {str(k): str(v) for k, v in payload.items()}
    return dict(parse_qsl(text))
