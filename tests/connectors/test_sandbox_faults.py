"""The sandbox's fault control endpoint and request log, over loopback HTTP."""

import json
from collections.abc import Iterator

import pytest
import requests

from connectors.shopify.sandbox import ShopifySandbox

DOMAIN = "faults.myshopify.com"
QUERY = {"query": "query shopName { shop { name } }"}


@pytest.fixture
def shop_sandbox() -> Iterator[ShopifySandbox]:
    server = ShopifySandbox(client_secret="faults-secret").start()
    server.add_shop(DOMAIN, access_token="shpat_faults")
    yield server
    server.stop()


def graphql(sandbox: ShopifySandbox) -> requests.Response:
    return requests.post(
        f"{sandbox.url}/admin/api/2026-07/graphql.json",
        data=json.dumps(QUERY),
        headers={
            "Host": DOMAIN,
            "Content-Type": "application/json",
            "X-Shopify-Access-Token": "shpat_faults",
        },
        timeout=5,
    )


def add_fault(sandbox: ShopifySandbox, body) -> requests.Response:
    return requests.post(f"{sandbox.url}/_sandbox/faults", json=body, timeout=5)


def test_injected_500_used_once(shop_sandbox):
    assert add_fault(shop_sandbox, {"kind": "error", "status": 503}).status_code == 201
    assert graphql(shop_sandbox).status_code == 503
    assert graphql(shop_sandbox).status_code == 200


def test_rate_limit_sends_retry_after(shop_sandbox):
    add_fault(shop_sandbox, {"kind": "rate_limit", "retry_after": "2.0"})
    response = graphql(shop_sandbox)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2.0"


def test_throttled_reports_refill_time(shop_sandbox):
    add_fault(shop_sandbox, {"kind": "throttled", "wait": 3})
    body = graphql(shop_sandbox).json()
    cost = body["extensions"]["cost"]
    status = cost["throttleStatus"]
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert cost["requestedQueryCost"] / status["restoreRate"] == 3


def test_fault_matches_operation_only(shop_sandbox):
    add_fault(shop_sandbox, {"kind": "error", "operation": "orderCreate"})
    assert graphql(shop_sandbox).status_code == 200


def test_request_log_lists_requests(shop_sandbox):
    add_fault(shop_sandbox, {"kind": "error"})
    graphql(shop_sandbox)
    graphql(shop_sandbox)
    log = requests.get(f"{shop_sandbox.url}/_sandbox/requests", timeout=5).json()
    entries = log["requests"]
    assert [entry["status"] for entry in entries] == [500, 200]
    assert entries[0]["operation"] == "shopName"
    assert entries[0]["fault"] == "error"


def test_delete_clears_faults_and_log(shop_sandbox):
    add_fault(shop_sandbox, {"kind": "error", "count": 5})
    graphql(shop_sandbox)
    cleared = requests.delete(f"{shop_sandbox.url}/_sandbox/faults", timeout=5)
    assert cleared.json() == {"faults": [], "requests": []}
    assert graphql(shop_sandbox).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "boom"}, "kind must be one of"),
        ({"kind": "error", "count": 0}, "count must be"),
        ({"kind": "error", "status": 200}, "status must be from 400 to 599"),
        ({"kind": "slow", "delay": -1}, "delay must be from 0"),
        ({"kind": "slow", "delay": "3"}, "delay must be a number"),
        ({"kind": "error", "colour": "red"}, "unknown fields: colour"),
        ([1, 2], "the body must be a JSON object"),
    ],
)
def test_bad_fault_rejected_with_reason(shop_sandbox, body, message):
    response = add_fault(shop_sandbox, body)
    assert response.status_code == 422
    assert message in response.json()["errors"]
