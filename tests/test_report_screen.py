"""«Отчёты сотрудников»: per department and day who filed (with the time and the text, a link
to the task), who has not, whose report is overdue, who has no task; the row rules (one's
own, the departments one heads, all for the director and the admin); deny by default;
bad filters answered in Russian; the admin's «Планы отчётов»; the seed of the two default
plans that never overwrites an admin's edits."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import time_machine
from flask import current_app
from sqlalchemy import select

from app.access import parse_access
from app.extensions import db
from app.report_seed import seed_report_plans
from errors import SeedError
from models.report import ReportPlan
from models.task import Task
from process.reports import create_reports
from tests.conftest import flashes
from tests.factories import make_user
from tests.process_flow_helpers import msk
from tests.report_helpers import make_office, make_plan, report_tasks

SCREEN = "/crm/reports/"
PLAN_TEXT = "Созвон с заказчиком; смета по проекту «Весы»"


def _page(resp) -> str:
    assert resp.status_code == 200, resp.status_code
    return html.unescape(resp.get_data(as_text=True))


def _rows(page: str) -> dict[str, str]:
    """{employee: status} of the rows of a page (one plan shown)."""
    found = re.findall(r'<tr class="crm-report-row[^"]*" data-status="([^"]+)">\s*<td>([^<]+)</td>',
                       page)
    return {name: status for status, name in found}


def _departments(page: str) -> list[str]:
    return re.findall(r'<h3 class="crm-reports-department">([^<]+?) <small>', page)


@pytest.fixture()
def office(app):
    return make_office()


@pytest.fixture()
def day_of_reports(app, office, login):
    """Tuesday 12.01.2027: the daily plan for every department; Альфа filed at 10:00, Бета
    did not; a member who joined after 9:00 has no task."""
    make_plan("daily")
    with time_machine.travel(msk(2027, 1, 12, 9, 0), tick=False):
        create_reports(dt.date(2027, 1, 12))
        db.session.commit()
    mine = {t.assignee.username: t for t in report_tasks(department_id=office.department.id)}
    with time_machine.travel(msk(2027, 1, 12, 10, 0), tick=False):
        resp = login("dev_a").post(f"/taskview/{mine['dev_a'].id}/complete",
                                   data={"result": PLAN_TEXT})
        assert resp.status_code == 302
    make_user("dev_new", ["employee"], office.department, first="Дина", last="Новая-dev")
    return mine


def _screen(login, username: str, when=msk(2027, 1, 12, 12, 0), **args) -> str:
    with time_machine.travel(when, tick=False):
        query = "&".join(f"{k}={v}" for k, v in {"date": "2027-01-12", **args}.items())
        return _page(login(username).get(f"{SCREEN}?{query}"))


def test_the_head_sees_who_filed_who_did_not_and_who_has_no_task(login, day_of_reports,
                                                                  office):
    page = _screen(login, "dev_head", department=office.department.id)
    assert _rows(page) == {"Альфа-dev Борис": "Сдан", "Бета-dev Вера": "Не сдан",
                           "Главная-dev Анна": "Не сдан",
                           "Новая-dev Дина": "Задача не поставлена"}
    assert "сдали 1 из 4" in page
    assert PLAN_TEXT in page and "12.01.2027 10:00" in page
    assert f'href="/taskview/show/{day_of_reports["dev_a"].id}"' in page
    assert "Ушёл-dev" not in page  # inactive


def test_after_the_deadline_an_open_report_is_overdue(login, day_of_reports, office):
    page = _screen(login, "dev_head", when=msk(2027, 1, 12, 18, 30),
                   department=office.department.id)
    assert _rows(page)["Бета-dev Вера"] == "Просрочен"
    assert _rows(page)["Альфа-dev Борис"] == "Сдан"


def test_a_report_filed_after_the_deadline_is_filed_late(login, day_of_reports, office):
    task = day_of_reports["dev_b"]
    with time_machine.travel(msk(2027, 1, 12, 19, 0), tick=False):
        assert login("dev_b").post(f"/taskview/{task.id}/complete",
                                   data={"result": "Релиз"}).status_code == 302
    page = _screen(login, "dev_head", when=msk(2027, 1, 12, 19, 5),
                   department=office.department.id)
    assert _rows(page)["Бета-dev Вера"] == "Сдан с опозданием"


def test_another_day_shows_that_days_reports(login, day_of_reports, office):
    page = _screen(login, "dev_head", date="2027-01-13", department=office.department.id)
    assert set(_rows(page).values()) == {"Задача не поставлена"}
    page = _screen(login, "dev_head", date="16.01.2027")  # a Saturday
    assert "нерабочий день: ежедневные отчёты не ставятся" in page
    assert _rows(page) == {}


def test_a_member_sees_only_their_own_report(login, day_of_reports):
    page = _screen(login, "dev_a")
    assert _rows(page) == {"Альфа-dev Борис": "Сдан"}
    page = _screen(login, "manager")
    assert _rows(page) == {"Тестов Иван": "Не сдан"}  # the manager's own row only


def test_a_head_sees_their_departments_only(login, day_of_reports, office):
    page = _screen(login, "dev_head")
    assert _departments(page) == ["Отдел разработки"]
    assert "Второв Пётр" not in page  # a manager of sales
    sales = _screen(login, "sales_head")
    assert _departments(sales) == ["Отдел продаж"]
    assert set(_rows(sales)) == {"Тестов Иван", "Второв Пётр"}  # the sales people's names
    assert "Альфа-dev" not in sales
    # A department the reader does not head, asked for by its number: refused, not shown.
    page = _screen(login, "sales_head", department=office.department.id)
    assert "Отдел не найден" in " ".join(flashes(page))
    assert "Альфа-dev" not in page


def test_the_head_of_two_departments_sees_both(login, day_of_reports, office):
    other = make_office(code="rep_ops", name="Отдел эксплуатации", prefix="ops")
    other.department.head_id = office.head.id
    db.session.commit()
    with time_machine.travel(msk(2027, 1, 12, 9, 30), tick=False):
        create_reports(dt.date(2027, 1, 12))
        db.session.commit()
    page = _screen(login, "dev_head")
    assert _departments(page) == ["Отдел разработки", "Отдел эксплуатации"]
    assert "Альфа-ops Борис" in page and "Альфа-dev Борис" in page


@pytest.mark.parametrize("username", ["director", "admin"])
def test_the_director_and_the_admin_see_every_department(login, day_of_reports, username):
    page = _screen(login, username)
    assert {"Отдел продаж", "Отдел исполнения", "Отдел разработки"} <= set(_departments(page))
    assert PLAN_TEXT in page


def test_the_accountant_sees_every_deal_but_only_their_own_report(login, day_of_reports):
    page = _screen(login, "accountant")
    assert set(_rows(page)) == {"Тестов Иван"} and "Альфа-dev" not in page


def test_the_task_a_reader_cannot_open_has_no_link(login, day_of_reports, office):
    """A new head of the department sees its reports, not the tasks of which they are no
    observer: the status is shown without a link (the task would answer 404)."""
    newcomer = make_user("dev_head2", ["employee"], office.department, first="Ева",
                         last="Новый-глава")
    office.department.head_id = newcomer.id
    db.session.commit()
    page = _screen(login, "dev_head2", department=office.department.id)
    assert _rows(page)["Альфа-dev Борис"] == "Сдан" and PLAN_TEXT in page
    assert "/taskview/show/" not in page


def test_deny_by_default(app, login, day_of_reports):
    sm = current_app.appbuilder.sm
    role = sm.find_role("report_test_nobody") or sm.add_role("report_test_nobody")
    make_user("nobody", [role.name])
    resp = login("nobody").get(SCREEN)
    assert resp.status_code in (302, 403) and PLAN_TEXT not in resp.get_data(as_text=True)
    anonymous = login(None).get(SCREEN)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    # The plans are the admin's: no role lists `report_plan`.
    for username in ("director", "dev_head", "dev_a"):
        assert login(username).get("/reportplanview/list/").status_code in (302, 403)
    assert login("admin").get("/reportplanview/list/").status_code == 200


@pytest.mark.parametrize("args, message", [
    ("date=abc", "Дата: неверное значение «abc», ожидается ДД.ММ.ГГГГ"),
    ("date=9999-01-01", "Дата: неверное значение «9999-01-01»"),
    ("department=x1", "Отдел не найден"),
    ("department=99999999999999", "Отдел не найден"),
    ("plan=999999", "План отчёта не найден"),
])
def test_bad_filters_are_answered_in_russian(login, day_of_reports, args, message):
    with time_machine.travel(msk(2027, 1, 12, 12, 0), tick=False):
        page = _page(login("dev_head").get(f"{SCREEN}?{args}"))
    assert any(message in m for m in flashes(page)), flashes(page)


def test_the_plan_filter_and_the_weekly_period(login, office):
    daily = make_plan("daily", office.department)
    weekly = make_plan("weekly", office.department)
    with time_machine.travel(msk(2027, 1, 12, 9, 0), tick=False):
        create_reports(dt.date(2027, 1, 12))
        db.session.commit()
    page = _screen(login, "dev_head", plan=weekly.id)
    assert "неделя 11.01–15.01.2027" in page and "Ежедневный отчёт" not in page.split(
        "crm-reports-department")[1]
    page = _screen(login, "dev_head", date="2027-01-14", plan=weekly.id)
    assert _rows(page)["Альфа-dev Борис"] == "Не сдан"  # the same week's task
    page = _screen(login, "dev_head", date="2027-01-14", plan=daily.id)
    assert set(_rows(page).values()) == {"Задача не поставлена"}


# --- «Планы отчётов» ------------------------------------------------------------------------

def _plan_form(**values) -> dict:
    return {"key": "standup", "name": "Планёрка", "period": "daily", "department": "",
            "title_template": "Планёрка {department}: {date}", "description": "",
            "deadline_time": "10:00", "active": "y", **values}


def test_the_admin_adds_a_plan_and_bad_values_are_refused_in_russian(login, office):
    admin = login("admin")
    page = _page(admin.post("/reportplanview/add", data=_plan_form(
        title_template="Отчёт за {day}", key="Bad Key", deadline_time="")))
    assert "неизвестная подстановка «{day}»" in page
    assert "Ключ: строчные латинские буквы" in page
    assert "Укажите время сдачи" in page
    assert db.session.scalar(select(ReportPlan)) is None
    resp = admin.post("/reportplanview/add", data=_plan_form(department=office.department.id))
    assert resp.status_code == 302
    plan = db.session.scalar(select(ReportPlan).where(ReportPlan.key == "standup"))
    assert plan.deadline_time == dt.time(10, 0) and plan.department_id == office.department.id
    page = _page(admin.post("/reportplanview/add", data=_plan_form()))
    assert "План с ключом «standup» уже есть" in page
    with time_machine.travel(msk(2027, 1, 12, 9, 0), tick=False):
        create_reports(dt.date(2027, 1, 12))
        db.session.commit()
    titles = {t.title for t in report_tasks()}
    assert titles == {"Планёрка Отдел разработки: 12.01.2027"}
    assert {t.deadline for t in report_tasks()} == {dt.datetime(2027, 1, 12, 7, 0)}


def test_a_plan_with_tasks_is_not_deleted_but_can_be_switched_off(login, office):
    plan = make_plan("daily", office.department)
    with time_machine.travel(msk(2027, 1, 12, 9, 0), tick=False):
        create_reports(dt.date(2027, 1, 12))
        db.session.commit()
    admin = login("admin")
    page = _page(admin.post(f"/reportplanview/delete/{plan.id}", follow_redirects=True))
    assert "Удалить его нельзя — снимите отметку «Действует»" in page
    assert db.session.get(ReportPlan, plan.id) is not None
    assert db.session.scalar(select(Task.id).where(Task.kind == "report")) is not None


def test_the_seed_makes_two_plans_and_never_overwrites_an_admins_edit(fresh_app):
    plans = {p.key: p for p in db.session.scalars(select(ReportPlan))}
    assert set(plans) == {"daily", "weekly"}
    assert plans["daily"].title_template == "Ежедневный отчёт: план работ на {date}"
    assert plans["weekly"].period == "weekly" and plans["weekly"].department_id is None
    assert plans["daily"].deadline_time == dt.time(18, 0)
    plans["daily"].title_template = "Планы на {date}"
    plans["daily"].deadline_time = dt.time(11, 0)
    db.session.delete(plans["weekly"])
    db.session.commit()
    lines = seed_report_plans()
    assert lines == ["Планы отчётов: создано 0, обновлено 0, оставлено как изменил "
                     "администратор 2"]
    db.session.expire_all()
    plans = {p.key: p for p in db.session.scalars(select(ReportPlan))}
    assert set(plans) == {"daily"}  # the deleted one is not brought back
    assert plans["daily"].title_template == "Планы на {date}"
    assert plans["daily"].deadline_time == dt.time(11, 0)


def test_a_scope_of_one_resource_is_checked_when_the_access_table_is_read():
    base = {"resources": {"report": "Отчёты"}, "roles": {"x": {"scope": "all",
                                                              "access": {"report": "r"}}}}
    assert parse_access(base).roles["x"].scopes == {}
    for scopes, words in (({"deal": "own"}, "неизвестный ресурс «deal»"),
                          ({"report": "mine"}, "неизвестная область «mine»")):
        spec = {**base, "roles": {"x": {**base["roles"]["x"], "scopes": scopes}}}
        with pytest.raises(SeedError, match=words):
            parse_access(spec)
    spec = {**base, "roles": {"x": {**base["roles"]["x"], "scopes": {"report": "own"}}}}
    assert parse_access(spec).roles["x"].scopes == {"report": "own"}
