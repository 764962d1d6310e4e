"""Cron expressions: parse the five standard fields and find their firing instants.

An expression has five fields separated by spaces: minute (0-59), hour (0-23),
day of month (1-31), month (1-12 or jan-dec) and day of week (0-7 or sun-sat,
where both 0 and 7 are Sunday). Each field is a comma-separated list of ``*``,
a value ``5``, a range ``1-5`` or ``mon-fri``, and any of those followed by a
step: ``*/15``, ``8-18/2``, or ``10/20`` (from 10 to the field's maximum).
Names are case-insensitive. The shortcuts ``@hourly``, ``@daily`` (or
``@midnight``), ``@weekly``, ``@monthly`` and ``@yearly`` (or ``@annually``)
stand for ``0 * * * *``, ``0 0 * * *``, ``0 0 * * 0``, ``0 0 1 * *`` and
``0 0 1 1 *``.

Day rule: when both the day-of-month and the day-of-week fields are
restricted (neither starts with ``*``), a day matches if either field matches,
so ``0 9 1 * mon`` fires on the 1st and on every Monday. When one of them
starts with ``*``, only the other one restricts the day.

Times are wall-clock times in the schedule's IANA time zone. Daylight saving
changes follow these rules, the same ones Vixie cron applies:

- A local time skipped when clocks go forward does not exist. If the hour
  field is fixed (it does not start with ``*``), that time fires once, at the
  first instant after the gap: ``30 1 * * *`` in Europe/London fires at 02:00
  BST on the last Sunday of March. Several skipped times collapse into that
  one firing. If the hour field is ``*`` or a ``*/n`` step, skipped times do
  not fire, because the schedule keeps firing at the real instants whose
  wall-clock time matches.
- A local time repeated when clocks go back fires once, at its first
  occurrence, if the hour field is fixed. If the hour field is ``*`` or a
  ``*/n`` step, it fires at both instants, so ``0 * * * *`` still fires every
  real hour.

Every instant this module returns is an aware datetime in the schedule's zone.
Compare such instants after converting them to UTC: two aware datetimes with
the same zone compare by wall-clock time and ignore ``fold`` (PEP 495), so
the two occurrences of a repeated time would compare equal.
"""

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Maximum length of an expression; real ones are a few dozen characters.
MAX_EXPRESSION_LENGTH = 200
# A valid expression fires at least once in eight years (29 February under the
# day rule); searching a little further proves that one never fires.
_SEARCH_DAYS = 366 * 9

SHORTCUTS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

_MONTH_NAMES = {
    name.lower(): number
    for number, name in enumerate(calendar.month_abbr)
    if name  # month_abbr[0] is ""
}
_WEEKDAY_NAMES = {
    "sun": 0,
    "mon": 1,
    "tue": 2,
    "wed": 3,
    "thu": 4,
    "fri": 5,
    "sat": 6,
}
_ITEM = re.compile(r"^(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>[0-9]+))?\Z")


class CronError(ValueError):
    """An expression or time zone that does not parse; ``field`` names the part."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    low: int
    high: int
    names: dict[str, int] | None = None
    # What a value may be, for error messages.
    expected: str = "a number"


_FIELDS = (
    _FieldSpec("minute", 0, 59),
    _FieldSpec("hour", 0, 23),
    _FieldSpec("day-of-month", 1, 31),
    _FieldSpec("month", 1, 12, _MONTH_NAMES, "a number or a month name (jan-dec)"),
    # 7 is accepted as Sunday and folded into 0 after parsing.
    _FieldSpec("day-of-week", 0, 7, _WEEKDAY_NAMES, "a number or a day name (sun-sat)"),
)


@dataclass(frozen=True)
class CronExpression:
    """A parsed expression: the allowed values of each field, and its source text."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: frozenset[int]
    months: frozenset[int]
    # Cron numbering: 0 is Sunday.
    days_of_week: frozenset[int]
    day_of_month_wildcard: bool
    day_of_week_wildcard: bool
    # True when the hour field starts with "*": daylight saving changes then
    # follow real instants instead of the fixed-time rule.
    hour_wildcard: bool

    @classmethod
    def parse(cls, text: str) -> "CronExpression":
        """Parse an expression; raise CronError naming the field and the value."""
        if not isinstance(text, str) or not text.strip():
            raise CronError(
                "The cron expression is empty; enter five fields such as "
                "'0 9 * * mon-fri', or a shortcut such as @daily.",
                field="expression",
            )
        if len(text) > MAX_EXPRESSION_LENGTH:
            raise CronError(
                f"The cron expression is longer than {MAX_EXPRESSION_LENGTH} "
                "characters.",
                field="expression",
            )
        source = text.strip()
        expanded = source
        if source.startswith("@"):
            expanded = SHORTCUTS.get(source.lower(), "")
            if not expanded:
                raise CronError(
                    f"{source!r} is not a cron shortcut; use one of "
                    f"{', '.join(SHORTCUTS)}.",
                    field="expression",
                )
        parts = expanded.lower().split()
        if len(parts) != len(_FIELDS):
            raise CronError(
                f"The cron expression {source!r} has {len(parts)} field"
                f"{'' if len(parts) == 1 else 's'}; expected 5: minute hour "
                "day-of-month month day-of-week.",
                field="expression",
            )
        values = [
            _parse_field(part, spec) for part, spec in zip(parts, _FIELDS, strict=True)
        ]
        days_of_week = frozenset(day % 7 for day in values[4])
        expression = cls(
            text=source,
            minutes=tuple(sorted(values[0])),
            hours=tuple(sorted(values[1])),
            days_of_month=frozenset(values[2]),
            months=frozenset(values[3]),
            days_of_week=days_of_week,
            day_of_month_wildcard=parts[2].startswith("*"),
            day_of_week_wildcard=parts[4].startswith("*"),
            hour_wildcard=parts[1].startswith("*"),
        )
        expression._reject_impossible_days(parts)
        return expression

    def matches_day(self, day: date) -> bool:
        """Return whether the expression fires on a calendar day, by the day rule."""
        if day.month not in self.months:
            return False
        in_month = day.day in self.days_of_month
        in_week = (day.weekday() + 1) % 7 in self.days_of_week
        if self.day_of_month_wildcard or self.day_of_week_wildcard:
            return in_month and in_week
        return in_month or in_week

    def next_after(self, instant: datetime, zone: ZoneInfo) -> datetime:
        """Return the first firing instant strictly after ``instant``, in ``zone``.

        ``instant`` must be aware. Raises CronError if the expression never
        fires, which ``parse`` already rules out for a valid expression.
        """
        return next(self.iter_after(instant, zone))

    def iter_after(self, instant: datetime, zone: ZoneInfo) -> Iterator[datetime]:
        """Yield the firing instants after ``instant`` in order, each in ``zone``."""
        if instant.tzinfo is None:
            raise ValueError("instant must be an aware datetime")
        # Aware datetimes in one zone compare by wall time and ignore fold
        # (PEP 495), so every comparison here is made in UTC.
        after = instant.astimezone(UTC)
        day = instant.astimezone(zone).date() - timedelta(days=1)
        days_without_firing = 0
        while days_without_firing < _SEARCH_DAYS:
            days_without_firing += 1
            if self.matches_day(day):
                for candidate in self._day_instants(day, zone):
                    if candidate > after:
                        days_without_firing = 0
                        yield candidate.astimezone(zone)
            day += timedelta(days=1)
        raise CronError(
            f"The cron expression {self.text!r} never fires.", field="expression"
        )

    def _day_instants(self, day: date, zone: ZoneInfo) -> list[datetime]:
        """Map the day's matching wall-clock times to UTC instants, by the DST rules."""
        instants: set[datetime] = set()
        for hour in self.hours:
            for minute in self.minutes:
                wall = datetime.combine(day, time(hour, minute))
                instants.update(self._resolve(wall, zone))
        return sorted(instants)

    def _resolve(self, wall: datetime, zone: ZoneInfo) -> list[datetime]:
        first = wall.replace(tzinfo=zone, fold=0)
        second = wall.replace(tzinfo=zone, fold=1)
        if first.utcoffset() == second.utcoffset():
            return [first.astimezone(UTC)]
        if _exists(first):
            # Clocks went back: the wall time occurs twice.
            if self.hour_wildcard:
                return [first.astimezone(UTC), second.astimezone(UTC)]
            return [first.astimezone(UTC)]
        # Clocks went forward: the wall time is in the gap.
        if self.hour_wildcard:
            return []
        return [_gap_end(wall, zone)]

    def _reject_impossible_days(self, parts: list[str]) -> None:
        # A restricted day of week always occurs, under either day rule.
        if not self.day_of_week_wildcard:
            return
        longest = max(_days_in_month(month) for month in self.months)
        if min(self.days_of_month) > longest:
            raise CronError(
                f"day-of-month field {parts[2]!r} never occurs in month field "
                f"{parts[3]!r}, which has at most {longest} days; the schedule "
                "would never fire.",
                field="day-of-month",
            )


def timezone_parse(name: str) -> ZoneInfo:
    """Return the IANA time zone ``name``; raise CronError if there is none."""
    expected = "an IANA time zone name such as 'Europe/London' or 'UTC'"
    if not isinstance(name, str) or not name.strip():
        raise CronError(f"The time zone is empty; enter {expected}.", field="timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError covers keys that are not names, such as absolute paths.
        raise CronError(
            f"timezone {name!r} is not a known time zone; enter {expected}.",
            field="timezone",
        ) from None


def _parse_field(text: str, spec: _FieldSpec) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        match = _ITEM.match(item)
        if not match:
            raise CronError(
                f"{spec.name} field {item or text!r} is not a value, a range such "
                "as 1-5, '*' or a step such as */15.",
                field=spec.name,
            )
        start, end = _parse_range(match["range"], spec, item)
        step = 1
        if match["step"] is not None:
            step = int(match["step"])
            count = spec.high - spec.low + 1
            if step < 1 or step > count:
                raise CronError(
                    f"{spec.name} field {item!r} has step {step}; use a step "
                    f"from 1 to {count}.",
                    field=spec.name,
                )
            if "-" not in match["range"] and match["range"] != "*":
                # "10/20" runs from 10 to the field's maximum.
                end = spec.high
        values.update(range(start, end + 1, step))
    return values


def _parse_range(text: str, spec: _FieldSpec, item: str) -> tuple[int, int]:
    if text == "*":
        high = 6 if spec.name == "day-of-week" else spec.high
        return spec.low, high
    first, _, last = text.partition("-")
    start = _parse_value(first, spec)
    end = _parse_value(last, spec) if last else start
    if start > end:
        raise CronError(
            f"{spec.name} field {item!r} is a range that runs backwards; write "
            "it from low to high, or as two ranges joined by a comma.",
            field=spec.name,
        )
    return start, end


def _parse_value(text: str, spec: _FieldSpec) -> int:
    if text.isdigit():
        value = int(text)
    elif spec.names is not None and text in spec.names:
        value = spec.names[text]
    else:
        raise CronError(
            f"{spec.name} field {text!r} is not {spec.expected}.", field=spec.name
        )
    if not spec.low <= value <= spec.high:
        raise CronError(
            f"{spec.name} field {text!r} is out of range {spec.low}-{spec.high}.",
            field=spec.name,
        )
    return value


def _days_in_month(month: int) -> int:
    # 2000 is a leap year, so February counts its 29th.
    return calendar.monthrange(2000, month)[1]


def _exists(aware: datetime) -> bool:
    """Return whether a local time survives a round trip through UTC unchanged."""
    back = aware.astimezone(UTC).astimezone(aware.tzinfo)
    return back.replace(tzinfo=None) == aware.replace(tzinfo=None)


def _gap_end(wall: datetime, zone: ZoneInfo) -> datetime:
    """Return the instant clocks jumped forward over ``wall``, a time in the gap.

    For a time in a gap, fold=1 applies the offset from after the jump and
    fold=0 the offset from before it (PEP 495), so the jump lies between the
    two UTC readings. A binary search over whole seconds finds the first
    instant with the later offset; tzdata transitions fall on whole seconds.
    """
    with_later_offset = wall.replace(tzinfo=zone, fold=1)
    later_offset = with_later_offset.utcoffset()
    low = int(with_later_offset.timestamp())
    high = int(wall.replace(tzinfo=zone, fold=0).timestamp())
    while low < high:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz=zone).utcoffset() == later_offset:
            high = middle
        else:
            low = middle + 1
    return datetime.fromtimestamp(low, tz=UTC)
