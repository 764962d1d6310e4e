"""Faults the sandbox injects on demand, and its log of Admin API requests.

A test or the reliability script queues faults through ``POST /_sandbox/faults``
(or :meth:`ShopifySandbox.inject_fault`); each GraphQL request takes the first
queued fault that matches its shop and operation, and uses it up. Kinds:

- ``error``: answer ``status`` (default 500) without executing the request.
- ``rate_limit``: answer 429 with ``Retry-After: <retry_after>`` (text such as
  ``"2.0"``, as Shopify sends it), without executing.
- ``throttled``: answer 200 with a ``THROTTLED`` error whose ``throttleStatus``
  says the bucket needs ``wait`` seconds to refill, without executing.
- ``slow``: execute the request, then wait ``delay`` seconds before answering,
  so a client that times out does not know the outcome.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("error", "rate_limit", "throttled", "slow")
_OPERATION_PATTERN = re.compile(r"\b(?:query|mutation)\s+(?P<name>[_A-Za-z]\w*)")
# The longest delay or wait a fault may ask for, in seconds.
MAX_FAULT_SECONDS = 120.0


@dataclass
class Fault:
    kind: str
    count: int = 1
    status: int = 500
    retry_after: str = "2.0"
    wait: float = 1.0
    delay: float = 5.0
    shop: str | None = None
    operation: str | None = None

    def matches(self, shop: str, operation: str | None) -> bool:
        if self.shop is not None and self.shop != shop:
            return False
        return self.operation is None or self.operation == operation


@dataclass
class RequestRecord:
    """One Admin API request: its arrival time (Unix seconds) and its answer."""

    at: float
    shop: str
    operation: str | None
    status: int = 0
    fault: str | None = None
    duration_s: float = 0.0


def fault_from_json(payload: Any) -> Fault:
    """Build a fault from JSON; raises ValueError naming the bad field."""
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    unknown = set(payload) - set(Fault.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    kind = payload.get("kind")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    fault = Fault(kind=kind)
    count = payload.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise ValueError(f"count must be a whole number from 1 to 1000, not {count!r}")
    fault.count = count
    status = payload.get("status", 500)
    if isinstance(status, bool) or not isinstance(status, int):
        raise ValueError(f"status must be an HTTP status code, not {status!r}")
    if not 400 <= status <= 599:
        raise ValueError(f"status must be from 400 to 599, not {status}")
    fault.status = status
    retry_after = payload.get("retry_after", "2.0")
    if not isinstance(retry_after, str) or len(retry_after) > 32:
        raise ValueError("retry_after must be the Retry-After header's text")
    fault.retry_after = retry_after
    for name in ("wait", "delay"):
        if name not in payload:
            continue
        value = payload[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number of seconds, not {value!r}")
        if not 0 <= value <= MAX_FAULT_SECONDS:
            raise ValueError(f"{name} must be from 0 to {MAX_FAULT_SECONDS:g} seconds")
        setattr(fault, name, float(value))
    for name in ("shop", "operation"):
        value = payload.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string, not {value!r}")
        setattr(fault, name, value)
    return fault


@dataclass
class FaultPlan:
    """The queued faults and the request log, shared by the handler threads."""

    faults: list[Fault] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.requests.clear()

    def take(self, shop: str, operation: str | None) -> Fault | None:
        """Use up one count of the first fault that matches, if any."""
        with self.lock:
            for fault in self.faults:
                if fault.matches(shop, operation):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def record(self, shop: str, operation: str | None) -> RequestRecord:
        entry = RequestRecord(at=time.time(), shop=shop, operation=operation)
        with self.lock:
            self.requests.append(entry)
        return entry

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "faults": [asdict(fault) for fault in self.faults],
                "requests": [asdict(entry) for entry in self.requests],
            }


def operation_name(payload: dict[str, Any]) -> str | None:
    """Name a GraphQL request by its operationName or its first operation's name."""
    name = payload.get("operationName")
    if isinstance(name, str) and name:
        return name
    query = payload.get("query")
    if not isinstance(query, str):
        return None
    match = _OPERATION_PATTERN.search(query)
    return match["name"] if match else None


def fault_response(
    fault: Fault, restore_rate: float
) -> tuple[int, Any, dict[str, str]]:
    """Return the status, body and extra headers of a fault that skips execution."""
    if fault.kind == "rate_limit":
        return (
            429,
            {
                "errors": "Exceeded 2 calls per second for api client. Reduce request "
                "rates to resume uninterrupted service."
            },
            {"Retry-After": fault.retry_after},
        )
    if fault.kind == "throttled":
        requested = round(restore_rate * fault.wait, 2)
        return (
            200,
            {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": {
                    "cost": {
                        "requestedQueryCost": requested,
                        "actualQueryCost": None,
                        "throttleStatus": {
                            "maximumAvailable": max(requested, 2000.0),
                            "currentlyAvailable": 0,
                            "restoreRate": restore_rate,
                        },
                    }
                },
            },
            {},
        )
    return fault.status, {"errors": "Internal Server Error"}, {}
