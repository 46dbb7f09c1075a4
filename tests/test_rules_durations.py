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


# --- the production calendar in holidays 0.109 ------------------------------------------------

@pytest.mark.parametrize("day, working", [
    (dt.date(2025, 11, 1), True),    # Saturday made working, its day off moved to Mon 3.11
    (dt.date(2025, 11, 3), False),
    (dt.date(2026, 12, 31), False),  # Thursday, the day off moved from Sunday 4.01
    (dt.date(2027, 1, 11), True),    # the first working day of 2027
    (dt.date(2027, 2, 20), True),    # Saturday made working, its day off moved to Mon 22.02
    (dt.date(2027, 2, 22), False),
    (dt.date(2027, 3, 8), False),
    (dt.date(2027, 5, 3), False),    # 1 May falls on a Saturday
    (dt.date(2027, 5, 10), False),   # 9 May falls on a Sunday
    (dt.date(2027, 6, 14), False),   # 12 June falls on a Saturday
    (dt.date(2027, 11, 5), False),   # Friday after Unity Day, moved from Saturday 2.01
])
def test_production_calendar(day, working):
    from rules.durations import is_working_day

    assert is_working_day(day) is working


@pytest.mark.parametrize("start, expected", [
    # Fri 5.03.2027, Mon 8.03 is Women's Day: Tue 9.03 (1), Wed 10.03 (2).
    (dt.datetime(2027, 3, 5, 15, 0), dt.datetime(2027, 3, 10, 15, 0)),
    # Fri 30.04.2027, 1 May is a Saturday observed on Mon 3.05: Tue 4.05 (1), Wed 5.05 (2).
    (dt.datetime(2027, 4, 30, 15, 0), dt.datetime(2027, 5, 5, 15, 0)),
    # Fri 7.05.2027, Victory Day observed on Mon 10.05: Tue 11.05 (1), Wed 12.05 (2).
    (dt.datetime(2027, 5, 7, 15, 0), dt.datetime(2027, 5, 12, 15, 0)),
    # Fri 11.06.2027, Russia Day observed on Mon 14.06: Tue 15.06 (1), Wed 16.06 (2).
    (dt.datetime(2027, 6, 11, 15, 0), dt.datetime(2027, 6, 16, 15, 0)),
    # Fri 19.02.2027: Saturday 20.02 is worked (1); Mon 22.02 is off, Tue 23.02 a holiday;
    # Wed 24.02 (2).
    (dt.datetime(2027, 2, 19, 15, 0), dt.datetime(2027, 2, 24, 15, 0)),
    # Fri 31.10.2025: Saturday 1.11 is worked (1); Mon 3.11 off, Tue 4.11 holiday; Wed 5.11.
    (dt.datetime(2025, 10, 31, 15, 0), dt.datetime(2025, 11, 5, 15, 0)),
    # Tue 2.11.2027: Wed 3.11 (1); Unity Day Thu 4.11 and the moved Fri 5.11 off; Mon 8.11.
    (dt.datetime(2027, 11, 2, 15, 0), dt.datetime(2027, 11, 8, 15, 0)),
    # Wed 29.12.2027: Thu 30.12 (1); Fri 31.12 and 1-8.01 off, then a weekend; Mon 10.01.2028.
    (dt.datetime(2027, 12, 29, 15, 0), dt.datetime(2028, 1, 10, 15, 0)),
])
def test_two_working_days_from_before_a_holiday(start, expected):
    assert add_duration(start, "2 working days") == expected


# --- working days from outside working hours ---------------------------------------------------

@pytest.mark.parametrize("start, text, expected", [
    # A request on Saturday, 1 working day: the close of Monday.
    (dt.datetime(2026, 10, 31, 11, 0), "1 working day", dt.datetime(2026, 11, 2, 18, 0)),
    # Friday evening: Monday is the first day, Tuesday the second.
    (dt.datetime(2026, 10, 30, 20, 0), "2 working days", dt.datetime(2026, 11, 3, 18, 0)),
    # Early morning of a working day: that day counts.
    (dt.datetime(2026, 11, 3, 7, 30), "1 рабочий день", dt.datetime(2026, 11, 3, 18, 0)),
    # Tuesday evening before Unity Day: Thursday is the first working day.
    (dt.datetime(2026, 11, 3, 19, 0), "1 working day", dt.datetime(2026, 11, 5, 18, 0)),
    # On the holiday itself.
    (dt.datetime(2026, 11, 4, 12, 0), "1 working day", dt.datetime(2026, 11, 5, 18, 0)),
    # Saturday 2.01.2027, in the New Year holidays: Monday 11.01 is the first working day.
    (dt.datetime(2027, 1, 2, 12, 0), "2 рабочих дня", dt.datetime(2027, 1, 12, 18, 0)),
    # Inside working hours the clock is kept, up to the last minute before the close.
    (dt.datetime(2026, 10, 30, 17, 59), "1 working day", dt.datetime(2026, 11, 2, 17, 59)),
    # Counting backwards always keeps the clock ("2 working days before, at 8:00").
    (dt.datetime(2026, 11, 7, 8, 0), "-1 working day", dt.datetime(2026, 11, 6, 8, 0)),
])
def test_working_days_from_outside_working_hours(start, text, expected):
    assert add_duration(start, text) == expected


# --- working hours ------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["2 working hours", "2 рабочих часа", "2wh", "2 wh",
                                  "2 раб. часа", "2  Рабочих   часа"])
def test_parse_working_hours(text):
    assert parse_duration(text) == Duration(2, "working_hours")


def test_parse_working_hours_forms():
    assert parse_duration("3 рабочих часов") == Duration(3, "working_hours")
    assert parse_duration("1 рабочий час") == Duration(1, "working_hours")
    assert parse_duration("1 working hour") == Duration(1, "working_hours")


@pytest.mark.parametrize("start, text, expected", [
    # Friday 17:00: one hour on Friday, one on Monday.
    (dt.datetime(2026, 10, 30, 17, 0), "2 working hours", dt.datetime(2026, 11, 2, 10, 0)),
    # Before opening: counted from 9:00.
    (dt.datetime(2026, 11, 2, 7, 0), "2 рабочих часа", dt.datetime(2026, 11, 2, 11, 0)),
    # On Saturday: counted from Monday's opening.
    (dt.datetime(2026, 10, 31, 11, 0), "1 рабочий час", dt.datetime(2026, 11, 2, 10, 0)),
    # After the close: counted from the next opening.
    (dt.datetime(2026, 11, 2, 19, 0), "1wh", dt.datetime(2026, 11, 3, 10, 0)),
    # Ending exactly at the close stays on that day.
    (dt.datetime(2026, 11, 2, 16, 0), "2 working hours", dt.datetime(2026, 11, 2, 18, 0)),
    # Tuesday 17:30 before Unity Day: half an hour on Tuesday, the rest on Thursday.
    (dt.datetime(2026, 11, 3, 17, 30), "1 working hour", dt.datetime(2026, 11, 5, 9, 30)),
    # 20 hours: Monday 9, Tuesday 9, Wednesday a holiday, 2 on Thursday.
    (dt.datetime(2026, 11, 2, 9, 0), "20 рабочих часов", dt.datetime(2026, 11, 5, 11, 0)),
    # New Year: one hour on Wed 30.12.2026, two on Mon 11.01.2027.
    (dt.datetime(2026, 12, 30, 17, 0), "3 working hours", dt.datetime(2027, 1, 11, 11, 0)),
    # Minutes are kept.
    (dt.datetime(2026, 11, 2, 12, 25), "3 working hours", dt.datetime(2026, 11, 2, 15, 25)),
    # Backwards: an hour of Monday morning, then back to Friday's close.
    (dt.datetime(2026, 11, 2, 10, 0), "-2 working hours", dt.datetime(2026, 10, 30, 17, 0)),
])
def test_working_hours_arithmetic(start, text, expected):
    assert add_duration(start, text) == expected


def test_working_hours_keep_the_time_zone():
    moscow = dt.timezone(dt.timedelta(hours=3))
    start = dt.datetime(2026, 10, 30, 17, 0, tzinfo=moscow)
    assert add_duration(start, "2 working hours") == \
        dt.datetime(2026, 11, 2, 10, 0, tzinfo=moscow)


@pytest.fixture()
def ten_to_seven():
    from rules.durations import configure_working_hours, working_hours

    before = working_hours()
    configure_working_hours(dt.time(10, 0), dt.time(19, 0))
    yield
    configure_working_hours(*before)


@pytest.mark.usefixtures("ten_to_seven")
def test_configured_working_hours():
    assert add_duration(dt.datetime(2026, 10, 30, 18, 30), "1 working hour") == \
        dt.datetime(2026, 11, 2, 10, 30)
    assert add_duration(dt.datetime(2026, 11, 2, 9, 30), "1 working hour") == \
        dt.datetime(2026, 11, 2, 11, 0)
    assert add_duration(dt.datetime(2026, 10, 31, 12, 0), "1 working day") == \
        dt.datetime(2026, 11, 2, 19, 0)
    # 18:30 is inside these hours: the clock is kept.
    assert add_duration(dt.datetime(2026, 10, 30, 18, 30), "1 working day") == \
        dt.datetime(2026, 11, 2, 18, 30)


def test_working_hours_must_be_a_window():
    from rules.durations import configure_working_hours, parse_clock, working_hours

    with pytest.raises(DurationError, match="рабочий день"):
        configure_working_hours(dt.time(18, 0), dt.time(9, 0))
    with pytest.raises(DurationError, match="непонятное время"):
        parse_clock("девять")
    assert parse_clock("08:30") == dt.time(8, 30)
    assert working_hours() == (dt.time(9, 0), dt.time(18, 0))


def test_the_app_sets_working_hours_from_its_config(app):
    from rules.durations import working_hours

    assert app.config["WORK_DAY_START"] == "09:00" and app.config["WORK_DAY_END"] == "18:00"
    assert working_hours() == (dt.time(9, 0), dt.time(18, 0))


def test_the_factory_reads_work_day_keys(app):
    from app.factory import install_working_hours
    from rules.durations import working_hours

    saved = app.config["WORK_DAY_START"], app.config["WORK_DAY_END"]
    app.config.update(WORK_DAY_START="08:00", WORK_DAY_END="17:00")
    try:
        install_working_hours(app)
        assert working_hours() == (dt.time(8, 0), dt.time(17, 0))
    finally:
        app.config["WORK_DAY_START"], app.config["WORK_DAY_END"] = saved
        install_working_hours(app)
    assert working_hours() == (dt.time(9, 0), dt.time(18, 0))


# --- definitions using the unit -----------------------------------------------------------------

def test_a_definition_with_working_hours_validates():
    import copy

    from process.catalog import duration_words
    from rules.definition import parse
    from tests.rules_catalog import CATALOG
    from tests.test_rules_definition import GOOD

    data = copy.deepcopy(GOOD)
    data["stages"][0]["deadline"] = "4 рабочих часа"
    data["stages"][0]["on_enter"][0]["deadline"] = "2 working hours"
    process = parse(data, CATALOG, "mini.yaml")
    assert parse_duration(process.stage("new").deadline) == Duration(4, "working_hours")
    assert duration_words("4 рабочих часа") == "4 рабочих часа"
    assert duration_words("1wh") == "1 рабочий час"
    assert duration_words("5 working hours") == "5 рабочих часов"


def test_a_bad_working_unit_is_refused_in_russian():
    import copy

    from errors import DefinitionError
    from rules.definition import parse
    from tests.rules_catalog import CATALOG
    from tests.test_rules_definition import GOOD

    data = copy.deepcopy(GOOD)
    data["stages"][0]["on_enter"][0]["deadline"] = "2 рабочих минуты"
    with pytest.raises(DefinitionError) as err:
        parse(data, CATALOG, "mini.yaml")
    assert "stages.new.on_enter[0].deadline: неизвестная единица «рабочих минуты»" in \
        str(err.value)
