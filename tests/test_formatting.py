"""Russian formats of money and dates (app/formatting.py) and their template filters."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import render_template_string

from app.formatting import format_date, format_datetime, format_money, to_local, to_utc

NBSP = "\u00a0"


def test_money_uses_non_breaking_spaces_comma_and_rouble():
    assert format_money(1073782) == f"1{NBSP}073{NBSP}782,00{NBSP}₽"
    assert format_money(Decimal("1073782.5")) == f"1{NBSP}073{NBSP}782,50{NBSP}₽"
    assert format_money("0.1") == f"0,10{NBSP}₽"
    assert format_money(999) == f"999,00{NBSP}₽"


def test_money_rounds_to_kopecks_and_keeps_sign():
    assert format_money(Decimal("-1500.005")) in (f"-1{NBSP}500,00{NBSP}₽",
                                                  f"-1{NBSP}500,01{NBSP}₽")
    assert format_money(Decimal("12.345")).endswith(f"{NBSP}₽")


def test_empty_money_and_dates_show_nothing():
    assert format_money(None) == ""
    assert format_money("") == ""
    assert format_datetime(None) == ""
    assert format_date(None) == ""


def test_datetime_is_moscow_time_without_app():
    assert format_datetime(dt.datetime(2026, 1, 15, 9, 30)) == "15.01.2026 12:30"
    # Moscow keeps UTC+3 all year: no daylight-saving jump in summer.
    assert format_datetime(dt.datetime(2026, 7, 15, 9, 30)) == "15.07.2026 12:30"
    # Late UTC evening is the next day in Moscow.
    assert format_datetime(dt.datetime(2026, 12, 31, 22, 0)) == "01.01.2027 01:00"


def test_aware_datetime_is_converted_too():
    aware = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    assert format_datetime(aware) == "01.03.2026 08:00"


def test_date_format():
    assert format_date(dt.date(2026, 3, 8)) == "08.03.2026"


def test_time_zone_follows_config(app):
    old = app.config["TIMEZONE"]
    app.config["TIMEZONE"] = "Asia/Yekaterinburg"
    try:
        assert format_datetime(dt.datetime(2026, 1, 15, 9, 30)) == "15.01.2026 14:30"
    finally:
        app.config["TIMEZONE"] = old


def test_local_and_utc_round_trip():
    typed = dt.datetime(2026, 5, 20, 10, 0)  # typed by a user in Moscow
    stored = to_utc(typed)
    assert stored == dt.datetime(2026, 5, 20, 7, 0)
    assert to_local(stored).replace(tzinfo=None) == typed


def test_template_filters(app):
    with app.test_request_context("/"):
        html = render_template_string(
            "{{ amount | money }} / {{ moment | dt }} / {{ day | d }}",
            amount=Decimal("1073782"), moment=dt.datetime(2026, 1, 15, 9, 30),
            day=dt.date(2026, 1, 15))
    assert html == f"1{NBSP}073{NBSP}782,00{NBSP}₽ / 15.01.2026 12:30 / 15.01.2026"
