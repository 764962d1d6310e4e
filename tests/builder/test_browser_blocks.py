"""Nested blocks built in headless Chromium: a For each with a Transform inside.

Skipped without Debian's /usr/bin/chromium. Screenshots of the editor at a
desktop and a phone width go to var/test-artifacts/browser-blocks/.
"""

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from integrations import services as integration_services
from tests.builder.conftest import CHROMIUM, make_author
from tests.builder.test_browser import PASSWORD
from workflows.models import Block, FieldMapping
from workflows.services import versions
from workflows.tutorial import ORDER_REQUESTED_SCHEMA

ARTIFACTS = Path(settings.BASE_DIR) / "var" / "test-artifacts" / "browser-blocks"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]


@pytest.fixture
def draft(workspace):
    integration = integration_services.integration_create(
        workspace=workspace, name="Shopify", app="shopify"
    )
    workflow = versions.workflow_create(
        integration=integration,
        name="Lines out",
        trigger_connector="custom",
        trigger_operation="custom_event",
        trigger_config={
            "event_name": "order_requested",
            "schema": ORDER_REQUESTED_SCHEMA,
        },
    )
    return workflow.versions.get()


def add_step(page, action: str, key: str, place: str = "") -> None:
    # The form starts open on a version with only its trigger, else closed.
    page.locator("details.add-action").evaluate("details => details.open = true")
    page.select_option("#id_action", action)
    page.fill("#id_key", key)
    if place:
        page.select_option("#id_place", place)
    page.click("button:has-text('Add step')")
    page.wait_for_selector(f"text=Step {key} added")


def test_loop_with_transform_in_browser(server, browser_page, workspace, draft):
    try:
        build_loop(server, browser_page, workspace, draft)
    finally:
        # ORM calls made between browser steps use a connection of their own,
        # which pytest-django does not close.
        connections.close_all()


def build_loop(server, page, workspace, draft) -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    make_author(workspace, "ada")
    page.goto(f"{server.url}/builder/sign-in")
    page.fill("#id_username", "ada")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.goto(f"{server.url}/builder/versions/{draft.pk}")

    add_step(page, "logic.for_each", "lines")
    page.fill("#id_items", "event.line_items")
    page.click("button:has-text('Save settings')")
    page.wait_for_selector("text=Settings of lines saved.")
    add_step(page, "utility.transform", "line", "lines.body")
    page.fill("[name='new_target:0']", "title")
    page.focus("[name='new_value:0']")
    page.click(".picker .pick[data-path='item.title']")
    page.click("button:has-text('Save mappings')")
    page.wait_for_selector("text=Mappings of line saved.")

    nested = page.locator(".flow .block.depth-1")
    mapping = FieldMapping.objects.get(block__version=draft, block__key="line")
    assert nested.inner_text().count("in lines: Body") == 1
    assert (mapping.target, mapping.kind, mapping.value) == (
        "title",
        "expression",
        "item.title",
    )
    assert Block.objects.get(version=draft, key="line").parent.key == "lines"
    page.screenshot(path=str(ARTIFACTS / "editor-1280x800.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "editor-390x844.png"), full_page=True)
