"""The Schedule trigger edited in headless Chromium: live preview and field errors.

Screenshots go to var/test-artifacts/schedule/.
"""

from pathlib import Path

import pytest
from django.db import connections

from tests.builder.conftest import CHROMIUM, make_author
from tests.builder.test_browser import ARTIFACTS, PASSWORD
from workflows.models import Block, Workflow

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]

SHOTS = Path(ARTIFACTS).parent / "schedule"


def test_schedule_trigger_in_browser(server, browser_page, workspace):
    page = browser_page
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        from workflows.tutorial import tutorial_integration_create

        integration = tutorial_integration_create(
            workspace=workspace, stream_base_url="http://127.0.0.1:9/acme"
        )
        make_author(workspace, "ada")
        page.goto(f"{server.url}/builder/integrations/{integration.pk}")
        page.fill("#id_username", "ada")
        page.fill("#id_password", PASSWORD)
        page.click("button:has-text('Sign in')")
        page.fill("#id_name", "Weekday digest")
        page.select_option("#id_trigger", "schedule.schedule")
        page.click("text=Create workflow")
        page.wait_for_selector("#trigger-form")

        assert page.is_visible("#id_cron")
        assert not page.is_visible("#id_event_name")
        page.fill("#id_cron", "0 9 * * mon-fri")
        page.fill("#id_timezone", "Australia/Adelaide")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.schedule-preview time')]"
            ".every(t => t.textContent.includes('09:00 ACDT')"
            " || t.textContent.includes('09:00 ACST'))"
        )
        firings = page.locator(".schedule-preview time").all_text_contents()
        assert len(firings) == 5
        assert not any(text.startswith(("Sat", "Sun")) for text in firings)
        page.screenshot(path=str(SHOTS / "01-schedule-preview.png"), full_page=True)

        page.fill("#id_cron", "0 9 * * funday")
        error = page.locator(".field:has(#id_cron) .error.live")
        error.wait_for()
        assert error.text_content() == (
            "day-of-week field 'funday' is not a number or a day name (sun-sat)."
        )
        assert page.locator(".schedule-preview time").count() == 0
        page.screenshot(path=str(SHOTS / "02-schedule-error.png"), full_page=True)

        page.fill("#id_cron", "30 2 * * *")
        page.wait_for_selector(".field:has(#id_cron) .error.live", state="hidden")
        page.click("text=Save trigger")
        page.wait_for_selector("text=Trigger saved.")
        workflow = Workflow.objects.get(name="Weekday digest")
        trigger = Block.objects.get(version__workflow=workflow, kind="trigger")
        assert trigger.config == {
            "cron": "30 2 * * *",
            "timezone": "Australia/Adelaide",
        }
    finally:
        connections.close_all()
