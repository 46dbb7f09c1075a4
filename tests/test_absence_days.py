"""Vacation days by the Labour Code (art. 120: calendar days less the non-working public
holidays of art. 112), counted on real dates of the production calendar."""
from __future__ import annotations

import datetime as dt

import pytest

from errors import FieldErrors
from process.absence import vacation_days
from rules.durations import public_holidays

D = dt.date


def test_new_year_vacation_leaves_out_the_january_holidays():
    # 28.12.2026–11.01.2027: 4 days of December + 11 of January = 15 calendar days.
    # Out: 1–8 January 2027 (art. 112: 1–6 and 8 January, 7 January) = 8 days.
    # In: 31.12.2026, a day off moved there by decree, is no holiday: it counts.
    assert vacation_days(D(2026, 12, 28), D(2027, 1, 11)) == 15 - 8 == 7


def test_march_vacation_leaves_out_8_march_but_not_the_monday_after():
    # 2.03–15.03.2026: 14 calendar days; 8 March (a Sunday) is out; 9 March, the day off
    # the holiday moved to, counts (art. 120 names holidays, not days off).
    assert vacation_days(D(2026, 3, 2), D(2026, 3, 15)) == 14 - 1 == 13


def test_may_vacation_leaves_out_1_and_9_may():
    # 27.04–12.05.2026: 4 days of April + 12 of May = 16; out: 1 May and 9 May; the moved
    # day off 11 May counts.
    assert vacation_days(D(2026, 4, 27), D(2026, 5, 12)) == 16 - 2 == 14


def test_a_vacation_without_holidays_is_its_calendar_days():
    # 1–28 July 2026: no public holiday in July; weekends count.
    assert vacation_days(D(2026, 7, 1), D(2026, 7, 28)) == 28
    assert vacation_days(D(2026, 7, 4), D(2026, 7, 4)) == 1  # a Saturday


def test_a_vacation_of_holidays_only_takes_no_vacation_days():
    assert vacation_days(D(2027, 1, 1), D(2027, 1, 8)) == 0


def test_a_vacation_with_12_june_and_4_november():
    # 1–28.06.2027: 28 days less 12 June (a Saturday; 14 June, the moved day off, counts).
    assert vacation_days(D(2027, 6, 1), D(2027, 6, 28)) == 27
    # 2–15.11.2026: 14 days less 4 November.
    assert vacation_days(D(2026, 11, 2), D(2026, 11, 15)) == 13


def test_public_holidays_are_those_of_article_112_only():
    days_2027 = set(public_holidays(2027))
    assert days_2027 == {D(2027, 1, d) for d in range(1, 9)} | {
        D(2027, 2, 23), D(2027, 3, 8), D(2027, 5, 1), D(2027, 5, 9), D(2027, 6, 12),
        D(2027, 11, 4)}
    # Days off moved by decree and days off after a weekend holiday are not holidays.
    assert D(2026, 12, 31) not in public_holidays(2026)
    assert D(2026, 1, 9) not in public_holidays(2026)
    assert D(2026, 3, 9) not in public_holidays(2026)
    assert public_holidays(2026)[D(2026, 3, 8)] == "Международный женский день"


def test_a_period_backwards_is_refused_in_russian():
    with pytest.raises(FieldErrors) as refused:
        vacation_days(D(2026, 7, 10), D(2026, 7, 1))
    assert refused.value.errors == {"date_to": "Дата окончания раньше даты начала"}
    with pytest.raises(FieldErrors):
        vacation_days(None, D(2026, 7, 1))
