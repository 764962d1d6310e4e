"""A warehouse workflow built in headless Chromium, then run on a Shopify order.

Screenshots of every step go to var/test-artifacts/browser-warehouse/.
"""

import json
import shutil
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from integrations import services as integration_services
from integrations.models import Integration
from tests.builder.conftest import CHROMIUM, make_author
from tests.conftest import SHOP_DOMAIN
from workflows.models import Run
from workflows.services.intake import app_event_ingest

ARTIFACTS = Path(settings.BASE_DIR) / "var" / "test-artifacts" / "browser-warehouse"
PASSWORD = "correct-horse-battery"
SAMPLES = Path(__file__).resolve().parents[2] / "connectors/shopify/samples"
COLUMNS = """order_id bigint
name text
total_price numeric
updated_at timestamptz"""
MAPPINGS = {
    "values.order_id": "event.id",
    "values.name": "event.name",
    "values.total_price": "event.total_price",
    "values.updated_at": "event.updated_at",
}

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]


class Shots:
    def __init__(self, page) -> None:
        self.page = page
        self.count = 0
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        ARTIFACTS.mkdir(parents=True)

    def take(self, name: str) -> None:
        self.count += 1
        self.page.screenshot(
            path=str(ARTIFACTS / f"{self.count:02d}-{name}.png"), full_page=True
        )


def test_warehouse_workflow_built_in_browser(
    server, browser_page, connection, warehouse_url, warehouse, rq_worker
):
    try:
        build_workflow(server, browser_page, connection, warehouse_url)
        check_run(server, browser_page, connection, warehouse, rq_worker)
    finally:
        # The ORM calls ran inside Playwright's greenlet context with a
        # connection of their own, which pytest-django does not close.
        connections.close_all()


def build_workflow(server, page, connection, warehouse_url) -> None:
    shots = Shots(page)
    make_author(connection.end_user.workspace, "ada")
    page.goto(f"{server.url}/builder/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("text=Embedded Integrations")

    page.click("nav >> text=Warehouse")
    assert page.locator("option[value=snowflake]").is_disabled()
    page.fill("#id_url", "postgresql://loader:pw-1@127.0.0.1:9/analytics")
    page.click("button:has-text('Connect')")
    page.wait_for_selector("text=Could not connect to the warehouse")
    assert "pw-1" not in page.content()
    shots.take("warehouse-refused")
    page.fill("#id_url", warehouse_url)
    page.click("button:has-text('Connect')")
    page.wait_for_selector("text=Warehouse connected.")
    shots.take("warehouse-connected")

    page.click("text=Integrations")
    page.click("text=New Integration")
    page.check("input[value=shopify]")
    page.fill("#id_name", "Shopify to warehouse")
    page.click("text=Continue")
    page.fill("#id_name", "Send Shopify orders to the warehouse")
    page.select_option("#id_trigger", "shopify.order_created")
    page.click("text=Create workflow")
    page.wait_for_selector("#trigger-form")

    page.select_option("#id_action", "warehouse.upsert_rows")
    page.fill("#id_key", "orders")
    page.click("button:has-text('Add step')")
    page.wait_for_selector("text=Save table settings")
    page.fill("#id_config-table", "shopify_orders")
    page.fill("#id_config-columns", COLUMNS.replace("numeric", "money"))
    page.fill("#id_config-key", "order_id")
    page.fill("#id_config-version_column", "updated_at")
    page.click("text=Save table settings")
    page.wait_for_selector("text=is not supported")
    shots.take("column-type-rejected")
    page.fill("#id_config-columns", COLUMNS)
    page.click("text=Save table settings")
    page.wait_for_selector("text=Table settings of orders saved")

    for target, expression in MAPPINGS.items():
        row = page.locator(f'.mapping-row[data-target="{target}"]')
        row.locator("select").select_option("expression")
        row.locator(".mapping-value").fill(expression)
        row.locator(".preview-value").wait_for()
    shots.take("column-mapping")
    page.click("text=Save mappings")
    page.wait_for_selector("text=Mappings of orders saved.")

    page.click("text=Release this version")
    page.click("button:has-text('Release version')")
    page.wait_for_selector(".banner")
    page.click("button:has-text('Publish')")
    page.wait_for_selector("text=is live.")
    shots.take("published")


def check_run(server, page, connection, warehouse, rq_worker) -> None:
    integration = Integration.objects.get(name="Shopify to warehouse")
    # Installing is the end user's act, which the builder does not do.
    integration_services.installation_create(
        end_user=connection.end_user, integration=integration, connection=connection
    )
    order = json.loads((SAMPLES / "orders_create.json").read_text())
    order.update(id=9007199254740993, total_price="1234.56")
    app_event_ingest(
        connector="shopify",
        account_id=SHOP_DOMAIN,
        topic="orders/create",
        delivery_id=str(uuid.uuid4()),
        data=order,
    )
    rq_worker()
    run = Run.objects.get(workflow__integration=integration)
    assert run.status == Run.Status.SUCCEEDED
    assert warehouse("SELECT order_id, total_price FROM shopify_orders") == [
        (9007199254740993, Decimal("1234.56"))
    ]
    page.goto(f"{server.url}/builder/runs/{run.pk}")
    page.wait_for_selector("text=shopify_orders")
    assert '"inserted": 1' in page.content()
