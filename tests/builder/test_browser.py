"""The tutorial built in headless Chromium through the builder's pages alone.

Uses Debian's /usr/bin/chromium through Playwright; the test is skipped when
that browser is missing. Screenshots of every step go to
var/test-artifacts/browser/.
"""

import json
import shutil
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connections

from integrations import services as integration_services
from integrations.models import Integration
from tests.builder.conftest import CHROMIUM, make_author
from tests.conftest import SHOP_DOMAIN
from workflows.models import Run, Workflow

ARTIFACTS = Path(settings.BASE_DIR) / "var" / "test-artifacts" / "browser"
PASSWORD = "correct-horse-battery"
ORDER_SAMPLE = {
    "email": "jane.doe@example.com",
    "phone": "+15555550100",
    "line_items": [{"title": "Widget", "quantity": 2, "price": "19.99"}],
}

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]


class Tutorial:
    """The browser page and the servers, with a screenshot after each step."""

    def __init__(self, page) -> None:
        self.page = page
        self.shots = 0
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        ARTIFACTS.mkdir(parents=True)

    def shot(self, name: str) -> None:
        self.shots += 1
        self.page.screenshot(
            path=str(ARTIFACTS / f"{self.shots:02d}-{name}.png"), full_page=True
        )

    def field_row(self, index: int, name: str, type_: str, **extra) -> None:
        prefix = f"#id_field-{index}-"
        self.page.fill(f"{prefix}name", name)
        self.page.select_option(f"{prefix}type", type_)
        if "items" in extra:
            self.page.select_option(f"{prefix}items", extra["items"])
        if extra.get("required"):
            self.page.check(f"{prefix}required")

    def save_trigger(self) -> None:
        self.page.click("text=Save trigger")
        self.page.wait_for_selector("text=Trigger saved.")

    def map_input(self, target: str, kind: str, value: str) -> None:
        row = self.page.locator(f'.mapping-row[data-target="{target}"]')
        row.locator("select").select_option(kind)
        row.locator(".mapping-value").fill(value)

    def release_and_publish(self) -> None:
        self.page.click("text=Release this version")
        self.page.wait_for_selector("text=cannot be changed")
        self.shot("release-confirmation")
        self.page.click("button:has-text('Release version')")
        self.page.wait_for_selector(".banner")
        self.page.click("button:has-text('Publish')")
        self.page.wait_for_selector("text=is live.")
        self.shot("published")


def wait_for_runs(rq_worker, workflow: Workflow, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rq_worker()
        finished = Run.objects.filter(
            workflow=workflow, status__in=["succeeded", "failed"]
        ).count()
        if finished >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{workflow.name} has fewer than {count} finished runs")


def build_order_workflow(tour: Tutorial) -> None:
    page = tour.page
    page.fill("#id_name", "Create Shopify order from Acme Co")
    page.select_option("#id_trigger", "custom.custom_event")
    page.click("text=Create workflow")
    page.wait_for_selector("#trigger-form")
    page.fill("#id_event_name", "order_requested")
    tour.field_row(0, "email", "string", required=True)
    tour.field_row(1, "line_items", "array", items="object", required=True)
    page.fill("#id_sample_json", json.dumps(ORDER_SAMPLE, indent=2))
    tour.save_trigger()
    tour.field_row(2, "line_items[].title", "string", required=True)
    tour.field_row(3, "line_items[].quantity", "integer", required=True)
    tour.save_trigger()
    tour.field_row(4, "line_items[].price", "string", required=True)
    tour.field_row(5, "phone", "string")
    tour.save_trigger()
    tour.shot("custom-event-schema")

    page.select_option("#id_action", "shopify.create_order")
    page.fill("#id_key", "create_order")
    page.click("button:has-text('Add step')")
    page.wait_for_selector(".mapping-form")

    email_row = page.locator('.mapping-row[data-target="email"]')
    email_row.locator(".mapping-value").focus()
    page.locator('.picker .pick[data-path="event.email"]').click()
    email_row.locator(".preview-value").wait_for()
    phone_row = page.locator('.mapping-row[data-target="phone"]')
    tour.map_input("phone", "expression", "event.[phone")
    phone_row.locator(".preview-error").wait_for()
    tour.shot("mapping-parse-error")
    tour.map_input("phone", "expression", "event.phone")
    phone_row.locator(".preview-value").wait_for()
    tour.map_input(
        "line_items",
        "expression",
        "event.line_items[*].{title: title, quantity: quantity, price: price}",
    )
    tour.map_input("tags", "literal", '["acme-co"]')
    page.locator('.mapping-row[data-target="line_items"] .preview-value').wait_for()
    tour.shot("field-mapping")
    page.click("text=Save mappings")
    page.wait_for_selector("text=Mappings of create_order saved.")


def test_tutorial_built_in_browser(
    server, browser_page, sandbox, connection, receiver, api_key, rq_worker
):
    try:
        tour = walk_tutorial(server, browser_page, connection, receiver, api_key)
        check_runs(tour, server, sandbox, rq_worker)
    finally:
        # The test's ORM calls ran inside Playwright's greenlet context with a
        # connection of their own, which pytest-django does not close.
        connections.close_all()


def walk_tutorial(server, page, connection, receiver, api_key) -> Tutorial:
    tour = Tutorial(page)
    make_author(connection.end_user.workspace, "ada")

    page.goto(f"{server.url}/builder/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", PASSWORD)
    tour.shot("sign-in")
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("text=Embedded Integrations")
    tour.shot("integrations")

    page.click("text=New Integration")
    page.fill("#id_q", "shop")
    page.click("button:has-text('Search')")
    page.check("input[value=shopify]")
    page.fill("#id_name", "Shopify")
    tour.shot("new-integration")
    page.click("text=Continue")
    page.wait_for_selector("text=New workflow")

    build_order_workflow(tour)
    page.click("text=Test run")
    page.click("button:has-text('Run test')")
    page.wait_for_selector("text=Dry test run")
    tour.shot("dry-test-run")
    page.select_option("#id_connection", str(connection.pk))
    page.click("button:has-text('Run test')")
    page.wait_for_selector("text=Live test run")
    assert "gid://shopify/Order/" in page.content()
    tour.shot("live-test-run")
    page.click(".crumbs a")
    tour.release_and_publish()

    integration = Integration.objects.get(name="Shopify")
    page.goto(f"{server.url}/builder/integrations/{integration.pk}")
    page.fill("#id_name", "Send new Shopify orders to Acme Co")
    page.select_option("#id_trigger", "shopify.order_created")
    page.click("text=Create workflow")
    page.wait_for_selector("#trigger-form")
    page.fill("#id_stream_url", "ftp://acme.example/orders")
    page.click("text=Save trigger")
    page.wait_for_selector("text=is not an http or https URL")
    tour.shot("stream-url-rejected")
    page.fill("#id_stream_url", f"{receiver.url}/alloy/orders")
    tour.save_trigger()
    tour.shot("order-created-trigger")
    tour.release_and_publish()

    # Installing is the end user's act, which the builder does not do.
    integration_services.installation_create(
        end_user=connection.end_user, integration=integration, connection=connection
    )
    response = requests.post(
        f"{server.url}/api/v1/events",
        json={"event": "order_requested", "user": "merchant-1", "data": ORDER_SAMPLE},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    )
    assert response.status_code == 202
    return tour


def check_runs(tour: Tutorial, server, sandbox, rq_worker) -> None:
    page = tour.page
    order_workflow = Workflow.objects.get(name="Create Shopify order from Acme Co")
    stream_workflow = Workflow.objects.get(name="Send new Shopify orders to Acme Co")
    wait_for_runs(rq_worker, order_workflow, 1)
    wait_for_runs(rq_worker, stream_workflow, 1)

    page.goto(f"{server.url}/builder/runs")
    page.select_option("#id_workflow", str(order_workflow.pk))
    page.click("button:has-text('Filter')")
    tour.shot("runs")
    page.locator("table a").first.click()
    page.wait_for_selector("text=Steps")
    tour.shot("run-page")
    order = sandbox.shop(SHOP_DOMAIN).orders[-1]
    assert page.locator("h1 .badge").inner_text() == "Succeeded"
    assert str(order["id"]) in page.locator(".step-output").last.inner_text()
    assert tour.shots == 16


def test_runs_filters_fit_a_phone_screen(server, browser_page, workspace):
    try:
        make_author(workspace, "ada")
        page = browser_page
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{server.url}/builder/runs")
        page.fill("#id_username", "ada")
        page.fill("#id_password", PASSWORD)
        page.click("button:has-text('Sign in')")
        page.wait_for_selector("form.filters")
        # Each filter takes the whole row, so no date input is squeezed
        # beside the buttons and cut off.
        widths = {
            field.get_attribute("name"): field.bounding_box()["width"]
            for field in page.locator("form.filters .field > :is(input, select)").all()
        }
        assert widths["until"] == widths["since"] == widths["workflow"], widths
        assert page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth"
        )
    finally:
        connections.close_all()
