"""The Schedule trigger in the builder: its inputs, the preview and its errors."""

import re

import pytest

from workflows.models import Block, WorkflowVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def schedule_version(author_client, tutorial) -> WorkflowVersion:
    author_client.post(
        f"/builder/integrations/{tutorial.pk}/workflows",
        {"name": "Nightly report", "trigger": "schedule.schedule"},
    )
    return WorkflowVersion.objects.get(workflow__name="Nightly report")


def save_trigger(client, version, **fields):
    data = {"trigger": "schedule.schedule", "field-TOTAL_FORMS": "0"}
    data["field-INITIAL_FORMS"] = "0"
    data.update(fields)
    return client.post(f"/builder/versions/{version.pk}/trigger", data)


def field_errors(page: str, name: str) -> list[str]:
    """Return the error messages in the field block of input ``name``."""
    block = re.search(
        rf'<div class="field[^"]*">\s*<label for="id_{name}">.*?</div>', page, re.S
    )
    assert block, f"no field {name} on the page"
    return re.findall(r'<p class="error" role="alert">(.*?)</p>', block.group(0))


def test_workflow_create_offers_schedule(author_client, tutorial):
    page = author_client.get(f"/builder/integrations/{tutorial.pk}").content.decode()
    assert 'value="schedule.schedule"' in page


def test_schedule_not_an_app(author_client):
    page = author_client.get("/builder/integrations/new").content.decode()
    assert 'value="schedule"' not in page


def test_save_schedule_trigger(author_client, schedule_version):
    response = save_trigger(
        author_client,
        schedule_version,
        cron="0 9 * * mon-fri",
        timezone="America/New_York",
    )
    trigger = Block.objects.get(version=schedule_version, kind="trigger")
    assert response.status_code == 302
    assert trigger.config == {"cron": "0 9 * * mon-fri", "timezone": "America/New_York"}


def test_editor_previews_five_firings(author_client, schedule_version):
    save_trigger(
        author_client, schedule_version, cron="30 2 * * *", timezone="Asia/Kolkata"
    )
    page = author_client.get(
        f"/builder/versions/{schedule_version.pk}?block=trigger"
    ).content.decode()
    preview = re.search(r'<ol class="schedule-preview".*?</ol>', page, re.S).group(0)
    times = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', preview)
    assert len(times) == 5
    assert all(iso.endswith("T02:30:00+05:30") for iso, _ in times)
    assert all(text.endswith("02:30 IST (UTC+05:30)") for _, text in times)


def test_bad_cron_error_next_to_field(author_client, schedule_version):
    response = save_trigger(
        author_client, schedule_version, cron="61 * * * *", timezone="UTC"
    )
    page = response.content.decode()
    assert response.status_code == 422
    assert field_errors(page, "cron") == [
        "minute field &#x27;61&#x27; is out of range 0-59."
    ]
    assert field_errors(page, "timezone") == []


def test_bad_timezone_error_next_to_field(author_client, schedule_version):
    response = save_trigger(
        author_client, schedule_version, cron="@daily", timezone="Europe/Lndon"
    )
    errors = field_errors(response.content.decode(), "timezone")
    assert len(errors) == 1
    assert "timezone &#x27;Europe/Lndon&#x27; is not a known time zone" in errors[0]


def test_empty_schedule_rejected(author_client, schedule_version):
    response = save_trigger(author_client, schedule_version, cron="", timezone="")
    page = response.content.decode()
    assert "The cron expression is empty" in field_errors(page, "cron")[0]
    assert "The time zone is empty" in field_errors(page, "timezone")[0]


def test_preview_endpoint_lists_firings(author_client):
    response = author_client.get(
        "/builder/schedule-preview",
        {"cron": "0 3 * * sun", "timezone": "Europe/London"},
    )
    firings = response.json()["firings"]
    assert response.status_code == 200
    assert len(firings) == 5
    assert all(f["local"].startswith("Sun ") for f in firings)


def test_preview_endpoint_reports_errors(author_client):
    response = author_client.get(
        "/builder/schedule-preview", {"cron": "0 0 * * funday", "timezone": "Mars"}
    )
    errors = response.json()["errors"]
    assert response.status_code == 422
    assert errors["cron"] == (
        "day-of-week field 'funday' is not a number or a day name (sun-sat)."
    )
    assert "timezone 'Mars'" in errors["timezone"]


def test_preview_endpoint_requires_sign_in(client):
    response = client.get("/builder/schedule-preview", {"cron": "@daily"})
    assert response.status_code == 302


def test_mapping_picker_lists_schedule_fields(author_client, schedule_version):
    save_trigger(
        author_client, schedule_version, cron="@hourly", timezone="Europe/London"
    )
    author_client.post(
        f"/builder/versions/{schedule_version.pk}/actions",
        {"key": "notify", "action": "http.post_json"},
    )
    page = author_client.get(
        f"/builder/versions/{schedule_version.pk}?block=notify"
    ).content.decode()
    for name in ("scheduled_at", "fired_at", "timezone", "cron"):
        assert f'data-path="event.{name}"' in page
