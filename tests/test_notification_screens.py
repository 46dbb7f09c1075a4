"""The notifications screens: the bell, the list of one's own notifications, marking them read,
following the link to the record, and the «Дублировать уведомления на e-mail» choice."""
from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import event, select, update

from app import create_app
from app.extensions import db
from models.notification import Notification
from models.party import Company
from models.user import CrmUser
from tests.conftest import PASSWORD, flashes
from tests.test_russian_ui import english_words, visible_text


@pytest.fixture(autouse=True)
def _email_copies_off(app):
    """The users are kept between tests (conftest): a failed test must not leave a flag on."""
    yield
    db.session.rollback()
    db.session.execute(update(CrmUser).values(notify_email=False))
    db.session.commit()


def _user(username: str) -> CrmUser:
    return db.session.scalar(select(CrmUser).where(CrmUser.username == username))


def _note(username: str, text: str, **kw) -> int:
    item = Notification(user_id=_user(username).id, text=text, kind=kw.pop("kind", "task"),
                        source_key=f"test:{uuid.uuid4().hex}", **kw)
    db.session.add(item)
    db.session.commit()
    return item.id


def _read_at(pk: int):
    db.session.expire_all()
    return db.session.get(Notification, pk).read_at


def _bell(html: str) -> str:
    match = re.search(r'id="crm-bell-count">([^<]*)<', html)
    assert match, "no bell on the page"
    return match.group(1).strip()


def test_the_list_shows_only_the_users_own_notifications_newest_first(app, login):
    _note("manager", "Старое: перезвонить клиенту", kind="reminder",
          created_at=dt.datetime(2026, 2, 10, 6, 15))
    _note("manager", "Новое: задача просрочена", kind="overdue",
          created_at=dt.datetime(2026, 2, 11, 6, 15))
    _note("manager2", "Чужое уведомление второго менеджера")
    _note("admin", "Уведомление администратора")

    resp = login("manager").get("/notifications/")
    assert resp.status_code == 200
    text = visible_text(resp.get_data(as_text=True))
    assert english_words(text) == [], text
    assert "Уведомления" in text and "Прочитать все" in text
    assert "Отметить прочитанным" in text
    assert text.index("Новое: задача просрочена") < text.index("Старое: перезвонить клиенту")
    assert "10.02.2026 09:15" in text and "Напоминание" in text and "Просрочено" in text
    assert "Чужое" not in text and "администратора" not in text

    # The admin, too, sees only their own rows: there is no "everyone's notifications".
    admin_text = visible_text(login("admin").get("/notifications/").get_data(as_text=True))
    assert "Уведомление администратора" in admin_text
    assert "Чужое" not in admin_text and "перезвонить" not in admin_text


def test_unread_rows_are_highlighted(app, login):
    unread = _note("manager", "Непрочитанное")
    read = _note("manager", "Прочитанное", read_at=dt.datetime(2026, 2, 1))
    html = login("manager").get("/notifications/").get_data(as_text=True)
    row = re.search(rf'<li class="([^"]*)" id="crm-notification-{unread}"', html).group(1)
    assert "crm-notification-unread" in row
    row = re.search(rf'<li class="([^"]*)" id="crm-notification-{read}"', html).group(1)
    assert "crm-notification-unread" not in row


@pytest.mark.parametrize("username", ["manager", "admin"])
def test_another_users_notification_can_be_neither_read_nor_opened(app, login, username):
    company = Company(kind="person", name="Чужой клиент")
    db.session.add(company)
    db.session.commit()
    pk = _note("manager2", "Чужое", entity="company", record_id=company.id)
    user = login(username)
    for url in (f"/notifications/{pk}/read", f"/notifications/{pk}/open"):
        resp = user.post(url)
        assert resp.status_code == 404, (url, resp.status_code)
        assert "Страница не найдена" in resp.get_data(as_text=True)
    assert _read_at(pk) is None
    # "Read all" of one user leaves the others' rows alone.
    user.post("/notifications/read_all")
    assert _read_at(pk) is None


def test_mark_one_read_then_read_all(app, login):
    first = _note("manager", "Первое")
    second = _note("manager", "Второе")
    third = _note("manager", "Третье")
    user = login("manager")

    resp = user.post(f"/notifications/{first}/read", follow_redirects=True)
    assert "Уведомление отмечено прочитанным" in flashes(resp.get_data(as_text=True))
    assert _read_at(first) is not None
    assert _read_at(second) is None and _read_at(third) is None

    resp = user.post("/notifications/read_all", follow_redirects=True)
    assert "Отмечено прочитанными: 2" in flashes(resp.get_data(as_text=True))
    assert all(_read_at(pk) is not None for pk in (first, second, third))

    resp = user.post("/notifications/read_all", follow_redirects=True)
    assert "Непрочитанных уведомлений нет" in flashes(resp.get_data(as_text=True))


def test_the_bell_counts_unread_and_drops_after_reading(app, login):
    first = _note("manager", "Первое")
    _note("manager", "Второе")
    _note("manager", "Уже прочитано", read_at=dt.datetime(2026, 2, 1))
    _note("manager2", "Не его")
    user = login("manager")

    assert _bell(user.get("/").get_data(as_text=True)) == "2"
    assert user.get("/notifications/unread").json == {"unread": 2}

    user.post(f"/notifications/{first}/read")
    assert _bell(user.get("/").get_data(as_text=True)) == "1"
    user.post("/notifications/read_all")
    # At zero the badge is empty, which Bootstrap's .badge:empty hides.
    assert _bell(user.get("/").get_data(as_text=True)) == ""
    assert user.get("/notifications/unread").json == {"unread": 0}
    # Everyone signed in gets the bell, whatever the role.
    assert _bell(login("secretary").get("/").get_data(as_text=True)) == ""


def test_the_bell_costs_one_count_query(app, login):
    _note("manager", "Первое")
    user = login("manager")
    seen = []

    def remember(conn, cursor, statement, *args):
        if "notification" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        assert _bell(user.get("/").get_data(as_text=True)) == "1"
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    assert len(seen) == 1 and "count(" in seen[0].lower(), seen


def test_opening_the_record_marks_the_notification_read(app, client):
    company = Company(kind="person", name="Клиентов К. К.")
    db.session.add(company)
    db.session.commit()
    pk = _note("admin", "Позвоните клиенту", entity="company", record_id=company.id)
    page = client.get("/notifications/").get_data(as_text=True)
    assert f'action="/notifications/{pk}/open"' in page and "Открыть запись" in page

    resp = client.post(f"/notifications/{pk}/open")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/companyview/show/{company.id}")
    assert _read_at(pk) is not None


def test_a_notification_about_a_deleted_record_is_read_and_explained(app, client):
    pk = _note("admin", "Запись удалили", entity="company", record_id=987654)
    resp = client.post(f"/notifications/{pk}/open", follow_redirects=True)
    assert resp.status_code == 200
    assert any("удалена" in m for m in flashes(resp.get_data(as_text=True)))
    assert _read_at(pk) is not None


def test_pages_of_fifty(app, login):
    user_id = _user("manager").id
    start = dt.datetime(2026, 1, 1)
    db.session.add_all([Notification(user_id=user_id, text=f"Уведомление №{i:02d}",
                                     kind="task", source_key=f"page:{i}",
                                     created_at=start + dt.timedelta(minutes=i))
                        for i in range(55)])
    db.session.commit()
    user = login("manager")
    first = user.get("/notifications/").get_data(as_text=True)
    assert first.count('class="list-group-item crm-notification') == 50
    assert "Уведомление №54" in first and "Уведомление №04" not in first
    assert "Страница 1 из 2" in visible_text(first)
    second = user.get("/notifications/?page=2").get_data(as_text=True)
    assert second.count('class="list-group-item crm-notification') == 5
    assert "Уведомление №04" in second and "Уведомление №05" not in second
    # A page number that is not one opens the first page, not an error.
    for bad in ("abc", "-3", "0"):
        resp = user.get(f"/notifications/?page={bad}")
        assert resp.status_code == 200 and "Уведомление №54" in resp.get_data(as_text=True)
    assert "Уведомление №00" in user.get("/notifications/?page=99").get_data(as_text=True)


def test_each_user_sets_their_own_email_copy(app, login):
    user = login("manager")
    page = visible_text(user.get("/notifications/").get_data(as_text=True))
    assert "Настройки уведомлений" in page and "Дублировать уведомления на e-mail" in page
    resp = user.post("/notifications/settings", data={"notify_email": "y"},
                     follow_redirects=True)
    assert "Настройки уведомлений сохранены" in flashes(resp.get_data(as_text=True))
    db.session.expire_all()
    assert _user("manager").notify_email is True
    assert _user("manager2").notify_email is False
    assert 'id="crm-notify-email" checked' in user.get("/notifications/").get_data(as_text=True)

    user.post("/notifications/settings", data={})
    db.session.expire_all()
    assert _user("manager").notify_email is False


def test_the_admin_sets_the_email_copy_on_the_user_form(app, client):
    form = visible_text(client.get("/users/add").get_data(as_text=True))
    assert "Дублировать уведомления на e-mail" in form
    target = _user("manager2")
    data = {"last_name": target.last_name, "first_name": target.first_name,
            "username": target.username, "email": target.email, "active": "y",
            "roles": [str(r.id) for r in target.roles], "notify_email": "y",
            # the form posts every field: the user keeps their department
            "department": str(target.department_id)}
    department_id = target.department_id
    resp = client.post(f"/users/edit/{target.id}", data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    db.session.expire_all()
    assert _user("manager2").notify_email is True

    data.pop("notify_email")  # an unticked box is not sent at all
    client.post(f"/users/edit/{target.id}", data=data)
    db.session.expire_all()
    assert _user("manager2").notify_email is False
    assert _user("manager2").department_id == department_id
    show = visible_text(client.get(f"/users/show/{target.id}").get_data(as_text=True))
    assert "Дублировать уведомления на e-mail" in show


def test_anonymous_is_sent_to_login_and_sees_no_bell(app, login):
    pk = _note("manager", "Тайное")
    anon = login(None)
    for method, url in (("get", "/notifications/"), ("post", f"/notifications/{pk}/read"),
                        ("post", "/notifications/read_all"),
                        ("post", f"/notifications/{pk}/open"),
                        ("post", "/notifications/settings")):
        resp = getattr(anon, method)(url)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], url
    resp = anon.get("/notifications/unread")
    assert resp.status_code == 401
    assert resp.json["message"] == "Войдите в систему, чтобы продолжить."
    login_page = anon.get("/login/")
    assert login_page.status_code == 200
    assert "crm-bell" not in login_page.get_data(as_text=True)
    assert _read_at(pk) is None


# --- CSRF ---------------------------------------------------------------------------------

@pytest.fixture()
def csrf_app(app):
    other = create_app({"TESTING": True, "WTF_CSRF_ENABLED": True,
                        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                        "SECRET_KEY": app.config["SECRET_KEY"]})
    assert other.config["WTF_CSRF_ENABLED"]
    return other


def _token(html):
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_the_buttons_need_the_csrf_token(csrf_app):
    with csrf_app.app_context():
        one = _note("admin", "Первое")
        two = _note("admin", "Второе")
    http = csrf_app.test_client()
    token = _token(http.get("/login/").get_data(as_text=True))
    http.post("/login/", data={"username": "admin", "password": PASSWORD, "csrf_token": token})

    for url in (f"/notifications/{one}/read", "/notifications/read_all",
                f"/notifications/{one}/open"):
        assert http.post(url).status_code == 400, url
    assert http.post("/notifications/settings", data={"notify_email": "y"}).status_code == 400
    with csrf_app.app_context():
        assert _read_at(one) is None and _read_at(two) is None
        assert _user("admin").notify_email is False

    token = _token(http.get("/notifications/").get_data(as_text=True))
    assert http.post(f"/notifications/{one}/read",
                     data={"csrf_token": token}).status_code == 302
    with csrf_app.app_context():
        assert _read_at(one) is not None and _read_at(two) is None
