"""The users screens: Russian labels and values, users created with a department and roles."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select

from app.extensions import db
from models.user import CrmUser, Department
from tests.conftest import PASSWORD, flashes
from tests.test_russian_ui import english_words, visible_text
from views.user import CrmUserView, display, display_roles


@pytest.fixture()
def new_view(app):
    if app.appbuilder.sm.userdbmodelview is not CrmUserView:
        pytest.skip("app/security.py does not use views.user.CrmUserView yet")


def _role_id(app, name):
    return app.appbuilder.sm.find_role(name).id


def test_display_of_values():
    assert display(None) == ""
    assert display(True) == "Да"
    assert display(False) == "Нет"
    assert display(["а", None, 3]) == "а, , 3"


def test_roles_are_shown_by_their_russian_names(app):
    sm = app.appbuilder.sm
    roles = [sm.find_role("manager"), sm.find_role("director"), sm.find_role("public")]
    assert display_roles(roles) == "Гость (без входа), Директор, Менеджер по продажам"
    assert display_roles(None) == ""


def test_users_list_is_russian(client):
    text = visible_text(client.get("/users/list/").get_data(as_text=True))
    assert english_words(text) == [], text
    for word in ("Пользователи", "Фамилия", "Логин", "Отдел", "Роли", "Отдел продаж"):
        assert word in text


def test_admin_creates_a_user_with_department_and_role(app, client):
    sales = db.session.scalar(select(Department).where(Department.code == "sales"))
    resp = client.post("/users/add", data={
        "last_name": "Смирнова", "first_name": "Ольга", "username": "smirnova",
        "position": "Менеджер", "department": str(sales.id), "phone": "+7 900 000-00-00",
        "email": "smirnova@example.com", "active": "y",
        "roles": [str(_role_id(app, "manager"))],
        "password": PASSWORD, "conf_password": PASSWORD}, follow_redirects=True)
    assert resp.status_code == 200
    assert "Запись добавлена" in flashes(resp.get_data(as_text=True))
    user = db.session.scalar(select(CrmUser).where(CrmUser.username == "smirnova"))
    assert user.department_id == sales.id
    assert user.role_names == {"manager"}
    assert user.position == "Менеджер"


def test_password_mismatch_is_refused_in_russian(app, client):
    resp = client.post("/users/add", data={
        "last_name": "Петров", "first_name": "Пётр", "username": "petrov",
        "email": "petrov@example.com", "active": "y",
        "roles": [str(_role_id(app, "employee"))],
        "password": PASSWORD, "conf_password": PASSWORD + "x"})
    assert "Пароли не совпадают" in resp.get_data(as_text=True)
    assert db.session.scalar(select(CrmUser).where(CrmUser.username == "petrov")) is None


def test_user_page_shows_local_dates_and_russian_values(new_view, client):
    with time_machine.travel(dt.datetime(2026, 2, 10, 6, 15, tzinfo=dt.timezone.utc),
                             tick=False):
        from tests.factories import make_user

        user = make_user("frozen", ["manager"])
    text = visible_text(client.get(f"/users/show/{user.id}").get_data(as_text=True))
    assert english_words(text) == [], text
    assert "10.02.2026 09:15" in text
    assert "Менеджер по продажам" in text and "Да" in text
    assert "None" not in text and "True" not in text


def test_roles_offered_by_russian_names(new_view, client):
    text = visible_text(client.get("/users/add").get_data(as_text=True))
    assert "Менеджер по продажам" in text and "Руководитель отдела продаж" in text
    assert "— не выбрано —" in text
    assert english_words(text) == [], text


def test_profile_page_is_russian(client):
    text = visible_text(client.get("/users/userinfo/").get_data(as_text=True))
    assert english_words(text) == [], text
    assert "Мой профиль" in text and "Сменить пароль" in text
