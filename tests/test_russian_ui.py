"""Everything a person reads on the generated screens is Russian: buttons, titles, counters,
menus, the login page; dates in Moscow time; money in the Russian format."""
from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
import time_machine
from flask import render_template_string
from sqlalchemy import delete, select, update

from app.extensions import db
from models.party import Company, Contact
from models.user import CrmUser, Department

# Visible English words Flask-AppBuilder shows when a translation is missing.
FORBIDDEN = ["Add", "Edit", "Show", "Delete", "Search", "Record Count", "List ", "Actions",
             "Back", "Save", "No records", "Login", "Logout", "Detail", "Sign In",
             "Page size", "Order by", "Select Value", "__None"]
KEPT_DEPARTMENTS = ("sales", "execution")


class _VisibleText(HTMLParser):
    """Text a person sees: no tags, no attribute values, no scripts or styles."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(" ".join(data.split()))


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return " | ".join(parser.parts) + " | "


def english_words(text: str) -> list[str]:
    found = []
    for word in FORBIDDEN:
        pattern = re.escape(word) if word.endswith(" ") or not word[0].isalpha() \
            else rf"\b{re.escape(word)}\b"
        if re.search(pattern, text):
            found.append(word.strip())
    return found


def assert_russian(resp, *expected: str) -> str:
    assert resp.status_code == 200, (resp.status_code, resp.headers.get("Location"))
    text = visible_text(resp.get_data(as_text=True))
    assert english_words(text) == [], text
    for word in expected:
        assert word in text, f"«{word}» не найдено: {text}"
    return text


@pytest.fixture()
def records(app):
    company = Company(kind="legal", name="ООО «Ромашка»", inn="7707083893",
                      kpp="773601001", ogrn="1027700132195")
    db.session.add(company)
    db.session.flush()
    db.session.add(Contact(last_name="Иванова", first_name="Мария", company_id=company.id,
                           phone="+7 495 123-45-67"))
    db.session.commit()
    return company


@pytest.fixture()
def own_departments(app):
    """Departments survive the conftest cleanup; remove the ones a test made."""
    yield
    db.session.rollback()
    extra = select(Department.id).where(Department.code.not_in(KEPT_DEPARTMENTS))
    db.session.execute(update(CrmUser).where(CrmUser.department_id.in_(extra))
                       .values(department_id=None))
    db.session.execute(delete(Department).where(Department.code.not_in(KEPT_DEPARTMENTS)))
    db.session.commit()


def test_login_page_is_russian(login):
    anonymous = login(None)
    text = assert_russian(anonymous.get("/login/"), "Вход", "Логин", "Пароль")
    assert "Введите логин и пароль" in text


def test_wrong_password_message_is_russian(login):
    anonymous = login(None)
    resp = anonymous.post("/login/", data={"username": "admin", "password": "wrong"},
                          follow_redirects=True)
    assert_russian(resp, "Неверный логин или пароль")


def test_admin_screens_are_russian(client, records):
    cid = records.id
    list_text = assert_russian(client.get("/companyview/list/"), "Контрагенты",
                               "Количество записей", "Добавить", "Открыть", "Изменить",
                               "Удалить", "Поиск", "Выйти", "Профиль", "ООО «Ромашка»")
    assert "Добавить фильтр" in list_text
    assert_russian(client.get("/companyview/add"), "Новый контрагент", "Сохранить", "Назад",
                   "ИНН")
    assert_russian(client.get(f"/companyview/show/{cid}"), "Контрагент", "Подробно",
                   "7707083893", "Назад")
    assert_russian(client.get(f"/companyview/edit/{cid}"), "Изменение контрагента",
                   "Сохранить")
    assert_russian(client.get("/contactview/list/"), "Контакты", "Иванова")
    assert_russian(client.get("/users/list/"), "Пользователи", "Логин", "Роли",
                   "Безопасность")
    dep_text = assert_russian(client.get("/departmentview/list/"), "Отделы", "Отдел продаж",
                              "Руководитель", "Администрирование")
    assert "True" not in dep_text and "None" not in dep_text


def test_empty_list_says_so_in_russian(client):
    assert_russian(client.get("/contactview/list/"), "Записей не найдено")


def test_manager_screens_are_russian(login, records):
    manager = login("manager")
    cid = records.id
    assert_russian(manager.get("/companyview/list/"), "Контрагенты", "Добавить", "Выйти")
    assert_russian(manager.get("/companyview/add"), "Сохранить")
    assert_russian(manager.get(f"/companyview/show/{cid}"), "ООО «Ромашка»")
    assert_russian(manager.get(f"/companyview/edit/{cid}"), "Сохранить")
    assert_russian(manager.get("/contactview/list/"), "Контакты")
    # Screens the manager may not open answer with the Russian 403 page.
    for url in ("/users/list/", "/departmentview/list/"):
        resp = manager.get(url)
        assert resp.status_code == 403
        text = visible_text(resp.get_data(as_text=True))
        assert "Доступ запрещён" in text and english_words(text) == [], text


def test_flash_messages_are_russian(client, own_departments):
    resp = client.post("/departmentview/add", data={"code": "design", "name": "Дизайн",
                                                    "active": "y"}, follow_redirects=True)
    assert_russian(resp, "Запись добавлена")
    dep = db.session.scalar(select(Department).where(Department.code == "design"))
    resp = client.post(f"/departmentview/edit/{dep.id}",
                       data={"code": "design", "name": "Отдел дизайна", "active": "y"},
                       follow_redirects=True)
    assert_russian(resp, "Изменения сохранены")
    resp = client.post(f"/departmentview/delete/{dep.id}", follow_redirects=True)
    assert_russian(resp, "Запись удалена")


def test_dates_are_moscow_time(client, own_departments):
    # 09:30 UTC is 12:30 in Moscow (UTC+3, no daylight saving). Only the record is made in
    # the frozen past: a signed session cookie from "the future" would be refused.
    with time_machine.travel(dt.datetime(2026, 1, 15, 9, 30, tzinfo=dt.timezone.utc),
                             tick=False):
        db.session.add(Department(code="logistics", name="Логистика"))
        db.session.commit()
    dep = db.session.scalar(select(Department).where(Department.code == "logistics"))
    assert dep.created_at == dt.datetime(2026, 1, 15, 9, 30)  # stored as naive UTC
    text = assert_russian(client.get(f"/departmentview/show/{dep.id}"), "Создано")
    assert "15.01.2026 12:30" in text
    assert "2026-01-15" not in text
    list_text = assert_russian(client.get("/departmentview/list/"), "Логистика")
    assert "Да" in list_text


def test_money_filter_in_templates(app):
    with app.test_request_context("/"):
        html = render_template_string("{{ 1073782 | money }}")
    assert html == "1\u00a0073\u00a0782,00\u00a0₽"


def test_datetime_filter_in_templates(app):
    with app.test_request_context("/"):
        html = render_template_string("{{ value | dt }}",
                                      value=dt.datetime(2026, 7, 1, 21, 5))
    assert html == "02.07.2026 00:05"


def test_the_check_itself_sees_english_and_ignores_attributes():
    html = ('<a class="btn Add" href="/companyview/list/" title="Show">Открыть</a>'
            '<script>var x = "Delete";</script><span class="sr-only">Edit</span>'
            '<strong>Record Count:</strong>')
    text = visible_text(html)
    assert english_words(text) == ["Edit", "Record Count"]
