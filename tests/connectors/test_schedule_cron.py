"""Cron parsing and evaluation, across daylight saving changes and odd zones."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from connectors.schedule.cron import CronError, CronExpression, timezone_parse

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
ADELAIDE = ZoneInfo("Australia/Adelaide")
KOLKATA = ZoneInfo("Asia/Kolkata")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def firings(expression: str, zone: ZoneInfo, after: datetime, count: int) -> list:
    instants = CronExpression.parse(expression).iter_after(after, zone)
    return [next(instants).isoformat() for _ in range(count)]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/15 * * * *", utc(2026, 5, 1, 10, 7), ["10:15", "10:30", "10:45"]),
        ("0 9-17/4 * * *", utc(2026, 5, 1, 0, 0), ["09:00", "13:00", "17:00"]),
        ("5,10 8 * * *", utc(2026, 5, 1, 0, 0), ["08:05", "08:10", "08:05"]),
        ("50/5 * * * *", utc(2026, 5, 1, 10, 0), ["10:50", "10:55", "11:50"]),
        ("@hourly", utc(2026, 5, 1, 10, 0), ["11:00", "12:00", "13:00"]),
    ],
)
def test_times_of_day_in_utc(expression, after, expected):
    instants = CronExpression.parse(expression).iter_after(after, ZoneInfo("UTC"))
    assert [next(instants).strftime("%H:%M") for _ in expected] == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # 1 May 2026 is a Friday.
        ("0 9 * * mon-fri", ["2026-05-01", "2026-05-04", "2026-05-05"]),
        ("0 9 * * SAT,sun", ["2026-05-02", "2026-05-03", "2026-05-09"]),
        ("0 9 * * 7", ["2026-05-03", "2026-05-10", "2026-05-17"]),
        ("0 9 * * 5-7", ["2026-05-01", "2026-05-02", "2026-05-03"]),
        ("0 9 31 * *", ["2026-05-31", "2026-07-31", "2026-08-31"]),
        ("0 9 1 jan,jul *", ["2026-07-01", "2027-01-01", "2027-07-01"]),
        ("@weekly", ["2026-05-03", "2026-05-10", "2026-05-17"]),
        ("@monthly", ["2026-06-01", "2026-07-01", "2026-08-01"]),
        ("@daily", ["2026-05-02", "2026-05-03", "2026-05-04"]),
        ("@yearly", ["2027-01-01", "2028-01-01", "2029-01-01"]),
        ("0 0 29 2 *", ["2028-02-29", "2032-02-29", "2036-02-29"]),
        ("0 9 */10 * *", ["2026-05-01", "2026-05-11", "2026-05-21"]),
    ],
)
def test_days_in_utc(expression, expected):
    instants = CronExpression.parse(expression).iter_after(
        utc(2026, 5, 1, 8, 0), ZoneInfo("UTC")
    )
    assert [next(instants).date().isoformat() for _ in expected] == expected


def test_day_of_month_or_day_of_week():
    # The 13th or any Friday: both fields are restricted, so either matches.
    dates = firings("0 12 13 * fri", ZoneInfo("UTC"), utc(2026, 2, 1), 4)
    assert [d[:10] for d in dates] == [
        "2026-02-06",
        "2026-02-13",
        "2026-02-20",
        "2026-02-27",
    ]


def test_star_step_day_of_month_uses_and():
    # "*/2" starts with "*", so only the day of week restricts the day.
    dates = firings("0 12 */2 * mon", ZoneInfo("UTC"), utc(2026, 6, 1), 3)
    assert [d[:10] for d in dates] == ["2026-06-01", "2026-06-15", "2026-06-29"]


@pytest.mark.parametrize(
    "expression",
    [
        "*/7 * * * *",
        "0 */5 * * *",
        "15 10 1,15 * *",
        "0 0 * * 1-5",
        "30 6 * 2-11/3 *",
        "0 12 13 * 5",
        "45 23 28-31 * *",
    ],
)
def test_matches_croniter_in_utc(expression):
    start = utc(2026, 1, 30, 22, 0)
    reference = croniter(expression, start)
    ours = CronExpression.parse(expression).iter_after(start, ZoneInfo("UTC"))
    for _ in range(40):
        assert next(ours) == reference.get_next(datetime)


def test_london_spring_forward_fixed_hour():
    # Clocks go from 01:00 GMT to 02:00 BST on 29 March 2026.
    assert firings("30 1 * * *", LONDON, utc(2026, 3, 27, 12), 3) == [
        "2026-03-28T01:30:00+00:00",
        "2026-03-29T02:00:00+01:00",
        "2026-03-30T01:30:00+01:00",
    ]


def test_spring_forward_collapses_skipped_times():
    assert firings("*/20 1 * * *", LONDON, utc(2026, 3, 29, 0), 2) == [
        "2026-03-29T02:00:00+01:00",
        "2026-03-30T01:00:00+01:00",
    ]


def test_spring_forward_gap_and_next_hour_fire_once():
    # 01:00 is skipped and moves to 02:00 BST, which the expression also names.
    assert firings("0 1,2 * * *", LONDON, utc(2026, 3, 29, 0), 2) == [
        "2026-03-29T02:00:00+01:00",
        "2026-03-30T01:00:00+01:00",
    ]


def test_london_spring_forward_wildcard_hour():
    assert firings("30 * * * *", LONDON, utc(2026, 3, 29, 0), 3) == [
        "2026-03-29T00:30:00+00:00",
        "2026-03-29T02:30:00+01:00",
        "2026-03-29T03:30:00+01:00",
    ]


def test_london_fall_back_fixed_hour_once():
    # Clocks go from 02:00 BST back to 01:00 GMT on 25 October 2026.
    assert firings("30 1 * * *", LONDON, utc(2026, 10, 24, 12), 2) == [
        "2026-10-25T01:30:00+01:00",
        "2026-10-26T01:30:00+00:00",
    ]


def test_london_fall_back_wildcard_hour_twice():
    assert firings("30 * * * *", LONDON, utc(2026, 10, 24, 23, 15), 4) == [
        "2026-10-25T00:30:00+01:00",
        "2026-10-25T01:30:00+01:00",
        "2026-10-25T01:30:00+00:00",
        "2026-10-25T02:30:00+00:00",
    ]


def test_fall_back_step_hour_every_real_interval():
    assert firings("0 */1 * * *", LONDON, utc(2026, 10, 24, 23, 30), 3) == [
        "2026-10-25T01:00:00+01:00",
        "2026-10-25T01:00:00+00:00",
        "2026-10-25T02:00:00+00:00",
    ]


def test_new_york_spring_forward():
    # 02:00 EST jumps to 03:00 EDT on 8 March 2026.
    assert firings("30 2 * * *", NEW_YORK, utc(2026, 3, 7, 12), 3) == [
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:30:00-04:00",
        "2026-03-10T02:30:00-04:00",
    ]


def test_new_york_fall_back():
    # 02:00 EDT goes back to 01:00 EST on 1 November 2026.
    assert firings("15 1 * * *", NEW_YORK, utc(2026, 10, 31, 12), 2) == [
        "2026-11-01T01:15:00-04:00",
        "2026-11-02T01:15:00-05:00",
    ]


def test_new_york_weekdays_keep_local_time():
    dates = firings("0 9 * * mon-fri", NEW_YORK, utc(2026, 3, 5), 3)
    assert dates == [
        "2026-03-05T09:00:00-05:00",
        "2026-03-06T09:00:00-05:00",
        "2026-03-09T09:00:00-04:00",
    ]


def test_adelaide_half_hour_offset_dst():
    # Adelaide goes from +09:30 at 02:00 to +10:30 on 4 October 2026.
    assert firings("30 2 * * *", ADELAIDE, utc(2026, 10, 2), 3) == [
        "2026-10-03T02:30:00+09:30",
        "2026-10-04T03:00:00+10:30",
        "2026-10-05T02:30:00+10:30",
    ]


def test_adelaide_fall_back_wildcard_hour():
    # Adelaide goes from 03:00 +10:30 back to 02:00 +09:30 on 5 April 2026.
    assert firings("45 */1 * * *", ADELAIDE, utc(2026, 4, 4, 15), 3) == [
        "2026-04-05T01:45:00+10:30",
        "2026-04-05T02:45:00+10:30",
        "2026-04-05T02:45:00+09:30",
    ]


def test_kolkata_half_hour_offset():
    assert firings("0 9 * * *", KOLKATA, utc(2026, 5, 1), 2) == [
        "2026-05-01T09:00:00+05:30",
        "2026-05-02T09:00:00+05:30",
    ]


def test_lord_howe_half_hour_gap():
    # Lord Howe Island moves 30 minutes, from 02:00 to 02:30, on 4 October 2026.
    assert firings("15 2 * * *", LORD_HOWE, utc(2026, 10, 2), 3) == [
        "2026-10-03T02:15:00+10:30",
        "2026-10-04T02:30:00+11:00",
        "2026-10-05T02:15:00+11:00",
    ]


def test_next_after_is_strictly_after():
    instant = datetime(2026, 5, 1, 9, 0, tzinfo=LONDON)
    expression = CronExpression.parse("0 9 * * *")
    assert expression.next_after(instant, LONDON).isoformat() == (
        "2026-05-02T09:00:00+01:00"
    )


def test_naive_instant_rejected():
    with pytest.raises(ValueError, match="aware"):
        CronExpression.parse("@daily").next_after(datetime(2026, 5, 1), LONDON)  # noqa: DTZ001


@pytest.mark.parametrize(
    ("expression", "field", "message"),
    [
        ("61 * * * *", "minute", "minute field '61' is out of range 0-59."),
        ("0 24 * * *", "hour", "hour field '24' is out of range 0-23."),
        ("0 0 0 * *", "day-of-month", "day-of-month field '0' is out of range 1-31"),
        ("0 0 * 13 *", "month", "month field '13' is out of range 1-12."),
        ("0 0 * * 8", "day-of-week", "day-of-week field '8' is out of range 0-7."),
        ("0 0 * foo *", "month", "'foo' is not a number or a month name"),
        ("0 0 * * funday", "day-of-week", "'funday' is not a number or a day name"),
        ("*/0 * * * *", "minute", "step 0; use a step from 1 to 60"),
        ("*/61 * * * *", "minute", "step 61; use a step from 1 to 60"),
        ("30-10 * * * *", "minute", "range that runs backwards"),
        ("0 0 * * fri-mon", "day-of-week", "range that runs backwards"),
        ("1,,2 * * * *", "minute", "field '1,,2' is not a value"),
        ("0 0 * * ? ", "day-of-week", "field '?' is not a value"),
        ("0 0 30 feb *", "day-of-month", "never occurs in month field 'feb'"),
        ("0 0 31 4,6 *", "day-of-month", "never occurs in month field '4,6'"),
        ("* * * *", "expression", "has 4 fields; expected 5"),
        ("0 0 * * * 2026", "expression", "has 6 fields; expected 5"),
        ("", "expression", "empty"),
        ("@reboot", "expression", "'@reboot' is not a cron shortcut"),
    ],
)
def test_parse_errors_name_field(expression, field, message):
    with pytest.raises(CronError) as excinfo:
        CronExpression.parse(expression)
    assert excinfo.value.field == field
    assert message in excinfo.value.message


def test_thirtieth_february_with_weekday_allowed():
    # With a restricted day of week the OR rule still finds days.
    expression = CronExpression.parse("0 0 30 feb mon")
    assert expression.next_after(utc(2026, 1, 1), LONDON).date().isoformat() == (
        "2026-02-02"
    )


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "/etc/hosts"])
def test_unknown_timezone_rejected(name):
    with pytest.raises(CronError) as excinfo:
        timezone_parse(name)
    assert excinfo.value.field == "timezone"


def test_timezone_message_names_value():
    with pytest.raises(CronError, match="timezone 'Mars/Olympus' is not a known"):
        timezone_parse("Mars/Olympus")
