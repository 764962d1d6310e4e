"""The author's app from scratch over loopback HTTP: end user, token, connect page,
OAuth against the sandbox, install, upgrade, and runs from both event sources."""

import re
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from integrations.models import Connection, Installation, OAuthState
from integrations.services import api_key_create, integration_create
from tests.conftest import SHOP_DOMAIN
from workflows.models import Event, Run
from workflows.services import versions
from workflows.tutorial import ORDER_REQUESTED_SAMPLE, tutorial_integration_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def app(settings, live_server, sandbox, workspace, receiver):
    settings.PUBLIC_BASE_URL = live_server.url
    sandbox.client_id = settings.SHOPIFY_CLIENT_ID
    sandbox.add_shop(SHOP_DOMAIN)
    integration = tutorial_integration_create(
        workspace=workspace, stream_base_url=receiver.url
    )
    _, key = api_key_create(workspace=workspace, name="author app")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    return {"url": live_server.url, "api": session, "integration": integration}


def connect_shop(app, sandbox, token: str) -> requests.Response:
    """Play the end user's browser: connect page, Shopify's page, callback."""
    page = requests.get(f"{app['url']}/connect/", params={"token": token}, timeout=10)
    assert page.status_code == 200
    _, callback = start_flow(app, sandbox, token)
    return requests.get(callback, timeout=10)


def test_author_app_from_scratch(app, sandbox, rq_worker):
    api, url = app["api"], app["url"]
    created = api.post(
        f"{url}/api/v1/end-users", json={"id": "merchant-9", "name": "M9"}, timeout=10
    )
    assert created.status_code == 201
    token = api.post(f"{url}/api/v1/end-users/merchant-9/token", timeout=10).json()
    assert token["connect_url"].startswith(f"{url}/connect/?token=")

    callback = connect_shop(app, sandbox, token["token"])
    assert callback.status_code == 200
    assert "is installed on test-store.myshopify.com" in callback.text
    assert connect_shop(app, sandbox, token["token"]).status_code == 200

    installations = api.get(
        f"{url}/api/v1/installations", params={"user": "merchant-9"}, timeout=10
    ).json()["results"]
    assert len(installations) == 1
    installation = installations[0]
    workflow = app["integration"].workflows.get(
        name="Create Shopify order from Acme Co"
    )
    draft = versions.version_create_next(workflow=workflow)
    versions.version_release(version=draft)
    versions.version_publish(version=draft)
    upgraded = api.post(
        f"{url}/api/v1/installations/{installation['id']}/upgrade", json={}, timeout=10
    )
    assert upgraded.status_code == 200
    rq_worker()
    topics = [s["topic"] for s in sandbox.shop(SHOP_DOMAIN).webhook_subscriptions]
    assert sorted(topics) == ["CUSTOMERS_CREATE", "ORDERS_CREATE"]

    sent = api.post(
        f"{url}/api/v1/events",
        json={
            "event": "order_requested",
            "user": "merchant-9",
            "data": ORDER_REQUESTED_SAMPLE,
        },
        timeout=10,
    )
    assert sent.status_code == 202
    rq_worker()
    assert sandbox.wait_for_deliveries(2, timeout=10)
    rq_worker()
    runs = api.get(
        f"{url}/api/v1/runs", params={"user": "merchant-9"}, timeout=10
    ).json()["results"]
    by_event = {Run.objects.get(pk=r["id"]).event.source for r in runs}
    assert by_event == {Event.Source.CUSTOM, Event.Source.APP}
    assert all(r["status"] == "succeeded" for r in runs)


def start_flow(app, sandbox, token):
    response = requests.post(
        f"{app['url']}/connect/install",
        data={
            "token": token,
            "integration": app["integration"].pk,
            "shop": SHOP_DOMAIN,
        },
        allow_redirects=False,
        timeout=10,
    )
    state = dict(parse_qsl(urlsplit(response.headers["Location"]).query))["state"]
    install_page = requests.get(response.headers["Location"], timeout=10)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', install_page.text))
    approved = requests.post(
        f"{sandbox.url}/admin/oauth/authorize",
        data={**fields, "approve": "1"},
        allow_redirects=False,
        timeout=10,
    )
    return state, approved.headers["Location"]


def _token(app, user="merchant-9"):
    app["api"].post(f"{app['url']}/api/v1/end-users", json={"id": user}, timeout=10)
    return (
        app["api"]
        .post(f"{app['url']}/api/v1/end-users/{user}/token", timeout=10)
        .json()["token"]
    )


def _tampered(callback: str, **changes) -> str:
    parts = urlsplit(callback)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return parts._replace(query="&".join(f"{k}={v}" for k, v in query.items())).geturl()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hmac": "0" * 64}, "query.hmac"),
        ({"state": "unknown-state"}, "query.hmac"),
    ],
)
def test_callback_altered_rejected(app, sandbox, changes, message):
    _, callback = start_flow(app, sandbox, _token(app))
    response = requests.get(_tampered(callback, **changes), timeout=10)
    assert response.status_code == 400
    assert message in response.text
    assert Connection.objects.count() == 0


def test_callback_signed_but_bad(app, sandbox, settings):
    from connectors.shopify.sandbox.oauth import sign_query

    _, callback = start_flow(app, sandbox, _token(app))
    query = dict(parse_qsl(urlsplit(callback).query))
    # Each change is signed correctly, so only the named check can reject it.
    cases = {
        "query.timestamp: Not within 300 seconds": {"timestamp": "1000000000"},
        "state parameter is unknown": {"state": "never-issued"},
        "query.shop: &#x27;evil.example.com&#x27; is not": {"shop": "evil.example.com"},
    }
    for expected, change in cases.items():
        signed = {k: v for k, v in {**query, **change}.items() if k != "hmac"}
        signed["hmac"] = sign_query(signed, settings.SHOPIFY_CLIENT_SECRET)
        response = requests.get(
            f"{app['url']}/connect/shopify/callback", params=signed, timeout=10
        )
        assert response.status_code == 400, expected
        assert expected in response.text, expected
    assert Connection.objects.count() == 0
    assert OAuthState.objects.filter(used_at__isnull=False).count() == 0


def test_connect_page_rejects_tampered_token(app):
    token = _token(app)
    response = requests.get(
        f"{app['url']}/connect/", params={"token": token[:-2] + "xx"}, timeout=10
    )
    assert response.status_code == 401
    assert "invalid" in response.text


def test_connect_page_rejects_expired_token(app, monkeypatch):
    import time as time_module

    token = _token(app)
    real_time = time_module.time
    monkeypatch.setattr(time_module, "time", lambda: real_time() + 31 * 60)
    response = requests.get(
        f"{app['url']}/connect/", params={"token": token}, timeout=10
    )
    assert response.status_code == 401
    assert "expired" in response.text


def test_install_rejects_non_myshopify_domain(app):
    response = requests.post(
        f"{app['url']}/connect/install",
        data={
            "token": _token(app),
            "integration": app["integration"].pk,
            "shop": "shop.example.com",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 400
    assert "is not a Shopify shop domain" in response.text
    assert OAuthState.objects.count() == 0


def test_connect_page_embeddable(app):
    response = requests.get(
        f"{app['url']}/connect/", params={"token": _token(app)}, timeout=10
    )
    assert "X-Frame-Options" not in response.headers


def test_reused_code_changes_nothing(app, sandbox):
    _, callback = start_flow(app, sandbox, _token(app))
    query = dict(parse_qsl(urlsplit(callback).query))
    code = query["code"]
    requests.post(
        f"{sandbox.url}/admin/oauth/access_token",
        json={
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
            "code": code,
        },
        headers={"Host": SHOP_DOMAIN},
        timeout=10,
    )
    response = requests.get(callback, timeout=10)
    assert response.status_code == 502
    assert "not found or was already used" in response.text
    assert Connection.objects.count() == 0


def test_connect_page_uninstalls(app, sandbox):
    token = _token(app)
    connect_shop(app, sandbox, token)
    installation = Installation.objects.get()
    response = requests.post(
        f"{app['url']}/connect/uninstall",
        data={"token": token, "installation": installation.pk},
        timeout=10,
    )
    assert response.status_code == 200
    assert "Connect Shopify and install" in response.text
    assert Installation.objects.count() == 0
    assert sandbox.shop(SHOP_DOMAIN).webhook_subscriptions == []


def test_uninstall_other_users_installation_404(app, sandbox):
    connect_shop(app, sandbox, _token(app))
    installation = Installation.objects.get()
    response = requests.post(
        f"{app['url']}/connect/uninstall",
        data={"token": _token(app, "someone-else"), "installation": installation.pk},
        timeout=10,
    )
    assert response.status_code == 404
    assert Installation.objects.count() == 1


def test_connect_page_hides_unpublished_integration(app, workspace):
    empty = integration_create(workspace=workspace, name="Nothing yet", app="shopify")
    page = requests.get(
        f"{app['url']}/connect/", params={"token": _token(app)}, timeout=10
    ).text
    assert app["integration"].name in page
    assert empty.name not in page
