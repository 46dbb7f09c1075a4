"""The functions the approval engine calls: registering an absence once per request, who is
away, who substitutes (deputy, department head, director, along the chain without loops),
leave balances and the spending check."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from app.extensions import db
from errors import FieldErrors
from models.absence import Absence, LeaveBalance
from process.people import users_with_role
from process.absence import (absent_on, absent_user_ids, balance, cancel_absence,
                             register_absence, spend_check, substitute_for)
from tests.factories import department, make_user
from tests.helpers import in_threads, user

D = dt.date
DAY = D(2026, 12, 7)


def _count(*where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Absence).where(*where))


@pytest.fixture()
def office(app):
    """Отдел кадров: Сидоров heads it; Иванов works there with Петров as his deputy."""
    dep = department("hr_test", "Отдел кадров")
    head = make_user("sidorov", ["employee"], dep, first="Сидор", last="Сидоров")
    ivanov = make_user("ivanov", ["employee"], dep, first="Иван Ильич", last="Иванов")
    petrov = make_user("petrov", ["employee"], dep, first="Пётр", last="Петров")
    dep.head_id = head.id
    ivanov.deputy_id = petrov.id
    db.session.commit()
    return {"head": head, "ivanov": ivanov, "petrov": petrov, "director": user("director"),
            "department": dep}


def _away(person, kind="vacation", start=D(2026, 12, 1), end=D(2026, 12, 12)):
    absence = register_absence(person.id, kind, start, end)
    db.session.commit()
    return absence


# --- registering ----------------------------------------------------------------------------

def test_registering_the_same_request_twice_writes_once(office):
    ivanov = office["ivanov"]
    first = register_absence(ivanov.id, "vacation", D(2026, 12, 1), D(2026, 12, 12),
                             source_entity="hr_request", source_id=17, comment="Отпуск")
    db.session.commit()
    again = register_absence(ivanov.id, "vacation", D(2026, 12, 1), D(2026, 12, 12),
                             source_entity="hr_request", source_id=17, comment="Отпуск")
    db.session.commit()
    assert again.id == first.id
    assert _count(Absence.source_entity == "hr_request", Absence.source_id == 17) == 1
    # The request approved anew with other dates: the same absence, moved.
    moved = register_absence(ivanov.id, "vacation", D(2026, 12, 3), D(2026, 12, 14),
                             source_entity="hr_request", source_id=17)
    db.session.commit()
    assert moved.id == first.id and (moved.date_from, moved.date_to) == (D(2026, 12, 3),
                                                                         D(2026, 12, 14))
    assert _count() == 1
    # Absences entered by hand have no source: each is its own.
    register_absence(ivanov.id, "day_off", D(2026, 12, 20), D(2026, 12, 20))
    register_absence(ivanov.id, "day_off", D(2026, 12, 20), D(2026, 12, 20))
    db.session.commit()
    assert _count(Absence.source_id.is_(None)) == 2


def test_a_request_registered_twice_at_once_writes_once(app, office):
    ivanov_id = office["ivanov"].id

    def register():
        absence = register_absence(ivanov_id, "vacation", D(2026, 12, 1), D(2026, 12, 12),
                                   source_entity="hr_request", source_id=99)
        db.session.commit()
        return absence.id

    ids = in_threads(app, [register, register])
    assert ids[0] == ids[1]
    assert _count(Absence.source_id == 99) == 1


def test_cancel_removes_the_requests_absence(office):
    register_absence(office["ivanov"].id, "vacation", D(2026, 12, 1), D(2026, 12, 12),
                     source_entity="hr_request", source_id=5)
    db.session.commit()
    assert cancel_absence("hr_request", 5) is True
    db.session.commit()
    assert _count() == 0
    assert cancel_absence("hr_request", 5) is False


def test_bad_input_is_refused_in_russian_and_writes_nothing(office):
    ivanov = office["ivanov"]
    cases = [
        (dict(kind="holiday"), "kind"),
        (dict(date_from=D(2026, 12, 12), date_to=D(2026, 12, 1)), "date_to"),
        (dict(source_entity="hr_request"), "source_id"),
        (dict(user_id=987654), "user"),
    ]
    for change, field in cases:
        args = {"user_id": ivanov.id, "kind": "vacation", "date_from": D(2026, 12, 1),
                "date_to": D(2026, 12, 12), **change}
        with pytest.raises(FieldErrors) as refused:
            register_absence(**args)
        assert field in refused.value.errors, change
    db.session.commit()
    assert _count() == 0


# --- who is away ----------------------------------------------------------------------------

def test_who_is_away_on_a_day(office):
    ivanov, petrov, head = office["ivanov"], office["petrov"], office["head"]
    vacation = _away(ivanov)
    _away(petrov, "remote")
    sick = _away(head, "sick", D(2026, 12, 7), D(2026, 12, 7))
    _away(head, "vacation", D(2026, 12, 1), D(2026, 12, 20))
    assert absent_on(ivanov.id, D(2026, 12, 1)).id == vacation.id
    assert absent_on(ivanov.id, D(2026, 12, 12)).id == vacation.id  # the last day included
    assert absent_on(ivanov.id, D(2026, 12, 13)) is None
    # Working from home is working: no absence for approvals.
    assert absent_on(petrov.id, DAY) is None
    # A sick day inside a vacation is the day's absence.
    away = absent_user_ids([ivanov.id, petrov.id, head.id], DAY)
    assert set(away) == {ivanov.id, head.id}
    assert away[head.id].id == sick.id
    assert absent_user_ids([], DAY) == {}


# --- who substitutes ------------------------------------------------------------------------

def test_a_person_at_work_is_their_own_substitute(office):
    assert substitute_for(office["ivanov"].id, DAY) == (office["ivanov"].id, None)


def test_the_deputy_takes_over(office):
    _away(office["ivanov"])
    assert substitute_for(office["ivanov"].id, DAY) == (
        office["petrov"].id,
        "Иванов И. И. отсутствует (отпуск по 12.12.2026), передано заместителю: Петров П.")


def test_an_absent_deputy_passes_to_the_department_head(office):
    _away(office["ivanov"])
    _away(office["petrov"], "day_off", DAY, DAY)
    who, why = substitute_for(office["ivanov"].id, DAY)
    assert who == office["head"].id
    assert why == ("Иванов И. И. отсутствует (отпуск по 12.12.2026), заместитель Петров П. "
                   "тоже отсутствует (отгул по 07.12.2026), передано руководителю отдела: "
                   "Сидоров С.")


def test_a_deactivated_user_is_replaced_like_an_absent_one(office):
    office["ivanov"].active = False
    db.session.commit()
    assert substitute_for(office["ivanov"].id, DAY) == (
        office["petrov"].id,
        "Иванов И. И. (учётная запись отключена), передано заместителю: Петров П.")


def test_an_inactive_deputy_is_skipped(office):
    office["petrov"].active = False
    db.session.commit()
    _away(office["ivanov"])
    assert substitute_for(office["ivanov"].id, DAY)[0] == office["head"].id


def test_an_absent_head_passes_to_the_director(office):
    _away(office["ivanov"])
    _away(office["petrov"])
    _away(office["head"], "unpaid")
    who, why = substitute_for(office["ivanov"].id, DAY)
    assert who == office["director"].id
    assert why.endswith("руководитель отдела Сидоров С. тоже отсутствует (отгул за свой "
                        "счёт по 12.12.2026), передано директору: Тестов И.")


def test_the_absent_head_goes_to_the_director_not_to_themself(office):
    _away(office["head"])
    who, why = substitute_for(office["head"].id, DAY)
    assert who == office["director"].id
    assert "руковод" not in why


def test_the_chain_goes_on_from_an_absent_deputy(office):
    """Иванов has no department head to go to and the director is away: his deputy Петров is
    away too, so Петров's own deputy (Кузнецов) takes over."""
    ivanov, petrov = office["ivanov"], office["petrov"]
    kuznetsov = make_user("kuznetsov", ["employee"], first="Кузьма", last="Кузнецов")
    ivanov.department_id = petrov.department_id = None
    petrov.deputy_id = kuznetsov.id
    db.session.commit()
    _away(ivanov)
    _away(petrov)
    _away(office["director"])
    who, why = substitute_for(ivanov.id, DAY)
    assert who == kuznetsov.id
    assert why.endswith("передано заместителю: Кузнецов К.")


def test_mutual_deputies_all_away_end_without_a_loop(office):
    ivanov, petrov = office["ivanov"], office["petrov"]
    ivanov.department_id = petrov.department_id = None
    petrov.deputy_id = ivanov.id  # each is the other's deputy
    db.session.commit()
    # every director is away, and outside any department: the chain would go on to the
    # head of the director's department otherwise
    for director in users_with_role("director"):
        director.department_id = None
    for person in (ivanov, petrov, *users_with_role("director")):
        _away(person)
    who, why = substitute_for(ivanov.id, DAY)
    assert who == ivanov.id, why
    assert why.endswith("замены нет: согласование остаётся за ним")
    assert why.count("Петров П.") == 1


def test_the_reason_never_names_a_sick_leave(office):
    _away(office["ivanov"], "sick")
    _away(office["petrov"], "sick", DAY, DAY)
    who, why = substitute_for(office["ivanov"].id, DAY)
    assert who == office["head"].id
    assert why == ("Иванов И. И. отсутствует (по 12.12.2026), заместитель Петров П. тоже "
                   "отсутствует (по 07.12.2026), передано руководителю отдела: Сидоров С.")
    assert "больнич" not in why.lower()


# --- leave balances -------------------------------------------------------------------------

def test_balance_defaults_to_28_days(office):
    assert balance(office["ivanov"].id, 2026) == {
        "days_per_year": 28, "carried_over": 0, "adjustment": 0, "used": 0, "remaining": 28}


def test_used_days_are_split_at_new_year_and_other_kinds_do_not_count(office):
    ivanov = office["ivanov"]
    # 28–31.12.2026: 4 days (31 December is a moved day off: it counts).
    # 1–11.01.2027: 11 days less the 8 January holidays = 3.
    _away(ivanov, "vacation", D(2026, 12, 28), D(2027, 1, 11))
    _away(ivanov, "vacation", D(2026, 7, 1), D(2026, 7, 14))  # 14 days, no holiday
    _away(ivanov, "sick", D(2026, 3, 1), D(2026, 3, 20))
    _away(ivanov, "day_off", D(2026, 4, 1), D(2026, 4, 1))
    _away(ivanov, "unpaid", D(2026, 4, 2), D(2026, 4, 3))
    db.session.add(LeaveBalance(user_id=ivanov.id, year=2026, days_per_year=28,
                                carried_over=5, adjustment=-2))
    db.session.commit()
    assert balance(ivanov.id, 2026) == {"days_per_year": 28, "carried_over": 5,
                                        "adjustment": -2, "used": 4 + 14,
                                        "remaining": 28 + 5 - 2 - 18}
    assert balance(ivanov.id, 2027)["used"] == 3


def test_spend_check_refuses_more_than_remains(office):
    ivanov = office["ivanov"]
    db.session.add(LeaveBalance(user_id=ivanov.id, year=2026, days_per_year=5))
    db.session.commit()
    # 1–14 July 2026: 14 vacation days, 5 remain.
    assert spend_check(ivanov.id, D(2026, 7, 1), D(2026, 7, 14)) == \
        "Недостаточно дней отпуска: осталось 5, запрошено 14"
    assert spend_check(ivanov.id, D(2026, 7, 1), D(2026, 7, 5)) is None
    # 1–11 January 2027 holds 3 vacation days only, and 2027 has its own 28.
    assert spend_check(ivanov.id, D(2027, 1, 1), D(2027, 1, 11)) is None


def test_spend_check_counts_each_year_on_its_own(office):
    ivanov = office["ivanov"]
    db.session.add(LeaveBalance(user_id=ivanov.id, year=2027, days_per_year=2))
    db.session.commit()
    # 28.12.2026–11.01.2027: 4 days of 2026 (28 remain), 3 of 2027 (2 remain).
    assert spend_check(ivanov.id, D(2026, 12, 28), D(2027, 1, 11)) == \
        "Недостаточно дней отпуска на 2027 год: осталось 2, запрошено 3"


def test_spend_check_of_a_request_does_not_count_its_own_absence(office):
    ivanov = office["ivanov"]
    register_absence(ivanov.id, "vacation", D(2026, 7, 1), D(2026, 7, 10),
                     source_entity="hr_request", source_id=3)
    db.session.commit()
    # 18 days remain after the request's own 10; asked again for 20 days it still fits 28.
    assert spend_check(ivanov.id, D(2026, 7, 1), D(2026, 7, 20)) == \
        "Недостаточно дней отпуска: осталось 18, запрошено 20"
    assert spend_check(ivanov.id, D(2026, 7, 1), D(2026, 7, 20),
                       source_entity="hr_request", source_id=3) is None


def test_spend_check_says_what_is_wrong_with_the_dates(office):
    assert spend_check(office["ivanov"].id, D(2026, 7, 10), D(2026, 7, 1)) == \
        "Дата окончания раньше даты начала"
