"""Durations of process definitions ("5m", "1h", "2 working days", "3 рабочих дня",
"2 рабочих часа") and the Russian production calendar. Pure: no Flask, no database.

Working time, counted the way a Russian office expects:
- the calendar is the production calendar of the `holidays` package: weekends, public
  holidays, the days off moved by government decree and the Saturdays made working days;
- working hours are one window per working day, 09:00–18:00 unless `configure_working_hours`
  says otherwise (the app sets it from WORK_DAY_START / WORK_DAY_END);
- "N working hours" counts only minutes inside that window: Friday 17:00 + 2 working hours
  is the next working day at 10:00, and a start before opening counts from the opening;
- "N working days" from a moment inside working hours keeps the clock time (Tuesday 15:00 +
  1 working day = Wednesday 15:00, the next working day). From a moment outside them (the
  evening, a weekend, a holiday, the early morning) the count starts with the next opening,
  that day is the first, and the deadline is the close of the Nth: a request on Saturday +
  1 working day is due Monday 18:00, Friday 20:00 + 2 working days is Tuesday 18:00.
  Counting backwards ("2 working days before the event at 08:00") always keeps the clock.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

import holidays

UNITS = {
    "minutes": ("m", "min", "mins", "minute", "minutes", "мин", "минута", "минуты", "минут"),
    "hours": ("h", "hr", "hour", "hours", "ч", "час", "часа", "часов"),
    "working_hours": ("wh", "working hour", "working hours", "рабочий час", "рабочих часа",
                      "рабочих часов", "раб. час", "раб. часа", "раб. часов", "раб час",
                      "раб часа", "раб часов"),
    "days": ("d", "day", "days", "д", "день", "дня", "дней"),
    "working_days": ("wd", "working day", "working days", "рабочий день", "рабочих дня",
                     "рабочих дней", "раб. дня", "раб. дней", "раб дня", "раб дней"),
    "weeks": ("w", "week", "weeks", "нед", "неделя", "недели", "недель"),
}
_ALIASES = {alias: unit for unit, aliases in UNITS.items() for alias in aliases}
# "Задача, до сегодня": due at the end of the current day.
END_OF_DAY = ("today", "end of day", "сегодня", "до сегодня", "до конца дня")
_PATTERN = re.compile(r"^\s*(-?\d+)\s*([^\d].*?)\s*$")

DEFAULT_WORK_DAY = (dt.time(9, 0), dt.time(18, 0))
# Module state, not a Flask config lookup, so that the rules stay usable without an app;
# create_app sets it once from the configuration.
_work_start, _work_end = DEFAULT_WORK_DAY


class DurationError(ValueError):
    pass


@dataclass(frozen=True)
class Duration:
    amount: int
    unit: str  # minutes / hours / working_hours / days / working_days / weeks / end_of_day

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}"


def parse_duration(text) -> Duration:
    """'1h' -> Duration(1, 'hours'); a bare number means minutes."""
    if isinstance(text, int):
        return Duration(text, "minutes")
    if " ".join(str(text or "").lower().split()) in END_OF_DAY:
        return Duration(0, "end_of_day")
    match = _PATTERN.match(str(text or "").lower())
    if not match:
        if str(text).strip().lstrip("-").isdigit():
            return Duration(int(text), "minutes")
        raise DurationError(f"непонятная длительность «{text}»: пишите, например, "
                            "«5m», «1h», «1d», «2 working days», «2 рабочих часа», «1w»")
    amount, unit = int(match.group(1)), " ".join(match.group(2).split())
    if unit not in _ALIASES:
        raise DurationError(f"неизвестная единица «{unit}» в длительности «{text}»")
    return Duration(amount, _ALIASES[unit])


# --- working hours ---------------------------------------------------------------------------

def parse_clock(value) -> dt.time:
    """'09:00' (the form of the environment) or a dt.time (a test's config) -> dt.time."""
    if isinstance(value, dt.time):
        return value
    try:
        return dt.time.fromisoformat(str(value).strip())
    except ValueError:
        raise DurationError(f"непонятное время «{value}»: пишите, например, «09:00»") from None


def configure_working_hours(start: dt.time = DEFAULT_WORK_DAY[0],
                            end: dt.time = DEFAULT_WORK_DAY[1]) -> None:
    global _work_start, _work_end
    if not start < end:
        raise DurationError(f"рабочий день должен начинаться раньше, чем кончается: "
                            f"{start:%H:%M}–{end:%H:%M}")
    _work_start, _work_end = start.replace(tzinfo=None), end.replace(tzinfo=None)


def working_hours() -> tuple[dt.time, dt.time]:
    return _work_start, _work_end


# --- the production calendar -----------------------------------------------------------------

@lru_cache(maxsize=32)
def _ru_holidays(year: int):
    return holidays.RU(years=year)


@lru_cache(maxsize=32)
def public_holidays(year: int) -> Mapping[dt.date, str]:
    """The non-working public holidays of Labour Code art. 112 in `year`, with their Russian
    names (1–8 January, 23 February, 8 March, 1 and 9 May, 12 June, 4 November, as the law
    stood that year). Not the days off a decree moved (31.12.2026) nor the weekday after a
    holiday that fell on a weekend (9.03.2026): art. 120 leaves only the holidays themselves
    out of a vacation, and those other days off count as vacation days."""
    calendar = holidays.RU(years=year, observed=False, language="ru")
    # A moved day off is named «Выходной (перенесено с 03.01.2026)».
    moved = calendar.substituted_label.split("%s")[0]
    out = {}
    for day in sorted(calendar):
        names = [n for n in calendar.get_list(day) if not n.startswith(moved)]
        if names:
            out[day] = "; ".join(names)
    return MappingProxyType(out)  # cached: read-only for every caller


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday except holidays and the days off moved there by decree, plus the
    Saturdays a decree made working (1.11.2025, 20.02.2027): the library knows both."""
    return _ru_holidays(day.year).is_working_day(day)


def add_working_days(day: dt.date, count: int) -> dt.date:
    step = 1 if count >= 0 else -1
    left = abs(count)
    while left:
        day += dt.timedelta(days=step)
        if is_working_day(day):
            left -= 1
    return day


def _next_working_day(day: dt.date, step: int = 1) -> dt.date:
    day += dt.timedelta(days=step)
    while not is_working_day(day):
        day += dt.timedelta(days=step)
    return day


def _at(day: dt.date, clock: dt.time, like: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(day, clock, tzinfo=like.tzinfo)


def _in_working_hours(moment: dt.datetime) -> bool:
    return is_working_day(moment.date()) and _work_start <= moment.time() < _work_end


def _add_working_days(start: dt.datetime, n: int) -> dt.datetime:
    if n <= 0 or _in_working_hours(start):
        return dt.datetime.combine(add_working_days(start.date(), n), start.timetz())
    first = start.date()
    if not (is_working_day(first) and start.time() < _work_start):
        first = _next_working_day(first)
    return _at(add_working_days(first, n - 1), _work_end, start)


def _add_working_hours(start: dt.datetime, minutes: int) -> dt.datetime:
    """Only minutes inside the working window count. Forwards a deadline falls on a close
    (18:00) rather than the next opening; backwards on an opening rather than a close."""
    forward = minutes >= 0
    left = dt.timedelta(minutes=abs(minutes))
    day, clock = start.date(), start.time()
    if forward:
        if not is_working_day(day) or clock >= _work_end:
            day, clock = _next_working_day(day), _work_start
        clock = max(clock, _work_start)
    else:
        if not is_working_day(day) or clock <= _work_start:
            day, clock = _next_working_day(day, -1), _work_end
        clock = min(clock, _work_end)
    while True:
        here = _at(day, clock, start)
        edge = _at(day, _work_end if forward else _work_start, start)
        room = abs(edge - here)
        if left <= room:
            return here + left if forward else here - left
        left -= room
        day = _next_working_day(day, 1 if forward else -1)
        clock = _work_start if forward else _work_end


def add_duration(start: dt.datetime, duration: Duration | str) -> dt.datetime:
    """`start` is local wall-clock time (the office's zone); working days and hours skip
    weekends and Russian public holidays (the module docstring has the rules)."""
    if not isinstance(duration, Duration):
        duration = parse_duration(duration)
    n = duration.amount
    if duration.unit == "minutes":
        return start + dt.timedelta(minutes=n)
    if duration.unit == "hours":
        return start + dt.timedelta(hours=n)
    if duration.unit == "working_hours":
        return _add_working_hours(start, n * 60)
    if duration.unit == "days":
        return start + dt.timedelta(days=n)
    if duration.unit == "weeks":
        return start + dt.timedelta(weeks=n)
    if duration.unit == "end_of_day":
        return start.replace(hour=23, minute=59, second=0, microsecond=0)
    return _add_working_days(start, n)
