"""The Schedule trigger: runs a workflow at the times of a cron expression.

The trigger's settings are ``cron`` (see :mod:`connectors.schedule.cron`) and
``timezone``, an IANA name. Each firing gives every installation that runs
the version one event with the data below.
"""

from datetime import datetime
from typing import Any

from connectors.registry import Connector, Trigger, register
from connectors.schedule.cron import CronError, CronExpression, timezone_parse

SCHEDULE = "schedule"
CONFIG_KEYS = ("cron", "timezone")
# A new workflow's first schedule, every day at 09:00 UTC, until the author
# sets the real one.
DEFAULT_CONFIG = {"cron": "0 9 * * *", "timezone": "UTC"}

OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "scheduled_at": {
            "type": "string",
            "format": "date-time",
            "description": "The planned firing instant, ISO 8601 with the "
            "time zone's offset.",
        },
        "fired_at": {
            "type": "string",
            "format": "date-time",
            "description": "When the firing started, ISO 8601 with the offset.",
        },
        "timezone": {
            "type": "string",
            "description": "The schedule's IANA time zone, e.g. Europe/London.",
        },
        "cron": {"type": "string", "description": "The schedule's cron expression."},
        "local_date": {
            "type": "string",
            "format": "date",
            "description": "The planned instant's date in the time zone.",
        },
        "local_time": {
            "type": "string",
            "description": "The planned instant's wall-clock time, HH:MM.",
        },
    },
    "required": ["scheduled_at", "fired_at", "timezone", "cron"],
}

SAMPLE: dict[str, Any] = {
    "scheduled_at": "2026-03-29T09:00:00+01:00",
    "fired_at": "2026-03-29T09:00:00.412000+01:00",
    "timezone": "Europe/London",
    "cron": "0 9 * * *",
    "local_date": "2026-03-29",
    "local_time": "09:00",
}


def config_problems(config: dict[str, Any], *, path: str) -> list[dict[str, str]]:
    """Return a problem for the cron expression and one for the time zone, if bad.

    Each message names the field, the value and what is expected.
    """
    problems = []
    try:
        CronExpression.parse(config.get("cron", ""))
    except CronError as exc:
        problems.append({"path": f"{path}.cron", "message": exc.message})
    try:
        timezone_parse(config.get("timezone", ""))
    except CronError as exc:
        problems.append({"path": f"{path}.timezone", "message": exc.message})
    return problems


def firing_data(
    *, cron: str, zone_name: str, scheduled_at: datetime, fired_at: datetime
) -> dict[str, Any]:
    """Build one firing's event data; both instants are shown in the zone."""
    zone = timezone_parse(zone_name)
    local = scheduled_at.astimezone(zone)
    return {
        "scheduled_at": local.isoformat(),
        "fired_at": fired_at.astimezone(zone).isoformat(),
        "timezone": zone_name,
        "cron": cron,
        "local_date": local.date().isoformat(),
        "local_time": local.strftime("%H:%M"),
    }


connector = register(
    Connector(
        key=SCHEDULE,
        title="Schedule",
        triggers={
            SCHEDULE: Trigger(
                connector=SCHEDULE,
                name=SCHEDULE,
                title="Schedule",
                description=(
                    "Starts a run for every installation at the times of a cron "
                    "expression, in the time zone you choose."
                ),
                output_schema=OUTPUT_SCHEMA,
                sample=SAMPLE,
            )
        },
    )
)
