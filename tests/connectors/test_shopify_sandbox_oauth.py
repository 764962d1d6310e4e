"""The sandbox's OAuth authorization code grant, as Shopify serves it."""

import re
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from connectors.shopify.sandbox import ShopifySandbox
from connectors.shopify.sandbox.oauth import sign_query

SHOP = "oauth-store.myshopify.com"
SECRET = "sandbox-oauth-secret"
CLIENT_ID = "client-123"
CALLBACK = "http://127.0.0.1:9/callback"


@pytest.fixture
def shopify():
    server = ShopifySandbox(client_secret=SECRET, client_id=CLIENT_ID).start()
    server.add_shop(SHOP, access_token="shpat_known")
    yield server
    server.stop()


def authorize(shopify, **overrides):
    params = {
        "client_id": CLIENT_ID,
        "scope": "read_orders,write_orders",
        "redirect_uri": CALLBACK,
        "state": "nonce-1",
        "shop": SHOP,
        **overrides,
    }
    return requests.get(
        f"{shopify.url}/admin/oauth/authorize", params=params, timeout=5
    )


def approve(shopify) -> dict[str, str]:
    page = authorize(shopify)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    response = requests.post(
        f"{shopify.url}/admin/oauth/authorize",
        data={**fields, "approve": "1"},
        allow_redirects=False,
        timeout=5,
    )
    return dict(parse_qsl(urlsplit(response.headers["Location"]).query))


def exchange(shopify, **body):
    return requests.post(
        f"{shopify.url}/admin/oauth/access_token",
        json={"client_id": CLIENT_ID, "client_secret": SECRET, **body},
        headers={"Host": SHOP},
        timeout=5,
    )


def test_authorize_page_lists_scopes(shopify):
    page = authorize(shopify)
    assert page.status_code == 200
    assert "write_orders" in page.text


def test_authorize_unknown_client_rejected(shopify):
    page = authorize(shopify, client_id="other")
    assert page.status_code == 400
    assert "invalid_request" in page.text


def test_authorize_unknown_scope_rejected(shopify):
    page = authorize(shopify, scope="read_orders,read_everything")
    assert page.status_code == 400
    assert "invalid_scope" in page.text


def test_callback_query_signed_hex(shopify):
    query = approve(shopify)
    assert query["hmac"] == sign_query(query, SECRET)
    assert query["state"] == "nonce-1"
    assert query["shop"] == SHOP


def test_code_exchanged_once(shopify):
    code = approve(shopify)["code"]
    first = exchange(shopify, code=code)
    second = exchange(shopify, code=code)
    assert first.json() == {
        "access_token": "shpat_known",
        "scope": "read_orders,write_orders",
    }
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_request"


def test_exchange_wrong_secret_rejected(shopify):
    code = approve(shopify)["code"]
    response = exchange(shopify, code=code, client_secret="wrong")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"
