"""Fixtures of the builder's tests: authors signed in to their own workspaces."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from integrations import services as integration_services
from workflows.tutorial import tutorial_integration_create

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def make_author(workspace, username: str):
    user = get_user_model().objects.create_user(
        username=username, password="correct-horse-battery"
    )
    workspace.members.add(user)
    return user


@pytest.fixture
def author(workspace):
    return make_author(workspace, "ada")


@pytest.fixture
def author_client(client, author):
    client.force_login(author)
    return client


@pytest.fixture
def tutorial(workspace):
    """The getting-started integration, released and published."""
    return tutorial_integration_create(
        workspace=workspace, stream_base_url="http://127.0.0.1:9/acme"
    )


@pytest.fixture
def other_client(db):
    """A signed-in author of a second workspace."""
    other, _ = integration_services.workspace_create(name="Globex", slug="globex")
    client = Client()
    client.force_login(make_author(other, "grace"))
    return client


@pytest.fixture
def server(settings, monkeypatch, live_server):
    # Playwright's sync API runs an event loop in this thread; the ORM calls
    # the test makes between browser steps are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server


@pytest.fixture
def browser_page():
    """A page of Debian's headless Chromium, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(15000)
        yield page
        browser.close()
