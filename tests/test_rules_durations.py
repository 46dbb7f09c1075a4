import datetime as dt

import pytest

from rules.durations import Duration, DurationError, add_duration, parse_duration


@pytest.mark.parametrize("text, expected", [
    ("5m", Duration(5, "minutes")), ("1h", Duration(1, "hours")), ("1 час", Duration(1, "hours")),
    ("1d", Duration(1, "days")), ("2 working days", Duration(2, "working_days")),
    ("2 рабочих дня", Duration(2, "working_days")), ("2 weeks", Duration(2, "weeks")),
    ("3 дня", Duration(3, "days")), (15, Duration(15, "minutes")),
    ("-2 days", Duration(-2, "days")),
])
def test_parse(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "2 fortnights", "h"])
def test_bad_durations_are_refused_in_russian(text):
    with pytest.raises(DurationError) as err:
        parse_duration(text)
    assert "длительност" in str(err.value) or "единица" in str(err.value)


def test_two_working_days_from_friday_before_unity_day():
    # Fri 30.10.2026 -> Mon 2.11 (1), Tue 3.11 (2); Wed 4.11 is a holiday, not reached.
    assert add_duration(dt.datetime(2026, 10, 30, 15, 0), "2 working days") == \
        dt.datetime(2026, 11, 3, 15, 0)
    # Tue 3.11 + 1 working day skips Unity Day (Wed 4.11) -> Thu 5.11.
    assert add_duration(dt.datetime(2026, 11, 3, 10, 0), "1 working day") == \
        dt.datetime(2026, 11, 5, 10, 0)


def test_new_year_holidays_are_skipped():
    # 31.12.2026 is a day off, 1-8.01 are holidays, 9-10.01 a weekend: 11.01 (1), 12.01 (2).
    assert add_duration(dt.datetime(2026, 12, 30, 9, 0), "2 working days") == \
        dt.datetime(2027, 1, 12, 9, 0)


def test_plain_units():
    start = dt.datetime(2026, 11, 23, 12, 0)
    assert add_duration(start, "5m") == dt.datetime(2026, 11, 23, 12, 5)
    assert add_duration(start, "2 weeks") == dt.datetime(2026, 12, 7, 12, 0)
    assert add_duration(start, "-2 days") == dt.datetime(2026, 11, 21, 12, 0)


def test_today_means_the_end_of_the_day():
    import datetime as dt

    from rules.durations import add_duration, parse_duration

    assert parse_duration("до сегодня") == parse_duration("today")
    assert add_duration(dt.datetime(2026, 11, 2, 13, 34), "today") == \
        dt.datetime(2026, 11, 2, 23, 59)
