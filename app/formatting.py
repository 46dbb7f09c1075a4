"""How values look on screen and in documents: Russian money, local dates."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from flask import current_app, has_app_context

DEFAULT_TZ = "Europe/Moscow"


def _tz() -> ZoneInfo:
    if has_app_context():
        return ZoneInfo(current_app.config.get("TIMEZONE", DEFAULT_TZ))
    return ZoneInfo(DEFAULT_TZ)


def to_local(value: dt.datetime) -> dt.datetime:
    """A stored (naive UTC) datetime in the configured time zone."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(_tz())


def to_utc(local_value: dt.datetime) -> dt.datetime:
    """A naive datetime typed by a user in the configured zone, as stored naive UTC."""
    if local_value.tzinfo is None:
        local_value = local_value.replace(tzinfo=_tz())
    return local_value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def format_datetime(value) -> str:
    if value is None or value == "":
        return ""
    try:
        return to_local(value).strftime("%d.%m.%Y %H:%M")
    except (OverflowError, ValueError):  # 31.12.9999 23:59 has no local time east of UTC
        return value.strftime("%d.%m.%Y %H:%M UTC")


def format_date(value) -> str:
    if value is None or value == "":
        return ""
    return value.strftime("%d.%m.%Y")


def format_money(value, currency: str = "₽") -> str:
    """1073782 -> '1 073 782,00 ₽' (non-breaking spaces, as Russian documents write it)."""
    if value is None or value == "":
        return ""
    number = format_decimal(Decimal(value), format="#,##0.00", locale="ru_RU")
    return f"{number}\u00a0{currency}"


def display(value) -> str:
    """Empty for nothing, Да/Нет for flags: FAB would print None, True and False."""
    if value is None:
        return ""
    if value is True:
        return "Да"
    if value is False:
        return "Нет"
    if isinstance(value, (list, tuple, set)):
        return ", ".join(display(v) for v in value)
    return str(value)
