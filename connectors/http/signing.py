"""Signatures on outgoing deliveries: HMAC-SHA256 over timestamp, delivery id and body.

A delivery carries ``X-Alloy-Delivery-Id``, ``X-Alloy-Timestamp`` (Unix
seconds) and ``X-Alloy-Signature: v1=<hex>``, where the hex digest is
HMAC-SHA256, keyed with the workspace's signing secret, of
``f"{timestamp}.{delivery_id}.".encode() + body``. Signing the id and time
lets a receiver drop duplicates and reject a replayed old delivery.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Alloy-Signature"
TIMESTAMP_HEADER = "X-Alloy-Timestamp"
DELIVERY_ID_HEADER = "X-Alloy-Delivery-Id"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, *, timestamp: int, delivery_id: str, body: bytes) -> str:
    message = f"{timestamp}.{delivery_id}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def signed_headers(secret: str, *, delivery_id: str, body: bytes) -> dict[str, str]:
    timestamp = int(time.time())
    return {
        "Content-Type": "application/json",
        DELIVERY_ID_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(
            secret, timestamp=timestamp, delivery_id=delivery_id, body=body
        ),
    }


def verify(
    secret: str,
    *,
    headers: dict[str, str],
    body: bytes,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Return whether a delivery's signature is valid and its timestamp recent.

    ``headers`` must be case-insensitive or use the canonical header names.
    """
    delivery_id = headers.get(DELIVERY_ID_HEADER)
    timestamp_text = headers.get(TIMESTAMP_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if not (delivery_id and timestamp_text and signature):
        return False
    try:
        timestamp = int(timestamp_text)
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp=timestamp, delivery_id=delivery_id, body=body)
    return hmac.compare_digest(
        expected.encode(), signature.encode("utf-8", "surrogateescape")
    )
