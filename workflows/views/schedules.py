"""The Schedule trigger in the editor: the next firing times, saved or as typed."""

import zoneinfo
from datetime import datetime
from functools import cache
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from connectors import schedule
from connectors.schedule.cron import CronError
from integrations.access import workspace_required
from workflows.models import Block
from workflows.services.schedules import next_firings

PREVIEW_COUNT = 5


@cache
def timezone_names() -> list[str]:
    """Return the IANA zone names zoneinfo can load, for the time zone's datalist."""
    return sorted(zoneinfo.available_timezones())


def firing_label(instant: datetime) -> dict[str, str]:
    """Describe a firing in ISO 8601 and as text, e.g. Sun 29 Mar 2026, 02:00 BST."""
    offset = instant.isoformat()[-6:]
    return {
        "iso": instant.isoformat(),
        "local": f"{instant:%a %d %b %Y, %H:%M} {instant.tzname()} (UTC{offset})",
    }


def schedule_preview_of(cron: str, zone_name: str) -> dict[str, Any]:
    """Return ``{"firings": [...]}`` or ``{"errors": {field: message}}``."""
    problems = schedule.config_problems({"cron": cron, "timezone": zone_name}, path="$")
    if problems:
        return {"errors": {p["path"][2:]: p["message"] for p in problems}}
    try:
        instants = next_firings(
            cron=cron, zone_name=zone_name, after=timezone.now(), count=PREVIEW_COUNT
        )
    except CronError as exc:
        return {"errors": {"cron": exc.message}}
    return {"firings": [firing_label(instant) for instant in instants]}


def schedule_context(trigger: Block) -> dict[str, Any]:
    """Template context for the trigger form: zone names and the saved preview."""
    context: dict[str, Any] = {"timezone_names": timezone_names()}
    if trigger.connector == schedule.SCHEDULE:
        preview = schedule_preview_of(
            trigger.config.get("cron", ""), trigger.config.get("timezone", "")
        )
        context["schedule_firings"] = preview.get("firings", [])
    return context


@workspace_required
@require_GET
def schedule_preview(request: HttpRequest) -> JsonResponse:
    """Preview a cron expression and time zone as typed, for the trigger form.

    Returns 200 with the next five firings, or 422 with a message per field.
    """
    cron = request.GET.get("cron", "").strip()
    zone_name = request.GET.get("timezone", "").strip()
    preview = schedule_preview_of(cron, zone_name)
    return JsonResponse(preview, status=422 if "errors" in preview else 200)
