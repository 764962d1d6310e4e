"""Outgoing JSON POSTs, signed, with failures classified for retry."""

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

from alloy.outbound import OutboundURLError, outbound_url_check
from connectors.http import signing

logger = logging.getLogger(__name__)

# Bytes of a response body kept on the delivery record.
RESPONSE_EXCERPT_BYTES = 2048

# One session per thread, because requests.Session is not thread-safe. Its
# pooled keep-alive connections spare a worker a TCP handshake per delivery
# to the same server.
_sessions = threading.local()


def _session() -> requests.Session:
    session = getattr(_sessions, "session", None)
    if session is None:
        session = requests.Session()
        # Deliveries go straight to the address that passed the outbound
        # checks, never through a proxy named in the environment, and they
        # send no .netrc credentials. Reading those from the environment on
        # every request was a sixth of a delivery's CPU. A CA bundle named
        # the usual way is still honoured.
        session.trust_env = False
        session.verify = (
            os.environ.get("REQUESTS_CA_BUNDLE")
            or os.environ.get("CURL_CA_BUNDLE")
            or True
        )
        _sessions.session = session
    return session


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    response_body: str
    error: str
    duration_ms: int
    # True when the URL was refused before sending; another try cannot help.
    blocked: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        if self.blocked:
            return False
        if self.status_code is None:
            return True
        return self.status_code == 429 or self.status_code >= 500


def post_signed_json(
    url: str,
    payload: Any,
    *,
    secret: str,
    delivery_id: str,
    timeout: float,
) -> PostResult:
    """POST ``payload`` as JSON with the signature headers; returns failures as data.

    Redirects are not followed, because a redirect could send signed data to a
    host the author never configured. A URL whose host resolves to an internal
    address is not requested at all (see alloy.outbound).
    """
    try:
        outbound_url_check(url)
    except OutboundURLError as exc:
        logger.warning("http.outbound.blocked", extra={"reason": str(exc)})
        return PostResult(None, "", str(exc), 0, blocked=True)
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    headers = signing.signed_headers(secret, delivery_id=delivery_id, body=body)
    headers["User-Agent"] = "Alloy-Delivery/1"
    started = time.monotonic()
    # Prepared apart from the session: a delivery sends exactly these headers,
    # and never a cookie that an earlier response set, and skipping the
    # session's merging saves CPU on every delivery.
    request = requests.Request("POST", url, data=body, headers=headers).prepare()
    try:
        response = _session().send(request, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        return PostResult(None, "", f"timed out after {timeout:g}s", _ms(started))
    except requests.RequestException as exc:
        return PostResult(None, "", f"connection failed: {exc}", _ms(started))
    excerpt = response.content[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace")
    error = "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return PostResult(response.status_code, excerpt, error, _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
