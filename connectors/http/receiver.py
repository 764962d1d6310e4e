"""A local receiver for signed deliveries: the author's server in the demo and tests.

It verifies every delivery's signature with the workspace's signing secret,
drops repeated delivery ids, and keeps what it received for inspection.
"""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from connectors.http import signing


@dataclass
class ReceivedDelivery:
    path: str
    delivery_id: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool
    duplicate: bool
    received_at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body)


class StreamReceiver:
    """Serve on ``host:port`` (0 picks a free port) in a daemon thread."""

    def __init__(
        self,
        secret: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fail_first: int = 0,
    ) -> None:
        self.secret = secret
        self.deliveries: list[ReceivedDelivery] = []
        # Respond 503 to this many requests first, to exercise redelivery.
        self.fail_first = fail_first
        self._lock = threading.Condition()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="stream-receiver", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "StreamReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.accepted) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    @property
    def accepted(self) -> list[ReceivedDelivery]:
        return [d for d in self.deliveries if d.signature_valid and not d.duplicate]

    def _record(self, handler: BaseHTTPRequestHandler, body: bytes) -> int:
        headers = dict(handler.headers.items())
        valid = signing.verify(self.secret, headers=handler.headers, body=body)
        delivery_id = handler.headers.get(signing.DELIVERY_ID_HEADER, "")
        with self._lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return 503
            seen = {d.delivery_id for d in self.deliveries if d.signature_valid}
            delivery = ReceivedDelivery(
                path=handler.path,
                delivery_id=delivery_id,
                headers=headers,
                body=body,
                signature_valid=valid,
                duplicate=valid and delivery_id in seen,
            )
            self.deliveries.append(delivery)
            self._lock.notify_all()
        return 200 if valid else 401

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver._record(self, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if status == 200 else b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                # Deliveries are inspected through the receiver, not stderr.
                return

        return Handler
