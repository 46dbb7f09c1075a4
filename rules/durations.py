"""Durations of process definitions ("5m", "1h", "2 working days", "3 рабочих дня") and the
Russian production calendar. Pure: no Flask, no database."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

import holidays

UNITS = {
    "minutes": ("m", "min", "mins", "minute", "minutes", "мин", "минута", "минуты", "минут"),
    "hours": ("h", "hr", "hour", "hours", "ч", "час", "часа", "часов"),
    "days": ("d", "day", "days", "д", "день", "дня", "дней"),
    "working_days": ("wd", "working day", "working days", "рабочий день", "рабочих дня",
                     "рабочих дней", "раб. дня", "раб. дней", "раб дня", "раб дней"),
    "weeks": ("w", "week", "weeks", "нед", "неделя", "недели", "недель"),
}
_ALIASES = {alias: unit for unit, aliases in UNITS.items() for alias in aliases}
# "Задача, до сегодня": due at the end of the current day.
END_OF_DAY = ("today", "end of day", "сегодня", "до сегодня", "до конца дня")
_PATTERN = re.compile(r"^\s*(-?\d+)\s*([^\d].*?)\s*$")


class DurationError(ValueError):
    pass


@dataclass(frozen=True)
class Duration:
    amount: int
    unit: str  # minutes / hours / days / working_days / weeks / end_of_day

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
                            "«5m», «1h», «1d», «2 working days», «1w»")
    amount, unit = int(match.group(1)), " ".join(match.group(2).split())
    if unit not in _ALIASES:
        raise DurationError(f"неизвестная единица «{unit}» в длительности «{text}»")
    return Duration(amount, _ALIASES[unit])


@lru_cache(maxsize=32)
def _ru_holidays(year: int):
    return holidays.RU(years=year)


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in _ru_holidays(day.year)


def add_working_days(day: dt.date, count: int) -> dt.date:
    step = 1 if count >= 0 else -1
    left = abs(count)
    while left:
        day += dt.timedelta(days=step)
        if is_working_day(day):
            left -= 1
    return day


def add_duration(start: dt.datetime, duration: Duration | str) -> dt.datetime:
    """`start` is local wall-clock time (the office's zone); working days keep the clock
    time and skip weekends and Russian public holidays."""
    if not isinstance(duration, Duration):
        duration = parse_duration(duration)
    n = duration.amount
    if duration.unit == "minutes":
        return start + dt.timedelta(minutes=n)
    if duration.unit == "hours":
        return start + dt.timedelta(hours=n)
    if duration.unit == "days":
        return start + dt.timedelta(days=n)
    if duration.unit == "weeks":
        return start + dt.timedelta(weeks=n)
    if duration.unit == "end_of_day":
        return start.replace(hour=23, minute=59, second=0, microsecond=0)
    return dt.datetime.combine(add_working_days(start.date(), n), start.timetz())
