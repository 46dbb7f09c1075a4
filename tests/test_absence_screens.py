"""The absence screens and API: who may open them (deny by default), the calendar's month,
shading and colours, the privacy of sick leaves on every screen and in the API, absences
kept by hand, leave balances, and the deputy on the users screen."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from sqlalchemy import func, select

from app.extensions import db
from models.absence import Absence, LeaveBalance
from models.user import CrmUser
from process.absence import register_absence
from tests.conftest import flashes
from tests.factories import make_user
from tests.helpers import user
from tests.test_russian_ui import assert_russian
from tests.test_security_headers import assert_page_satisfies_csp

D = dt.date
# 10 December 2026, midday in Moscow.
TODAY = dt.datetime(2026, 12, 10, 9, 0, tzinfo=dt.timezone.utc)
SCREENS = ["/absence/calendar/", "/absenceview/list/", "/leave_balance/"]
# Who may know that the manager's absence is a sick leave: the manager, the head of sales,
# the director and the accountant. Everyone else sees «Отсутствует».
KNOW = ["manager", "sales_head", "director", "accountant"]
DO_NOT_KNOW = ["manager2", "employee", "execution_head", "admin"]


@pytest.fixture()
def sick_manager(app):
    """The manager is on sick leave 7–9 December 2026 and on vacation 14–18 December."""
    manager = user("manager")
    sick = register_absence(manager.id, "sick", D(2026, 12, 7), D(2026, 12, 9),
                            comment="Больничный лист № 123")
    vacation = register_absence(manager.id, "vacation", D(2026, 12, 14), D(2026, 12, 18))
    db.session.commit()
    return {"sick": sick, "vacation": vacation, "manager": manager}


def _row(html: str, user_id: int) -> str:
    match = re.search(rf'<tr class="crm-absence-row" data-user="{user_id}">(.*?)</tr>', html,
                      re.S)
    assert match, f"no row of user {user_id}"
    return match.group(1)


def _cells(row: str) -> list[str]:
    return re.findall(r"<td[^>]*>.*?</td>", row, re.S)[1:]  # the first is the name


# --- access ---------------------------------------------------------------------------------

def test_a_role_the_access_table_does_not_list_opens_nothing(app, login):
    sm = app.appbuilder.sm
    make_user("visitor", [])
    visitor_role = sm.add_role("visitor")
    stranger = db.session.get(CrmUser, user("visitor").id)
    stranger.roles = [visitor_role]
    db.session.commit()
    client = login("visitor")
    for url in SCREENS + ["/absenceview/add", f"/leave_balance/edit/{stranger.id}/2026"]:
        resp = client.get(url)
        assert resp.status_code in (302, 403), (url, resp.status_code)
        assert "/login" not in resp.headers.get("Location", ""), url  # signed in, refused
    for url in ("/api/v1/absence/", "/api/v1/leave_balance/mine"):
        assert client.api("get", url).status_code in (401, 403), url


def test_anonymous_is_sent_to_login(app):
    http = app.test_client()
    for url in SCREENS:
        resp = http.get(url)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], url
    assert http.get("/api/v1/leave_balance/mine").status_code == 401


def test_every_role_reads_only_personnel_write(login):
    employee = login("employee")
    for url in SCREENS:
        resp = employee.get(url)
        assert_russian(resp)
        assert_page_satisfies_csp(resp)
    assert employee.get("/absenceview/add").status_code in (302, 403)
    resp = employee.post("/absenceview/add", data={
        "user": str(user("employee").id), "kind": "vacation", "date_from": "01.12.2026",
        "date_to": "05.12.2026"})
    assert resp.status_code in (302, 403)
    assert employee.api("post", "/api/v1/absence/", json={
        "user": user("employee").id, "kind": "vacation", "date_from": "2026-12-01",
        "date_to": "2026-12-05"}).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Absence)) == 0
    assert login("accountant").get("/absenceview/add").status_code == 200


def test_menu_offers_the_screens_under_employees(login):
    page = login("employee").get("/absence/calendar/").get_data(as_text=True)
    assert "Сотрудники" in page
    for name in ("Календарь отсутствий", "Отсутствия", "Остатки отпусков"):
        assert name in page


# --- the calendar ---------------------------------------------------------------------------

def test_calendar_opens_on_this_month_with_days_off_shaded(login, sick_manager):
    with time_machine.travel(TODAY, tick=False):
        page = login("manager2").get("/absence/calendar/")
    text = assert_russian(page, "Календарь отсутствий", "Декабрь 2026", "Отдел продаж")
    assert "Предыдущий" in text and "Следующий" in text
    html = page.get_data(as_text=True)
    heads = re.findall(r'<th class="text-center crm-absence-day([^"]*)"', html)
    assert len(heads) == 31
    # 5–6 and 12–13 December are a weekend, 31 December a day off moved by decree.
    off = [n + 1 for n, css in enumerate(heads) if "crm-absence-off" in css]
    assert off == [5, 6, 12, 13, 19, 20, 26, 27, 31]


def test_calendar_names_the_holidays_and_moves_by_month(login):
    client = login("employee")
    page = client.get("/absence/calendar/?month=2027-01").get_data(as_text=True)
    assert "Январь 2027" in page
    assert 'title="07.01.2027: Рождество Христово"' in page
    assert 'title="01.01.2027: Новогодние каникулы"' in page
    assert "month=2026-12" in page and "month=2027-02" in page


def test_calendar_refuses_a_wrong_month_or_department_in_words(login):
    client = login("employee")
    with time_machine.travel(TODAY, tick=False):
        resp = client.get("/absence/calendar/?month=2026-13&department=abc")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    said = " ".join(flashes(html))
    assert "Месяц «2026-13» не распознан" in said
    assert "Отдел не найден" in said
    assert "Декабрь 2026" in html


def test_calendar_filters_by_department_and_by_who_is_away(login, sick_manager):
    client = login("employee")
    page = client.get("/absence/calendar/?month=2026-12&department="
                      f"{sick_manager['manager'].department_id}").get_data(as_text=True)
    assert f'data-user="{user("manager2").id}"' in page
    assert f'data-user="{user("employee").id}"' not in page
    page = client.get("/absence/calendar/?month=2026-12&away=1").get_data(as_text=True)
    assert re.findall(r'class="crm-absence-row" data-user="(\d+)"', page) == \
        [str(sick_manager["manager"].id)]


@pytest.mark.parametrize("viewer", KNOW)
def test_calendar_shows_a_sick_leave_to_those_who_may_know(login, sick_manager, viewer):
    html = login(viewer).get("/absence/calendar/?month=2026-12").get_data(as_text=True)
    cells = _cells(_row(html, sick_manager["manager"].id))
    assert len(cells) == 31
    assert all('data-kind="sick"' in cells[d - 1] for d in (7, 8, 9))
    assert 'title="Больничный: 07.12.2026 – 09.12.2026"' in cells[6]
    assert all('data-kind="vacation"' in cells[d - 1] for d in range(14, 19))
    assert "crm-absence-cell" not in cells[9]  # the 10th: at work


@pytest.mark.parametrize("viewer", DO_NOT_KNOW)
def test_calendar_shows_a_sick_leave_as_absent_to_everyone_else(login, sick_manager, viewer):
    html = login(viewer).get("/absence/calendar/?month=2026-12").get_data(as_text=True)
    row = _row(html, sick_manager["manager"].id)
    cells = _cells(row)
    assert 'data-kind="sick"' not in row and "Больнич" not in row
    assert all('title="Отсутствует: 07.12.2026 – 09.12.2026"' in cells[d - 1]
               for d in (7, 8, 9))
    # Everyone sees who is away, and a vacation as a vacation.
    assert all('data-kind="vacation"' in cells[d - 1] for d in range(14, 19))


def test_a_department_head_knows_only_their_own_department(login, sick_manager):
    """The head of execution heads no one in sales: the manager's sick leave stays hidden
    from them, while the sick leave of their own employee is shown."""
    execution_head = user("execution_head")
    department = db.session.get(CrmUser, user("employee").id).department
    department.head_id = execution_head.id
    db.session.commit()
    register_absence(user("employee").id, "sick", D(2026, 12, 2), D(2026, 12, 3))
    db.session.commit()
    html = login("execution_head").get("/absence/calendar/?month=2026-12") \
        .get_data(as_text=True)
    assert 'data-kind="sick"' not in _row(html, sick_manager["manager"].id)
    assert 'data-kind="sick"' in _row(html, user("employee").id)


# --- «Отсутствия» and the API -----------------------------------------------------------

def test_list_page_csv_and_api_hide_a_sick_leave_from_a_colleague(login, sick_manager):
    sick = sick_manager["sick"]
    colleague = login("manager2")
    page = colleague.get("/absenceview/list/").get_data(as_text=True)
    assert "Отсутствует" in page and "Больничный" not in page and "№ 123" not in page
    show = colleague.get(f"/absenceview/show/{sick.id}").get_data(as_text=True)
    assert "Отсутствует" in show and "Больничный" not in show and "№ 123" not in show
    csv = colleague.get("/absenceview/export/").get_data(as_text=True)
    assert "Отсутствует" in csv and "Больничный" not in csv and "№ 123" not in csv
    body = colleague.api("get", "/api/v1/absence/").json
    rows = {r["id"]: r for r in body["result"]}
    assert rows[sick.id]["kind"] is None and rows[sick.id]["comment"] is None
    assert rows[sick.id]["kind_label"] == "Отсутствует"
    assert rows[sick_manager["vacation"].id]["kind"] == "vacation"
    one = colleague.api("get", f"/api/v1/absence/{sick.id}").json["result"]
    assert one["kind"] is None and one["kind_label"] == "Отсутствует"
    # Asking for the kind column alone does not bring it back.
    only = colleague.api("get", "/api/v1/absence/?q=(columns:!(kind))").json
    assert {r["kind"] for r in only["result"]} == {None, "vacation"}
    # Nor does a filter or an order by kind: they are refused.
    assert colleague.api("get", "/api/v1/absence/?q=(filters:!((col:kind,opr:eq,"
                                "value:sick)))").status_code == 400
    assert colleague.api("get", "/api/v1/absence/?q=(order_column:kind,"
                                "order_direction:asc)").status_code == 400


def test_list_page_and_api_show_a_sick_leave_to_the_person_and_their_head(login,
                                                                          sick_manager):
    sick = sick_manager["sick"]
    for viewer in ("manager", "sales_head", "accountant"):
        client = login(viewer)
        show = client.get(f"/absenceview/show/{sick.id}").get_data(as_text=True)
        assert "Больничный" in show and "№ 123" in show, viewer
        one = client.api("get", f"/api/v1/absence/{sick.id}").json["result"]
        assert one["kind"] == "sick" and one["comment"] == "Больничный лист № 123", viewer


def test_the_accountant_enters_a_sick_leave_reported_by_phone(login):
    accountant = login("accountant")
    employee = user("employee")
    resp = accountant.post("/absenceview/add", data={
        "user": str(employee.id), "kind": "sick", "date_from": "01.12.2026",
        "date_to": "03.12.2026", "comment": "Сообщил по телефону"}, follow_redirects=True)
    assert resp.status_code == 200
    absence = db.session.scalar(select(Absence))
    assert (absence.user_id, absence.kind, absence.date_from, absence.date_to) == \
        (employee.id, "sick", D(2026, 12, 1), D(2026, 12, 3))
    assert absence.source_entity is None and absence.created_by_id == user("accountant").id


def test_bad_dates_on_the_form_are_refused_in_russian(login):
    accountant = login("accountant")
    resp = accountant.post("/absenceview/add", data={
        "user": str(user("employee").id), "kind": "vacation", "date_from": "10.12.2026",
        "date_to": "01.12.2026"})
    assert "Дата окончания раньше даты начала" in resp.get_data(as_text=True)
    resp = accountant.api("post", "/api/v1/absence/", json={
        "user": user("employee").id, "kind": "holiday", "date_from": "2026-12-01",
        "date_to": "2026-12-05"})
    assert resp.status_code == 422 and "kind" in resp.json["message"]
    assert db.session.scalar(select(func.count()).select_from(Absence)) == 0


def test_the_admin_may_not_open_a_sick_leave_they_may_not_know(login, sick_manager):
    sick = sick_manager["sick"]
    admin = login("admin")
    resp = admin.get(f"/absenceview/edit/{sick.id}", follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "Это отсутствие могут изменить только: Бухгалтер, Директор" in " ".join(
        flashes(html))
    assert 'value="sick" selected' not in html
    resp = admin.api("put", f"/api/v1/absence/{sick.id}", json={"comment": "x", "version": 1})
    assert resp.status_code == 400 and "Больнич" not in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Absence, sick.id).comment == "Больничный лист № 123"
    # The vacation is theirs to edit.
    assert admin.get(f"/absenceview/edit/{sick_manager['vacation'].id}").status_code == 200


def test_a_requests_absence_changes_only_with_the_request(login):
    absence = register_absence(user("employee").id, "vacation", D(2026, 12, 1),
                               D(2026, 12, 5), source_entity="task", source_id=7)
    db.session.commit()
    accountant = login("accountant")
    resp = accountant.get(f"/absenceview/edit/{absence.id}", follow_redirects=True)
    assert "измените или отзовите заявку" in " ".join(flashes(resp.get_data(as_text=True)))
    resp = accountant.api("put", f"/api/v1/absence/{absence.id}",
                          json={"date_to": "2026-12-20", "version": absence.version})
    assert resp.status_code == 400 and "отзовите заявку" in resp.json["message"]
    assert accountant.api("delete", f"/api/v1/absence/{absence.id}").status_code == 400
    db.session.expire_all()
    assert db.session.get(Absence, absence.id).date_to == D(2026, 12, 5)


# --- «Остатки отпусков» --------------------------------------------------------------------

def _balance_rows(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'class="crm-balance-row" data-user="(\d+)"', html)}


def test_each_sees_the_balances_they_may(login):
    sales = {user(n).id for n in ("manager", "manager2", "sales_head", "secretary")}
    with time_machine.travel(TODAY, tick=False):
        own = login("employee").get("/leave_balance/")
        assert_russian(own, "Остатки отпусков", "2026 год")
        assert _balance_rows(own.get_data(as_text=True)) == {user("employee").id}
        head = login("sales_head").get("/leave_balance/").get_data(as_text=True)
        assert _balance_rows(head) == sales
        everyone = login("accountant").get("/leave_balance/").get_data(as_text=True)
    assert sales | {user("employee").id, user("director").id} <= _balance_rows(everyone)
    assert "Изменить" in everyone and "crm-balance-edit" not in head


def test_the_balance_counts_vacations_of_the_year(login):
    employee = user("employee")
    register_absence(employee.id, "vacation", D(2026, 12, 28), D(2027, 1, 11))
    db.session.add(LeaveBalance(user_id=employee.id, year=2026, carried_over=3))
    db.session.commit()
    html = login("employee").get("/leave_balance/?year=2026").get_data(as_text=True)
    row = re.search(r'data-user="%d">(.*?)</tr>' % employee.id, html, re.S).group(1)
    # 28 + 3 carried over − 4 days of December = 27.
    assert re.search(r'crm-balance-used">4<', row)
    assert re.search(r'crm-balance-remaining"><strong>27<', row)
    mine = login("employee").api("get", "/api/v1/leave_balance/mine?year=2027").json
    assert mine["result"] == {"user_id": employee.id, "year": 2027, "days_per_year": 28,
                              "carried_over": 0, "adjustment": 0, "used": 3, "remaining": 25}
    assert login("employee").api("get", "/api/v1/leave_balance/mine?year=abc") \
        .status_code == 400


def test_the_accountant_edits_a_balance(login):
    employee = user("employee")
    accountant = login("accountant")
    url = f"/leave_balance/edit/{employee.id}/2026"
    assert_russian(accountant.get(url), "Остаток отпуска", "Дней отпуска в году")
    resp = accountant.post(url, data={"days_per_year": "31", "carried_over": "4",
                                      "adjustment": "-2", "comment": "Северная надбавка"})
    assert resp.status_code == 302
    row = db.session.scalar(select(LeaveBalance).where(LeaveBalance.user_id == employee.id))
    assert (row.year, row.days_per_year, row.carried_over, row.adjustment, row.comment) == \
        (2026, 31, 4, -2, "Северная надбавка")


@pytest.mark.parametrize("form, message", [
    ({"days_per_year": "-5"}, "Дней отпуска в году: не может быть отрицательным"),
    ({"carried_over": "-1"}, "Перенесено с прошлых лет: не может быть отрицательным"),
    ({"days_per_year": "двадцать"}, "Дней отпуска в году: введите целое число"),
    ({"adjustment": "2.5"}, "Корректировка: введите целое число"),
    ({"days_per_year": "400"}, "Дней отпуска в году: от 0 до 366"),
])
def test_bad_balance_input_changes_nothing(login, form, message):
    employee = user("employee")
    db.session.add(LeaveBalance(user_id=employee.id, year=2026, days_per_year=28))
    db.session.commit()
    data = {"days_per_year": "30", "carried_over": "0", "adjustment": "0", **form}
    resp = login("accountant").post(f"/leave_balance/edit/{employee.id}/2026", data=data)
    assert resp.status_code == 422
    assert message in flashes(resp.get_data(as_text=True))
    db.session.expire_all()
    row = db.session.scalar(select(LeaveBalance).where(LeaveBalance.user_id == employee.id))
    assert (row.days_per_year, row.carried_over) == (28, 0)


def test_only_writers_edit_and_only_rows_they_see(login):
    employee = user("employee")
    for viewer in ("employee", "sales_head"):
        resp = login(viewer).post(f"/leave_balance/edit/{employee.id}/2026",
                                  data={"days_per_year": "99", "carried_over": "0",
                                        "adjustment": "0"})
        assert resp.status_code in (302, 403), viewer
        assert "/login" not in resp.headers.get("Location", "")
    assert login("accountant").get(f"/leave_balance/edit/{employee.id}/1800") \
        .status_code == 404
    assert db.session.scalar(select(func.count()).select_from(LeaveBalance)) == 0


# --- the deputy on the users screen ---------------------------------------------------------

def test_the_admin_sets_a_deputy_among_active_users(app, client):
    manager, manager2 = user("manager"), user("manager2")
    form = client.get(f"/users/edit/{manager.id}").get_data(as_text=True)
    assert "Заместитель" in form and "/users/form_picker/deputy" in form
    found = client.get("/users/form_picker/deputy?form=edit&q=Второв").json["results"]
    assert [r["id"] for r in found] == [str(manager2.id)]
    manager2.active = False
    db.session.commit()
    assert client.get("/users/form_picker/deputy?form=edit&q=Второв").json["results"] == []
    manager2.active = True
    db.session.commit()

    def save(deputy_id):
        data = {"last_name": manager.last_name, "first_name": manager.first_name,
                "username": manager.username, "email": manager.email, "active": "y",
                "roles": [str(app.appbuilder.sm.find_role("manager").id)],
                "department": str(manager.department_id), "deputy": str(deputy_id)}
        return client.post(f"/users/edit/{manager.id}", data=data, follow_redirects=True)

    save(manager2.id)
    db.session.expire_all()
    assert db.session.get(CrmUser, manager.id).deputy_id == manager2.id
    resp = save(manager.id)
    assert "Сотрудник не может быть заместителем самому себе" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(CrmUser, manager.id).deputy_id == manager2.id
    show = client.get(f"/users/show/{manager.id}").get_data(as_text=True)
    assert "Заместитель" in show and "Второв Пётр" in show

