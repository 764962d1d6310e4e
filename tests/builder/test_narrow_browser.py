"""The builder's pages on a 390x844 phone screen, in headless Chromium.

No page may be wider than the screen: a page that scrolls sideways cuts off
its navigation or its content. Screenshots go to var/test-artifacts/narrow/.
"""

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from integrations.models import Connection
from tests.builder.conftest import CHROMIUM, make_author

ARTIFACTS = Path(settings.BASE_DIR) / "var" / "test-artifacts" / "narrow"
PASSWORD = "correct-horse-battery"
# A long host and database name with no place to break a line.
LONG_ACCOUNT_ID = (
    "postgresql://warehouse_loader:***@warehouse-primary.analytics.example-company"
    ".internal:5432/analytics_production_reporting_warehouse"
)
LONG_REFUSED_URL = (
    "postgresql://warehouse_loader:pw-1@127.0.0.1:9/"
    "analytics_production_reporting_warehouse_with_a_long_name"
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]


def measure_widths(page) -> dict:
    return page.evaluate(
        "({scrollWidth: document.documentElement.scrollWidth,"
        " innerWidth: window.innerWidth})"
    )


def test_pages_fit_phone_screen(server, browser_page, workspace, tutorial):
    try:
        workspace.name = "Acme Corporation International Holdings"
        workspace.save(update_fields=["name"])
        author = make_author(workspace, "ada.lovelace")
        author.is_staff = True
        author.save(update_fields=["is_staff"])
        Connection.objects.create(
            workspace=workspace,
            app="warehouse",
            account_id=LONG_ACCOUNT_ID,
            credentials="{}",
        )
        workflow = tutorial.workflows.order_by("pk").first()
        version = workflow.versions.order_by("pk").first()
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        ARTIFACTS.mkdir(parents=True)

        page = browser_page
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{server.url}/builder/")
        page.fill("#id_username", "ada.lovelace")
        page.fill("#id_password", PASSWORD)
        page.click("button:has-text('Sign in')")
        page.wait_for_selector("nav[aria-label=Main]")

        paths = {
            "integrations": "/builder/",
            "overview": "/builder/overview",
            "runs": "/builder/runs",
            "warehouse": "/builder/warehouse",
            "integration-new": "/builder/integrations/new",
            "integration": f"/builder/integrations/{tutorial.pk}",
            "workflow": f"/builder/workflows/{workflow.pk}",
            "editor": f"/builder/versions/{version.pk}",
        }
        for name, path in paths.items():
            page.goto(f"{server.url}{path}")
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            sizes = measure_widths(page)
            assert sizes["scrollWidth"] <= sizes["innerWidth"], (name, sizes)

        page.goto(f"{server.url}/builder/warehouse")
        assert page.locator(f"code:has-text('{LONG_ACCOUNT_ID}')").is_visible()
        page.fill("#id_url", LONG_REFUSED_URL)
        page.click("button:has-text('Connect')")
        page.wait_for_selector("text=Could not connect to the warehouse")
        page.screenshot(path=str(ARTIFACTS / "warehouse-refused.png"), full_page=True)
        sizes = measure_widths(page)
        assert sizes["scrollWidth"] <= sizes["innerWidth"], ("refused", sizes)
    finally:
        connections.close_all()
